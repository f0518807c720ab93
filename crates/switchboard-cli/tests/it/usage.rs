//! Usage records and the balance (issue 19 item 4): counted from the calls and messages the
//! engine ran, per category and period, with the account's subaccounts unless asked not to.

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::voice::{finished, place, provision};
use crate::{call, start};

fn record<'a>(list: &'a Value, category: &str) -> &'a Value {
    list["usage_records"]
        .as_array()
        .expect("usage_records")
        .iter()
        .find(|record| record["category"] == category)
        .unwrap_or_else(|| panic!("no {category} record in {list}"))
}

#[tokio::test]
async fn usage_counts_calls_minutes_and_messages_per_period_and_account() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/long",
        200,
        "text/xml",
        "<Response><Say>Please hold</Say><Pause length=\"61\"/></Response>",
    );
    provision(&engine, "+15550400001", &app.url("/long"), None).await;
    // An inbound call of over 61 s on the virtual clock (answered by the Say): one call, two billed minutes.
    let sid = place(&engine, "+15550400001", &[("From", "+15558670001")]).await;
    assert_eq!(finished(&engine, &sid).await["status"], "completed");
    // A subaccount's outbound message of two segments (161 GSM characters).
    let (status, sub) = call(
        &engine,
        "POST",
        &format!("{}/2010-04-01/Accounts.json", engine.base_url),
        &[("FriendlyName", "tenant")],
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let sub_sid = sub["sid"].as_str().expect("sid").to_owned();
    let sub_url = |path: &str| format!("{}/2010-04-01/Accounts/{sub_sid}/{path}", engine.base_url);
    let (status, _) = call(
        &engine,
        "POST",
        &sub_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550400002")],
    )
    .await;
    assert_eq!(status, 201);
    let body = "x".repeat(161);
    let (status, message) = call(
        &engine,
        "POST",
        &sub_url("Messages.json"),
        &[
            ("To", "+15558670002"),
            ("From", "+15550400002"),
            ("Body", &body),
        ],
    )
    .await;
    assert_eq!(status, 201, "{message}");
    let message_url = sub_url(&format!(
        "Messages/{}.json",
        message["sid"].as_str().unwrap()
    ));
    let delivered = crate::eventually(std::time::Duration::from_secs(10), async || {
        call(&engine, "GET", &message_url, &[]).await.1["status"] == "delivered"
    })
    .await;
    assert!(delivered, "the message was delivered");

    let usage = |path: &str| engine.account_url(&format!("Usage/{path}"));
    let (status, all) = call(&engine, "GET", &usage("Records.json"), &[]).await;
    assert_eq!(status, 200, "{all}");
    let calls = record(&all, "calls");
    assert_eq!(
        (calls["count"].as_str(), calls["usage"].as_str()),
        (Some("1"), Some("2"))
    );
    assert_eq!(
        (calls["count_unit"].as_str(), calls["usage_unit"].as_str()),
        (Some("calls"), Some("minutes"))
    );
    assert_eq!(record(&all, "calls-inbound")["count"], "1");
    assert_eq!(record(&all, "calls-outbound")["count"], "0");
    let sms = record(&all, "sms-outbound");
    assert_eq!(
        (sms["count"].as_str(), sms["usage"].as_str()),
        (Some("1"), Some("2"))
    );
    assert_eq!(record(&all, "totalprice")["usage"], "0");
    // The subaccount's message is the parent's usage unless it asks for its own only.
    let (_, own) = call(
        &engine,
        "GET",
        &format!(
            "{}?IncludeSubaccounts=false&Category=sms-outbound",
            usage("Records.json")
        ),
        &[],
    )
    .await;
    assert_eq!(
        own["usage_records"].as_array().map(Vec::len),
        Some(1),
        "{own}"
    );
    assert_eq!(record(&own, "sms-outbound")["count"], "0");
    let (_, tenant) = call(
        &engine,
        "GET",
        &sub_url("Usage/Records.json?Category=sms"),
        &[],
    )
    .await;
    assert_eq!(record(&tenant, "sms")["count"], "1");
    assert_eq!(record(&tenant, "sms")["account_sid"], sub_sid.as_str());
    // Today has it all; a daily list of the last three days has three periods, today's last.
    let (_, today) = call(
        &engine,
        "GET",
        &usage("Records/Today.json?Category=calls"),
        &[],
    )
    .await;
    assert_eq!(record(&today, "calls")["count"], "1");
    let (_, daily) = call(
        &engine,
        "GET",
        &usage("Records/Daily.json?Category=calls&StartDate=-2days"),
        &[],
    )
    .await;
    let days = daily["usage_records"].as_array().expect("records");
    assert_eq!(days.len(), 3, "{daily}");
    assert_eq!(days[0]["count"], "0");
    assert_eq!(days[2]["count"], "1");
    assert_eq!(days[2]["start_date"], days[2]["end_date"]);
    let (_, last_month) = call(
        &engine,
        "GET",
        &usage("Records/LastMonth.json?Category=calls"),
        &[],
    )
    .await;
    let last = last_month["usage_records"].as_array().expect("records");
    assert!(last.iter().all(|r| r["count"] == "0"), "{last_month}");
    // Paging walks a computed list like any other.
    let (_, first) = call(
        &engine,
        "GET",
        &usage("Records/Daily.json?StartDate=-2days&PageSize=5"),
        &[],
    )
    .await;
    let next = first["next_page_uri"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (status, second) = call(&engine, "GET", &format!("{}{next}", engine.base_url), &[]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["usage_records"].as_array().map(Vec::len), Some(5));
    assert_ne!(first["usage_records"][0], second["usage_records"][0]);
    // Every subresource link of a record answers.
    for link in calls["subresource_uris"]
        .as_object()
        .expect("links")
        .values()
    {
        let (status, body) = call(
            &engine,
            "GET",
            &format!("{}{}", engine.base_url, link.as_str().unwrap()),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{link}: {body}");
    }
    // Bad input is refused with a clear message.
    for query in [
        "Category=Calls",
        "StartDate=yesterday",
        "StartDate=2026-02-01&EndDate=2026-01-01",
        "IncludeSubaccounts=maybe",
    ] {
        let answer = call(
            &engine,
            "GET",
            &format!("{}?{query}", usage("Records.json")),
            &[],
        )
        .await;
        crate::assert_error(&answer, 400, 20422);
    }
    let unknown = call(&engine, "GET", &usage("Records/Hourly.json"), &[]).await;
    assert_eq!(unknown.0, 404);
    // This engine never charges.
    let (status, balance) = call(&engine, "GET", &engine.account_url("Balance.json"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(balance["balance"], "0.00");
    assert_eq!(balance["account_sid"], engine.account_sid.as_str());
}
