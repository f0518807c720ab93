//! Hostile and broken input gets a Twilio-style 4xx, never a 5xx, and changes nothing.

use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::{TestDatabase, server_url};

use crate::{assert_error, binary, call, start};

#[tokio::test]
async fn malformed_bodies_are_refused_with_twilio_errors() {
    let engine = start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let send = |body: Vec<u8>| {
        engine
            .request(reqwest::Method::POST, &numbers)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for body in [
        &b"PhoneNumber=%2B1415%2"[..],
        b"PhoneNumber=%",
        b"PhoneNumber=%2",
        b"Friendly%ZZName=x",
        b"PhoneNumber=\xff\xfe",
        b"FriendlyName=%C3%28",
    ] {
        let response = send(body.to_vec()).await.unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap();
        assert!((400..500).contains(&status), "{body:?} -> {status} {json}");
        assert!(json["code"].as_u64().is_some(), "{json}");
    }
    let huge = send(vec![b'a'; 10 * 1024 * 1024]).await.unwrap();
    assert_eq!(huge.status(), 413);
    let json: serde_json::Value = huge.json().await.unwrap();
    assert_eq!(json["code"], 20413);
    let listed = call(&engine, "GET", &numbers, &[]).await.1;
    assert_eq!(
        listed["incoming_phone_numbers"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn sql_metacharacters_and_unknown_sids_are_just_data() {
    let engine = start();
    // No NUL here: that is refused outright (`a_nul_is_refused_with_20422_on_sqlite` and `_on_postgres`).
    let nasty = "x'); DROP TABLE resources; -- \" % _ \\ \u{1} \u{202e} 😀";
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", "+14155550600"),
            ("FriendlyName", &nasty[..40.min(nasty.len())]),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["friendly_name"], &nasty[..40.min(nasty.len())]);
    // SID parameters take SIDs of their kind only (Twilio's description types them so).
    for (param, value) in [
        ("AddressSid", nasty),
        ("IdentitySid", nasty),
        ("BundleSid", nasty),
        ("EmergencyAddressSid", nasty),
        ("TrunkSid", nasty),
        ("AddressSid", "RI00000000000000000000000000000001"),
        ("FriendlyName", "x".repeat(65).as_str()),
        ("VoiceUrl", nasty),
        ("VoiceMethod", nasty),
        ("VoiceReceiveMode", nasty),
        ("VoiceApplicationSid", nasty),
        ("AccountSid", nasty),
        ("VoiceCallerIdLookup", nasty),
        ("EmergencyStatus", nasty),
    ] {
        let answer = call(
            &engine,
            "POST",
            &numbers,
            &[("PhoneNumber", "+14155550601"), (param, value)],
        )
        .await;
        assert!((400..500).contains(&answer.0), "{param}: {answer:?}");
    }
    for query in [
        "PhoneNumber=%25",
        "FriendlyName=x%27%20OR%201%3D1%20--",
        "PhoneNumber=_",
        "Page=99999999999999",
        "PageSize=-5",
    ] {
        let answer = call(&engine, "GET", &format!("{numbers}?{query}"), &[]).await;
        assert!(
            answer.0 == 200 || (400..500).contains(&answer.0),
            "{query}: {answer:?}"
        );
        if answer.0 == 200 && query.starts_with("PhoneNumber") || query.starts_with("FriendlyName")
        {
            assert_eq!(
                answer.1["incoming_phone_numbers"].as_array().map(Vec::len),
                Some(0),
                "{query}"
            );
        }
    }
    for path in [
        "IncomingPhoneNumbers/PN00000000000000000000000000000000.json",
        "IncomingPhoneNumbers/PN'%20OR%201=1.json",
        "Applications/x.json",
        "Keys/SK1.json",
        "IncomingPhoneNumbers/%F0%9F%98%80.json",
    ] {
        for method in ["GET", "POST", "DELETE"] {
            let answer = call(
                &engine,
                method,
                &engine.account_url(path),
                &[("FriendlyName", "x")],
            )
            .await;
            assert_error(&answer, 404, 20404);
        }
    }
    let bad_account = format!(
        "{}/2010-04-01/Accounts/not-an-account/IncomingPhoneNumbers.json",
        engine.base_url
    );
    assert_error(&call(&engine, "GET", &bad_account, &[]).await, 404, 20404);
    let listed = call(&engine, "GET", &numbers, &[]).await.1;
    assert_eq!(
        listed["incoming_phone_numbers"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn garbage_credentials_are_401_not_500() {
    let engine = start();
    let url = engine.account_url("IncomingPhoneNumbers.json");
    let client = reqwest::Client::new();
    for header in [
        "Basic",
        "Basic !!!",
        "Basic Zm9v",
        "Bearer abc",
        "Basic /w==",
        "basic QUM6",
    ] {
        let response = client
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
    }
}

/// (method, URL, form, the parameter the error names)
type NulCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

/// A NUL character (U+0000) in any stored parameter, REST or sandbox, body or query string, is
/// refused with 400/20422 naming the parameter, and nothing is created. PostgreSQL cannot store
/// it and SQLite can; before this rule the same request was a 500 on one and a 201 on the other.
async fn nul_is_refused(engine: &Engine) {
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let applications = engine.account_url("Applications.json");
    let messages = engine.account_url("Messages.json");
    let sandbox_messages = format!("{}/sandbox/Messages", engine.base_url);
    let cases: [NulCase; 6] = [
        (
            "POST",
            &numbers,
            &[("PhoneNumber", "+14155550700"), ("FriendlyName", "a\0b")],
            "FriendlyName",
        ),
        (
            "POST",
            &numbers,
            &[
                ("PhoneNumber", "+14155550701"),
                ("SmsUrl", "https://example.com/\0"),
            ],
            "SmsUrl",
        ),
        (
            "POST",
            &applications,
            &[
                ("FriendlyName", "app"),
                ("VoiceUrl", "https://example.com/a\0"),
            ],
            "VoiceUrl",
        ),
        (
            "POST",
            &messages,
            &[
                ("To", "+14155550702"),
                ("From", "+14155550703"),
                ("Body", "hi\0"),
            ],
            "Body",
        ),
        (
            "POST",
            &sandbox_messages,
            &[
                ("To", "+14155550700"),
                ("From", "+14155550704"),
                ("Body", "\0"),
            ],
            "Body",
        ),
        (
            "GET",
            &format!("{numbers}?FriendlyName=%00"),
            &[],
            "FriendlyName",
        ),
    ];
    for (method, url, form, parameter) in cases {
        let answer = call(engine, method, url, form).await;
        assert_error(&answer, 400, 20422);
        let message = answer.1["message"].as_str().unwrap_or_default();
        assert!(message.contains(parameter), "{url} {form:?}: {message}");
        assert!(message.contains("NUL"), "{message}");
    }
    let sandbox_calls = format!("{}/sandbox/Calls", engine.base_url);
    let answer = call(
        engine,
        "POST",
        &sandbox_calls,
        &[("To", "+14155550700"), ("CallerName", "\0")],
    )
    .await;
    assert_error(&answer, 400, 20422);
    assert!(
        answer.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CallerName"),
        "{answer:?}"
    );
    for (url, key) in [
        (&numbers, "incoming_phone_numbers"),
        (&applications, "applications"),
        (&messages, "messages"),
    ] {
        let listed = call(engine, "GET", url, &[]).await;
        assert_eq!(listed.0, 200, "{listed:?}");
        assert_eq!(
            listed.1[key].as_array().map(Vec::len),
            Some(0),
            "nothing was created: {listed:?}"
        );
    }
    // A NUL in a path segment is not a resource that exists.
    let path = engine.account_url("IncomingPhoneNumbers/PN%00.json");
    assert_error(&call(engine, "GET", &path, &[]).await, 404, 20404);
}

#[tokio::test]
async fn a_nul_is_refused_with_20422_on_sqlite() {
    let engine = start();
    nul_is_refused(&engine).await;
}

#[tokio::test]
async fn a_nul_is_refused_with_20422_on_postgres() {
    let Some(server) = server_url("NUL refused on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let mut engine = Engine::start_on(
            binary(),
            scratch_dir("pg-nul"),
            database.url.clone(),
            Vec::new(),
        );
        nul_is_refused(&engine).await;
        assert!(engine.terminate(), "graceful shutdown exits 0");
    }
    database.drop_database().await.expect("drop test database");
}
