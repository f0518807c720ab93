//! Text-to-speech for `<Say>` through an external program (espeak-ng by default), with a bounded
//! cache and request coalescing.
//!
//! An external program rather than a linked library: eSpeak NG is GPL-3.0, so linking it would
//! make the engine GPL; a separate process also lets operators plug in another engine by
//! changing one command line. The command is split on whitespace and run directly (no shell);
//! `{language}` and `{voice}` are replaced by sanitised values that can never start with `-`.
//! The text goes on stdin, never in argv, so text such as `-w /tmp/x` is spoken, not parsed. The
//! program writes a WAV on stdout, read until EOF (streaming writers put placeholder sizes in
//! the header) up to [`MAX_MEDIA_BYTES`]; it runs under a timeout and is killed when the timeout
//! passes or the output is too large. A language the program rejects is retried once as `en-us`.
//!
//! The cache maps (text, voice, language) to a `tokio::sync::OnceCell`, so concurrent identical
//! requests run the program once and the others wait for its result; a failure is not cached.
//! Eviction is least-recently-used by a scan, which is fine for the few hundred prompts a
//! deployment speaks (it runs only on a miss).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::{MAX_MEDIA_BYTES, MediaError, Pcm};

/// Language used when none (or an unusable one) is given.
pub const DEFAULT_LANGUAGE: &str = "en-us";
/// Voice used when none is given (Twilio's default).
pub const DEFAULT_VOICE: &str = "man";
/// Longest text spoken: 64 KiB (Twilio's `<Say>` allows 4,096 characters).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Bytes of the program's stderr kept for the error message.
const STDERR_BYTES: usize = 2_048;

/// How to run the text-to-speech program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsConfig {
    /// Program and arguments, split on whitespace; `{language}` and `{voice}` are replaced.
    pub command: String,
    /// How long one run may take before it is killed.
    pub timeout: Duration,
    /// Spoken texts kept; 0 disables the cache (and coalescing).
    pub cache_entries: usize,
}

impl TtsConfig {
    /// espeak-ng reading stdin and writing a WAV to stdout: 20 s timeout, 512 cached texts.
    pub fn default_espeak() -> TtsConfig {
        TtsConfig {
            command: "espeak-ng --stdin -b 1 -v {language} --stdout".to_owned(),
            timeout: Duration::from_secs(20),
            cache_entries: 512,
        }
    }
}

type Key = (String, String, String);

struct Entry {
    cell: Arc<OnceCell<Pcm>>,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    clock: u64,
}

