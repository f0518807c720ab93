//! A sandbox call streams too (issue 22): `<Connect><Stream>` to a plain `websockets` bot
//! (`tests/compat/sandbox_bot.py`), the caller's `/Audio` tone reaches the bot as inbound media
//! and `/Digits` as `dtmf`, the bot's tone plays on the call's clock with its mark echoed once
//! it has played (`stream_audio` and `mark` events), and `Heard.wav` holds the bot's tone at
//! the time it played.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{events, finished};
use crate::{call, eventually, start_with};

/// The share of `hz` in `samples` (Goertzel power over the block's energy).
fn tone_share(samples: &[f64], hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let total: f64 = samples.iter().map(|x| x * x).sum();
    power / (total * samples.len() as f64 / 2.0).max(1.0)
}

#[tokio::test]
async fn a_sandbox_call_streams_and_heard_wav_holds_the_bots_tone() {
    let Some(python) = switchboard_test_support::python::python("sandbox_streams") else {
        return;
    };
    let engine = start_with(&[]);
    let app = App::start().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/sandbox_bot.py");
    let mut bot = Command::new(python)
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the bot");
    let mut lines = BufReader::new(bot.stdout.take().expect("stdout")).lines();
    let port = lines.next().and_then(Result::ok).expect("the bot's port");
    app.route(
        "/voice",
        200,
        "text/xml",
        &format!(
            r#"<Response><Connect><Stream url="ws://127.0.0.1:{port}/bot"/></Connect><Hangup/></Response>"#
        ),
    );
    crate::voice::provision(&engine, "+15550220020", &app.url("/voice"), None).await;
    let placed = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", "+15550220020")],
    )
    .await;
    assert_eq!(placed.0, 201, "{placed:?}");
    let sid = placed.1["call_sid"].as_str().expect("call_sid").to_owned();
    let transcript_url = format!("{}/sandbox/Calls/{sid}", engine.base_url);
    let mut started_at = 0;
    let started = eventually(Duration::from_secs(10), async || {
        let transcript = call(&engine, "GET", &transcript_url, &[]).await.1;
        match events(&transcript, "stream").first() {
            Some(event) => {
                started_at = event["at_ms"].as_u64().unwrap_or_default();
                true
            }
            None => false,
        }
    })
    .await;
    assert!(started, "the stream did not start");
    let audio = call(
        &engine,
        "POST",
        &format!("{transcript_url}/Audio"),
        &[("Seconds", "2")],
    )
    .await;
    assert!(audio.0 < 300, "{audio:?}");
    let digits = call(
        &engine,
        "POST",
        &format!("{transcript_url}/Digits"),
        &[("Digits", "5")],
    )
    .await;
    assert!(digits.0 < 300, "{digits:?}");
    let transcript = finished(&engine, &sid).await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(bot.wait().expect("bot").success(), "{rest:?}");
    assert!(
        rest.iter().any(|line| line == "all checks passed"),
        "{rest:?}"
    );
    let marks: Vec<&Value> = events(&transcript, "mark");
    assert_eq!(marks.len(), 1, "{transcript}");
    assert_eq!(marks[0]["name"], "tone-done");
    let heard_ms: u64 = events(&transcript, "stream_audio")
        .iter()
        .filter_map(|event| event["ms"].as_u64())
        .sum();
    assert_eq!(heard_ms, 1000, "{transcript}");

    let wav = engine
        .request(reqwest::Method::GET, &format!("{transcript_url}/Heard.wav"))
        .send()
        .await
        .expect("Heard.wav");
    assert_eq!(wav.status().as_u16(), 200);
    let bytes = wav.bytes().await.expect("WAV bytes");
    assert_eq!(&bytes[..4], b"RIFF");
    let samples: Vec<f64> = bytes[44..]
        .chunks_exact(2)
        .map(|pair| f64::from(i16::from_le_bytes([pair[0], pair[1]])))
        .collect();
    // 100 ms blocks: the bot's 1200 Hz fills about ten of them, starting right after the stream
    // started.
    let toned: Vec<usize> = samples
        .chunks(800)
        .enumerate()
        .filter(|(_, block)| tone_share(block, 1200.0) > 0.5)
        .map(|(index, _)| index)
        .collect();
    assert!((9..=11).contains(&toned.len()), "{toned:?}");
    let first_ms = toned[0] as u64 * 100;
    assert!(
        first_ms + 100 >= started_at && first_ms <= started_at + 400,
        "the tone starts at {first_ms} ms, the stream at {started_at} ms"
    );
}
