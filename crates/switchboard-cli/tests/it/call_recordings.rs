//! Recordings of live calls (issue 19 item 4): `Calls/{Sid}/Recordings` started mid-call,
//! paused with `skip` or `silence`, resumed and stopped through the REST API, their status
//! callbacks, their audio as WAV and as MP3 (encoded by `lame`), and `Record=true` with its
//! recording options. Sandbox calls on the real clock: the caller's talk (`/Audio`) is what the
//! recording hears, and the pauses are real time.

use std::time::Duration;

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::voice::{finished, form, param, place, provision};
use crate::{assert_error, call, eventually, start};

const XML: &str = "text/xml";

/// A sandbox call to a fresh number that answers and then holds for a minute; returns its SID
/// once it is in progress.
async fn answered_call(engine: &Engine, app: &App, number: &str) -> String {
    app.route(
        "/hold",
        200,
        XML,
        "<Response><Say>hi</Say><Pause length=\"60\"/></Response>",
    );
    provision(engine, number, &app.url("/hold"), None).await;
    let sid = place(engine, number, &[("Clock", "real")]).await;
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    assert!(
        eventually(Duration::from_secs(10), async || {
            call(engine, "GET", &url, &[]).await.1["status"] == "in-progress"
        })
        .await,
        "the call was not answered"
    );
    sid
}

async fn talk(engine: &Engine, sid: &str, seconds: &str) {
    let url = format!("{}/sandbox/Calls/{sid}/Audio", engine.base_url);
    let answer = call(engine, "POST", &url, &[("Seconds", seconds)]).await;
    assert!(answer.0 < 300, "{answer:?}");
}

async fn update(engine: &Engine, call_sid: &str, which: &str, form: &[(&str, &str)]) -> Value {
    let url = engine.account_url(&format!("Calls/{call_sid}/Recordings/{which}.json"));
    let answer = call(engine, "POST", &url, form).await;
    assert_eq!(answer.0, 200, "{answer:?}");
    answer.1
}

async fn audio(engine: &Engine, recording_sid: &str, extension: &str) -> (String, Vec<u8>) {
    let url = engine.account_url(&format!("Recordings/{recording_sid}.{extension}"));
    let response = reqwest::get(&url).await.expect("audio");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (kind, response.bytes().await.expect("bytes").to_vec())
}

/// Whether the 100 ms of `pcm` from `at_ms` hold sound (RMS over 1000).
fn loud(pcm: &[i16], at_ms: usize) -> bool {
    let window = &pcm[at_ms * 8..(at_ms + 100) * 8];
    let energy: f64 = window.iter().map(|s| f64::from(*s).powi(2)).sum();
    (energy / window.len() as f64).sqrt() > 1000.0
}

/// The recording callbacks `/rec` received, oldest first.
fn recording_callbacks(app: &App) -> Vec<Vec<(String, String)>> {
    app.received()
        .iter()
        .filter(|request| request.target == "/rec")
        .map(|request| {
            assert!(
                request
                    .headers
                    .iter()
                    .any(|(name, _)| name == "x-twilio-signature"),
                "recording callbacks are signed"
            );
            form(&request.body)
        })
        .collect()
}