struct Inner {
    config: TtsConfig,
    cache: Mutex<Cache>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The text-to-speech service; cheap to clone.
#[derive(Clone)]
pub struct Tts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tts")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Tts {
    /// A service running `config.command`.
    pub fn new(config: TtsConfig) -> Tts {
        Tts {
            inner: Arc::new(Inner {
                config,
                cache: Mutex::new(Cache::default()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// 8 kHz PCM for the text, from the cache or a run of the program.
    pub async fn speak(&self, text: &str, voice: &str, language: &str) -> Result<Pcm, MediaError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(MediaError::Tts("text too long".into()));
        }
        let key = (
            text.to_owned(),
            sanitize_voice(voice),
            sanitize_language(language),
        );
        if self.inner.config.cache_entries == 0 {
            self.count(false);
            return self.synthesize(&key).await;
        }
        let (cell, fresh) = self.lookup(&key);
        self.count(!fresh);
        let result = cell
            .get_or_try_init(|| self.synthesize(&key))
            .await
            .cloned();
        if result.is_err() {
            self.forget(&key, &cell);
        }
        result
    }

    /// Requests answered from the cache (or by joining a run already under way).
    pub fn cache_hits(&self) -> u64 {
        self.inner.hits.load(Ordering::Relaxed)
    }

    /// Requests that ran the program.
    pub fn cache_misses(&self) -> u64 {
        self.inner.misses.load(Ordering::Relaxed)
    }

    fn count(&self, hit: bool) {
        if hit {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("tts_cache_hits_total").increment(1);
        } else {
            self.inner.misses.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("tts_cache_misses_total").increment(1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds no invariant a panic could break halfway, so a poisoned lock is used.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cell for `key` and whether it was just created.
    fn lookup(&self, key: &Key) -> (Arc<OnceCell<Pcm>>, bool) {
        let capacity = self.inner.config.cache_entries;
        let mut cache = self.lock();
        cache.clock += 1;
        let now = cache.clock;
        if let Some(entry) = cache.entries.get_mut(key) {
            entry.last_used = now;
            return (entry.cell.clone(), false);
        }
        if cache.entries.len() >= capacity
            && let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
        {
            cache.entries.remove(&oldest);
        }
        let cell = Arc::new(OnceCell::new());
        let entry = Entry {
            cell: cell.clone(),
            last_used: now,
        };
        cache.entries.insert(key.clone(), entry);
        (cell, true)
    }

    fn forget(&self, key: &Key, cell: &Arc<OnceCell<Pcm>>) {
        let mut cache = self.lock();
        if cache
            .entries
            .get(key)
            .is_some_and(|entry| Arc::ptr_eq(&entry.cell, cell) && !cell.initialized())
        {
            cache.entries.remove(key);
        }
    }

    async fn synthesize(&self, key: &Key) -> Result<Pcm, MediaError> {
        let (text, voice, language) = key;
        if text.trim().is_empty() {
            return Ok(Pcm::from(Vec::new()));
        }
        let wav = match self.run(text, voice, language).await {
            Err(MediaError::Tts(reason)) if language != DEFAULT_LANGUAGE => {
                tracing::warn!(%language, %reason, "tts failed for the language; retrying en-us");
                self.run(text, voice, DEFAULT_LANGUAGE).await?
            }
            other => other?,
        };
        let pcm = tokio::task::spawn_blocking(move || crate::decode::decode_to_8k(&wav))
            .await
            .map_err(|e| MediaError::Tts(format!("decoding task failed: {e}")))??;
        if pcm.is_empty() {
            return Err(MediaError::Tts("the program produced no audio".into()));
        }
        Ok(Pcm::from(pcm))
    }

    /// Runs the program once and returns its stdout.
    async fn run(&self, text: &str, voice: &str, language: &str) -> Result<Vec<u8>, MediaError> {
        let (program, mut child) = self.spawn(voice, language)?;
        let writer = write_stdin(&mut child, text);
        let stderr_reader = read_stderr(&mut child);
        let stderr_abort = stderr_reader.abort_handle();
        let stdout = child.stdout.take();
        let work = async {
            let output = match stdout {
                Some(stdout) => read_capped(stdout, MAX_MEDIA_BYTES, true).await?,
                None => Vec::new(),
            };
            let status = child.wait().await?;
            Ok::<_, MediaError>((status, output))
        };
        let timeout = self.inner.config.timeout;
        let result = match tokio::time::timeout(timeout, work).await {
            Err(_) => Err(MediaError::Tts(format!("timed out after {timeout:?}"))),
            Ok(Err(error)) => Err(error),
            Ok(Ok((status, output))) if status.success() && !output.is_empty() => Ok(output),
            Ok(Ok((status, _))) => {
                // The program has exited, so its stderr is at EOF unless a child of its own
                // still holds it; that is not waited for.
                let detail = tokio::time::timeout(Duration::from_millis(200), stderr_reader)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let detail = String::from_utf8_lossy(&detail);
                Err(MediaError::Tts(format!(
                    "{program} exited with {status}: {}",
                    detail.trim()
                )))
            }
        };
        if result.is_err() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        writer.abort();
        stderr_abort.abort();
        result
    }

    /// Starts the configured command with piped stdio; returns the program name and the child.
    fn spawn(&self, voice: &str, language: &str) -> Result<(String, Child), MediaError> {
        let mut args = self
            .inner
            .config
            .command
            .split_whitespace()
            .map(|a| a.replace("{language}", language).replace("{voice}", voice));
        let program = args
            .next()
            .ok_or_else(|| MediaError::Tts("empty command".into()))?;
        let child = tokio::process::Command::new(&program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| MediaError::Tts(format!("cannot run {program}: {e}")))?;
        Ok((program, child))
    }
}

/// Writes the text to the child's stdin and closes it, in a task of its own so a program that
/// writes before it reads cannot deadlock with us.
fn write_stdin(child: &mut Child, text: &str) -> JoinHandle<()> {
    let stdin = child.stdin.take();
    let text = text.as_bytes().to_vec();
    tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            // A program that exits without reading all of stdin is not an error here.
            let _ = stdin.write_all(&text).await;
        }
    })
}

/// Drains the child's stderr, keeping the start of it for the error message.
fn read_stderr(child: &mut Child) -> JoinHandle<Vec<u8>> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        match stderr {
            Some(stderr) => read_capped(stderr, STDERR_BYTES, false)
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        }
    })
}

