//! Media streams on real calls (issue 22): sipp calls a number whose TwiML is
//! `<Connect action><Stream>`; a plain `websockets` bot (`tests/compat/stream_bot.py`) checks
//! Twilio's protocol from its side (the signature with the official `RequestValidator`, the
//! frames and their field types, the caller's transcoded speech, marks timed against the audio
//! before them, `clear`, the caller's RFC 4733 key as `dtmf`) and then closes the socket; the
//! engine then requests the `<Connect action>` and hangs up. A refused stream URL is 31902 and
//! the TwiML after `<Connect>` runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    assert_eq!(
        warnings.len(),
        3,
        "not JSON, binary, unknown event: {alerts:?}"
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
