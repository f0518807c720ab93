//! Voice calls end to end beyond availability: outbound REST calls with status callbacks and
//! their validation codes, live updates and deletes, applications, the virtual clock, `WaitFor`,
//! and `switchboard call`.

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{events, finished, form, param, place, provision};
use crate::{call, start};

const XML: &str = "text/xml";

#[tokio::test]
async fn outbound_calls_post_ordered_status_callbacks_and_validate_their_parameters() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/answer",
        200,
        XML,
        "<Response><Say>Hello handset</Say></Response>",
    );
    app.route("/status", 204, "text/plain", "");
    provision(&engine, "+15550300050", &app.url("/answer"), None).await;
    let calls = engine.account_url("Calls.json");
    let status = app.url("/status");
    let created = call(
        &engine,
        "POST",
        &calls,
        &[
            ("To", "+15558675309"),
            ("From", "+15550300050"),
            ("Url", &app.url("/answer")),
            ("StatusCallback", &status),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["direction"], "outbound-api");
    assert_eq!(created.1["status"], "queued");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let callbacks: Vec<Vec<(String, String)>> = app
        .received()
        .iter()
        .filter(|r| r.target == "/status")
        .map(|r| form(&r.body))
        .collect();
    let seen: Vec<(&str, &str, &str)> = callbacks
        .iter()
        .map(|p| {
            (
                param(p, "SequenceNumber").unwrap_or(""),
                param(p, "CallStatus").unwrap_or(""),
                param(p, "CallbackSource").unwrap_or(""),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, &str)> = ["initiated", "ringing", "in-progress", "completed"]
        .iter()
        .enumerate()
        .map(|(n, s)| (["0", "1", "2", "3"][n], *s, "call-progress-events"))
        .collect();
    assert_eq!(seen, expected);
    assert!(param(&callbacks[3], "CallDuration").is_some());
    assert!(param(&callbacks[3], "Timestamp").is_some_and(|t| t.ends_with("+0000")));
    let listed = call(
        &engine,
        "GET",
        &format!("{calls}?To=%2B15558675309&Status=completed"),
        &[],
    )
    .await;
    assert_eq!(
        listed.1["calls"].as_array().map(Vec::len),
        Some(1),
        "{listed:?}"
    );
    let none = call(&engine, "GET", &format!("{calls}?Status=busy"), &[]).await;
    assert_eq!(none.1["calls"].as_array().map(Vec::len), Some(0));
    // Validation, code by code.
    let base = [
        ("To", "+15558675309"),
        ("From", "+15550300050"),
        ("Url", "http://127.0.0.1:9/x"),
    ];
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (
            vec![("From", "+15550300050"), ("Url", "http://127.0.0.1:9/x")],
            21201,
        ),
        (
            vec![("To", "+15558675309"), ("Url", "http://127.0.0.1:9/x")],
            21213,
        ),
        (
            vec![
                ("To", "12"),
                ("From", "+15550300050"),
                ("Url", "http://127.0.0.1:9/x"),
            ],
            21211,
        ),
        (
            vec![
                ("To", "+15558675309"),
                ("From", "abc"),
                ("Url", "http://127.0.0.1:9/x"),
            ],
            21212,
        ),
        (
            vec![
                ("To", "+15558675309"),
                ("From", "+15557770000"),
                ("Url", "http://127.0.0.1:9/x"),
            ],
            21210,
        ),
        (
            vec![
                ("To", "+15558675309"),
                ("From", "+15550300050"),
                ("Url", "not a url"),
            ],
            21205,
        ),
        (
            vec![("To", "+15558675309"), ("From", "+15550300050")],
            21205,
        ),
        ([&base[..], &[("Method", "PUT")]].concat(), 21209),
        ([&base[..], &[("SendDigits", "12x")]].concat(), 21206),
        ([&base[..], &[("Timeout", "soon")]].concat(), 21208),
    ];
    for (form, code) in cases {
        let answer = call(&engine, "POST", &calls, &form).await;
        crate::assert_error(&answer, 400, code);
    }
    let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(4000));
    let answer = call(
        &engine,
        "POST",
        &calls,
        &[
            ("To", "+15558675309"),
            ("From", "+15550300050"),
            ("Twiml", &long),
        ],
    )
    .await;
    crate::assert_error(&answer, 400, 32018);
}

