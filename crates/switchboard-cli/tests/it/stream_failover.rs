//! `SwitchboardStreamFailover` (beyond Twilio, issue 22), on sandbox calls (a sandbox stream
//! carries the protocol without audio): a bot that drops the socket mid-call and comes back
//! within `--stream-retry-for` gets `connected` + `start` again with the same `streamSid`
//! (`tests/compat/flaky_bot.py`); a bot that stays down leads to the Voice Fallback URL with
//! `ErrorCode` and `ErrorUrl` = the stream URL, whose `<Say>` the caller hears. Without the
//! setting, a refused stream simply ends the `<Connect>` (31902).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{events, finished, form, param};
use crate::{call, start_with};

const XML: &str = "text/xml";

/// Places a sandbox call on the real clock (streams are real sockets); returns its SID.
async fn place_real(engine: &crate::Engine, to: &str) -> String {
    let url = format!("{}/sandbox/Calls", engine.base_url);
    let placed = call(engine, "POST", &url, &[("To", to)]).await;
    assert_eq!(placed.0, 201, "{placed:?}");
    placed.1["call_sid"].as_str().expect("call_sid").to_owned()
}

async fn number(engine: &crate::Engine, number: &str, voice: &str, fallback: &str) {
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", number),
            ("VoiceUrl", voice),
            ("VoiceFallbackUrl", fallback),
            ("SwitchboardStreamFailover", "true"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(
        created.1["switchboard_stream_failover"], true,
        "{created:?}"
    );
}

fn stream_actions(transcript: &Value) -> Vec<String> {
    events(transcript, "stream")
        .iter()
        .map(|event| event["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_bot_that_drops_and_comes_back_gets_the_same_stream_again() {
    let Some(python) = switchboard_test_support::python::python("stream_failover") else {
        return;
    };
    let engine = start_with(&["--stream-retry-for", "10"]);
    let app = App::start().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/flaky_bot.py");
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
            r#"<Response><Connect><Stream url="ws://127.0.0.1:{port}/bot"/></Connect><Say>Back from the agent.</Say></Response>"#
        ),
    );
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>never</Say></Response>",
    );
    number(
        &engine,
        "+15550220010",
        &app.url("/voice"),
        &app.url("/fallback"),
    )
    .await;
    let sid = place_real(&engine, "+15550220010").await;
    let transcript = finished(&engine, &sid).await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(bot.wait().expect("bot").success(), "{rest:?}");
    assert!(
        rest.iter().any(|line| line == "all checks passed"),
        "{rest:?}"
    );
    assert_eq!(
        stream_actions(&transcript),
        ["start", "reconnect", "start", "stop"],
        "{transcript}"
    );
    let says: Vec<&str> = events(&transcript, "say")
        .iter()
        .filter_map(|event| event["text"].as_str())
        .collect();
    assert_eq!(says, ["Back from the agent."], "{transcript}");
    assert!(
        app.received()
            .iter()
            .all(|r| !r.target.starts_with("/fallback")),
        "the fallback was not needed"
    );
}

#[tokio::test]
async fn a_bot_that_stays_down_leads_to_the_fallback_url_with_the_stream_error() {
    let engine = start_with(&["--stream-retry-for", "2"]);
    let app = App::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let stream_url = format!("ws://127.0.0.1:{port}/bot");
    app.route(
        "/voice",
        200,
        XML,
        &format!(r#"<Response><Connect><Stream url="{stream_url}"/></Connect><Say>never</Say></Response>"#),
    );
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>The agent is away, please call back later.</Say></Response>",
    );
    number(
        &engine,
        "+15550220011",
        &app.url("/voice"),
        &app.url("/fallback"),
    )
    .await;
    let sid = place_real(&engine, "+15550220011").await;
    let transcript = finished(&engine, &sid).await;
    let fallback: Vec<Vec<(String, String)>> = app
        .received()
        .into_iter()
        .filter(|r| r.target.starts_with("/fallback"))
        .map(|r| form(&r.body))
        .collect();
    assert_eq!(fallback.len(), 1, "{transcript}");
    assert_eq!(param(&fallback[0], "ErrorCode"), Some("31902"));
    assert_eq!(param(&fallback[0], "ErrorUrl"), Some(stream_url.as_str()));
    let actions = stream_actions(&transcript);
    assert!(
        actions.len() >= 3 && actions.iter().filter(|a| *a == "reconnect").count() >= 2,
        "opened again with backoff within 2 s: {actions:?}"
    );
    assert_eq!(actions.last().map(String::as_str), Some("error"));
    let says: Vec<&str> = events(&transcript, "say")
        .iter()
        .filter_map(|event| event["text"].as_str())
        .collect();
    assert_eq!(
        says,
        ["The agent is away, please call back later."],
        "{transcript}"
    );
}

#[tokio::test]
async fn without_failover_a_refused_stream_ends_the_connect() {
    let engine = start_with(&[]);
    let app = App::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    app.route(
        "/voice",
        200,
        XML,
        &format!(r#"<Response><Connect><Stream url="ws://127.0.0.1:{port}/bot"/></Connect><Say>After the agent.</Say></Response>"#),
    );
    crate::voice::provision(
        &engine,
        "+15550220012",
        &app.url("/voice"),
        Some(&app.url("/fallback")),
    )
    .await;
    let sid = place_real(&engine, "+15550220012").await;
    let transcript = finished(&engine, &sid).await;
    assert_eq!(stream_actions(&transcript), ["error"], "{transcript}");
    let alerts: Vec<&Value> = events(&transcript, "alert");
    assert!(
        alerts
            .iter()
            .any(|alert| alert["error_code"] == 31902 || alert["error_code"] == "31902"),
        "{transcript}"
    );
    let says: Vec<&str> = events(&transcript, "say")
        .iter()
        .filter_map(|event| event["text"].as_str())
        .collect();
    assert_eq!(says, ["After the agent."], "{transcript}");
}
