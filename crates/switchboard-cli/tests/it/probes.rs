//! Fallback probes (issue 17, `--probe-interval`): a number whose fallback answers 500 gets an
//! ERROR alert within one interval, without any caller; the number shows the last result; once
//! the fallback is fixed, the next probe passes and says so with a WARNING alert.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};

use crate::voice::{form, param};
use crate::{binary, call};

const NUMBER: &str = "+15550600100";
const WITHOUT_FALLBACK: &str = "+15550600200";
const TWIML: &str = "<Response><Say>hello</Say></Response>";

/// The Monitor alerts about `resource`, oldest first.
async fn alerts_about(engine: &Engine, resource: &str) -> Vec<Value> {
    let url = format!("{}/v1/Alerts?PageSize=1000", engine.base_url);
    let listed = call(engine, "GET", &url, &[]).await;
    assert_eq!(listed.0, 200, "{listed:?}");
    let mut alerts: Vec<Value> = listed.1["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|alert| alert["resource_sid"] == resource)
        .collect();
    alerts.reverse();
    alerts
}

async fn probe_result(engine: &Engine, sid: &str) -> Value {
    let url = engine.account_url(&format!("IncomingPhoneNumbers/{sid}.json"));
    call(engine, "GET", &url, &[]).await.1["switchboard_fallback_probe"].clone()
}

/// Waits up to `limit` for `check`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_fallback_is_found_by_a_probe_before_any_caller_needs_it() {
    let dir = scratch_dir("probes");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database_url,
        vec![("SWITCHBOARD_PROBE_INTERVAL".into(), "1".into())],
    );
    let app = App::start().await;
    app.route("/voice", 200, "text/xml", TWIML);
    app.route("/fallback", 500, "text/plain", "broken");
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", NUMBER),
            ("VoiceUrl", &app.url("/voice")),
            ("VoiceFallbackUrl", &app.url("/fallback")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let plain = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", WITHOUT_FALLBACK),
            ("VoiceUrl", &app.url("/voice")),
        ],
    )
    .await;
    assert_eq!(plain.0, 201, "{plain:?}");
    let plain_sid = plain.1["sid"].as_str().expect("sid").to_owned();

    // Within one interval (plus the round's spread and a margin): an ERROR alert about the
    // number, with the exchange's code.
    let started = Instant::now();
    let alerted = within(Duration::from_secs(3), async || {
        !alerts_about(&engine, &sid).await.is_empty()
    })
    .await;
    assert!(alerted, "no probe alert within 3 s");
    eprintln!(
        "the probe alert came {:?} after the number was provisioned",
        started.elapsed()
    );
    let alerts = alerts_about(&engine, &sid).await;
    assert_eq!(alerts[0]["log_level"], "error", "{alerts:?}");
    assert_eq!(alerts[0]["error_code"], "11200", "{alerts:?}");
    assert_eq!(
        alerts[0]["request_url"],
        app.url("/fallback").as_str(),
        "{alerts:?}"
    );
    let result = probe_result(&engine, &sid).await;
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error_code"], 11200, "{result}");
    assert!(
        probe_result(&engine, &plain_sid).await.is_null(),
        "no fallback, no probe"
    );

    // The probe request is a fallback request as a real one would be, marked as a probe and
    // signed.
    let probes: Vec<_> = app
        .received()
        .into_iter()
        .filter(|request| request.target.starts_with("/fallback"))
        .collect();
    let probe = probes.first().expect("a probe request");
    let params = form(&probe.body);
    assert_eq!(param(&params, "SwitchboardProbe"), Some("true"));
    assert_eq!(param(&params, "ErrorCode"), Some("11200"));
    assert_eq!(param(&params, "ErrorUrl"), Some(app.url("/voice").as_str()));
    assert_eq!(param(&params, "To"), Some(NUMBER));
    assert!(
        probe
            .headers
            .iter()
            .any(|(name, value)| name == "x-twilio-signature" && !value.is_empty()),
        "{probe:?}"
    );
    assert!(
        !app.received()
            .iter()
            .any(|request| request.target.starts_with("/voice")),
        "a probe never requests the primary"
    );

    // One alert per interval while it fails.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failing = alerts_about(&engine, &sid).await.len();
    assert!(
        (3..=6).contains(&failing),
        "{failing} alerts in about 4 intervals"
    );

    // Fixed: the next probe passes, says so once, and the number shows it.
    app.route("/fallback", 200, "text/xml", TWIML);
    let recovered = within(Duration::from_secs(3), async || {
        probe_result(&engine, &sid).await["ok"] == true
    })
    .await;
    assert!(recovered, "the fixed fallback was not seen within 3 s");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = alerts_about(&engine, &sid).await;
    let warnings: Vec<_> = alerts
        .iter()
        .filter(|alert| alert["log_level"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{alerts:?}");
    assert!(
        warnings[0]["alert_text"]
            .as_str()
            .is_some_and(|text| text.contains("answers+again") || text.contains("answers again")),
        "{warnings:?}"
    );
    let errors_after = alerts
        .iter()
        .filter(|alert| alert["log_level"] == "error")
        .count();
    assert!(errors_after <= failing + 1, "no error alert once it passes");
}
