//! Messaging v1 Services as every other resource: authenticated, scoped to the caller's own
//! account (a subaccount's service, pool and numbers are not its parent's, and the other way
//! round), and bad input answered with Twilio's codes.

use crate::call;
use crate::tenancy::{call_as, subaccount};

#[tokio::test]
async fn services_belong_to_the_account_whose_credentials_made_them() {
    let engine = crate::start();
    let services = format!("{}/v1/Services", engine.base_url);
    let (sub, sub_token) = subaccount(&engine, "tenant").await;
    let sub_credentials = (sub.as_str(), sub_token.as_str());

    let anonymous = reqwest::Client::new()
        .get(&services)
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let wrong = call_as(
        (&engine.account_sid, "not-the-token"),
        "GET",
        &services,
        &[],
    )
    .await;
    crate::assert_error(&wrong, 401, 20003);

    let mine = call(&engine, "POST", &services, &[("FriendlyName", "main")]).await;
    assert_eq!(mine.0, 201, "{mine:?}");
    let mine = mine.1["sid"].as_str().expect("sid").to_owned();
    let theirs = call_as(
        sub_credentials,
        "POST",
        &services,
        &[("FriendlyName", "sub")],
    )
    .await;
    assert_eq!(theirs.0, 201, "{theirs:?}");
    assert_eq!(theirs.1["account_sid"], sub.as_str());
    let theirs = theirs.1["sid"].as_str().expect("sid").to_owned();

    // Each account lists and reaches only its own.
    let listed = call(&engine, "GET", &services, &[]).await;
    let sids: Vec<_> = listed.1["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| service["sid"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sids, std::slice::from_ref(&mine), "{listed:?}");
    assert_eq!(listed.1["meta"]["key"], "services");
    let other = call(&engine, "GET", &format!("{services}/{theirs}"), &[]).await;
    crate::assert_error(&other, 404, 20404);
    let other = call_as(sub_credentials, "POST", &format!("{services}/{mine}"), &[]).await;
    crate::assert_error(&other, 404, 20404);
    let other = call_as(
        sub_credentials,
        "DELETE",
        &format!("{services}/{mine}"),
        &[],
    )
    .await;
    crate::assert_error(&other, 404, 20404);
    let malformed = call(&engine, "GET", &format!("{services}/MGnope"), &[]).await;
    crate::assert_error(&malformed, 404, 20404);

    // A number of another account does not join a pool; a service of another account does
    // not send.
    let url = format!(
        "{}/2010-04-01/Accounts/{sub}/IncomingPhoneNumbers.json",
        engine.base_url
    );
    let number = call(&engine, "POST", &url, &[("PhoneNumber", "+15550160001")]).await;
    assert_eq!(number.0, 201, "{number:?}");
    let number_sid = number.1["sid"].as_str().expect("sid");
    let pool = format!("{services}/{mine}/PhoneNumbers");
    let added = call(&engine, "POST", &pool, &[("PhoneNumberSid", number_sid)]).await;
    crate::assert_error(&added, 400, 20422);
    let sub_pool = format!("{services}/{theirs}/PhoneNumbers");
    let added = call_as(
        sub_credentials,
        "POST",
        &sub_pool,
        &[("PhoneNumberSid", number_sid)],
    )
    .await;
    assert_eq!(added.0, 201, "{added:?}");
    let sent = call(
        &engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", "+15557760001"),
            ("MessagingServiceSid", &theirs),
            ("Body", "x"),
        ],
    )
    .await;
    crate::assert_error(&sent, 400, 21701);

    // Bad input, each with its code.
    for (form, code) in [
        (
            vec![("FriendlyName", "x"), ("InboundRequestUrl", "ftp://x")],
            21402,
        ),
        (
            vec![("FriendlyName", "x"), ("StatusCallback", "nope")],
            21609,
        ),
        (vec![("FriendlyName", "x"), ("InboundMethod", "PUT")], 21403),
        (
            vec![
                ("FriendlyName", "x"),
                ("UseInboundWebhookOnNumber", "maybe"),
            ],
            20422,
        ),
        (
            vec![("FriendlyName", "x"), ("ScanMessageContent", "always")],
            20422,
        ),
        (vec![("FriendlyName", &"x".repeat(65))], 20422),
    ] {
        let answer = call(&engine, "POST", &services, &form).await;
        crate::assert_error(&answer, 400, code);
    }
    let listed = call(&engine, "GET", &services, &[]).await;
    assert_eq!(
        listed.1["services"].as_array().map(Vec::len),
        Some(1),
        "a refused create stored nothing"
    );
}
