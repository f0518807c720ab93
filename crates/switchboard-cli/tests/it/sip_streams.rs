//! Media streams on real calls (issue 22): sipp calls a number whose TwiML is
//! `<Connect action><Stream>`; a plain `websockets` bot (`tests/compat/stream_bot.py`) checks
//! Twilio's protocol from its side (the signature with the official `RequestValidator`, the
//! frames and their field types, the caller's transcoded speech, marks timed against the audio
//! before them, `clear`, the caller's RFC 4733 key as `dtmf`) and then closes the socket; the
//! engine then requests the `<Connect action>` and hangs up. A refused stream URL is 31902 and
//! the TwiML after `<Connect>` runs. An unmodified pipecat bot answers a caller's sox tone with
//! its own and hangs up through REST. A one-way `both_tracks` stream hears the caller's speech
//! and the engine's `<Play>`. A SIP INFO key reaches a two-way stream as `dtmf`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;
use switchboard_test_support::sipp::Sipp;

use crate::sip_calls::{SipTest, XML, assert_sipp_ok, hits, scenario, sip_addr, transcript};
use crate::voice::provision;
use crate::{Engine, call};

/// The alerts about `call_sid`, oldest first.
async fn alerts_about(engine: &Engine, call_sid: &str) -> Vec<Value> {
    let url = format!("{}/v1/Alerts?PageSize=1000", engine.base_url);
    let listed = call(engine, "GET", &url, &[]).await;
    assert_eq!(listed.0, 200, "{listed:?}");
    let mut alerts: Vec<Value> = listed.1["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|alert| alert["resource_sid"] == call_sid)
        .collect();
    alerts.reverse();
    alerts
}

fn codes(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|alert| alert["error_code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_websockets_bot_sees_twilios_protocol_on_a_sip_call() {
    let Some(python) = switchboard_test_support::python::python("sip_streams") else {
        return;
    };
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
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/stream_bot.py");
    let mut bot = Command::new(python)
        .arg(&script)
        .arg(&engine.auth_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the bot");
    let mut lines = BufReader::new(bot.stdout.take().expect("stdout")).lines();
    let port = lines
        .next()
        .and_then(Result::ok)
        .expect("the bot prints its port");
    let stream_url = format!("ws://127.0.0.1:{port}/bot");
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Connect action="/after"><Stream url="{stream_url}" name="agent">
                 <Parameter name="customer" value="42"/><Parameter name="lang" value="en"/>
               </Stream></Connect><Say>never</Say></Response>"#
        ),
    );
    app.route("/after", 200, XML, "<Response><Hangup/></Response>");
    let number = "+15550220001";
    provision(&engine, number, &app.url("/voice"), None).await;
    let outcome = Sipp::new(&sipp_binary, &scenario("stream"), sip_addr(&engine), number)
        .run()
        .await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = bot.wait().expect("the bot ends");
    let mut stderr = String::new();
    if let Some(mut pipe) = bot.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
    }
    assert!(
        status.success() && rest.iter().any(|line| line == "all checks passed"),
        "bot: {rest:?}\n{stderr}"
    );
    assert_sipp_ok(&outcome, "stream call");
    let after = hits(&app, "/after");
    assert_eq!(after.len(), 1, "the <Connect action> is requested once");
    let call_sid = after[0]
        .iter()
        .find(|(name, _)| name == "CallSid")
        .map(|(_, value)| value.clone())
        .expect("CallSid");
    let alerts = alerts_about(&engine, &call_sid).await;
    let warnings: Vec<&Value> = alerts
        .iter()
        .filter(|alert| alert["error_code"] == "31924")
        .collect();
    // Not JSON, binary, an unknown event, not base64, over 64 KiB (and marks past the pending
    // limit, if the flood outran their echoes): ten at most are recorded per stream.
    assert!(
        (5..=10).contains(&warnings.len()),
        "one warning per bad frame, at most ten: {alerts:?}"
    );
    assert!(
        warnings.iter().all(|alert| alert["log_level"] == "warning"),
        "{warnings:?}"
    );
    let events = transcript(&engine, &call_sid).await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"stream") && kinds.contains(&"mark"),
        "{events}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_refused_stream_url_is_31902_and_the_twiml_after_connect_runs() {
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Connect><Stream url="wss://127.0.0.1:{port}/bot"/></Connect><Redirect>/next</Redirect></Response>"#
        ),
    );
    app.route("/next", 200, XML, "<Response><Hangup/></Response>");
    let number = "+15550220002";
    provision(&engine, number, &app.url("/voice"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("engine_hangs_up"),
        sip_addr(&engine),
        number,
    )
    .run()
    .await;
    let next = hits(&app, "/next");
    assert_eq!(next.len(), 1, "the verb after <Connect> ran");
    let call_sid = next[0]
        .iter()
        .find(|(name, _)| name == "CallSid")
        .map(|(_, value)| value.clone())
        .expect("CallSid");
    let alerts = alerts_about(&engine, &call_sid).await;
    assert_eq!(codes(&alerts), ["31902"], "{alerts:?}");
    assert_eq!(alerts[0]["log_level"], "error");
    assert_sipp_ok(&outcome, "refused stream call");
}

