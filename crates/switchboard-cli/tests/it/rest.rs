//! The REST resources of the foundation: numbers, applications, accounts, keys, paging, auth.

use serde_json::Value;

use crate::{assert_error, call, start};

#[tokio::test]
async fn numbers_are_provisioned_updated_and_released() {
    let engine = start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", "+1 (415) 555-0100"),
            ("VoiceUrl", "https://app.example/voice"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let number = &created.1;
    let sid = number["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("PN") && sid.len() == 34);
    assert_eq!(number["phone_number"], "+14155550100");
    assert_eq!(number["friendly_name"], "(415) 555-0100");
    assert_eq!(number["voice_method"], "POST");
    assert_eq!(number["voice_fallback_url"], Value::Null);
    assert_eq!(number["capabilities"]["sms"], true);
    assert_eq!(number["type"], "local");
    assert_eq!(number["account_sid"], engine.account_sid);
    assert_eq!(
        number["uri"],
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            engine.account_sid
        )
    );
    assert!(
        number["date_created"].as_str().unwrap().ends_with(" +0000"),
        "RFC 2822: {}",
        number["date_created"]
    );

    let taken = call(
        &engine,
        "POST",
        &numbers,
        &[("PhoneNumber", "+14155550100")],
    )
    .await;
    assert_error(&taken, 400, 21422);

    let instance = engine.account_url(&format!("IncomingPhoneNumbers/{sid}.json"));
    let updated = call(
        &engine,
        "POST",
        &instance,
        &[
            ("VoiceFallbackUrl", "https://backup.example/v#ct=1000"),
            ("VoiceFallbackMethod", "get"),
            ("SmsUrl", "http://app.example/sms"),
            ("Unknown", "ignored"),
        ],
    )
    .await;
    assert_eq!(updated.0, 200, "{updated:?}");
    assert_eq!(
        updated.1["voice_fallback_url"],
        "https://backup.example/v#ct=1000"
    );
    assert_eq!(updated.1["voice_fallback_method"], "GET");
    assert_eq!(
        updated.1["voice_url"], "https://app.example/voice",
        "untouched fields stay"
    );

    assert_error(
        &call(&engine, "POST", &instance, &[("VoiceUrl", "")]).await,
        400,
        21405,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &instance,
            &[("SmsUrl", ""), ("SmsFallbackUrl", "http://x.example/")],
        )
        .await,
        400,
        21406,
    );
    assert_error(
        &call(&engine, "POST", &instance, &[("VoiceUrl", "not a url")]).await,
        400,
        21402,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &instance,
            &[("StatusCallbackMethod", "PUT")],
        )
        .await,
        400,
        21403,
    );
    let fetched = call(&engine, "GET", &instance, &[]).await;
    assert_eq!(
        fetched.1["voice_url"], "https://app.example/voice",
        "failed updates change nothing"
    );

    let deleted = call(&engine, "DELETE", &instance, &[]).await;
    assert_eq!(deleted, (204, Value::Null));
    let gone = call(&engine, "GET", &instance, &[]).await;
    assert_error(&gone, 404, 20404);
    let path = format!(
        "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
        engine.account_sid
    );
    assert_eq!(
        gone.1["message"],
        format!("The requested resource {path} was not found")
    );
    let again = call(
        &engine,
        "POST",
        &numbers,
        &[("PhoneNumber", "+14155550100")],
    )
    .await;
    assert_eq!(again.0, 201, "a released number can be provisioned again");
}

