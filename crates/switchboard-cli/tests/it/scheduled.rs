//! Scheduled messages (issue 19 item 4): a message scheduled through a Messaging Service is
//! persisted, survives a kill -9 of a SQLite node (whether it falls due while the node is down
//! or after it is back), and is sent exactly once; on two PostgreSQL nodes racing for the same
//! due messages, each is sent by one of them, once. "Sent once" is read from the status
//! callbacks: every message reports `sending`, `sent` and `delivered` exactly one time each.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use switchboard_core::date;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;
use switchboard_test_support::postgres::{TestDatabase, server_url};

use crate::cluster::node_with;
use crate::voice::{form, param};
use crate::{call, eventually};

const POOL_NUMBER: &str = "+15550170001";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A number, and a Messaging Service with that number in its pool whose status callback is
/// `status_callback`; the service's SID.
async fn service_with_pool(engine: &Engine, status_callback: &str) -> String {
    let number = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", POOL_NUMBER)],
    )
    .await;
    assert_eq!(number.0, 201, "{number:?}");
    let services = format!("{}/v1/Services", engine.base_url);
    let service = call(
        engine,
        "POST",
        &services,
        &[
            ("FriendlyName", "reminders"),
            ("StatusCallback", status_callback),
        ],
    )
    .await;
    assert_eq!(service.0, 201, "{service:?}");
    let sid = service.1["sid"].as_str().expect("service sid").to_owned();
    let pool = format!("{services}/{sid}/PhoneNumbers");
    let number_sid = number.1["sid"].as_str().expect("number sid");
    let added = call(engine, "POST", &pool, &[("PhoneNumberSid", number_sid)]).await;
    assert_eq!(added.0, 201, "{added:?}");
    sid
}

