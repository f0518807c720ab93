//! Hostile and broken input gets a Twilio-style 4xx, never a 5xx, and changes nothing.

use crate::{assert_error, call, start};

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
    let nasty = "x'); DROP TABLE resources; -- \" % _ \\ \u{0} 😀";
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", "+14155550600"),
            ("FriendlyName", &nasty[..40.min(nasty.len())]),
            ("AddressSid", nasty),
            ("IdentitySid", nasty),
            ("BundleSid", nasty),
            ("EmergencyAddressSid", nasty),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["address_sid"], nasty);
    for (param, value) in [
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