#[tokio::test]
async fn number_validation_codes() {
    let engine = start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    for bad in ["4155550100", "+0123", "+1415abc", ""] {
        assert_error(
            &call(&engine, "POST", &numbers, &[("PhoneNumber", bad)]).await,
            400,
            21421,
        );
    }
    assert_error(&call(&engine, "POST", &numbers, &[]).await, 400, 21421);
    assert_error(
        &call(&engine, "POST", &numbers, &[("AreaCode", "12")]).await,
        400,
        21421,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &numbers,
            &[
                ("PhoneNumber", "+14155550101"),
                ("VoiceFallbackUrl", "https://b.example/"),
            ],
        )
        .await,
        400,
        21405,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &numbers,
            &[
                ("PhoneNumber", "+14155550101"),
                ("SmsFallbackUrl", "https://b.example/"),
            ],
        )
        .await,
        400,
        21406,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &numbers,
            &[
                ("PhoneNumber", "+14155550101"),
                ("SmsUrl", "ftp://b.example/"),
            ],
        )
        .await,
        400,
        21402,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &numbers,
            &[("PhoneNumber", "+14155550101"), ("VoiceMethod", "DELETE")],
        )
        .await,
        400,
        21403,
    );
    assert_error(
        &call(
            &engine,
            "POST",
            &numbers,
            &[
                ("PhoneNumber", "+14155550101"),
                ("VoiceApplicationSid", "AP00000000000000000000000000000000"),
            ],
        )
        .await,
        400,
        21218,
    );
    let area = call(&engine, "POST", &numbers, &[("AreaCode", "628")]).await;
    assert_eq!(area.0, 201, "{area:?}");
    assert!(
        area.1["phone_number"]
            .as_str()
            .unwrap()
            .starts_with("+1628")
    );
    let toll_free = engine.account_url("IncomingPhoneNumbers/TollFree.json");
    assert_error(
        &call(
            &engine,
            "POST",
            &toll_free,
            &[("PhoneNumber", "+14155550102")],
        )
        .await,
        400,
        21421,
    );
    let free = call(
        &engine,
        "POST",
        &toll_free,
        &[("PhoneNumber", "+18005550100")],
    )
    .await;
    assert_eq!((free.0, free.1["type"].clone()), (201, "toll-free".into()));
    let mobile = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers/Mobile.json"),
        &[("PhoneNumber", "+447700900123")],
    )
    .await;
    assert_eq!((mobile.0, mobile.1["type"].clone()), (201, "mobile".into()));
    let listed = call(
        &engine,
        "GET",
        &engine.account_url("IncomingPhoneNumbers/TollFree.json"),
        &[],
    )
    .await;
    let listed: Vec<&str> = listed.1["incoming_phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["phone_number"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["+18005550100"]);
}