#[tokio::test]
async fn switchboard_call_prints_the_transcript_and_presses_the_digits() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/menu",
        200,
        XML,
        "<Response><Gather numDigits=\"1\" action=\"/chosen\"><Say>Press a key</Say></Gather></Response>",
    );
    app.route(
        "/chosen",
        200,
        XML,
        "<Response><Say>Thanks for choosing.</Say></Response>",
    );
    provision(&engine, "+15550300070", &app.url("/menu"), None).await;
    for fast in [false, true] {
        let mut args = vec![
            "call",
            "--to",
            "+15550300070",
            "--digits",
            "4",
            "--server",
            &engine.base_url,
        ];
        if fast {
            args.push("--fast");
        }
        let output = tokio::process::Command::new(crate::binary())
            .args(&args)
            .env("SWITCHBOARD_ACCOUNT_SID", &engine.account_sid)
            .env("SWITCHBOARD_AUTH_TOKEN", &engine.auth_token)
            .output()
            .await
            .expect("running switchboard call");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("webhook POST {}: 200", app.url("/menu"))),
            "{stdout}"
        );
        assert!(stdout.contains("gathered digits \"4\""), "{stdout}");
        assert!(stdout.contains("say: Thanks for choosing."), "{stdout}");
        assert!(stdout.contains("ended: completed"), "{stdout}");
    }
    let missing = tokio::process::Command::new(crate::binary())
        .args(["call", "--to", "+15550309999", "--server", &engine.base_url])
        .env("SWITCHBOARD_ACCOUNT_SID", &engine.account_sid)
        .env("SWITCHBOARD_AUTH_TOKEN", &engine.auth_token)
        .output()
        .await
        .expect("running switchboard call");
    assert!(!missing.status.success());
}

#[tokio::test]
async fn the_virtual_clock_skips_pauses_and_the_number_status_callback_hears_the_end() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/long",
        200,
        XML,
        "<Response><Say>hold on</Say><Pause length=\"60\"/><Say>a minute later</Say></Response>",
    );
    app.route("/number-status", 204, "text/plain", "");
    let created = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", "+15550300080"),
            ("VoiceUrl", &app.url("/long")),
            ("StatusCallback", &app.url("/number-status")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let started = std::time::Instant::now();
    let sid = place(&engine, "+15550300080", &[]).await;
    let transcript = finished(&engine, &sid).await;
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(events(&transcript, "pause")[0]["length"], 60);
    let say = events(&transcript, "say")[1];
    assert!(
        say["at_ms"].as_u64().is_some_and(|at| at >= 60_000),
        "{transcript}"
    );
    let fetched = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}.json")),
        &[],
    )
    .await;
    let duration: u64 = fetched.1["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!((60..65).contains(&duration), "{fetched:?}");
    let callbacks: Vec<Vec<(String, String)>> = app
        .received()
        .iter()
        .filter(|r| r.target == "/number-status")
        .map(|r| form(&r.body))
        .collect();
    assert_eq!(callbacks.len(), 1, "only the completed event by default");
    assert_eq!(param(&callbacks[0], "CallStatus"), Some("completed"));
    assert_eq!(
        param(&callbacks[0], "CallDuration"),
        Some(duration.to_string().as_str())
    );
    assert_eq!(param(&callbacks[0], "SequenceNumber"), Some("0"));
}