#[tokio::test]
async fn a_recording_paused_with_skip_leaves_the_pause_out_and_plays_as_wav_and_mp3() {
    let engine = start();
    let app = App::start().await;
    app.route("/rec", 204, "text/plain", "");
    let sid = answered_call(&engine, &app, "+15550410001").await;
    let recordings = engine.account_url(&format!("Calls/{sid}/Recordings.json"));
    let created = call(
        &engine,
        "POST",
        &recordings,
        &[
            ("RecordingStatusCallback", &app.url("/rec")),
            ("RecordingStatusCallbackEvent", "in-progress completed"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["status"], "in-progress");
    assert_eq!(created.1["source"], "StartCallRecordingAPI");
    assert_eq!(created.1["call_sid"], sid.as_str());
    assert_eq!(created.1["channels"], 1);
    let recording = created.1["sid"].as_str().expect("sid").to_owned();
    assert!(
        created.1["uri"]
            .as_str()
            .is_some_and(|uri| uri.ends_with(&format!("Calls/{sid}/Recordings/{recording}.json")))
    );
    // One second of talk is recorded; the second, during the pause, is not.
    talk(&engine, &sid, "1").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let paused = update(
        &engine,
        &sid,
        "Twilio.CURRENT",
        &[("Status", "paused"), ("PauseBehavior", "skip")],
    )
    .await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["sid"], recording.as_str());
    talk(&engine, &sid, "1").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let resumed = update(&engine, &sid, &recording, &[("Status", "in-progress")]).await;
    assert_eq!(resumed["status"], "in-progress");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopped = update(&engine, &sid, &recording, &[("Status", "stopped")]).await;
    assert_eq!(stopped["status"], "stopped");

    let fetched = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}/Recordings/{recording}.json")),
        &[],
    )
    .await;
    assert_eq!(fetched.0, 200, "{fetched:?}");
    assert_eq!(fetched.1["status"], "completed");
    assert_eq!(
        fetched.1["duration"], "2",
        "two seconds recorded, one paused"
    );

    let (kind, wav) = audio(&engine, &recording, "wav").await;
    assert_eq!(kind, "audio/x-wav");
    let pcm = switchboard_media::decode::decode_to_8k(&wav).expect("a WAV");
    let ms = pcm.len() / 8;
    assert!((1950..2400).contains(&ms), "{ms} ms of audio");
    assert!(
        loud(&pcm, 100) && loud(&pcm, 800),
        "the first second is the talk"
    );
    assert!(
        (1200..ms - 100).step_by(100).all(|at| !loud(&pcm, at)),
        "the talk during the pause is not in the recording"
    );

    let (kind, mp3) = audio(&engine, &recording, "mp3").await;
    assert_eq!(kind, "audio/mpeg");
    assert!(
        mp3.windows(2)
            .take(4096)
            .any(|pair| pair[0] == 0xFF && pair[1] & 0xE0 == 0xE0),
        "an MPEG audio frame sync"
    );
    let decoded = switchboard_media::decode::decode_to_8k(&mp3).expect("the MP3 decodes");
    let mp3_ms = decoded.len() / 8;
    assert!(
        mp3_ms.abs_diff(ms) < 300,
        "{mp3_ms} ms of MP3 for {ms} ms of WAV"
    );

    let callbacks = recording_callbacks(&app);
    let statuses: Vec<&str> = callbacks
        .iter()
        .map(|params| param(params, "RecordingStatus").unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["in-progress", "completed"], "{callbacks:?}");
    let completed = &callbacks[1];
    assert_eq!(param(completed, "RecordingSid"), Some(recording.as_str()));
    assert_eq!(param(completed, "CallSid"), Some(sid.as_str()));
    assert_eq!(param(completed, "RecordingDuration"), Some("2"));
    assert_eq!(
        param(completed, "RecordingSource"),
        Some("StartCallRecordingAPI")
    );
    assert_eq!(param(completed, "RecordingChannels"), Some("1"));
    assert_eq!(param(completed, "RecordingTrack"), Some("both"));
    assert!(param(completed, "RecordingStartTime").is_some_and(|t| t.ends_with("+0000")));
    assert!(
        param(completed, "RecordingUrl")
            .is_some_and(|url| url.ends_with(&format!("/Recordings/{recording}")))
    );
    assert_eq!(param(&callbacks[0], "RecordingDuration"), None);

    // Once stopped it cannot change; once the call is over nothing can be recorded.
    let again = engine.account_url(&format!("Calls/{sid}/Recordings/{recording}.json"));
    let refused = call(&engine, "POST", &again, &[("Status", "paused")]).await;
    assert_error(&refused, 400, 20422);
    let bogus = call(&engine, "POST", &again, &[("Status", "bogus")]).await;
    assert_error(&bogus, 400, 20422);
    let hangup = format!("{}/sandbox/Calls/{sid}/Hangup", engine.base_url);
    assert!(call(&engine, "POST", &hangup, &[]).await.0 < 300);
    finished(&engine, &sid).await;
    assert_error(&call(&engine, "POST", &recordings, &[]).await, 400, 21220);
    let deleted = call(&engine, "DELETE", &again, &[]).await;
    assert_eq!(deleted.0, 204, "{deleted:?}");
    assert_eq!(call(&engine, "GET", &again, &[]).await.0, 404);
}

