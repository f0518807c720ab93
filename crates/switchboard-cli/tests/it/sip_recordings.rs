//! Real calls recorded (issue 19 item 4). Mid-call: sipp calls the engine and plays speech
//! (sip-tester's `g711a.pcap`) while the REST API starts a dual-channel recording, pauses it
//! and resumes it; the call ends and the recording holds the caller's audio in its first
//! channel and the engine's near-silence in the second. `Record=true` on a call to a SIP URI:
//! the engine's speech is the outbound channel and its echo the inbound one.

use std::time::Duration;

use serde_json::Value;
use switchboard_test_support::sipp::{Sipp, SippUas};

use crate::sip_calls::{SipTest, XML, assert_sipp_ok, hits, scenario, sip_addr};
use crate::voice::{param, provision};
use crate::{call, eventually};

fn rms(samples: impl Iterator<Item = i16>) -> f64 {
    let (mut energy, mut count) = (0.0, 0usize);
    for sample in samples {
        energy += f64::from(sample).powi(2);
        count += 1;
    }
    (energy / count.max(1) as f64).sqrt()
}

#[tokio::test]
async fn a_sip_call_recorded_mid_call_holds_the_callers_audio() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    // `<Play digits>` answers the call; the pause holds it while the caller talks.
    app.route(
        "/voice",
        200,
        XML,
        r#"<Response><Play digits="1"/><Pause length="7"/><Hangup/></Response>"#,
    );
    app.route("/rec", 204, "text/plain", "");
    let number = "+15550440001";
    provision(&engine, number, &app.url("/voice"), None).await;
    let sipp = Sipp::new(&sipp_binary, &scenario("record"), sip_addr(&engine), number);
    let calls = engine.account_url("Calls.json?Status=in-progress");
    let drive = async {
        let mut sid = String::new();
        assert!(
            eventually(Duration::from_secs(10), async || {
                let listed = call(&engine, "GET", &calls, &[]).await;
                match listed.1["calls"][0]["sid"].as_str() {
                    Some(found) => {
                        sid = found.to_owned();
                        true
                    }
                    None => false,
                }
            })
            .await,
            "the SIP call was not answered"
        );
        let recordings = engine.account_url(&format!("Calls/{sid}/Recordings.json"));
        let created = call(
            &engine,
            "POST",
            &recordings,
            &[
                ("RecordingChannels", "dual"),
                ("RecordingStatusCallback", &app.url("/rec")),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        let recording = created.1["sid"].as_str().expect("sid").to_owned();
        let one = engine.account_url(&format!("Calls/{sid}/Recordings/{recording}.json"));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let paused = call(
            &engine,
            "POST",
            &one,
            &[("Status", "paused"), ("PauseBehavior", "skip")],
        )
        .await;
        assert_eq!(paused.1["status"], "paused", "{paused:?}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let resumed = call(&engine, "POST", &one, &[("Status", "in-progress")]).await;
        assert_eq!(resumed.1["status"], "in-progress", "{resumed:?}");
        recording
    };
    let (outcome, recording) = tokio::join!(sipp.run(), drive);
    assert_sipp_ok(&outcome, "recorded call");

    let fetched: Value = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Recordings/{recording}.json")),
        &[],
    )
    .await
    .1;
    assert_eq!(fetched["status"], "completed", "{fetched}");
    assert_eq!(fetched["channels"], 2);
    let duration: u64 = fetched["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    // The call holds about 7 s after the answer; the recording starts a little later and
    // skips one second.
    assert!((4..=7).contains(&duration), "{duration} s");
    let callback = hits(&app, "/rec");
    assert_eq!(callback.len(), 1, "{callback:?}");
    assert_eq!(param(&callback[0], "RecordingStatus"), Some("completed"));
    assert_eq!(param(&callback[0], "RecordingChannels"), Some("2"));

    let url = engine.account_url(&format!("Recordings/{recording}.wav"));
    let wav = reqwest::get(&url)
        .await
        .expect("wav")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2);
    let frames: Vec<[i16; 2]> = wav[44..]
        .chunks_exact(4)
        .map(|f| {
            [
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            ]
        })
        .collect();
    let seconds = frames.len() as f64 / 8000.0;
    assert!(
        (seconds - duration as f64).abs() <= 0.6,
        "{seconds} s of audio for {duration} s"
    );
    let caller = rms(frames.iter().map(|f| f[0]));
    let engine_side = rms(frames.iter().map(|f| f[1]));
    eprintln!(
        "recorded {seconds:.2} s ({duration} s): caller RMS {caller:.0}, engine RMS {engine_side:.0}"
    );
    assert!(
        caller > 200.0,
        "the caller's speech is in the first channel (RMS {caller:.0})"
    );
    assert!(
        engine_side < 100.0,
        "the engine sent near-silence (RMS {engine_side:.0})"
    );

    let mp3 = reqwest::get(engine.account_url(&format!("Recordings/{recording}.mp3")))
        .await
        .expect("mp3")
        .bytes()
        .await
        .expect("bytes");
    let decoded = switchboard_media::decode::decode_to_8k(&mp3).expect("the MP3 decodes");
    let mp3_seconds = decoded.len() as f64 / 8000.0;
    assert!(
        (mp3_seconds - seconds).abs() < 0.4,
        "{mp3_seconds} s of MP3 for {seconds} s"
    );
}

/// `Record=true` on a call to a SIP URI: the callee (sipp echoing RTP) hears the engine's
/// `<Say>` and sends it back, so both channels of the dual recording hold speech: the
/// outbound one as the engine sent it, the inbound one as it came back.
#[tokio::test]
async fn record_true_on_an_outbound_sip_call_records_both_directions() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/outbound",
        200,
        XML,
        "<Response><Say>Hello from the engine, this call is recorded.</Say><Hangup/></Response>",
    );
    app.route("/status", 204, "text/plain", "");
    app.route("/rec", 204, "text/plain", "");
    provision(&engine, "+15550440002", &app.url("/unused"), None).await;
    let callee = SippUas::start(&sipp_binary, None, &["-rtp_echo"]).await;
    let to = format!("sip:alice@{}", callee.addr());
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", to.as_str()),
            ("From", "+15550440002"),
            ("Url", &app.url("/outbound")),
            ("Record", "true"),
            ("RecordingChannels", "dual"),
            ("RecordingStatusCallback", &app.url("/rec")),
            ("StatusCallback", &app.url("/status")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let outcome = callee.finish(Duration::from_secs(30)).await;
    assert_sipp_ok(&outcome, "sipp uas");
    assert!(
        eventually(Duration::from_secs(10), async || !hits(&app, "/rec")
            .is_empty())
        .await,
        "the recording callback"
    );
    let callback = hits(&app, "/rec").remove(0);
    assert_eq!(
        param(&callback, "RecordingStatus"),
        Some("completed"),
        "{callback:?}"
    );
    assert_eq!(param(&callback, "RecordingSource"), Some("OutboundAPI"));
    let recording = param(&callback, "RecordingSid")
        .expect("RecordingSid")
        .to_owned();
    let url = engine.account_url(&format!("Recordings/{recording}.wav"));
    let wav = reqwest::get(&url)
        .await
        .expect("wav")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2);
    let frames: Vec<[i16; 2]> = wav[44..]
        .chunks_exact(4)
        .map(|f| {
            [
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            ]
        })
        .collect();
    let inbound = rms(frames.iter().map(|f| f[0]));
    let outbound = rms(frames.iter().map(|f| f[1]));
    eprintln!(
        "Record=true over SIP: {} s, inbound RMS {inbound:.0}, outbound RMS {outbound:.0}",
        frames.len() / 8000
    );
    assert!(
        outbound > 200.0,
        "the engine's speech is the outbound channel (RMS {outbound:.0})"
    );
    assert!(
        inbound > 200.0,
        "the echoed speech is the inbound channel (RMS {inbound:.0})"
    );
}
