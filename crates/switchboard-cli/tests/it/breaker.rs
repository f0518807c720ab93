//! The circuit breaker (issue 17, product.md "Beyond Twilio", `SwitchboardBreaker`): against a
//! blackholed primary (accepts TCP, never answers) with the default timeouts, a number with the
//! breaker on stops making callers wait once its origin has failed `--breaker-failures` times
//! in a row, and its calls reach the fallback at once, which gets the last failure's
//! `ErrorCode`; a number without it waits the full timeout every time, as Twilio does. When the
//! primary answers again, the half-open probe closes the breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::voice::{events, finished, form, param};
use crate::{binary, call};

const FAILURES: usize = 3;
/// Long enough for the 100 calls through the open breaker (each on the virtual clock, so its
/// `<Say>` takes no wall time).
const COOLOFF: Duration = Duration::from_secs(10);
const GUARDED: &str = "+15550500100";
const UNGUARDED: &str = "+15550500200";
const PRIMARY_TWIML: &str = "<Response><Say>primary</Say></Response>";

/// The primary: holds every request unanswered while dead; answers TwiML once alive.
#[derive(Clone)]
struct Primary {
    url: String,
    alive: Arc<AtomicBool>,
}

impl Primary {
    async fn start() -> Primary {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let primary = Primary {
            url: format!("http://{}/voice", listener.local_addr().expect("address")),
            alive: Arc::default(),
        };
        let alive = primary.alive.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let alive = alive.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0_u8; 16 * 1024];
                    let mut read = 0;
                    // Reads the request; a dead primary never answers (the engine times out).
                    loop {
                        match stream.read(&mut buffer[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                        let text = String::from_utf8_lossy(&buffer[..read]);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length: usize = text[..end]
                                .lines()
                                .find_map(|line| {
                                    let (name, value) = line.split_once(':')?;
                                    name.eq_ignore_ascii_case("content-length")
                                        .then(|| value.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            if read >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    if !alive.load(Ordering::SeqCst) {
                        // Held open until the engine gives up and closes it.
                        let _ = stream.read(&mut buffer).await;
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PRIMARY_TWIML}",
                        PRIMARY_TWIML.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        primary
    }
}

async fn provision(engine: &Engine, number: &str, primary: &Primary, app: &App, breaker: bool) {
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", number),
            ("VoiceUrl", &primary.url),
            ("VoiceFallbackUrl", &app.url("/fallback")),
            ("SwitchboardBreaker", if breaker { "true" } else { "false" }),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["switchboard_breaker"], breaker, "{created:?}");
}

async fn place(engine: &Engine, to: &str) -> String {
    let placed = call(
        engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", to), ("Clock", "fast")],
    )
    .await;
    assert_eq!(placed.0, 201, "{placed:?}");
    placed.1["call_sid"].as_str().expect("sid").to_owned()
}

async fn transcript(engine: &Engine, sid: &str) -> Value {
    let url = format!(
        "{}/sandbox/Calls/{sid}?WaitFor=completed&Timeout=40",
        engine.base_url
    );
    let answer = call(engine, "GET", &url, &[]).await;
    assert_eq!(answer.0, 200, "the call did not end: {answer:?}");
    answer.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_sends_callers_straight_to_the_fallback_until_the_primary_answers() {
    let dir = scratch_dir("breaker");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database_url,
        vec![
            ("SWITCHBOARD_BREAKER_FAILURES".into(), FAILURES.to_string()),
            (
                "SWITCHBOARD_BREAKER_COOLOFF".into(),
                COOLOFF.as_secs().to_string(),
            ),
        ],
    );
    let primary = Primary::start().await;
    let app = App::start().await;
    app.route(
        "/fallback",
        200,
        "text/xml",
        "<Response><Say>fallback</Say></Response>",
    );
    provision(&engine, GUARDED, &primary, &app, true).await;
    provision(&engine, UNGUARDED, &primary, &app, false).await;

    // The breaker opens after FAILURES calls that each waited the full default timeout; the
    // number without a breaker waits it too, and keeps waiting it afterwards.
    let mut first = Vec::new();
    for _ in 0..FAILURES {
        first.push(place(&engine, GUARDED).await);
    }
    let unguarded = place(&engine, UNGUARDED).await;
    let mut opened = None;
    for sid in &first {
        let transcript = transcript(&engine, sid).await;
        opened.get_or_insert_with(Instant::now);
        let webhooks = events(&transcript, "webhook");
        assert!(webhooks[0]["breaker"].is_null(), "{transcript}");
        assert!(
            webhooks[0]["duration_ms"].as_u64() >= Some(14_000),
            "{transcript}"
        );
        assert_eq!(webhooks[1]["fallback"], true, "{transcript}");
    }
    let timed_out = transcript(&engine, &unguarded).await;
    let timeout_code = events(&timed_out, "webhook")[0]["error_code"].clone();
    assert!(
        events(&timed_out, "webhook")[0]["duration_ms"].as_u64() >= Some(14_000),
        "{timed_out}"
    );
    let still_waiting = place(&engine, UNGUARDED).await;

    // Now every call to the guarded number reaches the fallback at once.
    let skipped_at = Instant::now();
    let mut slowest = 0;
    for _ in 0..100 {
        let sid = place(&engine, GUARDED).await;
        let transcript = transcript(&engine, &sid).await;
        let webhooks = events(&transcript, "webhook");
        let skip = webhooks[0];
        assert_eq!(skip["breaker"], "open", "{transcript}");
        assert!(skip["http_status"].is_null(), "{transcript}");
        assert_eq!(skip["duration_ms"], 0, "{transcript}");
        assert_eq!(skip["error_code"], timeout_code, "{transcript}");
        assert_eq!(skip["url"], primary.url.as_str(), "{transcript}");
        let fallback = webhooks[1];
        assert_eq!(fallback["fallback"], true, "{transcript}");
        assert_eq!(fallback["http_status"], 200, "{transcript}");
        // When the fallback's answer was in, since the call started.
        let at = fallback["at_ms"].as_u64().expect("at_ms");
        slowest = slowest.max(at);
        assert!(
            at <= 50,
            "the fallback answered {at} ms into the call: {transcript}"
        );
        let says: Vec<_> = events(&transcript, "say")
            .iter()
            .map(|say| say["text"].clone())
            .collect();
        assert_eq!(says, ["fallback"], "{transcript}");
        // A skip is not alerted call by call: the breaker's opening was, once.
        assert!(events(&transcript, "alert").is_empty(), "{transcript}");
    }
    let breaker_alerts = |level: &'static str| {
        let engine = &engine;
        async move {
            let url = format!("{}/v1/Alerts?PageSize=1000", engine.base_url);
            call(engine, "GET", &url, &[]).await.1["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|alert| {
                    alert["log_level"] == level
                        && alert["alert_text"].as_str().is_some_and(|text| {
                            text.contains("Circuit+breaker") || text.contains("Circuit breaker")
                        })
                })
                .count()
        }
    };
    assert_eq!(
        breaker_alerts("error").await,
        1,
        "one alert when the breaker opened"
    );
    eprintln!(
        "100 calls through an open breaker in {:?}, the slowest fallback answer {slowest} ms into its call",
        skipped_at.elapsed()
    );
    let requests = app.received();
    let to_fallback: Vec<_> = requests
        .iter()
        .filter(|request| request.target.starts_with("/fallback"))
        .map(|request| form(&request.body))
        .collect();
    let last = to_fallback.last().expect("fallback requests");
    assert_eq!(
        param(last, "ErrorCode"),
        timeout_code
            .as_u64()
            .map(|code| code.to_string())
            .as_deref()
    );
    assert_eq!(param(last, "ErrorUrl"), Some(primary.url.as_str()));
    // The primary comes back: after the cooloff one call probes it, and the breaker closes.
    primary.alive.store(true, Ordering::SeqCst);
    let opened = opened.expect("the breaker opened");
    assert!(
        opened.elapsed() < COOLOFF,
        "the 100 calls outlasted the cooloff"
    );
    let waited = transcript(&engine, &still_waiting).await;
    assert!(
        events(&waited, "webhook")[0]["duration_ms"].as_u64() >= Some(14_000),
        "without the breaker every caller waits: {waited}"
    );
    tokio::time::sleep((COOLOFF + Duration::from_millis(200)).saturating_sub(opened.elapsed()))
        .await;
    for _ in 0..3 {
        let sid = place(&engine, GUARDED).await;
        let transcript = finished(&engine, &sid).await;
        let webhooks = events(&transcript, "webhook");
        assert_eq!(webhooks.len(), 1, "{transcript}");
        assert!(webhooks[0]["breaker"].is_null(), "{transcript}");
        assert_eq!(webhooks[0]["fallback"], false, "{transcript}");
        assert_eq!(
            events(&transcript, "say")[0]["text"],
            "primary",
            "{transcript}"
        );
    }
    assert_eq!(
        breaker_alerts("warning").await,
        1,
        "one alert when it closed"
    );
    assert_eq!(breaker_alerts("error").await, 1);
}

#[tokio::test]
async fn the_breaker_settings_are_checked() {
    let engine = crate::start();
    let number = async |value: &str| {
        let url = engine.account_url("IncomingPhoneNumbers.json");
        call(
            &engine,
            "POST",
            &url,
            &[
                ("PhoneNumber", "+15550500300"),
                ("SwitchboardBreaker", value),
            ],
        )
        .await
    };
    let refused = number("maybe").await;
    assert_eq!(refused.0, 400, "{refused:?}");
    let created = number("true").await;
    assert_eq!(created.1["switchboard_breaker"], true, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid");
    let updated = call(
        &engine,
        "POST",
        &engine.account_url(&format!("IncomingPhoneNumbers/{sid}.json")),
        &[("SwitchboardBreaker", "false")],
    )
    .await;
    assert_eq!(updated.1["switchboard_breaker"], false, "{updated:?}");
    let output = std::process::Command::new(binary())
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--sip",
            "off",
            "--breaker-failures",
            "0",
        ])
        .current_dir(engine.dir())
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .expect("running switchboard");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--breaker-failures"));
}
