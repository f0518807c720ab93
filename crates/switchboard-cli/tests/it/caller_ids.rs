//! Verified outgoing caller IDs (issue 19 item 4): a validation request calls the number, the
//! sandbox handset types the code, the number becomes an OutgoingCallerId the account may call
//! from, and the request's status callback hears the outcome.

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{events, finished, form, param};
use crate::{call, start};

/// Waits until the call `sid` is answered.
async fn answered(engine: &switchboard_test_support::engine::Engine, sid: &str) {
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    let up = crate::eventually(std::time::Duration::from_secs(5), async || {
        call(engine, "GET", &url, &[]).await.1["status"] == "in-progress"
    })
    .await;
    assert!(up, "the verification call was answered");
}

async fn press(engine: &switchboard_test_support::engine::Engine, sid: &str, digits: &str) {
    let url = format!("{}/sandbox/Calls/{sid}/Digits", engine.base_url);
    let pressed = call(engine, "POST", &url, &[("Digits", digits)]).await;
    assert_eq!(pressed.0, 200, "{pressed:?}");
}

#[tokio::test]
async fn a_number_verified_on_its_call_becomes_a_caller_id_to_call_from() {
    let engine = start();
    let app = App::start().await;
    app.route("/verified", 204, "text/plain", "");
    let ids = engine.account_url("OutgoingCallerIds.json");
    let (status, request) = call(
        &engine,
        "POST",
        &ids,
        &[
            ("PhoneNumber", "+15558670101"),
            ("FriendlyName", "Front desk"),
            ("StatusCallback", &app.url("/verified")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{request}");
    let code = request["validation_code"]
        .as_str()
        .expect("a code")
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(request["phone_number"], "+15558670101");
    assert_eq!(request["friendly_name"], "Front desk");
    let call_sid = request["call_sid"].as_str().expect("call_sid").to_owned();
    answered(&engine, &call_sid).await;
    // A wrong code is asked again; the right one verifies.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    press(&engine, &call_sid, wrong).await;
    let retried = crate::eventually(std::time::Duration::from_secs(5), async || {
        let url = format!("{}/sandbox/Calls/{call_sid}", engine.base_url);
        let transcript = call(&engine, "GET", &url, &[]).await.1;
        events(&transcript, "gather").len() == 2
    })
    .await;
    assert!(retried, "the prompt came again after a wrong code");
    press(&engine, &call_sid, &code).await;
    let transcript = finished(&engine, &call_sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let says: Vec<&Value> = events(&transcript, "say");
    assert!(
        says.iter().any(|say| say["text"]
            .as_str()
            .unwrap_or_default()
            .contains("verified")),
        "{transcript}"
    );
    // The outcome reaches the request's status callback once the call ended.
    let heard = crate::eventually(std::time::Duration::from_secs(5), async || {
        app.received().iter().any(|r| r.target == "/verified")
    })
    .await;
    assert!(heard, "the status callback was sent");
    let callback = app
        .received()
        .into_iter()
        .find(|r| r.target == "/verified")
        .expect("callback");
    let params = form(&callback.body);
    assert_eq!(param(&params, "VerificationStatus"), Some("success"));
    assert_eq!(param(&params, "CallSid"), Some(call_sid.as_str()));
    assert_eq!(param(&params, "To"), Some("+15558670101"));
    let caller_id_sid = param(&params, "OutgoingCallerIdSid")
        .expect("the sid")
        .to_owned();
    assert!(
        callback
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("x-twilio-signature"))
    );
    // The caller ID is listed, and the account may call from it.
    let (_, listed) = call(
        &engine,
        "GET",
        &format!("{ids}?PhoneNumber=%2B15558670101"),
        &[],
    )
    .await;
    let listed = listed["outgoing_caller_ids"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sid"], caller_id_sid.as_str());
    assert_eq!(listed[0]["friendly_name"], "Front desk");
    let calls = engine.account_url("Calls.json");
    let from_verified = [
        ("To", "+15558670102"),
        ("From", "+15558670101"),
        (
            "Twiml",
            "<Response><Say>From a verified number</Say></Response>",
        ),
    ];
    let (status, placed) = call(&engine, "POST", &calls, &from_verified).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["from"], "+15558670101");
    assert!(placed["phone_number_sid"].is_null());
    // Verifying it again is refused; its name changes; once deleted it is no caller ID.
    let again = call(&engine, "POST", &ids, &[("PhoneNumber", "+15558670101")]).await;
    crate::assert_error(&again, 400, 21450);
    let one = engine.account_url(&format!("OutgoingCallerIds/{caller_id_sid}.json"));
    let (status, renamed) = call(&engine, "POST", &one, &[("FriendlyName", "Reception")]).await;
    assert_eq!(
        (status, renamed["friendly_name"].as_str()),
        (200, Some("Reception"))
    );
    let (status, _) = call(&engine, "DELETE", &one, &[]).await;
    assert_eq!(status, 204);
    let refused = call(&engine, "POST", &calls, &from_verified).await;
    crate::assert_error(&refused, 400, 21210);
    // Bad requests, code by code.
    for (form, code) in [
        (vec![("FriendlyName", "x")], 21421),
        (vec![("PhoneNumber", "12")], 21421),
        (
            vec![("PhoneNumber", "+15558670103"), ("CallDelay", "61")],
            20422,
        ),
        (
            vec![("PhoneNumber", "+15558670103"), ("Extension", "12x")],
            20422,
        ),
        (
            vec![("PhoneNumber", "+15558670103"), ("StatusCallback", "nope")],
            21609,
        ),
        (
            vec![
                ("PhoneNumber", "+15558670103"),
                ("StatusCallbackMethod", "PUT"),
            ],
            21403,
        ),
    ] {
        let answer = call(&engine, "POST", &ids, &form).await;
        crate::assert_error(&answer, 400, code);
    }
}

#[tokio::test]
async fn a_verification_call_nobody_answers_fails_and_says_so() {
    let engine = start();
    let app = App::start().await;
    app.route("/verified", 204, "text/plain", "");
    let busy = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Phones/+15558670111", engine.base_url),
        &[("Answer", "busy")],
    )
    .await;
    assert_eq!(busy.0, 200);
    let (status, request) = call(
        &engine,
        "POST",
        &engine.account_url("OutgoingCallerIds.json"),
        &[
            ("PhoneNumber", "+15558670111"),
            ("StatusCallback", &app.url("/verified")),
            ("StatusCallbackMethod", "GET"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{request}");
    let call_sid = request["call_sid"].as_str().expect("call_sid");
    assert_eq!(finished(&engine, call_sid).await["status"], "busy");
    let heard = crate::eventually(std::time::Duration::from_secs(5), async || {
        app.received()
            .iter()
            .any(|r| r.target.starts_with("/verified"))
    })
    .await;
    assert!(heard, "the status callback was sent");
    let callback = app
        .received()
        .into_iter()
        .find(|r| r.target.starts_with("/verified"))
        .expect("callback");
    assert_eq!(callback.method, "GET");
    assert!(
        callback.target.contains("VerificationStatus=failed"),
        "{}",
        callback.target
    );
    assert!(!callback.target.contains("OutgoingCallerIdSid"));
    let (_, listed) = call(
        &engine,
        "GET",
        &engine.account_url("OutgoingCallerIds.json"),
        &[],
    )
    .await;
    assert_eq!(
        listed["outgoing_caller_ids"].as_array().map(Vec::len),
        Some(0)
    );
}