/// Schedules a message to `to` for `send_at_ms` through `node`; its SID.
async fn schedule(node: &Engine, service: &str, to: &str, send_at_ms: i64) -> String {
    let send_at = date::iso8601(send_at_ms);
    let created = call(
        node,
        "POST",
        &node.account_url("Messages.json"),
        &[
            ("To", to),
            ("MessagingServiceSid", service),
            ("Body", "your appointment"),
            ("ScheduleType", "fixed"),
            ("SendAt", &send_at),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["status"], "scheduled", "{created:?}");
    created.1["sid"].as_str().expect("message sid").to_owned()
}

/// The statuses the app was called back with, per message, in arrival order.
fn callbacks(app: &App) -> HashMap<String, Vec<String>> {
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    for request in app.received() {
        let params = form(&request.body);
        if let (Some(sid), Some(status)) = (
            param(&params, "MessageSid"),
            param(&params, "MessageStatus"),
        ) {
            statuses
                .entry(sid.to_owned())
                .or_default()
                .push(status.to_owned());
        }
    }
    statuses
}

/// Waits until every message in `sids` has reported `delivered`, then a little longer for any
/// duplicate, and asserts each reported each status exactly once.
async fn assert_sent_once(app: &App, sids: &[String], limit: Duration) {
    let all_delivered = eventually(limit, async || {
        let statuses = callbacks(app);
        sids.iter().all(|sid| {
            statuses
                .get(sid)
                .is_some_and(|seen| seen.iter().any(|status| status == "delivered"))
        })
    })
    .await;
    let statuses = callbacks(app);
    let missing: Vec<_> = sids
        .iter()
        .filter(|sid| {
            !statuses
                .get(*sid)
                .is_some_and(|s| s.contains(&"delivered".into()))
        })
        .collect();
    assert!(all_delivered, "not delivered: {missing:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let statuses = callbacks(app);
    for sid in sids {
        assert_eq!(
            statuses.get(sid).map(Vec::as_slice),
            Some(
                &[
                    "sending".to_owned(),
                    "sent".to_owned(),
                    "delivered".to_owned()
                ][..]
            ),
            "{sid}"
        );
    }
}

async fn fetch(engine: &Engine, sid: &str) -> Value {
    let url = engine.account_url(&format!("Messages/{sid}.json"));
    let (status, body) = call(engine, "GET", &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// How many scheduled messages `node` handed to delivery (its `/metrics`).
async fn sent_count(node: &Engine) -> u64 {
    let text = reqwest::get(format!("{}/metrics", node.base_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("switchboard_scheduled_messages_sent_total "))
        .map_or(0, |count| count.trim().parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_messages_survive_a_kill_of_a_sqlite_node_and_are_sent_once() {
    let mut engine = crate::start_with(&["--schedule-min-ahead", "1"]);
    let app = App::start().await;
    app.route("/status", 204, "text/plain", "");
    let service = service_with_pool(&engine, &app.url("/status")).await;
    let start = now_ms();
    // Ten fall due while the node is down, ten after it is back; one is canceled.
    let (mut early, mut late) = (Vec::new(), Vec::new());
    for index in 0..10 {
        let to = format!("+1555017{:04}", 1000 + index);
        early.push(schedule(&engine, &service, &to, start + 4_000).await);
        let to = format!("+1555017{:04}", 2000 + index);
        late.push(schedule(&engine, &service, &to, start + 12_000).await);
    }
    let canceled = late.pop().expect("a late message");
    let url = engine.account_url(&format!("Messages/{canceled}.json"));
    let answer = call(&engine, "POST", &url, &[("Status", "canceled")]).await;
    assert_eq!(answer.1["status"], "canceled", "{answer:?}");
    engine.kill_hard();
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    engine.restart();
    for sid in &late {
        assert_eq!(fetch(&engine, sid).await["status"], "scheduled", "{sid}");
    }
    let all: Vec<String> = early.iter().chain(&late).cloned().collect();
    assert_sent_once(&app, &all, Duration::from_secs(20)).await;
    // The late ones left on time, not when the node came back.
    for sid in &late {
        let sent = fetch(&engine, sid).await;
        let sent_ms = date::parse_rfc2822(sent["date_sent"].as_str().expect("date_sent"))
            .expect("an RFC 2822 date");
        assert!(
            sent_ms >= (start + 12_000) / 1000 * 1000,
            "{sid} sent early: {sent}"
        );
    }
    assert_eq!(fetch(&engine, &canceled).await["status"], "canceled");
    // Its callback, written before the cancel was answered, outlives the kill: at least once,
    // and when the kill came between its sending and the outbox marking it delivered, the
    // restarted node sends it again with the same idempotency token (at-least-once delivery).
    let heard = crate::eventually(Duration::from_secs(10), async || {
        callbacks(&app).contains_key(&canceled)
    })
    .await;
    assert!(heard, "the canceled message's callback was sent");
    let statuses = callbacks(&app).remove(&canceled).unwrap_or_default();
    assert!(
        statuses.iter().all(|status| status == "canceled"),
        "{statuses:?}"
    );
    let tokens: std::collections::HashSet<String> = app
        .received()
        .iter()
        .filter(|request| param(&form(&request.body), "MessageSid") == Some(canceled.as_str()))
        .filter_map(|request| {
            request
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("i-twilio-idempotency-token"))
                .map(|(_, value)| value.clone())
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one delivery, one token: {tokens:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_send_every_scheduled_message_exactly_once() {
    let Some(server) = server_url("scheduled messages on several nodes") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let args = || vec!["--schedule-min-ahead".to_owned(), "1".to_owned()];
        let a = node_with(&database, "node-a", None, Vec::new(), args());
        let mut b = node_with(&database, "node-b", Some(&a), Vec::new(), args());
        b.account_sid = a.account_sid.clone();
        b.auth_token = a.auth_token.clone();
        let app = App::start().await;
        app.route("/status", 204, "text/plain", "");
        let service = service_with_pool(&a, &app.url("/status")).await;
        // Both nodes find the same 200 messages due at the same moment.
        let send_at = now_ms() + 15_000;
        let mut sids = Vec::new();
        for index in 0..200 {
            let node = if index % 2 == 0 { &a } else { &b };
            let to = format!("+1555017{:04}", 3000 + index);
            sids.push(schedule(node, &service, &to, send_at).await);
        }
        // A cancel through the other node than the one that scheduled it.
        let canceled = schedule(&a, &service, "+15550173999", send_at).await;
        let url = b.account_url(&format!("Messages/{canceled}.json"));
        let answer = call(&b, "POST", &url, &[("Status", "canceled")]).await;
        assert_eq!(answer.1["status"], "canceled", "{answer:?}");
        assert_sent_once(&app, &sids, Duration::from_secs(30)).await;
        assert_eq!(fetch(&a, &canceled).await["status"], "canceled");
        // And by the nodes' own count: 200 handed to delivery between them, not one more.
        let sent = sent_count(&a).await + sent_count(&b).await;
        assert_eq!(sent, 200);
    }
    database
        .drop_database()
        .await
        .expect("dropping the database");
}