#[tokio::test]
async fn record_true_announces_the_call_recording_and_send_digits_are_played() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/answer",
        200,
        XML,
        "<Response><Pause length=\"1\"/></Response>",
    );
    app.route("/status", 204, "text/plain", "");
    provision(&engine, "+15550300090", &app.url("/answer"), None).await;
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", "+15558675310"),
            ("From", "+15550300090"),
            ("Url", &app.url("/answer")),
            ("Record", "true"),
            // The sandbox handset is silent: trimmed (Twilio's default), nothing would be left.
            ("Trim", "do-not-trim"),
            ("SendDigits", "1234#"),
            ("StatusCallback", &app.url("/status")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let transcript = finished(&engine, &sid).await;
    assert_eq!(events(&transcript, "send_digits")[0]["digits"], "1234#");
    let completed = app
        .received()
        .iter()
        .filter(|r| r.target == "/status")
        .map(|r| form(&r.body))
        .next_back()
        .expect("completed callback");
    let recording_sid = param(&completed, "RecordingSid").expect("RecordingSid");
    assert_eq!(param(&completed, "RecordingDuration"), Some("1"));
    let listed = call(&engine, "GET", &engine.account_url("Recordings.json"), &[]).await;
    assert_eq!(
        listed.1["recordings"][0]["sid"], recording_sid,
        "{listed:?}"
    );
    assert_eq!(listed.1["recordings"][0]["source"], "OutboundAPI");
    let fetched: Value = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Recordings/{recording_sid}.json")),
        &[],
    )
    .await
    .1;
    assert_eq!(fetched["call_sid"], sid.as_str());
}

#[tokio::test]
async fn status_updates_cancel_ringing_calls_and_hang_up_answered_ones() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/hold",
        200,
        XML,
        "<Response><Pause length=\"30\"/></Response>",
    );
    provision(&engine, "+15550300120", &app.url("/hold"), None).await;
    let set = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Phones/+15558675320", engine.base_url),
        &[("Answer", "no-answer")],
    )
    .await;
    assert_eq!(set.0, 200);
    let calls = engine.account_url("Calls.json");
    let form = [
        ("To", "+15558675320"),
        ("From", "+15550300120"),
        ("Url", &app.url("/hold")),
    ];
    let ringing = call(&engine, "POST", &calls, &form).await;
    let sid = ringing.1["sid"].as_str().expect("sid").to_owned();
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    let canceled = call(&engine, "POST", &url, &[("Status", "canceled")]).await;
    assert_eq!(canceled.1["status"], "canceled", "{canceled:?}");
    let answered = call(
        &engine,
        "POST",
        &calls,
        &[("To", "+15558675321"), form[1], form[2]],
    )
    .await;
    let sid = answered.1["sid"].as_str().expect("sid").to_owned();
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    for _ in 0..100 {
        if call(&engine, "GET", &url, &[]).await.1["status"] == "in-progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    let ignored = call(&engine, "POST", &url, &[("Status", "canceled")]).await;
    assert_eq!(ignored.1["status"], "in-progress", "{ignored:?}");
    assert!(
        started.elapsed().as_secs() < 2,
        "canceling an answered call does not wait"
    );
    let completed = call(&engine, "POST", &url, &[("Status", "completed")]).await;
    assert_eq!(completed.1["status"], "completed", "{completed:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(events(&transcript, "hangup")[0]["by"], "api");
    let deleted = call(&engine, "DELETE", &url, &[]).await;
    assert_eq!(deleted.0, 204);
    let gone = call(&engine, "GET", &url, &[]).await;
    crate::assert_error(&gone, 404, 20404);
}

#[tokio::test]
async fn a_number_with_a_voice_application_runs_the_application_urls() {
    let engine = start();
    let app = App::start().await;
    app.route("/app-down", 500, "text/plain", "down");
    app.route(
        "/app-fallback",
        200,
        XML,
        "<Response><Say>Application backup</Say></Response>",
    );
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Applications.json"),
        &[
            ("FriendlyName", "ivr"),
            ("VoiceUrl", &app.url("/app-down")),
            ("VoiceFallbackUrl", &app.url("/app-fallback")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let application = created.1["sid"].as_str().expect("sid").to_owned();
    let number = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", "+15550300140"),
            ("VoiceUrl", &app.url("/never")),
            ("VoiceApplicationSid", &application),
        ],
    )
    .await;
    assert_eq!(number.0, 201, "{number:?}");
    let sid = place(&engine, "+15550300140", &[]).await;
    let transcript = finished(&engine, &sid).await;
    let says: Vec<&Value> = events(&transcript, "say")
        .iter()
        .map(|s| &s["text"])
        .collect();
    assert_eq!(says, ["Application backup"], "{transcript}");
    let received = app.received();
    assert!(received.iter().all(|r| r.target != "/never"));
    let fallback = received
        .iter()
        .find(|r| r.target == "/app-fallback")
        .expect("fallback");
    let params = form(&fallback.body);
    assert_eq!(param(&params, "ApplicationSid"), Some(application.as_str()));
    assert_eq!(param(&params, "ErrorCode"), Some("11200"));
}

#[tokio::test]
async fn wait_for_times_out_with_408_and_a_caller_hanging_up_while_ringing_cancels() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/ring",
        200,
        XML,
        "<Response><Pause length=\"30\"/><Say>late</Say></Response>",
    );
    provision(&engine, "+15550300150", &app.url("/ring"), None).await;
    let sid = place(&engine, "+15550300150", &[("Clock", "real")]).await;
    let url = format!(
        "{}/sandbox/Calls/{sid}?WaitFor=completed&Timeout=0.3",
        engine.base_url
    );
    let waiting = call(&engine, "GET", &url, &[]).await;
    assert_eq!(waiting.0, 408, "{waiting:?}");
    assert_eq!(
        waiting.1["status"], "ringing",
        "a leading pause does not answer"
    );
    let hung_up = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Hangup", engine.base_url),
        &[],
    )
    .await;
    assert_eq!(hung_up.0, 200, "{hung_up:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "canceled", "{transcript}");
    assert_eq!(events(&transcript, "hangup")[0]["by"], "caller");
    let late = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Digits", engine.base_url),
        &[("Digits", "1")],
    )
    .await;
    crate::assert_error(&late, 400, 21220);
}