/// A tone made by sox, as A-law at 8 kHz.
fn caller_tone(hz: u32, seconds: &str) -> Vec<u8> {
    let dir = switchboard_test_support::engine::scratch_dir("caller-tone");
    let path = dir.join("tone.al");
    let made = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "a-law", "-t", "al"])
        .arg(&path)
        .args(["synth", seconds, "sine", &hz.to_string(), "vol", "0.5"])
        .output()
        .expect("run sox");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::read(path).expect("the tone")
}

/// The caller's media: once the engine's first packet shows where its RTP comes from, `audio`
/// goes to it as PCMA every 20 ms; everything the engine sends is kept until it has been
/// quiet for 1.5 s.
async fn caller_media(socket: tokio::net::UdpSocket, audio: Vec<u8>) -> Vec<(Instant, Vec<u8>)> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 2048];
    let engine =
        match tokio::time::timeout(Duration::from_secs(20), socket.recv_from(&mut buffer)).await {
            Ok(Ok((length, from))) => {
                received.push((Instant::now(), buffer[..length].to_vec()));
                from
            }
            _ => return received,
        };
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut frames = audio.chunks(160).enumerate();
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if last.elapsed() > Duration::from_millis(1500) {
                    return received;
                }
                if let Some((index, payload)) = frames.next() {
                    let mut packet = vec![0x80, if index == 0 { 0x88 } else { 0x08 }];
                    packet.extend((index as u16).to_be_bytes());
                    packet.extend((index as u32 * 160).to_be_bytes());
                    packet.extend(0x0ca1_1e55_u32.to_be_bytes());
                    packet.extend(payload);
                    let _ = socket.send_to(&packet, engine).await;
                }
            }
            got = socket.recv_from(&mut buffer) => {
                if let Ok((length, _)) = got {
                    last = Instant::now();
                    received.push((last, buffer[..length].to_vec()));
                }
            }
        }
    }
}

