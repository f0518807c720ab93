//! Text-to-speech with the real espeak-ng: speech comes out, the cache and coalescing work,
//! text is never parsed as options, and a hanging program is killed at the timeout.

use std::time::{Duration, Instant};

use switchboard_media::MediaError;
use switchboard_media::tts::{Tts, TtsConfig};

use crate::{have_tool, rms};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sbmedia-tts-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test]
async fn espeak_speaks_8k_audio_and_the_second_request_is_a_cache_hit() {
    if !have_tool("espeak-ng", "espeak_speaks") {
        return;
    }
    let tts = Tts::new(TtsConfig::default_espeak());
    let pcm = tts
        .speak("Hello from Switchboard.", "alice", "en-US")
        .await
        .expect("speech");
    let seconds = pcm.len() as f64 / 8_000.0;
    assert!((0.5..5.0).contains(&seconds), "{seconds} s of speech");
    assert!(rms(&pcm) > 500.0, "speech is not silent: rms {}", rms(&pcm));
    let again = tts
        .speak("Hello from Switchboard.", "alice", "en-US")
        .await
        .expect("cached");
    assert!(
        std::sync::Arc::ptr_eq(&pcm, &again),
        "the cached PCM is shared"
    );
    assert_eq!((tts.cache_hits(), tts.cache_misses()), (1, 1));
    let other_voice = tts
        .speak("Hello from Switchboard.", "man", "en-US")
        .await
        .expect("speech");
    assert!(!other_voice.is_empty());
    assert_eq!(tts.cache_misses(), 2, "voice is part of the key");
}

#[tokio::test]
async fn text_that_looks_like_options_is_spoken_not_parsed() {
    if !have_tool("espeak-ng", "text_that_looks_like_options") {
        return;
    }
    let target = scratch("options").join("pwned.wav");
    let tts = Tts::new(TtsConfig::default_espeak());
    let text = format!("-w {} --stdout -v de", target.display());
    let pcm = tts.speak(&text, "man", "en-us").await.expect("speech");
    assert!(
        pcm.len() > 8_000,
        "the path was read out: {} samples",
        pcm.len()
    );
    assert!(
        !target.exists(),
        "espeak-ng wrote the file named in the text"
    );
}

#[tokio::test]
async fn unknown_language_falls_back_to_en_us() {
    if !have_tool("espeak-ng", "unknown_language") {
        return;
    }
    let tts = Tts::new(TtsConfig::default_espeak());
    let pcm = tts
        .speak("one two three", "man", "xx-YY")
        .await
        .expect("speech in en-us");
    assert!(rms(&pcm) > 500.0);
}

#[tokio::test]
async fn concurrent_identical_requests_run_the_program_once() {
    if !have_tool("espeak-ng", "concurrent_identical_requests") {
        return;
    }
    let dir = scratch("coalesce");
    let counter = dir.join("runs");
    let script = dir.join("count.sh");
    let body = format!(
        "echo run >> {}\nsleep 0.3\nexec espeak-ng --stdin -b 1 -v \"$1\" --stdout\n",
        counter.display()
    );
    std::fs::write(&script, body).expect("script");
    let _ = std::fs::remove_file(&counter);
    let tts = Tts::new(TtsConfig {
        command: format!("sh {} {{language}}", script.display()),
        ..TtsConfig::default_espeak()
    });
    let requests = (0..5).map(|_| {
        let tts = tts.clone();
        tokio::spawn(async move { tts.speak("coalesce me", "man", "en-us").await })
    });
    for request in requests.collect::<Vec<_>>() {
        assert!(!request.await.expect("task").expect("speech").is_empty());
    }
    let runs = std::fs::read_to_string(&counter)
        .expect("counter")
        .lines()
        .count();
    assert_eq!(runs, 1, "one run for five identical requests");
    assert_eq!((tts.cache_hits(), tts.cache_misses()), (4, 1));
}

#[tokio::test]
async fn a_hanging_program_is_killed_at_the_timeout() {
    let tts = Tts::new(TtsConfig {
        command: "sleep 30".to_owned(),
        timeout: Duration::from_millis(300),
        cache_entries: 8,
    });
    let started = Instant::now();
    let result = tts.speak("never spoken", "man", "en-us").await;
    assert!(
        matches!(result, Err(MediaError::Tts(ref m)) if m.contains("timed out")),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let failing = Tts::new(TtsConfig {
        command: "false".to_owned(),
        ..TtsConfig::default_espeak()
    });
    assert!(matches!(
        failing.speak("x", "man", "en-us").await,
        Err(MediaError::Tts(_))
    ));
    let missing = Tts::new(TtsConfig {
        command: "/nonexistent/tts".to_owned(),
        ..TtsConfig::default_espeak()
    });
    assert!(matches!(
        missing.speak("x", "man", "en-us").await,
        Err(MediaError::Tts(_))
    ));
}
