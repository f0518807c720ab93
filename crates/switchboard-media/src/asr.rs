//! Speech recognition (`<Gather input="speech">`, `<Record transcribe>`) with CMU PocketSphinx
//! run as long-lived worker processes (`asr_worker.py`, shipped in this binary, run by the
//! Python interpreter of `--asr-python` that has the PyPI `pocketsphinx` package with its US
//! English model).
//!
//! A process rather than a linked library: linking the C library takes `unsafe` FFI, which the
//! workspace forbids, and a recogniser crash (it parses user-chosen grammars) would take the
//! engine and every call with it; a worker that dies is only restarted. Each worker keeps its
//! decoder (0.4 s to load) for its life, so a request costs the decoding only; grammars built
//! from the same hints are kept by the worker and reused.
//!
//! The pool has `workers` processes, started on first use; a request takes an idle one (or
//! waits for one), writes the audio, reads one line back under a timeout, and gives the worker
//! back; a worker that timed out, failed or wrote garbage is killed and replaced by the next
//! request. The model is 16 kHz: phone audio (8 kHz) is upsampled here ([`upsample_2x`]).

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The worker program, run with `python -c`.
const WORKER: &str = include_str!("asr_worker.py");
/// The start-up check: the package imports and its US English model is complete.
const CHECK: &str = "import os, sys\n\
from pocketsphinx import get_model_path\n\
model = get_model_path()\n\
need = [os.path.join(model, 'en-us', 'en-us', 'mdef'), os.path.join(model, 'en-us', 'en-us.lm.bin'), os.path.join(model, 'en-us', 'cmudict-en-us.dict')]\n\
missing = [path for path in need if not os.path.isfile(path)]\n\
print('the model is incomplete: ' + ', '.join(missing) if missing else os.path.join(model, 'en-us'))\n\
sys.exit(1 if missing else 0)\n";
/// The longest audio recognised at once: 130 s (transcriptions stop at 120 s, gathers at 60 s).
pub const MAX_SECONDS: usize = 130;
/// The most hints a grammar is built from, and the longest hint (Twilio's limits).
pub const MAX_PHRASES: usize = 500;
pub const MAX_PHRASE_CHARS: usize = 100;
/// The longest answer line read from a worker.
const MAX_LINE: usize = 64 * 1024;

/// How to run the recogniser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsrConfig {
    /// The Python interpreter with the `pocketsphinx` package.
    pub python: String,
    /// Worker processes (each recognises one utterance at a time).
    pub workers: usize,
}

/// What the recogniser heard.
#[derive(Clone, Debug, PartialEq)]
pub struct Heard {
    pub text: String,
    /// 0.0–1.0: the hypothesis' posterior probability, per word (geometric mean).
    pub confidence: f64,
    /// Whether a grammar of the given phrases was used (else the open model).
    pub grammar: bool,
}

/// Why recognition failed.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("the recogniser could not be started: {0}")]
    Start(String),
    #[error("the recogniser did not answer in time")]
    Timeout,
    #[error("the recogniser failed: {0}")]
    Failed(String),
    #[error("the audio is longer than {MAX_SECONDS} s")]
    TooLong,
}

/// A pool of recogniser processes.
#[derive(Debug)]
pub struct Recogniser {
    config: AsrConfig,
    idle: Mutex<Vec<Worker>>,
    slots: tokio::sync::Semaphore,
}

