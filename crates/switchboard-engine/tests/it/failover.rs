//! The one fallback decision, seen from a call: a document that cannot be executed goes to the
//! fallback URL exactly when a failed fetch of it would have (product.md Decision 1).

use switchboard_store::Kind;
use switchboard_test_support::app::App;
use switchboard_webhook::FallbackScope;

use crate::{TestEngine, XML, events, form, param};

/// Parses and runs until its `<Redirect>` names a scheme the engine cannot fetch (11100 at run
/// time, not at parse time).
const UNRUNNABLE: &str =
    "<Response><Say>first</Say><Redirect>ftp://example.com/next</Redirect></Response>";
const RESCUE: &str = "<Response><Say>rescued</Say><Hangup/></Response>";

async fn app() -> App {
    let app = App::start().await;
    app.route("/unrunnable", 200, XML, UNRUNNABLE);
    app.route(
        "/hop",
        200,
        XML,
        "<Response><Redirect>/unrunnable</Redirect></Response>",
    );
    app.route("/fallback", 200, XML, RESCUE);
    app
}

fn said(transcript: &[serde_json::Value]) -> Vec<String> {
    events(transcript, "say")
        .iter()
        .filter_map(|event| event["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn under_initial_scope_the_first_document_that_cannot_run_goes_to_the_fallback() {
    let test = TestEngine::start(FallbackScope::Initial).await;
    let app = app().await;
    let settings = serde_json::json!({
        "voice_url": app.url("/unrunnable"),
        "voice_fallback_url": app.url("/fallback"),
    });
    test.provision("+15550000001", settings).await;
    let sid = test.call("+15550000001").await;
    let transcript = test.finished(&sid).await;
    assert_eq!(said(&transcript), ["first", "rescued"], "{transcript:#?}");
    let fallback: Vec<_> = app
        .received()
        .into_iter()
        .filter(|request| request.target == "/fallback")
        .collect();
    assert_eq!(fallback.len(), 1, "{:?}", app.received());
    let params = form(&fallback[0].body);
    assert_eq!(param(&params, "ErrorCode"), Some("11100"));
    assert_eq!(
        param(&params, "ErrorUrl"),
        Some(app.url("/unrunnable").as_str())
    );
    assert_eq!(param(&params, "CallSid"), Some(sid.as_str()));
    let alerts = events(&transcript, "alert");
    assert_eq!(alerts.len(), 1, "{transcript:#?}");
    assert_eq!(alerts[0]["error_code"], 11100);
    let webhooks = events(&transcript, "webhook");
    assert_eq!(
        webhooks.last().map(|w| w["fallback"].clone()),
        Some(true.into())
    );
    assert_eq!(test.status(Kind::Call, &sid).await, "completed");
}

#[tokio::test]
async fn under_initial_scope_a_later_document_that_cannot_run_ends_with_the_platform_prompt() {
    let test = TestEngine::start(FallbackScope::Initial).await;
    let app = app().await;
    let settings = serde_json::json!({
        "voice_url": app.url("/hop"),
        "voice_fallback_url": app.url("/fallback"),
    });
    test.provision("+15550000002", settings).await;
    let sid = test.call("+15550000002").await;
    let transcript = test.finished(&sid).await;
    assert_eq!(
        said(&transcript),
        ["first", "Application error."],
        "{transcript:#?}"
    );
    assert!(
        app.received().iter().all(|r| r.target != "/fallback"),
        "the fallback was asked: {:?}",
        app.received()
    );
    assert_eq!(events(&transcript, "alert").len(), 1);
}

#[tokio::test]
async fn under_all_scope_a_later_document_that_cannot_run_goes_to_the_fallback() {
    let test = TestEngine::start(FallbackScope::All).await;
    let app = app().await;
    let settings = serde_json::json!({
        "voice_url": app.url("/hop"),
        "voice_fallback_url": app.url("/fallback"),
    });
    test.provision("+15550000003", settings).await;
    let sid = test.call("+15550000003").await;
    let transcript = test.finished(&sid).await;
    assert_eq!(said(&transcript), ["first", "rescued"], "{transcript:#?}");
    let fallback = app
        .received()
        .into_iter()
        .find(|request| request.target == "/fallback")
        .expect("the fallback was asked");
    let params = form(&fallback.body);
    assert_eq!(param(&params, "ErrorCode"), Some("11100"));
    assert_eq!(
        param(&params, "ErrorUrl"),
        Some(app.url("/unrunnable").as_str())
    );
}
