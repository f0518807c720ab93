//! Answering-machine detection end to end through the sandbox: `Calls.json` with
//! `MachineDetection` to virtual handsets set up with `AnsweredBy`, the first webhook held for
//! the verdict (synchronous) or the verdict posted to `AsyncAmdStatusCallback`, `answered_by`
//! on the Call resource, and the parameters' validation.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::voice::{events, finished, form, param, provision};
use crate::{call, start};

const XML: &str = "text/xml";

async fn handset(engine: &Engine, number: &str, answered_by: &str) {
    let set = call(
        engine,
        "POST",
        &format!("{}/sandbox/Phones/{number}", engine.base_url),
        &[("AnsweredBy", answered_by)],
    )
    .await;
    assert_eq!(set.0, 200, "{set:?}");
    assert_eq!(set.1["answered_by"], answered_by);
}

/// Places an outbound call from `from` to `to` with `extra`; returns its SID.
async fn place_outbound(
    engine: &Engine,
    from: &str,
    to: &str,
    url: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut params = vec![("To", to), ("From", from), ("Url", url)];
    params.extend_from_slice(extra);
    let created = call(engine, "POST", &engine.account_url("Calls.json"), &params).await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["answered_by"], Value::Null);
    created.1["sid"].as_str().expect("sid").to_owned()
}

/// The form of the requests `app` received at `path` about the call `sid`.
fn requests(app: &App, path: &str, sid: &str) -> Vec<Vec<(String, String)>> {
    app.received()
        .iter()
        .filter(|r| r.target == path)
        .map(|r| form(&r.body))
        .filter(|p| param(p, "CallSid") == Some(sid))
        .collect()
}

async fn fetched(engine: &Engine, sid: &str) -> Value {
    call(
        engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}.json")),
        &[],
    )
    .await
    .1
}

#[tokio::test]
async fn synchronous_detection_holds_the_first_webhook_for_its_verdict() {
    let engine = start();
    let app = App::start().await;
    app.route("/answer", 200, XML, "<Response><Hangup/></Response>");
    app.route("/status", 204, "text/plain", "");
    let from = "+15550700001";
    provision(&engine, from, &app.url("/answer"), None).await;
    handset(&engine, "+15558700001", "machine_end_beep").await;
    handset(&engine, "+15558700002", "machine_end_beep").await;
    handset(&engine, "+15558700004", "machine_end_silence").await;
    // +15558700003 keeps the default: a person.
    let answer = app.url("/answer");
    let status = app.url("/status");
    let cases = [
        ("+15558700001", "DetectMessageEnd", "machine_end_beep", 5600),
        ("+15558700002", "Enable", "machine_start", 2400),
        ("+15558700003", "Enable", "human", 2000),
        (
            "+15558700004",
            "DetectMessageEnd",
            "machine_end_silence",
            6200,
        ),
    ];
    let started = Instant::now();
    let mut sids = Vec::new();
    for (to, mode, _, _) in cases {
        let extra = [
            ("MachineDetection", mode),
            ("StatusCallback", status.as_str()),
        ];
        sids.push(place_outbound(&engine, from, to, &answer, &extra).await);
    }
    for ((to, mode, answered_by, duration), sid) in cases.iter().zip(&sids) {
        let transcript = finished(&engine, sid).await;
        assert_eq!(transcript["status"], "completed", "{transcript}");
        let amd = events(&transcript, "amd");
        assert_eq!(amd.len(), 1, "{transcript}");
        assert_eq!(amd[0]["answered_by"], *answered_by, "{to} {mode}");
        assert_eq!(amd[0]["duration_ms"], *duration, "{to} {mode}");
        // The first (and only) webhook came after the verdict, and carries it.
        let webhooks = requests(&app, "/answer", sid);
        assert_eq!(webhooks.len(), 1, "{to}");
        assert_eq!(param(&webhooks[0], "CallStatus"), Some("in-progress"));
        assert_eq!(param(&webhooks[0], "AnsweredBy"), Some(*answered_by));
        assert_eq!(
            param(&webhooks[0], "MachineDetectionDuration"),
            Some(duration.to_string().as_str())
        );
        let answered_at = events(&transcript, "status")
            .iter()
            .find(|e| e["status"] == "in-progress")
            .and_then(|e| e["at_ms"].as_u64())
            .expect("answered");
        let webhook_at = events(&transcript, "webhook")[0]["at_ms"]
            .as_u64()
            .expect("webhook at");
        assert!(webhook_at >= answered_at + duration, "{transcript}");
        // The completed status callback carries it too, and so does the resource.
        let callbacks = requests(&app, "/status", sid);
        assert_eq!(param(&callbacks[0], "AnsweredBy"), Some(*answered_by));
        assert_eq!(fetched(&engine, sid).await["answered_by"], *answered_by);
    }
    // On the wall clock: the calls ran at once, each as long as its greeting took.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn async_detection_runs_the_twiml_at_once_and_posts_the_verdict() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/answer",
        200,
        XML,
        "<Response><Pause length=\"1\"/></Response>",
    );
    app.route("/amd", 204, "text/plain", "");
    let from = "+15550700010";
    provision(&engine, from, &app.url("/answer"), None).await;
    handset(&engine, "+15558700010", "fax").await;
    let amd_url = app.url("/amd");
    let extra = [
        ("MachineDetection", "Enable"),
        ("AsyncAmd", "true"),
        ("AsyncAmdStatusCallback", amd_url.as_str()),
    ];
    let sid = place_outbound(&engine, from, "+15558700010", &app.url("/answer"), &extra).await;
    let transcript = finished(&engine, &sid).await;
    // The TwiML ran without waiting: no verdict on its request.
    let webhooks = requests(&app, "/answer", &sid);
    assert_eq!(webhooks.len(), 1);
    assert_eq!(param(&webhooks[0], "AnsweredBy"), None);
    assert_eq!(events(&transcript, "amd")[0]["answered_by"], "fax");
    let posted = app
        .received()
        .into_iter()
        .find(|r| r.target == "/amd")
        .expect("the AMD callback");
    assert_eq!(posted.method, "POST");
    assert!(
        posted
            .headers
            .iter()
            .any(|(n, v)| n == "x-twilio-signature" && !v.is_empty())
    );
    let params = form(&posted.body);
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "AccountSid",
            "CallSid",
            "AnsweredBy",
            "MachineDetectionDuration"
        ]
    );
    assert_eq!(param(&params, "CallSid"), Some(sid.as_str()));
    assert_eq!(param(&params, "AnsweredBy"), Some("fax"));
    assert_eq!(param(&params, "MachineDetectionDuration"), Some("300"));
    assert_eq!(fetched(&engine, &sid).await["answered_by"], "fax");
    // Through the outbox, like every callback.
    let deliveries = call(
        &engine,
        "GET",
        &format!("{}/switchboard/v1/Deliveries", engine.base_url),
        &[],
    )
    .await;
    let kinds: Vec<&str> = deliveries.1["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"amd-status"), "{deliveries:?}");
}