#[tokio::test]
async fn a_recording_paused_with_silence_keeps_the_time_as_silence_in_dual_channels() {
    let engine = start();
    let app = App::start().await;
    app.route("/rec", 204, "text/plain", "");
    let sid = answered_call(&engine, &app, "+15550410002").await;
    let recordings = engine.account_url(&format!("Calls/{sid}/Recordings.json"));
    for (name, value) in [
        ("RecordingChannels", "stereo"),
        ("RecordingTrack", "all"),
        ("Trim", "yes"),
        ("RecordingStatusCallbackEvent", "paused"),
        ("RecordingStatusCallbackMethod", "PUT"),
    ] {
        assert_error(
            &call(&engine, "POST", &recordings, &[(name, value)]).await,
            400,
            20422,
        );
    }
    let created = call(
        &engine,
        "POST",
        &recordings,
        &[
            ("RecordingChannels", "dual"),
            ("RecordingStatusCallback", &app.url("/rec")),
            ("RecordingStatusCallbackMethod", "GET"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["channels"], 2);
    let recording = created.1["sid"].as_str().expect("sid").to_owned();
    talk(&engine, &sid, "3").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    update(&engine, &sid, &recording, &[("Status", "paused")]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    update(
        &engine,
        &sid,
        "Twilio.CURRENT",
        &[("Status", "in-progress")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The caller hangs up: the recording ends with the call.
    let hangup = format!("{}/sandbox/Calls/{sid}/Hangup", engine.base_url);
    assert!(call(&engine, "POST", &hangup, &[]).await.0 < 300);
    finished(&engine, &sid).await;

    let fetched = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Recordings/{recording}.json")),
        &[],
    )
    .await;
    assert_eq!(fetched.1["status"], "completed", "{fetched:?}");
    assert_eq!(
        fetched.1["duration"], "3",
        "the paused second is kept as silence"
    );
    let (_, wav) = audio(&engine, &recording, "wav").await;
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "two channels");
    let frames: Vec<(i16, i16)> = wav[44..]
        .chunks_exact(4)
        .map(|f| {
            (
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            )
        })
        .collect();
    let inbound: Vec<i16> = frames.iter().map(|f| f.0).collect();
    let ms = inbound.len() / 8;
    assert!((2450..2900).contains(&ms), "{ms} ms");
    assert!(
        loud(&inbound, 200) && loud(&inbound, 800),
        "talk before the pause"
    );
    assert!(
        !loud(&inbound, 1300) && !loud(&inbound, 1800),
        "the pause is silence, though the caller talked"
    );
    assert!(loud(&inbound, 2150), "talk again once resumed");
    assert!(
        frames.iter().all(|f| f.1 == 0),
        "the sandbox sends no audio of its own"
    );

    let callbacks: Vec<_> = app
        .received()
        .into_iter()
        .filter(|request| request.target.starts_with("/rec?"))
        .collect();
    assert_eq!(
        callbacks.len(),
        1,
        "only completed by default: {callbacks:?}"
    );
    assert_eq!(callbacks[0].method, "GET");
    let query = form(callbacks[0].target.split_once('?').expect("query").1);
    assert_eq!(param(&query, "RecordingStatus"), Some("completed"));
    assert_eq!(param(&query, "RecordingChannels"), Some("2"));
}

#[tokio::test]
async fn record_true_records_from_the_answer_with_its_options_and_trims_a_silent_call_to_absent() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/answer",
        200,
        XML,
        "<Response><Pause length=\"1\"/></Response>",
    );
    app.route("/status", 204, "text/plain", "");
    app.route("/rec", 204, "text/plain", "");
    provision(&engine, "+15550410003", &app.url("/answer"), None).await;
    let calls = engine.account_url("Calls.json");
    let place_recorded = async |trim: &str| {
        let created = call(
            &engine,
            "POST",
            &calls,
            &[
                ("To", "+15558675399"),
                ("From", "+15550410003"),
                ("Url", &app.url("/answer")),
                ("Record", "true"),
                ("Trim", trim),
                ("RecordingStatusCallback", &app.url("/rec")),
                ("RecordingStatusCallbackEvent", "completed absent"),
                ("StatusCallback", &app.url("/status")),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        let sid = created.1["sid"].as_str().expect("sid").to_owned();
        finished(&engine, &sid).await;
        sid
    };
    let kept = place_recorded("do-not-trim").await;
    let trimmed = place_recorded("trim-silence").await;
    let callbacks = recording_callbacks(&app);
    let of = |sid: &str| {
        callbacks
            .iter()
            .find(|params| param(params, "CallSid") == Some(sid))
            .cloned()
            .expect("a recording callback")
    };
    let kept_callback = of(&kept);
    assert_eq!(param(&kept_callback, "RecordingStatus"), Some("completed"));
    assert_eq!(
        param(&kept_callback, "RecordingSource"),
        Some("OutboundAPI")
    );
    assert_eq!(param(&kept_callback, "RecordingDuration"), Some("1"));
    assert_eq!(param(&of(&trimmed), "RecordingStatus"), Some("absent"));
    let completed: Vec<Vec<(String, String)>> = app
        .received()
        .iter()
        .filter(|r| r.target == "/status")
        .map(|r| form(&r.body))
        .collect();
    let announced = completed
        .iter()
        .find(|params| param(params, "CallSid") == Some(kept.as_str()))
        .expect("the kept call's completed callback");
    assert_eq!(
        param(announced, "RecordingSid"),
        param(&kept_callback, "RecordingSid")
    );
    let silent = completed
        .iter()
        .find(|params| param(params, "CallSid") == Some(trimmed.as_str()))
        .expect("the trimmed call's completed callback");
    assert_eq!(
        param(silent, "RecordingSid"),
        None,
        "an absent recording is not announced"
    );
}

#[tokio::test]
async fn a_recording_running_when_the_engine_is_killed_ends_absent_after_the_restart() {
    let mut engine = start();
    let app = App::start().await;
    app.route("/rec", 204, "text/plain", "");
    let sid = answered_call(&engine, &app, "+15550410004").await;
    let recordings = engine.account_url(&format!("Calls/{sid}/Recordings.json"));
    let created = call(
        &engine,
        "POST",
        &recordings,
        &[
            ("RecordingStatusCallback", &app.url("/rec")),
            ("RecordingStatusCallbackEvent", "completed absent"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let recording = created.1["sid"].as_str().expect("sid").to_owned();
    talk(&engine, &sid, "1").await;
    engine.kill_hard();
    engine.restart();
    let url = engine.account_url(&format!("Recordings/{recording}.json"));
    assert!(
        eventually(Duration::from_secs(10), async || {
            call(&engine, "GET", &url, &[]).await.1["status"] == "absent"
        })
        .await,
        "the orphaned recording is ended"
    );
    let fetched = call(&engine, "GET", &url, &[]).await.1;
    assert_eq!(fetched["duration"], "0", "{fetched}");
    assert!(
        eventually(Duration::from_secs(10), async || !recording_callbacks(&app)
            .is_empty())
        .await,
        "the absent callback is sent"
    );
    let callback = &recording_callbacks(&app)[0];
    assert_eq!(param(callback, "RecordingStatus"), Some("absent"));
    assert_eq!(param(callback, "RecordingSid"), Some(recording.as_str()));
}
