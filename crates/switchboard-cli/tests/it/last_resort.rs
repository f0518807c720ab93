//! When both of a number's URLs fail (issue 17 items 2 and 3, product.md "Beyond Twilio"):
//! with `SwitchboardLastKnownGood` the primary's last document for a first fetch plays (a
//! `webhook` event with `source: "last-known-good"`), even after a restart; with it off, the
//! number's `SwitchboardLastResortTwiml` plays (`say` events with `source: "last-resort"`);
//! with neither, the platform prompt (`source: "platform"`). A document that answered the
//! caller's input is never the last-known-good one, an expired one is not used, and an invalid
//! last-resort document is refused when stored, with the finding `twiml check` reports.

use std::time::Duration;

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};

use crate::voice::{events, finished, place};
use crate::{assert_error, binary, call};

const XML: &str = "text/xml";
const LAST_RESORT: &str =
    "<Response><Say>Our systems are down, please call back later</Say></Response>";

/// Provisions `number` with its primary at `/primary-<tag>` and fallback at `/fallback` of
/// `app`, plus the beyond-Twilio `settings`.
async fn provision(engine: &Engine, app: &App, number: &str, tag: &str, settings: &[(&str, &str)]) {
    let primary = app.url(&format!("/primary-{tag}"));
    let fallback = app.url("/fallback");
    let mut form = vec![
        ("PhoneNumber", number),
        ("VoiceUrl", primary.as_str()),
        ("VoiceFallbackUrl", fallback.as_str()),
    ];
    form.extend_from_slice(settings);
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &form,
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
}

