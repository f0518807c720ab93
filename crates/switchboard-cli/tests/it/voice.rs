//! Voice end to end through the sandbox: real local HTTP apps as the customer's primary and
//! fallback URLs, calls placed with `POST /sandbox/Calls`, transcripts read back with `WaitFor`.

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::{call, start};

const XML: &str = "text/xml";

/// Provisions `number` with a Voice URL and optional fallback.
pub async fn provision(engine: &Engine, number: &str, voice_url: &str, fallback: Option<&str>) {
    let mut form = vec![("PhoneNumber", number), ("VoiceUrl", voice_url)];
    if let Some(fallback) = fallback {
        form.push(("VoiceFallbackUrl", fallback));
    }
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &form,
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
}

/// Places a sandbox call on the virtual clock; returns its SID.
pub async fn place(engine: &Engine, to: &str, extra: &[(&str, &str)]) -> String {
    // Extra parameters come first: the first value of a repeated name wins.
    let mut form = extra.to_vec();
    form.extend_from_slice(&[("To", to), ("Clock", "fast")]);
    let placed = call(
        engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &form,
    )
    .await;
    assert_eq!(placed.0, 201, "{placed:?}");
    assert_eq!(placed.1["status"], "ringing");
    placed.1["call_sid"].as_str().expect("call_sid").to_owned()
}

/// Waits for the call to end; returns its transcript.
pub async fn finished(engine: &Engine, sid: &str) -> Value {
    let url = format!(
        "{}/sandbox/Calls/{sid}?WaitFor=completed&Timeout=20",
        engine.base_url
    );
    let answer = call(engine, "GET", &url, &[]).await;
    assert_eq!(answer.0, 200, "the call did not end: {answer:?}");
    answer.1
}

pub fn events<'a>(transcript: &'a Value, kind: &str) -> Vec<&'a Value> {
    transcript["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["type"] == kind)
        .collect()
}

/// The form parameters of a request the app received.
pub fn form(body: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .expect("form")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A port nobody listens on.
fn refused_url() -> String {
    let addr = switchboard_test_support::net::refused_addr();
    format!("http://{addr}/voice")
}

/// A server that accepts connections and never answers.
fn silent_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}/voice#tt=1000")
}

#[tokio::test]
async fn a_failing_primary_is_replaced_by_the_fallback_and_the_call_completes() {
    let engine = start();
    let app = App::start().await;
    app.route("/down", 500, "text/html", "<h1>boom</h1>");
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>Our main line is resting; this is the backup.</Say></Response>",
    );
    let primaries = [
        ("refused", refused_url(), "11205"),
        ("500", app.url("/down"), "11200"),
        ("timeout", silent_url(), ""),
    ];
    for (index, (label, primary, code)) in primaries.iter().enumerate() {
        let number = format!("+1555030000{index}");
        provision(&engine, &number, primary, Some(&app.url("/fallback"))).await;
        let sid = place(&engine, &number, &[]).await;
        let transcript = finished(&engine, &sid).await;
        assert_eq!(transcript["status"], "completed", "{label}: {transcript}");
        let says = events(&transcript, "say");
        assert_eq!(says.len(), 1, "{label}: {transcript}");
        assert_eq!(
            says[0]["text"],
            "Our main line is resting; this is the backup."
        );
        assert_eq!(says[0]["source"], "twiml", "{label}");
        let hooks = events(&transcript, "webhook");
        assert_eq!(hooks.len(), 2, "{label}: {transcript}");
        assert_eq!(hooks[0]["fallback"], false);
        assert_eq!(hooks[1]["fallback"], true);
        assert_eq!(hooks[1]["http_status"], 200);
        assert_eq!(
            events(&transcript, "alert").len(),
            1,
            "{label}: {transcript}"
        );
        assert_eq!(events(&transcript, "hangup")[0]["by"], "twiml");
        // The fallback app can catch the error: ErrorCode, ErrorUrl and every normal parameter.
        let received = app.received();
        let fallback = received
            .iter()
            .rev()
            .find(|r| r.target == "/fallback")
            .expect("fallback requested");
        let params = form(&fallback.body);
        if !code.is_empty() {
            assert_eq!(param(&params, "ErrorCode"), Some(*code), "{label}");
        }
        assert!(param(&params, "ErrorCode").is_some_and(|c| c.starts_with("112")));
        let error_url = param(&params, "ErrorUrl").expect("ErrorUrl");
        assert!(primary.starts_with(error_url), "{error_url} vs {primary}");
        for (name, value) in [
            ("CallSid", sid.as_str()),
            ("AccountSid", engine.account_sid.as_str()),
            ("From", "+15005550006"),
            ("To", number.as_str()),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ] {
            assert_eq!(param(&params, name), Some(value), "{label} {name}");
        }
        assert!(
            fallback
                .headers
                .iter()
                .any(|(n, _)| n == "x-twilio-signature")
        );
    }
}