#[derive(Debug)]
struct Worker {
    // Held so the process is killed when the worker is dropped (`kill_on_drop`).
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Recogniser {
    pub fn new(config: AsrConfig) -> Recogniser {
        let workers = config.workers.max(1);
        Recogniser {
            config,
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(workers),
        }
    }

    /// Checks that the interpreter has the package and its model (without loading it): `Ok(model
    /// directory)` or why not. The composition root calls this at start to warn when the
    /// recogniser cannot run.
    pub async fn check(&self) -> Result<String, AsrError> {
        let output = tokio::process::Command::new(&self.config.python)
            .args(["-c", CHECK])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .map_err(|_| AsrError::Start("the check did not finish in 30 s".to_owned()))?
            .map_err(|error| AsrError::Start(format!("{}: {error}", self.config.python)))?;
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() {
            return Ok(said);
        }
        let error = String::from_utf8_lossy(&output.stderr);
        let last = error
            .lines()
            .last()
            .unwrap_or("it failed")
            .trim()
            .to_owned();
        Err(AsrError::Start(if said.is_empty() { last } else { said }))
    }

    /// Recognises `pcm` (8 kHz mono): against a grammar of `phrases` when given (and any is
    /// usable), else with the open model.
    pub async fn recognise(
        &self,
        pcm: &[i16],
        phrases: Option<&[String]>,
    ) -> Result<Heard, AsrError> {
        if pcm.len() > MAX_SECONDS * 8000 {
            return Err(AsrError::TooLong);
        }
        let request = request_line(pcm.len() * 2, phrases);
        let audio: Vec<u8> = upsample_2x(pcm)
            .iter()
            .flat_map(|sample| sample.to_le_bytes())
            .collect();
        let _slot = self.slots.acquire().await.map_err(|_| closed())?;
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let mut worker = match taken {
            Some(worker) => worker,
            None => start(&self.config.python).await?.0,
        };
        // Ten seconds plus the audio's own length: the open model runs at about 0.5× real time.
        let limit = Duration::from_secs(10) + Duration::from_millis(pcm.len() as u64 / 8);
        let answer = tokio::time::timeout(limit, exchange(&mut worker, &request, &audio)).await;
        let heard = match answer {
            Err(_) => return Err(AsrError::Timeout),
            Ok(Err(error)) => return Err(error),
            Ok(Ok(heard)) => heard,
        };
        self.give_back(worker);
        heard
    }

    fn give_back(&self, worker: Worker) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(worker);
    }
}

fn closed() -> AsrError {
    AsrError::Failed("the recogniser pool is closed".to_owned())
}

/// The request's JSON line: the sample count (16 kHz) and the phrases, bounded and cleaned of
/// control characters (the worker drops words its dictionary lacks).
fn request_line(samples_16k: usize, phrases: Option<&[String]>) -> String {
    let phrases: Option<Vec<String>> = phrases.map(|phrases| {
        phrases
            .iter()
            .take(MAX_PHRASES)
            .map(|phrase| {
                phrase
                    .chars()
                    .take(MAX_PHRASE_CHARS)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect()
            })
            .collect()
    });
    let mut line = serde_json::json!({"samples": samples_16k, "phrases": phrases}).to_string();
    line.push('\n');
    line
}