/// The `(source, text)` of every `say` event of a transcript.
fn says(transcript: &Value) -> Vec<(String, String)> {
    events(transcript, "say")
        .iter()
        .map(|say| {
            (
                say["source"].as_str().unwrap_or_default().to_owned(),
                say["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(source: &str, text: &str) -> (String, String) {
    (source.to_owned(), text.to_owned())
}

fn last_known_good_events(transcript: &Value) -> Vec<&Value> {
    events(transcript, "webhook")
        .into_iter()
        .filter(|event| event["source"] == "last-known-good")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_urls_down_plays_last_known_good_then_last_resort_then_the_platform_prompt() {
    let mut engine = crate::start();
    let app = App::start().await;
    app.route("/fallback", 500, "text/plain", "fallback down");
    app.route(
        "/primary-lkg",
        200,
        XML,
        "<Response><Say>Welcome to the primary menu</Say></Response>",
    );
    // Last-known-good on, and a last resort too: the last-known-good document comes first.
    provision(
        &engine,
        &app,
        "+15550700100",
        "lkg",
        &[
            ("SwitchboardLastKnownGood", "true"),
            ("SwitchboardLastResortTwiml", LAST_RESORT),
        ],
    )
    .await;
    provision(
        &engine,
        &app,
        "+15550700200",
        "resort",
        &[("SwitchboardLastResortTwiml", LAST_RESORT)],
    )
    .await;
    provision(&engine, &app, "+15550700300", "plain", &[]).await;

    // While the primary is up, the call records its document.
    let sid = place(&engine, "+15550700100", &[]).await;
    let up = finished(&engine, &sid).await;
    assert_eq!(
        says(&up),
        [pair("twiml", "Welcome to the primary menu")],
        "{up}"
    );
    assert!(last_known_good_events(&up).is_empty(), "{up}");

    // Both URLs answer 500 now; the document survives a restart (it is in the store).
    for tag in ["lkg", "resort", "plain"] {
        app.route(
            &format!("/primary-{tag}"),
            500,
            "text/plain",
            "primary down",
        );
    }
    engine.restart();

    let sid = place(&engine, "+15550700100", &[]).await;
    let down = finished(&engine, &sid).await;
    assert_eq!(
        says(&down),
        [pair("twiml", "Welcome to the primary menu")],
        "{down}"
    );
    let lkg = last_known_good_events(&down);
    assert_eq!(lkg.len(), 1, "{down}");
    assert_eq!(lkg[0]["url"], app.url("/primary-lkg"), "{down}");
    // The failed primary and fallback requests come before it.
    let webhooks = events(&down, "webhook");
    assert_eq!(webhooks.last(), Some(&lkg[0]), "{down}");
    assert_eq!(webhooks[0]["http_status"], 500, "{down}");
    assert!(
        webhooks
            .iter()
            .any(|event| event["fallback"] == true && event["http_status"] == 500),
        "{down}"
    );
    assert_eq!(down["status"], "completed", "{down}");

    let sid = place(&engine, "+15550700200", &[]).await;
    let resort = finished(&engine, &sid).await;
    assert_eq!(
        says(&resort),
        [pair(
            "last-resort",
            "Our systems are down, please call back later"
        )],
        "{resort}"
    );
    assert!(last_known_good_events(&resort).is_empty(), "{resort}");
    assert_eq!(resort["status"], "completed", "{resort}");

    let sid = place(&engine, "+15550700300", &[]).await;
    let plain = finished(&engine, &sid).await;
    let plain_says = says(&plain);
    assert_eq!(plain_says.len(), 1, "{plain}");
    assert_eq!(plain_says[0].0, "platform", "{plain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_answered_the_callers_input_is_never_the_last_known_good() {
    let engine = crate::start();
    let app = App::start().await;
    app.route("/fallback", 500, "text/plain", "fallback down");
    app.route(
        "/primary-menu",
        200,
        XML,
        "<Response><Gather action=\"/primary-choice\" numDigits=\"1\" timeout=\"1\"><Say>Press one</Say></Gather></Response>",
    );
    app.route(
        "/primary-choice",
        200,
        XML,
        "<Response><Say>You pressed one</Say></Response>",
    );
    provision(
        &engine,
        &app,
        "+15550700400",
        "menu",
        &[("SwitchboardLastKnownGood", "true")],
    )
    .await;

    // The caller answers the menu: the last document the primary's server returned is the
    // action's answer, which depended on the key pressed.
    let sid = place(&engine, "+15550700400", &[("Digits", "1")]).await;
    let up = finished(&engine, &sid).await;
    assert!(
        says(&up).contains(&pair("twiml", "You pressed one")),
        "{up}"
    );

    app.route("/primary-menu", 500, "text/plain", "down");
    let sid = place(&engine, "+15550700400", &[]).await;
    let down = finished(&engine, &sid).await;
    assert_eq!(last_known_good_events(&down).len(), 1, "{down}");
    let heard = says(&down);
    assert_eq!(heard.first(), Some(&pair("twiml", "Press one")), "{down}");
    assert!(!heard.contains(&pair("twiml", "You pressed one")), "{down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_last_known_good_document_is_not_used() {
    let dir = scratch_dir("last-resort");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database_url,
        vec![("SWITCHBOARD_LKG_MAX_AGE".into(), "2s".into())],
    );
    let app = App::start().await;
    app.route("/fallback", 500, "text/plain", "fallback down");
    app.route(
        "/primary-old",
        200,
        XML,
        "<Response><Say>Yesterday's menu</Say></Response>",
    );
    provision(
        &engine,
        &app,
        "+15550700500",
        "old",
        &[
            ("SwitchboardLastKnownGood", "true"),
            ("SwitchboardLastResortTwiml", LAST_RESORT),
        ],
    )
    .await;
    let sid = place(&engine, "+15550700500", &[]).await;
    finished(&engine, &sid).await;
    app.route("/primary-old", 500, "text/plain", "down");

    // Within the maximum age it plays ...
    let sid = place(&engine, "+15550700500", &[]).await;
    let fresh = finished(&engine, &sid).await;
    assert_eq!(says(&fresh), [pair("twiml", "Yesterday's menu")], "{fresh}");

    // ... past it, the last resort does.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sid = place(&engine, "+15550700500", &[]).await;
    let stale = finished(&engine, &sid).await;
    assert!(last_known_good_events(&stale).is_empty(), "{stale}");
    assert_eq!(
        says(&stale),
        [pair(
            "last-resort",
            "Our systems are down, please call back later"
        )],
        "{stale}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_last_resort_document_is_refused_with_its_finding() {
    let engine = crate::start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[("PhoneNumber", "+15550700600")],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["switchboard_last_resort_twiml"], Value::Null);
    assert_eq!(created.1["switchboard_last_known_good"], false);
    let number = engine.account_url(&format!(
        "IncomingPhoneNumbers/{}.json",
        created.1["sid"].as_str().expect("sid")
    ));

    let cases = [
        ("<Response><Say>unclosed</Response>", 12100),
        // An ERROR finding of a voice verb: its 13xxx code.
        (
            "<Response><Dial timeout=\"soon\">+15550001111</Dial></Response>",
            13212,
        ),
    ];
    for (document, code) in cases {
        let finding = match switchboard_twiml::parse(
            document.as_bytes(),
            switchboard_twiml::Context::Voice,
        ) {
            Err(rejected) => rejected.error,
            Ok(_) => panic!("{document} should have an ERROR finding"),
        };
        assert_eq!(finding.code.code, code, "{document}");
        let refused = call(
            &engine,
            "POST",
            &number,
            &[("SwitchboardLastResortTwiml", document)],
        )
        .await;
        assert_error(&refused, 400, u64::from(code));
        assert_eq!(refused.1["message"], finding.message, "{refused:?}");
    }
    // Valid TwiML the engine would skip is refused as `twiml check` reports it (13750).
    let skipped = "<Response><Connect><Room>room</Room></Connect></Response>";
    let refused = call(
        &engine,
        "POST",
        &number,
        &[("SwitchboardLastResortTwiml", skipped)],
    )
    .await;
    assert_error(&refused, 400, 13750);
    // Nothing was stored by the refusals.
    let read = call(&engine, "GET", &number, &[]).await;
    assert_eq!(
        read.1["switchboard_last_resort_twiml"],
        Value::Null,
        "{read:?}"
    );

    // A warning alone (an unknown verb, 12200) does not refuse it; empty clears it.
    let with_warning = "<Response><Whisper>x</Whisper><Say>down</Say></Response>";
    let stored = call(
        &engine,
        "POST",
        &number,
        &[
            ("SwitchboardLastResortTwiml", with_warning),
            ("SwitchboardLastKnownGood", "true"),
        ],
    )
    .await;
    assert_eq!(stored.0, 200, "{stored:?}");
    assert_eq!(stored.1["switchboard_last_resort_twiml"], with_warning);
    assert_eq!(stored.1["switchboard_last_known_good"], true);
    let cleared = call(
        &engine,
        "POST",
        &number,
        &[("SwitchboardLastResortTwiml", "")],
    )
    .await;
    assert_eq!(cleared.0, 200, "{cleared:?}");
    assert_eq!(cleared.1["switchboard_last_resort_twiml"], Value::Null);
}