#[tokio::test]
async fn lists_page_and_filter_like_twilio() {
    let engine = start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    for n in 0..7 {
        let friendly = if n % 2 == 0 { "even" } else { "odd" };
        let answer = call(
            &engine,
            "POST",
            &numbers,
            &[
                ("PhoneNumber", &format!("+1415555020{n}")),
                ("FriendlyName", friendly),
            ],
        )
        .await;
        assert_eq!(answer.0, 201);
    }
    let mut url = format!("{numbers}?PageSize=3");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = call(&engine, "GET", &url, &[]).await.1;
        assert_eq!(page["page"], pages);
        assert_eq!(page["page_size"], 3);
        assert_eq!(page["start"], pages * 3);
        let items = page["incoming_phone_numbers"].as_array().unwrap();
        assert_eq!(page["end"], pages * 3 + items.len() as i64 - 1);
        seen.extend(
            items
                .iter()
                .map(|n| n["phone_number"].as_str().unwrap().to_owned()),
        );
        assert!(
            page["first_page_uri"]
                .as_str()
                .unwrap()
                .ends_with("IncomingPhoneNumbers.json?PageSize=3&Page=0")
        );
        if pages > 0 {
            let previous = page["previous_page_uri"].as_str().expect("previous page");
            let back = call(
                &engine,
                "GET",
                &format!("{}{previous}", engine.base_url),
                &[],
            )
            .await
            .1;
            assert_eq!(back["page"], pages - 1);
            assert_eq!(back["incoming_phone_numbers"].as_array().unwrap().len(), 3);
        } else {
            assert_eq!(page["previous_page_uri"], Value::Null);
        }
        pages += 1;
        match page["next_page_uri"].as_str() {
            Some(next) => url = format!("{}{next}", engine.base_url),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        (0..7)
            .map(|n| format!("+1415555020{n}"))
            .collect::<Vec<_>>()
    );

    let filtered = call(
        &engine,
        "GET",
        &format!("{numbers}?FriendlyName=odd&PageSize=2"),
        &[],
    )
    .await
    .1;
    assert_eq!(
        filtered["incoming_phone_numbers"].as_array().unwrap().len(),
        2
    );
    assert!(
        filtered["next_page_uri"]
            .as_str()
            .unwrap()
            .contains("FriendlyName=odd"),
        "filters stay in page URIs"
    );
    let wildcard = call(
        &engine,
        "GET",
        &format!("{numbers}?PhoneNumber=555020*"),
        &[],
    )
    .await
    .1;
    assert_eq!(
        wildcard["incoming_phone_numbers"].as_array().unwrap().len(),
        7
    );
    let exact = call(
        &engine,
        "GET",
        &format!("{numbers}?PhoneNumber=%2B14155550203"),
        &[],
    )
    .await
    .1;
    assert_eq!(
        exact["incoming_phone_numbers"][0]["phone_number"],
        "+14155550203"
    );
    assert_error(
        &call(&engine, "GET", &format!("{numbers}?PageToken=bogus"), &[]).await,
        400,
        21481,
    );
    let big = call(&engine, "GET", &format!("{numbers}?PageSize=5000"), &[])
        .await
        .1;
    assert_eq!(big["page_size"], 1000);
}

#[tokio::test]
async fn applications_crud_and_number_links() {
    let engine = start();
    let apps = engine.account_url("Applications.json");
    let created = call(
        &engine,
        "POST",
        &apps,
        &[
            ("FriendlyName", "IVR"),
            ("VoiceUrl", "https://ivr.example/start"),
            ("VoiceFallbackUrl", "https://ivr.example/fallback"),
            ("SmsUrl", "https://ivr.example/sms"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("AP"));
    assert_eq!(created.1["voice_fallback_method"], "POST");
    assert_eq!(created.1["api_version"], "2010-04-01");
    let instance = engine.account_url(&format!("Applications/{sid}.json"));
    assert_error(
        &call(&engine, "POST", &instance, &[("VoiceUrl", "")]).await,
        400,
        21405,
    );
    let updated = call(
        &engine,
        "POST",
        &instance,
        &[("FriendlyName", "IVR 2"), ("VoiceCallerIdLookup", "true")],
    )
    .await;
    assert_eq!(
        (
            updated.1["friendly_name"].clone(),
            updated.1["voice_caller_id_lookup"].clone()
        ),
        ("IVR 2".into(), true.into())
    );
    let listed = call(&engine, "GET", &format!("{apps}?FriendlyName=IVR%202"), &[])
        .await
        .1;
    assert_eq!(listed["applications"].as_array().unwrap().len(), 1);

    let number = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", "+14155550300"),
            ("VoiceApplicationSid", &sid),
        ],
    )
    .await;
    assert_eq!(number.1["voice_application_sid"], sid.as_str());
    let number_url = engine.account_url(&format!(
        "IncomingPhoneNumbers/{}.json",
        number.1["sid"].as_str().unwrap()
    ));
    let trunked = call(
        &engine,
        "POST",
        &number_url,
        &[("TrunkSid", "TK00000000000000000000000000000001")],
    )
    .await;
    assert_eq!(
        trunked.1["voice_application_sid"],
        Value::Null,
        "a trunk replaces the application"
    );

    assert_eq!(call(&engine, "DELETE", &instance, &[]).await.0, 204);
    assert_error(&call(&engine, "GET", &instance, &[]).await, 404, 20404);
}

