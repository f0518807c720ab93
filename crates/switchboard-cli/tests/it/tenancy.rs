//! Tenancy end to end (product.md "Limits and hostile clients (HTTP)"): a suspended subaccount
//! is refused everywhere with 20005 and nothing of it runs until its parent reactivates it, and
//! the sandbox is per account (one account's handsets, calls and messages are invisible to and
//! unaffected by another's).

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::voice::{events, finished};
use crate::{assert_error, call, start};

const XML: &str = "text/xml";

/// A request to make: method, URL and form.
type Route<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// Basic credentials: an account SID and its token, or an API key SID and its secret.
type Credentials<'a> = (&'a str, &'a str);

/// Sends a form request with `credentials`; returns status and JSON body.
pub(crate) async fn call_as(
    credentials: Credentials<'_>,
    method: &str,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = reqwest::Client::new()
        .request(method, url)
        .basic_auth(credentials.0, Some(credentials.1))
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A subaccount of the engine's main account: its SID and auth token.
pub(crate) async fn subaccount(engine: &Engine, name: &str) -> (String, String) {
    let created = call(
        engine,
        "POST",
        &format!("{}/2010-04-01/Accounts.json", engine.base_url),
        &[("FriendlyName", name)],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let text = |field: &str| created.1[field].as_str().expect(field).to_owned();
    (text("sid"), text("auth_token"))
}

/// `Accounts/{account}/{rest}`.
fn account_url(engine: &Engine, account: &str, rest: &str) -> String {
    format!("{}/2010-04-01/Accounts/{account}/{rest}", engine.base_url)
}

/// Provisions `number` in `account` (with the main account's credentials, its parent's).
async fn provision_in(engine: &Engine, account: &str, number: &str, app: &App) -> String {
    let created = call(
        engine,
        "POST",
        &account_url(engine, account, "IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", number),
            ("VoiceUrl", &app.url("/voice")),
            ("SmsUrl", &app.url("/sms")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    created.1["sid"].as_str().expect("sid").to_owned()
}

/// An app whose Voice URL says a word and whose SMS URL answers nothing.
async fn app() -> App {
    let app = App::start().await;
    app.route("/voice", 200, XML, "<Response><Say>Hello</Say></Response>");
    app.route("/sms", 200, XML, "<Response/>");
    app
}

/// The paths the app was asked for, in order.
fn requested(app: &App) -> Vec<String> {
    app.received().into_iter().map(|r| r.target).collect()
}

/// Waits for a message (fetched with `credentials`) to reach a final status; returns it.
async fn final_message(credentials: Credentials<'_>, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fetched = call_as(credentials, "GET", url, &[]).await;
        assert_eq!(fetched.0, 200, "{fetched:?}");
        let status = fetched.1["status"].as_str().unwrap_or_default().to_owned();
        if matches!(status.as_str(), "delivered" | "undelivered" | "failed") {
            return fetched.1;
        }
        assert!(Instant::now() < deadline, "message still {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Places a REST call from `from` (a number of the credentials' account) to `to`; its SID.
async fn place(
    engine: &Engine,
    credentials: Credentials<'_>,
    from: &str,
    to: &str,
    answer_url: &str,
) -> String {
    let url = account_url(engine, credentials.0, "Calls.json");
    let form = [("To", to), ("From", from), ("Url", answer_url)];
    let created = call_as(credentials, "POST", &url, &form).await;
    assert_eq!(created.0, 201, "{created:?}");
    created.1["sid"].as_str().unwrap().to_owned()
}

/// Sends a REST message from `from` to `to`; the URL of the message resource.
async fn send(engine: &Engine, credentials: Credentials<'_>, from: &str, to: &str) -> String {
    let url = account_url(engine, credentials.0, "Messages.json");
    let form = [("To", to), ("From", from), ("Body", "hello")];
    let created = call_as(credentials, "POST", &url, &form).await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().unwrap();
    account_url(engine, credentials.0, &format!("Messages/{sid}.json"))
}

#[tokio::test]
async fn a_suspended_subaccount_is_refused_everywhere_and_runs_nothing_until_its_parent_reactivates_it()
 {
    let engine = start();
    let app = app().await;
    let main = (engine.account_sid.as_str(), engine.auth_token.as_str());
    let (sub, token) = subaccount(&engine, "Team A").await;
    let as_sub = (sub.as_str(), token.as_str());
    let number = "+15550700001";
    let number_sid = provision_in(&engine, &sub, number, &app).await;
    let key = call_as(
        as_sub,
        "POST",
        &account_url(&engine, &sub, "Keys.json"),
        &[("FriendlyName", "ci")],
    )
    .await;
    assert_eq!(key.0, 201, "{key:?}");
    let (key_sid, secret) = (
        key.1["sid"].as_str().unwrap().to_owned(),
        key.1["secret"].as_str().unwrap().to_owned(),
    );
    let as_key = (key_sid.as_str(), secret.as_str());
    let sub_account = format!("{}/2010-04-01/Accounts/{sub}.json", engine.base_url);

    // Only the parent changes a subaccount's status; a main account's is not the API's.
    for status in ["suspended", "closed", "active"] {
        let own = call_as(as_sub, "POST", &sub_account, &[("Status", status)]).await;
        assert_error(&own, 403, 20403);
    }
    let main_account = format!("{}/2010-04-01/Accounts/{}.json", engine.base_url, main.0);
    assert_error(
        &call(&engine, "POST", &main_account, &[("Status", "suspended")]).await,
        403,
        20403,
    );
    let suspended = call(&engine, "POST", &sub_account, &[("Status", "suspended")]).await;
    assert_eq!(suspended.0, 200, "{suspended:?}");
    assert_eq!(suspended.1["status"], "suspended");

    // Every route answers 401/20005 to the subaccount's token and to its API key.
    let calls = account_url(&engine, &sub, "Calls.json");
    let sandbox = |rest: &str| format!("{}/sandbox/{rest}", engine.base_url);
    let routes: Vec<Route> = vec![
        (
            "GET",
            account_url(&engine, &sub, "IncomingPhoneNumbers.json"),
            vec![],
        ),
        (
            "POST",
            account_url(&engine, &sub, "IncomingPhoneNumbers.json"),
            vec![("PhoneNumber", "+15550700009")],
        ),
        (
            "GET",
            account_url(
                &engine,
                &sub,
                &format!("IncomingPhoneNumbers/{number_sid}.json"),
            ),
            vec![],
        ),
        ("GET", sub_account.clone(), vec![]),
        ("POST", sub_account.clone(), vec![("Status", "active")]),
        (
            "GET",
            format!("{}/2010-04-01/Accounts.json", engine.base_url),
            vec![],
        ),
        ("GET", calls.clone(), vec![]),
        (
            "POST",
            calls.clone(),
            vec![
                ("To", "+15558675309"),
                ("From", number),
                ("Url", "http://127.0.0.1:9/x"),
            ],
        ),
        ("GET", account_url(&engine, &sub, "Messages.json"), vec![]),
        (
            "POST",
            account_url(&engine, &sub, "Messages.json"),
            vec![("To", "+15558675309"), ("From", number), ("Body", "hi")],
        ),
        (
            "GET",
            account_url(&engine, &sub, "Applications.json"),
            vec![],
        ),
        (
            "GET",
            account_url(&engine, &sub, "Notifications.json"),
            vec![],
        ),
        ("GET", account_url(&engine, &sub, "Recordings.json"), vec![]),
        ("GET", account_url(&engine, &sub, "Keys.json"), vec![]),
        ("GET", format!("{}/v1/Alerts", engine.base_url), vec![]),
        ("POST", sandbox("Calls"), vec![("To", number)]),
        (
            "POST",
            sandbox("Messages"),
            vec![("To", number), ("Body", "hi")],
        ),
        (
            "GET",
            sandbox("Calls/CA00000000000000000000000000000001"),
            vec![],
        ),
        (
            "POST",
            sandbox("Phones/+15558675309"),
            vec![("Answer", "busy")],
        ),
        ("GET", sandbox("Phones/+15558675309/Messages"), vec![]),
    ];
    for credentials in [as_sub, as_key] {
        for (method, url, form) in &routes {
            let answer = call_as(credentials, method, url, form).await;
            assert_error(&answer, 401, 20005);
            assert_eq!(answer.1["message"], "Account not active", "{method} {url}");
        }
        // Wrong secrets learn nothing about the status.
        let wrong = call_as((credentials.0, "wrong-secret"), "GET", &calls, &[]).await;
        assert_error(&wrong, 401, 20003);
    }

    // The parent sees the subaccount and its status, but nothing under it.
    let seen = call(&engine, "GET", &sub_account, &[]).await;
    assert_eq!(
        (seen.0, seen.1["status"].clone()),
        (200, "suspended".into())
    );
    assert_error(&call(&engine, "GET", &calls, &[]).await, 401, 20005);
    assert_error(
        &call(
            &engine,
            "POST",
            &calls,
            &[
                ("To", "+15558675309"),
                ("From", number),
                ("Url", &app.url("/voice")),
            ],
        )
        .await,
        401,
        20005,
    );

    // Its number does not answer: the call ends `failed` at once, no webhook is requested.
    let placed = call(
        &engine,
        "POST",
        &sandbox("Calls"),
        &[("To", number), ("Clock", "fast")],
    )
    .await;
    assert_eq!(
        (placed.0, placed.1["status"].clone()),
        (201, "failed".into())
    );
    let call_sid = placed.1["call_sid"].as_str().unwrap().to_owned();
    let transcript = finished(&engine, &call_sid).await;
    assert_eq!(transcript["status"], "failed", "{transcript}");
    let refused = events(&transcript, "refused");
    assert_eq!(refused.len(), 1, "{transcript}");
    assert_eq!(refused[0]["error_code"], 20005);
    assert!(events(&transcript, "webhook").is_empty(), "{transcript}");
    // Inbound messages are not processed either.
    let texted = call(
        &engine,
        "POST",
        &sandbox("Messages"),
        &[("To", number), ("Body", "anyone there?")],
    )
    .await;
    assert_eq!(
        (texted.0, texted.1["status"].clone()),
        (201, "failed".into())
    );
    let message_sid = texted.1["message_sid"].as_str().unwrap().to_owned();
    let message = call(
        &engine,
        "GET",
        &sandbox(&format!("Messages/{message_sid}?WaitFor=done&Timeout=5")),
        &[],
    )
    .await;
    assert_eq!(message.0, 200, "{message:?}");
    assert_eq!(message.1["message_status"], "failed");
    assert!(events(&message.1, "webhook").is_empty(), "{message:?}");
    assert_eq!(
        requested(&app),
        Vec::<String>::new(),
        "no webhook requested"
    );

    // The parent reactivates it; its token and key work again and its number answers.
    let reactivated = call(&engine, "POST", &sub_account, &[("Status", "active")]).await;
    assert_eq!(
        (reactivated.0, reactivated.1["status"].clone()),
        (200, "active".into())
    );
    for credentials in [as_sub, as_key] {
        let listed = call_as(credentials, "GET", &calls, &[]).await;
        assert_eq!(listed.0, 200, "{listed:?}");
    }
    let placed = call_as(
        as_sub,
        "POST",
        &sandbox("Calls"),
        &[("To", number), ("Clock", "fast")],
    )
    .await;
    assert_eq!(
        (placed.0, placed.1["status"].clone()),
        (201, "ringing".into())
    );
    let transcript = finished(&engine, placed.1["call_sid"].as_str().unwrap()).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let texted = call_as(
        as_sub,
        "POST",
        &sandbox("Messages"),
        &[("To", number), ("Body", "back?")],
    )
    .await;
    assert_eq!(texted.1["status"], "received", "{texted:?}");
    let done = call_as(
        as_sub,
        "GET",
        &sandbox(&format!(
            "Messages/{}?WaitFor=done&Timeout=10",
            texted.1["message_sid"].as_str().unwrap()
        )),
        &[],
    )
    .await;
    assert_eq!(done.0, 200, "{done:?}");
    assert_eq!(requested(&app), ["/voice", "/sms"]);

    // Closed is final, and a closed account is not active either.
    let closed = call(&engine, "POST", &sub_account, &[("Status", "closed")]).await;
    assert_eq!(closed.0, 200, "{closed:?}");
    assert_error(&call_as(as_sub, "GET", &calls, &[]).await, 401, 20005);
    assert_error(
        &call(&engine, "POST", &sub_account, &[("Status", "active")]).await,
        400,
        20422,
    );
}

#[tokio::test]
async fn each_account_has_its_own_sandbox() {
    let engine = start();
    let app = app().await;
    let main = (engine.account_sid.as_str(), engine.auth_token.as_str());
    let (sub, token) = subaccount(&engine, "Team B").await;
    let as_sub = (sub.as_str(), token.as_str());
    let (main_number, sub_number) = ("+15550800001", "+15550800002");
    provision_in(&engine, main.0, main_number, &app).await;
    provision_in(&engine, &sub, sub_number, &app).await;
    let handset = "+15558675309";
    let phone = format!("{}/sandbox/Phones/{handset}", engine.base_url);

    // The subaccount makes the handset busy and failing, for itself only.
    let set = call_as(
        as_sub,
        "POST",
        &phone,
        &[("Answer", "busy"), ("Deliver", "fail")],
    )
    .await;
    assert_eq!(set.0, 200, "{set:?}");
    assert_eq!(
        (set.1["account_sid"].clone(), set.1["answer"].clone()),
        (sub.as_str().into(), "busy".into())
    );

    // The main account's call to that handset is answered and its message delivered.
    let answer_url = app.url("/voice");
    let main_call = place(&engine, main, main_number, handset, &answer_url).await;
    let transcript = finished(&engine, &main_call).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let main_message_url = send(&engine, main, main_number, handset).await;
    let main_message = final_message(main, &main_message_url).await;
    assert_eq!(main_message["status"], "delivered", "{main_message}");
    assert_eq!(main_message["error_code"], Value::Null);
    // The subaccount's own call and message meet its settings.
    let sub_call = place(&engine, as_sub, sub_number, handset, &answer_url).await;
    assert_eq!(finished(&engine, &sub_call).await["status"], "busy");
    let sub_message_url = send(&engine, as_sub, sub_number, handset).await;
    let sub_message = final_message(as_sub, &sub_message_url).await;
    assert_eq!(sub_message["status"], "failed", "{sub_message}");
    assert_eq!(sub_message["error_code"], 30008);

    // Each account's handset message list holds its own messages only.
    for (credentials, from) in [(main, main_number), (as_sub, sub_number)] {
        let listed = call_as(credentials, "GET", &format!("{phone}/Messages"), &[]).await;
        assert_eq!(listed.0, 200, "{listed:?}");
        let senders: Vec<&Value> = listed.1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["from"])
            .collect();
        assert_eq!(senders, [from], "{listed:?}");
    }
    // The parent reads its subaccount's handset with AccountSid; nobody else's.
    let parent_view = call(
        &engine,
        "GET",
        &format!("{phone}/Messages?AccountSid={sub}"),
        &[],
    )
    .await;
    assert_eq!(parent_view.1["messages"][0]["from"], sub_number);
    let main_as_target = format!("{phone}/Messages?AccountSid={}", main.0);
    assert_error(
        &call_as(as_sub, "GET", &main_as_target, &[]).await,
        401,
        20003,
    );

    // Another account's calls and inbound messages are not there for the subaccount.
    let main_inbound = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Messages", engine.base_url),
        &[("To", main_number), ("Body", "for main")],
    )
    .await;
    assert_eq!(main_inbound.0, 201, "{main_inbound:?}");
    for path in [
        format!("Calls/{main_call}"),
        format!(
            "Messages/{}",
            main_inbound.1["message_sid"].as_str().unwrap()
        ),
    ] {
        let url = format!("{}/sandbox/{path}", engine.base_url);
        assert_error(&call_as(as_sub, "GET", &url, &[]).await, 404, 20404);
        let hangup = call_as(as_sub, "POST", &format!("{url}/Hangup"), &[]).await;
        assert!(matches!(hangup.0, 404), "{hangup:?}");
    }
    // A number another account holds answers like a number nobody holds: 404.
    for (what, form) in [
        ("Calls", vec![("To", main_number)]),
        ("Messages", vec![("To", main_number), ("Body", "hi")]),
        ("Calls", vec![("To", "+15550809999")]),
        ("Messages", vec![("To", "+15550809999"), ("Body", "hi")]),
    ] {
        let url = format!("{}/sandbox/{what}", engine.base_url);
        assert_error(&call_as(as_sub, "POST", &url, &form).await, 404, 20404);
    }
    // A parent reaches its subaccount's numbers, as in the REST API.
    let parent_call = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", sub_number), ("Clock", "fast")],
    )
    .await;
    assert_eq!(parent_call.0, 201, "{parent_call:?}");
    let transcript = finished(&engine, parent_call.1["call_sid"].as_str().unwrap()).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
}
