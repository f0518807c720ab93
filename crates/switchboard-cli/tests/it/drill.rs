//! `switchboard drill` (issue 17): the primary is treated as failed without being requested,
//! the fallback gets `ErrorCode=11200` and `ErrorUrl=<the primary>`, and the exit status says
//! whether the fallback would have saved the caller: non-zero while it answers 500, zero once
//! it is fixed; for voice and for SMS.

use std::process::Output;

use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::voice::{form, param};
use crate::{binary, call};

const VOICE_TWIML: &str = "<Response><Say>fallback here</Say></Response>";
const SMS_TWIML: &str = "<Response><Message>fallback here</Message></Response>";

async fn drill(engine: &Engine, number: &str, sms: bool) -> Output {
    let mut command = tokio::process::Command::new(binary());
    command
        .args(["drill", number, "--server", &engine.base_url])
        .env("SWITCHBOARD_ACCOUNT_SID", &engine.account_sid)
        .env("SWITCHBOARD_AUTH_TOKEN", &engine.auth_token);
    if sms {
        command.arg("--sms");
    }
    command.output().await.expect("running switchboard drill")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_fails_while_the_fallback_is_broken_and_passes_once_it_is_fixed() {
    let engine = crate::start();
    let app = App::start().await;
    app.route("/voice", 200, "text/xml", VOICE_TWIML);
    app.route("/sms", 200, "text/xml", SMS_TWIML);
    app.route("/fallback", 500, "text/plain", "down");
    app.route("/sms-fallback", 500, "text/plain", "down");
    let number = "+15550700100";
    let created = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", number),
            ("VoiceUrl", &app.url("/voice")),
            ("VoiceFallbackUrl", &app.url("/fallback")),
            ("SmsUrl", &app.url("/sms")),
            ("SmsFallbackUrl", &app.url("/sms-fallback")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");

    for (sms, fallback, twiml) in [
        (false, "/fallback", VOICE_TWIML),
        (true, "/sms-fallback", SMS_TWIML),
    ] {
        let broken = drill(&engine, number, sms).await;
        let stdout = String::from_utf8_lossy(&broken.stdout);
        assert!(
            !broken.status.success(),
            "a broken fallback passed: {stdout}"
        );
        assert!(stdout.contains("drill FAILED"), "{stdout}");
        app.route(fallback, 200, "text/xml", twiml);
        let fixed = drill(&engine, number, sms).await;
        let stdout = String::from_utf8_lossy(&fixed.stdout);
        assert!(
            fixed.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&fixed.stderr)
        );
        assert!(stdout.contains("drill passed"), "{stdout}");
        let requests = app.received();
        let last = requests
            .iter()
            .rev()
            .find(|request| request.target.starts_with(fallback))
            .expect("the fallback was requested");
        let params = form(&last.body);
        assert_eq!(param(&params, "ErrorCode"), Some("11200"));
        let primary = if sms { "/sms" } else { "/voice" };
        assert_eq!(param(&params, "ErrorUrl"), Some(app.url(primary).as_str()));
    }
    // A drill never requests the primary, and records no alert: nothing failed.
    assert!(
        !app.received()
            .iter()
            .any(|request| request.target == "/voice" || request.target == "/sms"),
        "the primary was requested"
    );
    let alerts = call(
        &engine,
        "GET",
        &format!("{}/v1/Alerts", engine.base_url),
        &[],
    )
    .await;
    let drill_alerts = alerts.1["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter(|alert| {
                    alert["alert_text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Drill"))
                })
                .count()
        })
        .unwrap_or_default();
    assert_eq!(drill_alerts, 0, "{alerts:?}");
}

#[tokio::test]
async fn a_drill_on_a_number_without_a_fallback_fails_and_bad_drill_values_are_refused() {
    let engine = crate::start();
    let app = App::start().await;
    app.route("/voice", 200, "text/xml", VOICE_TWIML);
    let number = "+15550700200";
    let created = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", number), ("VoiceUrl", &app.url("/voice"))],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let output = drill(&engine, number, false).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("no fallback URL"), "{stdout}");
    let refused = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", number), ("Drill", "maybe")],
    )
    .await;
    crate::assert_error(&refused, 400, 20422);
}