#[tokio::test]
async fn subaccounts_are_isolated_and_parents_act_on_them() {
    let engine = start();
    let created = call(
        &engine,
        "POST",
        &format!("{}/2010-04-01/Accounts.json", engine.base_url),
        &[("FriendlyName", "Team A")],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sub_sid = created.1["sid"].as_str().unwrap().to_owned();
    let sub_token = created.1["auth_token"].as_str().unwrap().to_owned();
    assert_eq!(created.1["owner_account_sid"], engine.account_sid);
    assert_eq!(created.1["status"], "active");

    let sub_numbers = format!(
        "{}/2010-04-01/Accounts/{sub_sid}/IncomingPhoneNumbers.json",
        engine.base_url
    );
    let by_parent = call(
        &engine,
        "POST",
        &sub_numbers,
        &[("PhoneNumber", "+14155550400")],
    )
    .await;
    assert_eq!(
        by_parent.0, 201,
        "a parent provisions numbers in its subaccount"
    );
    assert_eq!(by_parent.1["account_sid"], sub_sid.as_str());

    let client = reqwest::Client::new();
    let as_sub = |url: String| {
        client
            .get(url)
            .basic_auth(&sub_sid, Some(&sub_token))
            .send()
    };
    let own = as_sub(sub_numbers.clone()).await.unwrap();
    assert_eq!(own.status(), 200);
    let parents = as_sub(engine.account_url("IncomingPhoneNumbers.json"))
        .await
        .unwrap();
    assert_eq!(
        parents.status(),
        401,
        "a subaccount cannot see its parent's resources"
    );
    let accounts: Value = as_sub(format!("{}/2010-04-01/Accounts.json", engine.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sids: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, vec![sub_sid.as_str()]);
    let all = call(
        &engine,
        "GET",
        &format!("{}/2010-04-01/Accounts.json", engine.base_url),
        &[],
    )
    .await
    .1;
    assert_eq!(all["accounts"].as_array().unwrap().len(), 2);
    let parent_list = call(
        &engine,
        "GET",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[],
    )
    .await
    .1;
    assert_eq!(
        parent_list["incoming_phone_numbers"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "lists are per account"
    );

    let sub_url = format!("{}/2010-04-01/Accounts/{sub_sid}.json", engine.base_url);
    let suspended = call(
        &engine,
        "POST",
        &sub_url,
        &[("Status", "suspended"), ("FriendlyName", "Team A (paused)")],
    )
    .await;
    assert_eq!(
        (
            suspended.1["status"].clone(),
            suspended.1["friendly_name"].clone()
        ),
        ("suspended".into(), "Team A (paused)".into())
    );
    assert_error(
        &call(&engine, "POST", &sub_url, &[("Status", "sleeping")]).await,
        400,
        20422,
    );
    assert_eq!(
        call(&engine, "POST", &sub_url, &[("Status", "closed")])
            .await
            .0,
        200
    );
    let closed = as_sub(sub_numbers).await.unwrap();
    assert_eq!(closed.status(), 401, "a closed account cannot authenticate");
    let other = format!(
        "{}/2010-04-01/Accounts/AC{:032x}/IncomingPhoneNumbers.json",
        engine.base_url, 7
    );
    assert_error(&call(&engine, "GET", &other, &[]).await, 401, 20003);
}

#[tokio::test]
async fn api_keys_authenticate_until_deleted() {
    let engine = start();
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Keys.json"),
        &[("FriendlyName", "ci")],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let key = created.1["sid"].as_str().unwrap().to_owned();
    let secret = created.1["secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with("SK"));
    let fetched = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Keys/{key}.json")),
        &[],
    )
    .await;
    assert_eq!(fetched.1["secret"], Value::Null, "the secret is shown once");

    let client = reqwest::Client::new();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let with_key = client
        .post(&numbers)
        .basic_auth(&key, Some(&secret))
        .form(&[("PhoneNumber", "+14155550500")])
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 201);
    let wrong = client
        .get(&numbers)
        .basic_auth(&key, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let keys_with_key = client
        .get(engine.account_url("Keys.json"))
        .basic_auth(&key, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(keys_with_key.status(), 403, "a key cannot manage keys");
    assert_eq!(
        call(
            &engine,
            "DELETE",
            &engine.account_url(&format!("Keys/{key}.json")),
            &[]
        )
        .await
        .0,
        204
    );
    let revoked = client
        .get(&numbers)
        .basic_auth(&key, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
}

#[tokio::test]
async fn health_metrics_and_unknown_paths() {
    let engine = start();
    let health = reqwest::get(format!("{}/healthz", engine.base_url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["active_calls"], 0, "{health}");
    assert!(
        health["node_id"].as_str().is_some_and(
            |id| id.ends_with(&format!(":{}", engine.base_url.rsplit(':').next().unwrap()))
        ),
        "{health}"
    );
    call(
        &engine,
        "GET",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[],
    )
    .await;
    let metrics = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_http_requests_total{route=\"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json\",method=\"GET\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_http_request_duration_seconds"),
        "{metrics}"
    );
    assert_error(
        &call(
            &engine,
            "GET",
            &engine.account_url("IncomingPhoneNumbers.xml"),
            &[],
        )
        .await,
        404,
        20404,
    );
    assert_error(
        &call(
            &engine,
            "GET",
            &format!("{}/nothing/here", engine.base_url),
            &[],
        )
        .await,
        404,
        20404,
    );
    assert_error(
        &call(
            &engine,
            "PUT",
            &engine.account_url("IncomingPhoneNumbers.json"),
            &[],
        )
        .await,
        405,
        20004,
    );
    let anonymous = reqwest::get(engine.account_url("IncomingPhoneNumbers.json"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(
        (body["code"].clone(), body["message"].clone()),
        (20003.into(), "Authenticate".into())
    );
}

/// Issue 19 item 3: every link a resource hands out (`uri`, each `subresource_uris` entry)
/// answers 200 with the same credentials, for every kind of resource the API renders.
#[tokio::test]
async fn every_link_handed_out_answers() {
    let engine = crate::start();
    let base = engine.base_url.clone();
    let (status, number) = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550190001")],
    )
    .await;
    assert_eq!(status, 201, "{number}");
    let (status, placed) = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", "+15558670001"),
            ("From", "+15550190001"),
            ("Twiml", "<Response><Say>hi</Say></Response>"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let (status, message) = call(
        &engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", "+15558670001"),
            ("From", "+15550190001"),
            ("Body", "hi"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{message}");
    let (_, account) = call(
        &engine,
        "GET",
        &format!("{base}/2010-04-01/Accounts/{}.json", engine.account_sid),
        &[],
    )
    .await;
    let mut links = Vec::new();
    for resource in [&account, &number, &placed, &message] {
        links.push(resource["uri"].as_str().expect("a uri").to_owned());
        let subresources = resource["subresource_uris"]
            .as_object()
            .expect("subresource_uris");
        links.extend(
            subresources
                .values()
                .map(|link| link.as_str().expect("a link").to_owned()),
        );
    }
    assert!(links.len() >= 12, "{links:?}");
    for link in links {
        let (status, body) = call(&engine, "GET", &format!("{base}{link}"), &[]).await;
        assert_eq!(status, 200, "{link} answered {body}");
    }
}

/// Issue 19 item 2: a list filter with a value outside its enum is refused, not an empty list.
#[tokio::test]
async fn a_misspelt_status_filter_is_refused() {
    let engine = crate::start();
    let calls = engine.account_url("Calls.json");
    let refused = call(&engine, "GET", &format!("{calls}?Status=bogus"), &[]).await;
    crate::assert_error(&refused, 400, 20422);
    assert!(
        refused.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("in-progress")
    );
    let fine = call(&engine, "GET", &format!("{calls}?Status=in-progress"), &[]).await;
    assert_eq!(fine.0, 200, "{fine:?}");
}

/// Issue 19 item 2: enum and URL parameters of call create and update are checked even where
/// the engine does not act on them yet: a misspelt value is a 400, never silently nothing.
#[tokio::test]
async fn call_enums_and_urls_are_checked_on_create_and_update() {
    let engine = crate::start();
    let (status, _) = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550190002")],
    )
    .await;
    assert_eq!(status, 201);
    let calls = engine.account_url("Calls.json");
    let base = [
        ("To", "+15558670002"),
        ("From", "+15550190002"),
        ("Twiml", "<Response><Pause length=\"30\"/></Response>"),
    ];
    for (name, value) in [
        ("MachineDetection", "Bogus"),
        ("AsyncAmd", "maybe"),
        ("Trim", "trim"),
        ("RecordingChannels", "stereo"),
        ("RecordingTrack", "all"),
        ("RecordingStatusCallbackMethod", "PUT"),
    ] {
        let mut form = base.to_vec();
        form.push((name, value));
        let refused = call(&engine, "POST", &calls, &form).await;
        crate::assert_error(&refused, 400, 20422);
        assert!(
            refused.1["message"]
                .as_str()
                .unwrap_or_default()
                .contains(name),
            "{refused:?}"
        );
    }
    let mut form = base.to_vec();
    form.push(("RecordingStatusCallback", "not a url"));
    crate::assert_error(&call(&engine, "POST", &calls, &form).await, 400, 21205);

    let mut form = base.to_vec();
    form.push(("MachineDetection", "Enable"));
    let (status, placed) = call(&engine, "POST", &calls, &form).await;
    assert_eq!(status, 201, "{placed}");
    let live = engine.account_url(&format!(
        "Calls/{}.json",
        placed["sid"].as_str().expect("sid")
    ));
    assert!(
        crate::eventually(std::time::Duration::from_secs(10), async || {
            call(&engine, "GET", &live, &[]).await.1["status"] == "in-progress"
        })
        .await
    );
    crate::assert_error(
        &call(&engine, "POST", &live, &[("StatusCallback", "not a url")]).await,
        400,
        21205,
    );
    crate::assert_error(
        &call(&engine, "POST", &live, &[("StatusCallbackMethod", "PUT")]).await,
        400,
        21209,
    );
    let ended = call(&engine, "POST", &live, &[("Status", "completed")]).await;
    assert_eq!(ended.0, 200, "{ended:?}");
}

/// Issue 19 item 2: a parameter of Twilio's description that the engine accepts and does not
/// act on is named in a WARNING alert about the resource; a schedule is acted on, so one that
/// cannot be (no Messaging Service to send it through) is refused with Twilio's code.
#[tokio::test]
async fn ignored_parameters_are_named_in_a_warning_alert() {
    let engine = crate::start();
    let (status, _) = call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550190003")],
    )
    .await;
    assert_eq!(status, 201);
    let (status, placed) = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", "+15558670003"),
            ("From", "+15550190003"),
            ("Twiml", "<Response><Say>hi</Say></Response>"),
            ("CallerId", "+15550190003"),
            ("CallReason", "reminder"),
            ("MachineDetection", "Enable"),
            ("Trim", ""),
        ],
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let (status, sent) = call(
        &engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", "+15558670003"),
            ("From", "+15550190003"),
            ("Body", "hi"),
            ("ShortenUrls", "true"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let alerts = format!("{}/v1/Alerts", engine.base_url);
    let warning_about = async |sid: &str| {
        let listed = call(&engine, "GET", &alerts, &[]).await.1;
        listed["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|alert| alert["resource_sid"] == sid && alert["log_level"] == "warning")
            .cloned()
    };
    let about_call = warning_about(placed["sid"].as_str().expect("sid"))
        .await
        .expect("a warning about the call");
    assert_eq!(about_call["error_code"], "99001");
    let text = about_call["alert_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("CallReason%2C+CallerId+are+not+supported"),
        "{text}"
    );
    assert!(
        !text.contains("MachineDetection"),
        "answering-machine detection is acted on: {text}"
    );
    assert!(
        !text.contains("Trim"),
        "an empty value is not a use: {text}"
    );
    let about_message = warning_about(sent["sid"].as_str().expect("sid"))
        .await
        .expect("a warning about the message");
    assert!(
        about_message["alert_text"]
            .as_str()
            .unwrap_or_default()
            .contains("ShortenUrls"),
        "{about_message}"
    );

    // A number's settings: only the values that would have an effect are named.
    let numbers = call(
        &engine,
        "GET",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[],
    )
    .await
    .1;
    let number_sid = numbers["incoming_phone_numbers"][0]["sid"]
        .as_str()
        .expect("the number")
        .to_owned();
    let updated = call(
        &engine,
        "POST",
        &engine.account_url(&format!("IncomingPhoneNumbers/{number_sid}.json")),
        &[
            ("VoiceReceiveMode", "fax"),
            ("VoiceCallerIdLookup", "false"),
        ],
    )
    .await;
    assert_eq!(updated.0, 200, "{updated:?}");
    let about_number = warning_about(&number_sid)
        .await
        .expect("a warning about the number");
    let text = about_number["alert_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("parameter+VoiceReceiveMode+is+not+supported"),
        "{text}"
    );
    assert!(
        !text.contains("VoiceCallerIdLookup"),
        "false is honoured: {text}"
    );

    let scheduled = call(
        &engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", "+15558670003"),
            ("From", "+15550190003"),
            ("Body", "later"),
            ("ScheduleType", "fixed"),
            ("SendAt", "2030-01-01T00:00:00Z"),
        ],
    )
    .await;
    crate::assert_error(&scheduled, 400, 35118);
}

/// Issue 19 item 2: every list filter of Twilio's description is honoured or refused, never
/// ignored: numbers by `Origin` and `Beta`, recordings and media by `DateCreated`, recordings by
/// `ConferenceSid` and `IncludeSoftDeleted`.
#[tokio::test]
async fn every_described_list_filter_is_honoured() {
    let engine = crate::start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let (status, _) = call(
        &engine,
        "POST",
        &numbers,
        &[("PhoneNumber", "+15550190004")],
    )
    .await;
    assert_eq!(status, 201);
    let count = async |url: String, key: &str| {
        let (status, body) = call(&engine, "GET", &url, &[]).await;
        assert_eq!(status, 200, "{url}: {body}");
        body[key].as_array().map(Vec::len).unwrap_or_default()
    };
    assert_eq!(
        count(
            format!("{numbers}?Origin=twilio&Beta=false"),
            "incoming_phone_numbers"
        )
        .await,
        1
    );
    assert_eq!(
        count(format!("{numbers}?Origin=hosted"), "incoming_phone_numbers").await,
        0
    );
    crate::assert_error(
        &call(&engine, "GET", &format!("{numbers}?Origin=moon"), &[]).await,
        400,
        20422,
    );
    crate::assert_error(
        &call(&engine, "GET", &format!("{numbers}?Beta=maybe"), &[]).await,
        400,
        20422,
    );
    let recordings = engine.account_url("Recordings.json");
    assert_eq!(
        count(
            format!("{recordings}?DateCreated=2001-01-01&IncludeSoftDeleted=true"),
            "recordings"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            format!("{recordings}?ConferenceSid=CF00000000000000000000000000000000"),
            "recordings"
        )
        .await,
        0
    );
    crate::assert_error(
        &call(
            &engine,
            "GET",
            &format!("{recordings}?DateCreated%3E=yesterday"),
            &[],
        )
        .await,
        400,
        20422,
    );
}