#[tokio::test]
async fn detection_parameters_are_validated_and_clamped_with_a_warning() {
    let engine = start();
    let app = App::start().await;
    app.route("/answer", 200, XML, "<Response><Hangup/></Response>");
    let from = "+15550700020";
    provision(&engine, from, &app.url("/answer"), None).await;
    let calls = engine.account_url("Calls.json");
    let answer = app.url("/answer");
    let base = [
        ("To", "+15558700020"),
        ("From", from),
        ("Url", answer.as_str()),
    ];
    for (name, value, code) in [
        ("MachineDetection", "Bogus", 20422),
        ("MachineDetectionTimeout", "soon", 20422),
        ("AsyncAmd", "perhaps", 20422),
        ("AsyncAmdStatusCallback", "not a url", 21205),
        ("AsyncAmdStatusCallbackMethod", "PUT", 21209),
    ] {
        let mut params = base.to_vec();
        params.extend([("MachineDetection", "Enable"), (name, value)]);
        if name == "MachineDetection" {
            params.retain(|(n, v)| *n != "MachineDetection" || *v == "Bogus");
        }
        let refused = call(&engine, "POST", &calls, &params).await;
        crate::assert_error(&refused, 400, code);
    }
    let refused = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Phones/+15558700020", engine.base_url),
        &[("AnsweredBy", "robot")],
    )
    .await;
    crate::assert_error(&refused, 400, 20422);
    // Out of range: clamped (a 3-second timeout), placed, and a warning says so.
    let mut params = base.to_vec();
    params.extend([
        ("MachineDetection", "Enable"),
        ("MachineDetectionTimeout", "1"),
        ("MachineDetectionSilenceTimeout", "60000"),
    ]);
    handset(&engine, "+15558700020", "unknown").await;
    let created = call(&engine, "POST", &calls, &params).await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let transcript = finished(&engine, &sid).await;
    let amd = events(&transcript, "amd");
    assert_eq!(amd[0]["answered_by"], "unknown");
    assert_eq!(amd[0]["duration_ms"], 3000);
    let alerts = call(
        &engine,
        "GET",
        &format!("{}/v1/Alerts?PageSize=1000", engine.base_url),
        &[],
    )
    .await;
    let warnings: Vec<(String, String, String)> = alerts.1["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["resource_sid"] == sid.as_str())
        .map(|a| {
            let text = form(a["alert_text"].as_str().unwrap_or_default());
            (
                a["error_code"].as_str().unwrap_or_default().to_owned(),
                a["log_level"].as_str().unwrap_or_default().to_owned(),
                param(&text, "Msg").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|(code, level, _)| code == "20422" && level == "warning"),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|(_, _, msg)| msg == "MachineDetectionTimeout=1 is outside 3–60; clamped to 3"),
        "{warnings:?}"
    );
    // None of the detection parameters is reported as ignored any more.
    assert!(
        !warnings.iter().any(|(code, _, _)| code == "99001"),
        "{warnings:?}"
    );
}