/// Starts a worker and reads its `ready` line.
async fn start(python: &str) -> Result<(Worker, String), AsrError> {
    let mut child = tokio::process::Command::new(python)
        .args(["-u", "-c", WORKER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| AsrError::Start(format!("{python}: {error}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(AsrError::Start("no pipes to the worker".to_owned()));
    };
    let mut worker = Worker {
        _child: child,
        stdin,
        stdout: BufReader::new(stdout),
    };
    let line = tokio::time::timeout(Duration::from_secs(30), read_line(&mut worker))
        .await
        .map_err(|_| AsrError::Start("the worker did not load its model in 30 s".to_owned()))?
        .map_err(|error| AsrError::Start(error.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&line)
        .map_err(|_| AsrError::Start(format!("the worker said {line:?}")))?;
    if let Some(error) = value["error"].as_str() {
        return Err(AsrError::Start(error.to_owned()));
    }
    let model = value["model"].as_str().unwrap_or_default().to_owned();
    Ok((worker, model))
}

/// One request and its answer; `Err` leaves the worker unusable (it is dropped, so killed).
async fn exchange(
    worker: &mut Worker,
    request: &str,
    audio: &[u8],
) -> Result<Result<Heard, AsrError>, AsrError> {
    let io = |error: std::io::Error| AsrError::Failed(error.to_string());
    worker
        .stdin
        .write_all(request.as_bytes())
        .await
        .map_err(io)?;
    worker.stdin.write_all(audio).await.map_err(io)?;
    worker.stdin.flush().await.map_err(io)?;
    let line = read_line(worker).await?;
    let value: serde_json::Value = serde_json::from_str(&line)
        .map_err(|_| AsrError::Failed(format!("the worker said {line:?}")))?;
    if let Some(error) = value["error"].as_str() {
        // The worker answered: it stays usable, this request failed.
        return Ok(Err(AsrError::Failed(error.to_owned())));
    }
    Ok(Ok(Heard {
        text: value["text"].as_str().unwrap_or_default().to_owned(),
        confidence: value["confidence"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0),
        grammar: value["grammar"].as_bool().unwrap_or(false),
    }))
}

/// One line from the worker, at most `MAX_LINE` bytes.
async fn read_line(worker: &mut Worker) -> Result<String, AsrError> {
    let mut line = Vec::new();
    let reader = &mut worker.stdout;
    let read = reader
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|error| AsrError::Failed(error.to_string()))?;
    if read == 0 {
        return Err(AsrError::Failed("the worker exited".to_owned()));
    }
    Ok(String::from_utf8_lossy(&line).trim().to_owned())
}

/// Half-band interpolation from 8 kHz to 16 kHz: every input sample is kept and each new one in
/// between is a 16-tap windowed-sinc estimate (cut-off 4 kHz), so nothing above the phone
/// band is invented.
pub fn upsample_2x(pcm: &[i16]) -> Vec<i16> {
    const HALF: usize = 8;
    let taps: [f64; 2 * HALF] = std::array::from_fn(|index| {
        // Distance of input sample `index - HALF + 1` from the midpoint, in input samples.
        let x = index as f64 - HALF as f64 + 0.5;
        let sinc = (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x);
        let window = 0.5 + 0.5 * (std::f64::consts::PI * x / (HALF as f64 + 0.5)).cos();
        sinc * window
    });
    let gain: f64 = taps.iter().sum();
    let mut out = Vec::with_capacity(pcm.len() * 2);
    for index in 0..pcm.len() {
        out.push(pcm[index]);
        let mut sum = 0.0;
        for (tap, weight) in taps.iter().enumerate() {
            let at = (index + tap + 1).checked_sub(HALF);
            let sample = at.and_then(|at| pcm.get(at)).copied().unwrap_or(0);
            sum += f64::from(sample) * weight;
        }
        out.push((sum / gain).round().clamp(-32768.0, 32767.0) as i16);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_keeps_samples_and_interpolates_a_slow_tone() {
        let tone: Vec<i16> = (0..800)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 400.0 / 8000.0).sin() * 10_000.0) as i16
            })
            .collect();
        let up = upsample_2x(&tone);
        assert_eq!(up.len(), 1600);
        for (index, sample) in tone.iter().enumerate() {
            assert_eq!(up[2 * index], *sample);
        }
        // Away from the edges, each new sample is the tone at the half-way time.
        for index in 20..780 {
            let t = (index as f64 + 0.5) * 2.0 * std::f64::consts::PI * 400.0 / 8000.0;
            let expected = t.sin() * 10_000.0;
            let got = f64::from(up[2 * index + 1]);
            assert!(
                (got - expected).abs() < 150.0,
                "{index}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn requests_bound_and_clean_the_phrases() {
        let many: Vec<String> = (0..5000).map(|i| format!("word{i}\u{0007}\n")).collect();
        let line = request_line(320, Some(&many));
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        let phrases = value["phrases"].as_array().expect("phrases");
        assert_eq!(phrases.len(), MAX_PHRASES);
        assert!(
            phrases
                .iter()
                .all(|p| !p.as_str().unwrap_or_default().contains('\u{7}'))
        );
        let long = vec!["x".repeat(10_000)];
        let value: serde_json::Value =
            serde_json::from_str(&request_line(0, Some(&long))).expect("json");
        assert_eq!(
            value["phrases"][0].as_str().map(str::len),
            Some(MAX_PHRASE_CHARS)
        );
        let value: serde_json::Value = serde_json::from_str(&request_line(2, None)).expect("json");
        assert_eq!(value, serde_json::json!({"samples": 2, "phrases": null}));
    }
}
