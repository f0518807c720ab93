//! Caller geography on voice and messaging webhooks, and `multipart/form-data` REST bodies
//! (issue 23 items 6 and 7), through the sandbox and the REST API as an application sees them.

use std::process::Command;

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{finished, form, param, place, provision};
use crate::{assert_error, call, start};

const XML: &str = "text/xml";

/// The parameters of every request the app received on `path`.
fn requests_to(app: &App, path: &str) -> Vec<Vec<(String, String)>> {
    app.received()
        .into_iter()
        .filter(|request| request.target == path)
        .map(|request| form(&request.body))
        .collect()
}

#[track_caller]
fn assert_params(params: &[(String, String)], expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(param(params, name), Some(*value), "{name} in {params:?}");
    }
}

#[tokio::test]
async fn voice_webhooks_carry_the_parties_country_and_state() {
    let engine = start();
    let app = App::start().await;
    app.route("/voice", 200, XML, "<Response><Hangup/></Response>");
    provision(&engine, "+14155550100", &app.url("/voice"), None).await;

    let sid = place(&engine, "+14155550100", &[("From", "+14165550123")]).await;
    finished(&engine, &sid).await;
    let sid = place(&engine, "+14155550100", &[("From", "+442071234567")]).await;
    finished(&engine, &sid).await;
    let sid = place(
        &engine,
        "+14155550100",
        &[
            ("From", "+14155550123"),
            ("FromCity", "SAN FRANCISCO"),
            ("FromZip", "94105"),
            ("ToState", "NV"),
        ],
    )
    .await;
    finished(&engine, &sid).await;

    let requests = requests_to(&app, "/voice");
    assert_eq!(requests.len(), 3, "{requests:?}");
    // A Canadian caller to a San Francisco number; the legacy Caller…/Called… copies agree.
    assert_params(
        &requests[0],
        &[
            ("FromCountry", "CA"),
            ("FromState", "ON"),
            ("FromCity", ""),
            ("FromZip", ""),
            ("CallerCountry", "CA"),
            ("CallerState", "ON"),
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("CalledCountry", "US"),
            ("CalledState", "CA"),
        ],
    );
    // A London caller: the country from the calling code, no state.
    assert_params(
        &requests[1],
        &[
            ("FromCountry", "GB"),
            ("FromState", ""),
            ("CallerCountry", "GB"),
        ],
    );
    // Sandbox overrides replace what the numbers tell, field by field.
    assert_params(
        &requests[2],
        &[
            ("FromCountry", "US"),
            ("FromState", "CA"),
            ("FromCity", "SAN FRANCISCO"),
            ("FromZip", "94105"),
            ("CallerCity", "SAN FRANCISCO"),
            ("CallerZip", "94105"),
            ("ToState", "NV"),
            ("CalledState", "NV"),
            ("ToCountry", "US"),
        ],
    );
}

#[tokio::test]
async fn messaging_webhooks_carry_the_parties_country_and_state() {
    let engine = start();
    let app = App::start().await;
    app.route("/sms", 200, XML, "<Response/>");
    let (status, number) = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", "+12125550100"),
            ("SmsUrl", &app.url("/sms")),
        ],
    )
    .await;
    assert_eq!(status, 201, "{number}");
    let inbound = format!("{}/sandbox/Messages", engine.base_url);
    for form in [
        vec![
            ("From", "+16045550123"),
            ("To", "+12125550100"),
            ("Body", "hi"),
        ],
        vec![
            ("From", "+33142685300"),
            ("To", "+12125550100"),
            ("Body", "salut"),
            ("FromCity", "PARIS"),
            ("ToZip", "10001"),
        ],
    ] {
        let (status, body) = call(&engine, "POST", &inbound, &form).await;
        assert_eq!(status, 201, "{body}");
    }
    let arrived = crate::eventually(std::time::Duration::from_secs(10), async || {
        requests_to(&app, "/sms").len() == 2
    })
    .await;
    assert!(arrived, "both messages reached the SMS URL");
    let requests = requests_to(&app, "/sms");
    let (vancouver, paris) = if param(&requests[0], "Body") == Some("hi") {
        (&requests[0], &requests[1])
    } else {
        (&requests[1], &requests[0])
    };
    assert_params(
        vancouver,
        &[
            ("FromCountry", "CA"),
            ("FromState", "BC"),
            ("FromCity", ""),
            ("ToCountry", "US"),
            ("ToState", "NY"),
        ],
    );
    assert_params(
        paris,
        &[
            ("FromCountry", "FR"),
            ("FromState", ""),
            ("FromCity", "PARIS"),
            ("ToZip", "10001"),
            ("ToState", "NY"),
        ],
    );
}