/// The energy of `hz` in `samples` (Goertzel), relative to the block's total energy.
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
async fn an_unmodified_pipecat_bot_answers_a_sip_call_and_hangs_up_through_rest() {
    let Some(python) = switchboard_test_support::python::python("sip_streams") else {
        return;
    };
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/pipecat_bot.py");
    let mut bot = Command::new(python)
        .arg(&script)
        .args([
            &port.to_string(),
            &engine.base_url,
            &engine.account_sid,
            &engine.auth_token,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the pipecat bot");
    let listening = crate::eventually(Duration::from_secs(60), async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    assert!(listening, "the pipecat bot did not start listening");
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Connect><Stream url="ws://127.0.0.1:{port}/bot"/></Connect></Response>"#
        ),
    );
    app.route("/status", 204, "text/plain", "");
    let number = "+15550220003";
    let created = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", number),
            ("VoiceUrl", &app.url("/voice")),
            ("StatusCallback", &app.url("/status")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind RTP");
    let rtp_port = socket.local_addr().expect("addr").port().to_string();
    let media = tokio::spawn(caller_media(socket, caller_tone(440, "3")));
    let outcome = Sipp::new(&sipp_binary, &scenario("listen"), sip_addr(&engine), number)
        .key("rtp_port", &rtp_port)
        .run()
        .await;
    let received = media.await.expect("caller media");
    let _ = bot.kill();
    let mut stderr = String::new();
    if let Some(mut pipe) = bot.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
    }
    let _ = bot.wait();
    assert_sipp_ok(&outcome, "pipecat call");

    // What the caller heard: 200 ms blocks of the engine's PCMA, the bot's 1200 Hz among them.
    let samples: Vec<f64> = received
        .iter()
        .filter(|(_, packet)| packet.len() > 12 && packet[1] & 0x7F == 8)
        .flat_map(|(_, packet)| {
            packet[12..]
                .iter()
                .map(|&code| f64::from(crate::sip_calls::alaw_decode(code)))
        })
        .collect();
    let blocks: Vec<(f64, f64)> = samples
        .chunks(1600)
        .map(|block| (tone_share(block, 1200.0), tone_share(block, 440.0)))
        .collect();
    let bot_blocks = blocks
        .iter()
        .filter(|(bot, caller)| *bot > 0.5 && *caller < 0.05)
        .count();
    assert!(
        bot_blocks >= 5,
        "the caller heard the bot's 1200 Hz tone for at least a second: {blocks:?}\nbot stderr:\n{stderr}"
    );

    let statuses = hits(&app, "/status");
    let last = statuses.last().expect("status callbacks");
    let value = |name: &str| last.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(
        value("CallStatus").as_deref(),
        Some("completed"),
        "{statuses:?}"
    );
    let call_sid = value("CallSid").expect("CallSid");
    let stored = crate::sip_calls::stored_call(&engine, &call_sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");
    let events = transcript(&engine, &call_sid).await;
    let hung_up_by_api = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|event| event["type"] == "hangup" && event["by"] == "api");
    assert!(
        hung_up_by_api,
        "the bot hung up through the REST API: {events}"
    );
}

#[tokio::test]
async fn a_one_way_stream_of_both_tracks_hears_the_caller_and_the_engine() {
    let Some(python) = switchboard_test_support::python::python("sip_streams") else {
        return;
    };
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
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/listen_bot.py");
    let mut bot = Command::new(python)
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the bot");
    let mut lines = BufReader::new(bot.stdout.take().expect("stdout")).lines();
    let port = lines.next().and_then(Result::ok).expect("the bot's port");
    app.route_bytes(
        "/tone.wav",
        200,
        "audio/wav",
        crate::sip_calls::tone_wav(2500),
    );
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Start><Stream url="ws://127.0.0.1:{port}/listen" track="both_tracks"/></Start>
               <Pause length="1"/><Play>/tone.wav</Play><Pause length="2"/><Hangup/></Response>"#
        ),
    );
    let number = "+15550220004";
    provision(&engine, number, &app.url("/voice"), None).await;
    let outcome = Sipp::new(&sipp_binary, &scenario("record"), sip_addr(&engine), number)
        .run()
        .await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(bot.wait().expect("bot").success(), "{rest:?}");
    assert!(
        rest.iter().any(|line| line == "all checks passed"),
        "{rest:?}"
    );
    assert_sipp_ok(&outcome, "both-tracks call");
}

#[tokio::test]
async fn a_sip_info_key_reaches_a_two_way_stream_as_dtmf() {
    let Some(python) = switchboard_test_support::python::python("sip_streams") else {
        return;
    };
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
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/dtmf_bot.py");
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
        XML,
        &format!(
            r#"<Response><Connect><Stream url="ws://127.0.0.1:{port}/keys"/></Connect><Hangup/></Response>"#
        ),
    );
    let number = "+15550220005";
    provision(&engine, number, &app.url("/voice"), None).await;
    let capture = crate::sip_calls::RtpCapture::start().await;
    let outcome = Sipp::new(&sipp_binary, &scenario("info"), sip_addr(&engine), number)
        .key("rtp_port", &capture.port)
        .run()
        .await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(bot.wait().expect("bot").success(), "{rest:?}");
    assert!(
        rest.iter().any(|line| line == "all checks passed"),
        "{rest:?}"
    );
    assert_sipp_ok(&outcome, "INFO call");
    drop(capture);
}