/// Reads to EOF keeping at most `cap` bytes; past the cap, `strict` fails with `TooLarge`,
/// otherwise the rest is read and dropped (so the writer never blocks).
async fn read_capped(
    mut reader: impl AsyncRead + Unpin,
    cap: usize,
    strict: bool,
) -> Result<Vec<u8>, MediaError> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut chunk).await?;
        if read == 0 {
            return Ok(kept);
        }
        let room = cap - kept.len();
        if read > room && strict {
            return Err(MediaError::TooLarge);
        }
        kept.extend_from_slice(&chunk[..read.min(room)]);
    }
}

fn keep_safe(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    kept.trim_start_matches(['-', '.']).to_owned()
}

/// The language as passed to the program: `[a-z0-9._-]` only, lower-cased, shaped like a
/// BCP 47 tag (`en`, `en-us`, `cmn-cn`); anything else becomes `en-us`.
pub fn sanitize_language(language: &str) -> String {
    let language = keep_safe(language).to_ascii_lowercase();
    let mut parts = language.split(['-', '_']);
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()));
    if primary_ok && rest_ok {
        language
    } else {
        DEFAULT_LANGUAGE.to_owned()
    }
}

/// The voice as passed to the program: `[A-Za-z0-9._-]` only, never starting with `-` or `.`;
/// empty becomes `man`.
pub fn sanitize_voice(voice: &str) -> String {
    let voice = keep_safe(voice);
    if voice.is_empty() {
        DEFAULT_VOICE.to_owned()
    } else {
        voice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_and_voice_sanitising_table() {
        let languages = [
            ("en-US", "en-us"),
            ("en-gb", "en-gb"),
            ("fr", "fr"),
            ("cmn-CN", "cmn-cn"),
            ("", "en-us"),
            ("-w /tmp/x", "en-us"),
            ("e", "en-us"),
            ("english please", "en-us"),
            // Harmless once sanitised; the program rejects it and en-us is retried.
            ("de-DE; rm -rf", "de-derm-rf"),
        ];
        for (input, expected) in languages {
            assert_eq!(sanitize_language(input), expected, "{input:?}");
        }
        let voices = [
            ("man", "man"),
            ("Polly.Joanna", "Polly.Joanna"),
            ("Polly.Joanna-Neural", "Polly.Joanna-Neural"),
            ("", "man"),
            ("--stdout /etc", "stdoutetc"),
            ("alice; ls", "alicels"),
        ];
        for (input, expected) in voices {
            assert_eq!(sanitize_voice(input), expected, "{input:?}");
        }
    }

    #[tokio::test]
    async fn read_capped_stops_or_drains_past_the_cap() {
        let data = vec![7u8; 1_000];
        assert!(matches!(
            read_capped(&data[..], 999, true).await,
            Err(MediaError::TooLarge)
        ));
        assert_eq!(
            read_capped(&data[..], 10, false)
                .await
                .expect("drained")
                .len(),
            10
        );
        assert_eq!(
            read_capped(&data[..], 1_000, true)
                .await
                .expect("fits")
                .len(),
            1_000
        );
    }

    #[tokio::test]
    async fn cache_evicts_the_least_recently_used() {
        let tts = Tts::new(TtsConfig {
            cache_entries: 2,
            ..TtsConfig::default_espeak()
        });
        let key = |t: &str| (t.to_owned(), "man".to_owned(), "en-us".to_owned());
        assert!(tts.lookup(&key("a")).1);
        assert!(tts.lookup(&key("b")).1);
        assert!(
            !tts.lookup(&key("a")).1,
            "a is cached and now the most recent"
        );
        assert!(tts.lookup(&key("c")).1, "evicts b");
        assert!(!tts.lookup(&key("a")).1);
        assert!(tts.lookup(&key("b")).1, "b was evicted");
    }
}