/// Runs curl with the account's credentials; returns status and JSON body.
fn curl(engine: &switchboard_test_support::engine::Engine, args: &[&str]) -> (u16, Value) {
    let output = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "-u"])
        .arg(format!("{}:{}", engine.account_sid, engine.auth_token))
        .args(args)
        .output()
        .expect("curl runs (Debian package curl)");
    assert!(output.status.success(), "curl: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let status = status.trim().parse().expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The fields of a created resource that its request decided.
fn decided(resource: &Value, fields: &[&str]) -> Vec<Value> {
    fields
        .iter()
        .map(|field| resource[*field].clone())
        .collect()
}

#[tokio::test]
async fn multipart_bodies_create_the_same_resources_as_form_bodies() {
    let engine = start();
    let app = App::start().await;
    app.route("/voice", 200, XML, "<Response><Hangup/></Response>");
    provision(&engine, "+15550460001", &app.url("/voice"), None).await;
    let messages = engine.account_url("Messages.json");
    let calls = engine.account_url("Calls.json");
    let callback = app.url("/status");

    let message_form = [
        ("To", "+15558460001"),
        ("From", "+15550460001"),
        ("Body", "multipart é & = +"),
        ("StatusCallback", callback.as_str()),
    ];
    let (status, by_form) = call(&engine, "POST", &messages, &message_form).await;
    assert_eq!(status, 201, "{by_form}");
    let mut args = vec![messages.clone()];
    for (name, value) in message_form {
        args.push("--form-string".to_owned());
        args.push(format!("{name}={value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, by_multipart) = curl(&engine, &args);
    assert_eq!(status, 201, "{by_multipart}");
    let fields = [
        "to",
        "from",
        "body",
        "num_segments",
        "direction",
        "api_version",
    ];
    assert_eq!(
        decided(&by_multipart, &fields),
        decided(&by_form, &fields),
        "{by_multipart} vs {by_form}"
    );
    assert_ne!(by_multipart["sid"], by_form["sid"]);

    let voice_url = app.url("/voice");
    let call_form = [
        ("To", "+15558460002"),
        ("From", "+15550460001"),
        ("Url", voice_url.as_str()),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "completed"),
    ];
    let (status, by_form) = call(&engine, "POST", &calls, &call_form).await;
    assert_eq!(status, 201, "{by_form}");
    let mut args = vec![calls.clone()];
    for (name, value) in call_form {
        args.push("-F".to_owned());
        args.push(format!("{name}={value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, by_multipart) = curl(&engine, &args);
    assert_eq!(status, 201, "{by_multipart}");
    let fields = ["to", "from", "direction", "api_version", "status"];
    assert_eq!(
        decided(&by_multipart, &fields),
        decided(&by_form, &fields),
        "{by_multipart} vs {by_form}"
    );

    // A multipart request missing a required parameter gets the same answer as a form one.
    let form_answer = call(&engine, "POST", &messages, &[("From", "+15550460001")]).await;
    let multipart_answer = curl(&engine, &[&messages, "-F", "From=+15550460001"]);
    assert_eq!(multipart_answer, form_answer);
    assert_error(&multipart_answer, 400, 21604);

    // Malformed multipart bodies: a 400 with Twilio's error JSON, never a 500.
    for (content_type, body) in [
        ("multipart/form-data", "--x\r\n"),
        ("multipart/form-data; boundary=abc", "not multipart at all"),
        (
            "multipart/form-data; boundary=abc",
            "--abc\r\nContent-Disposition: form-data; name=\"To\"\r\n\r\nunterminated",
        ),
        (
            "multipart/form-data; boundary=abc",
            "--abc\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--abc--\r\n",
        ),
    ] {
        let response = engine
            .request(reqwest::Method::POST, &messages)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert_error(&(status, json), 400, 20422);
    }
}