#[tokio::test]
async fn both_urls_failing_play_the_platform_prompt_and_record_two_alerts() {
    let engine = start();
    let app = App::start().await;
    app.route("/down", 503, "text/plain", "down");
    app.route("/invalid", 200, XML, "<Response><Say>unclosed</Response>");
    provision(
        &engine,
        "+15550300010",
        &app.url("/down"),
        Some(&app.url("/invalid")),
    )
    .await;
    let sid = place(&engine, "+15550300010", &[]).await;
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let says = events(&transcript, "say");
    assert_eq!(says.len(), 1, "{transcript}");
    assert_eq!(says[0]["source"], "platform");
    assert_eq!(
        says[0]["text"],
        "We're sorry, an application error has occurred. Goodbye."
    );
    assert_eq!(events(&transcript, "hangup")[0]["by"], "engine");
    let alerts = events(&transcript, "alert");
    assert_eq!(alerts.len(), 2, "{transcript}");
    let notifications = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}/Notifications.json")),
        &[],
    )
    .await;
    let codes: Vec<&Value> = notifications.1["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| &n["error_code"])
        .collect();
    assert_eq!(codes.len(), 2, "{notifications:?}");
    // The REST call record agrees.
    let fetched = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}.json")),
        &[],
    )
    .await;
    assert_eq!(fetched.0, 200, "{fetched:?}");
    assert_eq!(fetched.1["status"], "completed");
    assert_eq!(fetched.1["direction"], "inbound");
}

#[tokio::test]
async fn a_gather_action_failing_mid_call_goes_to_the_fallback_with_the_digits() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/ivr",
        200,
        XML,
        "<Response><Gather action=\"/menu\" numDigits=\"2\"><Say>Pick two</Say></Gather><Say>nothing</Say></Response>",
    );
    app.route("/menu", 500, "text/plain", "menu is broken");
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>Backup heard you.</Say></Response>",
    );
    provision(
        &engine,
        "+15550300020",
        &app.url("/ivr"),
        Some(&app.url("/fallback")),
    )
    .await;
    // On the wall clock the gather waits its 5 s for the keys the caller sends next.
    let sid = place(&engine, "+15550300020", &[("Clock", "real")]).await;
    let digits = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Digits", engine.base_url),
        &[("Digits", "42")],
    )
    .await;
    assert_eq!(digits.0, 200, "{digits:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    assert_eq!(events(&transcript, "gather_result")[0]["digits"], "42");
    let says: Vec<&Value> = events(&transcript, "say")
        .iter()
        .map(|s| &s["text"])
        .collect();
    assert_eq!(says, ["Pick two", "Backup heard you."], "{transcript}");
    let received = app.received();
    let fallback = received
        .iter()
        .find(|r| r.target == "/fallback")
        .expect("fallback");
    let params = form(&fallback.body);
    assert_eq!(param(&params, "Digits"), Some("42"));
    assert_eq!(param(&params, "ErrorCode"), Some("11200"));
    assert_eq!(param(&params, "ErrorUrl"), Some(app.url("/menu").as_str()));
    assert_eq!(param(&params, "CallStatus"), Some("in-progress"));
}

#[tokio::test]
async fn a_failing_redirect_target_goes_to_the_fallback() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/start",
        200,
        XML,
        "<Response><Say>One moment</Say><Redirect>/gone</Redirect></Response>",
    );
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>Redirect rescued.</Say><Hangup/></Response>",
    );
    provision(
        &engine,
        "+15550300030",
        &app.url("/start"),
        Some(&app.url("/fallback")),
    )
    .await;
    let sid = place(&engine, "+15550300030", &[]).await;
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    assert_eq!(events(&transcript, "redirect")[0]["url"], app.url("/gone"));
    let says: Vec<&Value> = events(&transcript, "say")
        .iter()
        .map(|s| &s["text"])
        .collect();
    assert_eq!(says, ["One moment", "Redirect rescued."], "{transcript}");
    let hooks = events(&transcript, "webhook");
    assert_eq!(hooks[1]["http_status"], 404);
    assert_eq!(hooks[1]["error_code"], 11200);
    assert_eq!(hooks[2]["fallback"], true);
}