#[tokio::test]
async fn a_live_update_moves_the_status_callback_and_sets_the_time_limit() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/hold",
        200,
        XML,
        "<Response><Pause length=\"60\"/></Response>",
    );
    app.route("/first", 204, "text/plain", "");
    app.route("/second", 204, "text/plain", "");
    provision(&engine, "+15550300130", &app.url("/hold"), None).await;
    let calls = engine.account_url("Calls.json");
    let created = call(
        &engine,
        "POST",
        &calls,
        &[
            ("To", "+15558675330"),
            ("From", "+15550300130"),
            ("Url", &app.url("/hold")),
            ("StatusCallback", &app.url("/first")),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ],
    )
    .await;
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    let answered = crate::eventually(std::time::Duration::from_secs(5), async || {
        call(&engine, "GET", &url, &[]).await.1["status"] == "in-progress"
    })
    .await;
    assert!(answered, "the handset answers");
    // Bad values are refused before anything changes.
    crate::assert_error(
        &call(&engine, "POST", &url, &[("TimeLimit", "soon")]).await,
        400,
        20422,
    );
    crate::assert_error(
        &call(&engine, "POST", &url, &[("StatusCallback", "not a url")]).await,
        400,
        21205,
    );
    crate::assert_error(
        &call(&engine, "POST", &url, &[("StatusCallbackMethod", "PUT")]).await,
        400,
        21209,
    );
    let started = std::time::Instant::now();
    let updated = call(
        &engine,
        "POST",
        &url,
        &[
            ("StatusCallback", &app.url("/second")),
            ("StatusCallbackMethod", "GET"),
            ("TimeLimit", "2"),
        ],
    )
    .await;
    assert_eq!(updated.0, 200, "{updated:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the time limit ended the 60 s pause"
    );
    assert_eq!(events(&transcript, "time_limit_changed").len(), 1);
    let received = app.received();
    let first: Vec<_> = received.iter().filter(|r| r.target == "/first").collect();
    assert_eq!(first.len(), 1, "only `answered` went to the first URL");
    assert_eq!(
        param(&form(&first[0].body), "CallStatus"),
        Some("in-progress")
    );
    let second: Vec<_> = received
        .iter()
        .filter(|r| r.target.starts_with("/second"))
        .collect();
    assert_eq!(second.len(), 1, "`completed` went to the new URL");
    assert_eq!(second[0].method, "GET");
    assert!(
        second[0].target.contains("CallStatus=completed"),
        "{}",
        second[0].target
    );
    // A finished call takes no update.
    crate::assert_error(
        &call(&engine, "POST", &url, &[("TimeLimit", "5")]).await,
        400,
        21220,
    );
}