#[tokio::test]
async fn a_live_call_update_whose_url_fails_goes_to_the_update_fallback() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/hold",
        200,
        XML,
        "<Response><Pause length=\"30\"/></Response>",
    );
    app.route("/broken", 500, "text/plain", "no");
    app.route(
        "/update-fallback",
        200,
        XML,
        "<Response><Say>Update rescued.</Say></Response>",
    );
    provision(&engine, "+15550300040", &app.url("/hold"), None).await;
    let sid = place(&engine, "+15550300040", &[("Clock", "real")]).await;
    let call_url = engine.account_url(&format!("Calls/{sid}.json"));
    // Wait until the call parks in its pause.
    for _ in 0..100 {
        let fetched = call(&engine, "GET", &call_url, &[]).await;
        if fetched.1["status"] == "in-progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let updated = call(
        &engine,
        "POST",
        &call_url,
        &[
            ("Url", &app.url("/broken")),
            ("FallbackUrl", &app.url("/update-fallback")),
        ],
    )
    .await;
    assert_eq!(updated.0, 200, "{updated:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let says: Vec<&Value> = events(&transcript, "say")
        .iter()
        .map(|s| &s["text"])
        .collect();
    assert_eq!(says, ["Update rescued."], "{transcript}");
    let received = app.received();
    let fallback = received
        .iter()
        .find(|r| r.target == "/update-fallback")
        .expect("update fallback requested");
    let params = form(&fallback.body);
    assert_eq!(
        param(&params, "ErrorUrl"),
        Some(app.url("/broken").as_str())
    );
    assert_eq!(param(&params, "CallSid"), Some(sid.as_str()));
    // A finished call cannot be redirected.
    let late = call(&engine, "POST", &call_url, &[("Url", &app.url("/hold"))]).await;
    crate::assert_error(&late, 400, 21220);
}

/// The number lookup is cached as a hint (number to SID): a changed Voice URL, a released
/// number and the same number provisioned again under a new SID must each route the next call
/// to what the store now says.
#[tokio::test]
async fn calls_follow_a_number_that_is_updated_released_and_provisioned_again() {
    let engine = start();
    let app = App::start().await;
    for (path, text) in [
        ("/one", "first app"),
        ("/two", "second app"),
        ("/three", "third app"),
    ] {
        app.route(
            path,
            200,
            XML,
            &format!("<Response><Say>{text}</Say></Response>"),
        );
    }
    let number = "+15550309001";
    let spoken = |transcript: &Value| events(transcript, "say")[0]["text"].clone();

    provision(&engine, number, &app.url("/one"), None).await;
    let first = place(&engine, number, &[]).await;
    assert_eq!(spoken(&finished(&engine, &first).await), "first app");

    let list = call(
        &engine,
        "GET",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[],
    )
    .await;
    let sid = list.1["incoming_phone_numbers"][0]["sid"]
        .as_str()
        .expect("number sid")
        .to_owned();
    let path = format!("IncomingPhoneNumbers/{sid}.json");
    let updated = call(
        &engine,
        "POST",
        &engine.account_url(&path),
        &[("VoiceUrl", &app.url("/two"))],
    )
    .await;
    assert_eq!(updated.0, 200, "{updated:?}");
    let second = place(&engine, number, &[]).await;
    assert_eq!(spoken(&finished(&engine, &second).await), "second app");

    let released = call(&engine, "DELETE", &engine.account_url(&path), &[]).await;
    assert_eq!(released.0, 204, "{released:?}");
    let refused = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", number), ("Clock", "fast")],
    )
    .await;
    // A released number is unknown to the sandbox like another account's (product.md: 404).
    crate::assert_error(&refused, 404, 20404);

    provision(&engine, number, &app.url("/three"), None).await;
    let third = place(&engine, number, &[]).await;
    assert_eq!(spoken(&finished(&engine, &third).await), "third app");
}
