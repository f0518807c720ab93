//! Durable deliveries (issue 15 item 5, issue 17 item 7): status callbacks go through the
//! outbox, are retried with backoff on connection failure, 429 and 5xx for
//! `--callback-retry-for`, each attempt with the same `I-Twilio-Idempotency-Token`, and are
//! listed and replayable through `/switchboard/v1/Deliveries`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::{App, Received};
use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::{TestDatabase, server_url};

use crate::voice::{form, param};
use crate::{assert_error, binary, call, eventually};

const NUMBER: &str = "+15550500100";
const XML: &str = "text/xml";

/// Provisions `NUMBER` with a Voice URL on `app` that says a line and ends.
async fn provision(engine: &Engine, app: &App) {
    app.route("/voice", 200, XML, "<Response><Say>Hello.</Say></Response>");
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", NUMBER), ("VoiceUrl", &app.url("/voice"))],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
}

/// Places an outbound call to a handset that answers at once, with its status callbacks (all
/// four events) to `callback`; returns its SID.
async fn place_call(engine: &Engine, app: &App, to: &str, callback: &str) -> String {
    let created = call(
        engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", to),
            ("From", NUMBER),
            ("Url", &app.url("/voice")),
            ("StatusCallback", callback),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    created.1["sid"].as_str().expect("sid").to_owned()
}

/// Sends a message to a handset with its status callbacks to `callback`; returns its SID.
async fn send_message(engine: &Engine, to: &str, callback: &str) -> String {
    let sent = call(
        engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", to),
            ("From", NUMBER),
            ("Body", "hello"),
            ("StatusCallback", callback),
        ],
    )
    .await;
    assert_eq!(sent.0, 201, "{sent:?}");
    sent.1["sid"].as_str().expect("sid").to_owned()
}

/// The account's deliveries with `status`, newest first (up to 1000).
async fn deliveries(engine: &Engine, status: &str) -> Vec<Value> {
    let url = format!(
        "{}/switchboard/v1/Deliveries?Status={status}&PageSize=1000",
        engine.base_url
    );
    let listed = call(engine, "GET", &url, &[]).await;
    assert_eq!(listed.0, 200, "{listed:?}");
    listed.1["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn header<'a>(request: &'a Received, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn token(request: &Received) -> String {
    header(request, "i-twilio-idempotency-token")
        .expect("every callback carries an idempotency token")
        .to_owned()
}

/// The requests `app` received on `path`.
fn on(app: &App, path: &str) -> Vec<Received> {
    app.received()
        .into_iter()
        .filter(|request| request.target.split('?').next() == Some(path))
        .collect()
}

/// The key of a callback: the call or message and the status it reports.
fn key(request: &Received) -> (String, String) {
    let params = form(&request.body);
    let sid = param(&params, "CallSid")
        .or(param(&params, "MessageSid"))
        .unwrap_or_default();
    let status = param(&params, "CallStatus")
        .or(param(&params, "MessageStatus"))
        .unwrap_or_default();
    (sid.to_owned(), status.to_owned())
}

/// A status-callback app that is down for 30 s and then comes back receives every callback,
/// each logical callback under one token with one body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_app_down_for_30_s_receives_every_callback_when_it_comes_back() {
    app_down_for_30_s(&crate::start()).await;
}

/// The same with the engine on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_app_down_for_30_s_receives_every_callback_on_postgres() {
    let Some(server) = server_url("callback outage on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let engine = Engine::start_on(
            binary(),
            scratch_dir("outbox-pg"),
            database.url.clone(),
            Vec::new(),
        );
        app_down_for_30_s(&engine).await;
    }
    database.drop_database().await.expect("drop test database");
}

async fn app_down_for_30_s(engine: &Engine) {
    const CALLS: usize = 10;
    const MESSAGES: usize = 10;
    let app = App::start().await;
    provision(engine, &app).await;
    // The callback app's address, taken and let go: nothing listens there for 30 s.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let down_since = Instant::now();
    let base = format!("http://{address}");
    let mut calls = Vec::new();
    for n in 0..CALLS {
        let to = format!("+1555051{n:04}");
        calls.push(place_call(engine, &app, &to, &format!("{base}/call-status")).await);
    }
    let mut messages = Vec::new();
    for n in 0..MESSAGES {
        let to = format!("+1555052{n:04}");
        messages.push(send_message(engine, &to, &format!("{base}/message-status")).await);
    }
    // Every call ends and every message is delivered while the app is down: four callbacks a
    // call, three (sending, sent, delivered) a message, all pending in the outbox.
    let expected = CALLS * 4 + MESSAGES * 3;
    let all_pending = eventually(Duration::from_secs(25), async || {
        deliveries(engine, "pending").await.len() == expected
    })
    .await;
    let pending = deliveries(engine, "pending").await;
    assert!(
        all_pending,
        "{} pending, not {expected}: {pending:?}",
        pending.len()
    );
    for delivery in &pending {
        assert!(delivery["attempts"].as_i64() >= Some(1), "{delivery}");
        assert!(delivery["last_error_code"].is_number(), "{delivery}");
        assert!(delivery["next_attempt_at"].is_string(), "{delivery}");
        assert!(
            delivery["url"]
                .as_str()
                .is_some_and(|url| url.starts_with(&base)),
            "{delivery}"
        );
    }

    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_since.elapsed())).await;
    let back = App::start_on(&address.to_string()).await;
    back.route("/call-status", 200, "text/plain", "");
    back.route("/message-status", 200, "text/plain", "");
    let came_back = Instant::now();
    // The first retry after the return gets through within a backoff (the attempt after the
    // one at about 15 s comes at most 20 s later); then the others waiting for the origin are
    // due at once, so the rest follow within seconds instead of each waiting out its backoff.
    let first = eventually(Duration::from_secs(45), async || {
        !back.received().is_empty()
    })
    .await;
    assert!(
        first,
        "no callback {:?} after the app came back",
        came_back.elapsed()
    );
    let first_at = Instant::now();
    let received_all = eventually(Duration::from_secs(10), async || {
        let keys: std::collections::HashSet<_> = back.received().iter().map(key).collect();
        keys.len() >= expected
    })
    .await;
    let received = back.received();
    let keys: std::collections::HashSet<_> = received.iter().map(key).collect();
    assert!(
        received_all,
        "{} of {expected} callbacks {:?} after the app came back, {:?} after the first",
        keys.len(),
        came_back.elapsed(),
        first_at.elapsed()
    );
    for sid in &calls {
        for status in ["initiated", "ringing", "in-progress", "completed"] {
            assert!(
                keys.contains(&(sid.clone(), status.to_owned())),
                "{sid} {status}: {keys:?}"
            );
        }
    }
    for sid in &messages {
        for status in ["sending", "sent", "delivered"] {
            assert!(
                keys.contains(&(sid.clone(), status.to_owned())),
                "{sid} {status}: {keys:?}"
            );
        }
    }
    // One token per logical callback, and one body per token.
    let mut by_token: HashMap<String, String> = HashMap::new();
    let mut token_of: HashMap<(String, String), String> = HashMap::new();
    for request in &received {
        let token = token(request);
        let body = by_token
            .entry(token.clone())
            .or_insert(request.body.clone());
        assert_eq!(*body, request.body, "token {token} seen with two bodies");
        let first = token_of.entry(key(request)).or_insert(token.clone());
        assert_eq!(*first, token, "{:?} sent under two tokens", key(request));
    }
    let done = eventually(Duration::from_secs(5), async || {
        deliveries(engine, "pending").await.is_empty()
    })
    .await;
    assert!(done, "{:?}", deliveries(engine, "pending").await);
    let delivered = deliveries(engine, "delivered").await;
    assert_eq!(delivered.len(), expected);
    assert!(
        delivered
            .iter()
            .all(|delivery| delivery["attempts"].as_i64() >= Some(2)),
        "{delivered:?}"
    );
}

/// A 503 with `Retry-After` is retried no sooner than it asks, under the same token and body;
/// a 404 is final at once (failed, alerted), and a replay sends it again, under its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_keep_their_token_honour_retry_after_and_a_4xx_is_final_until_replayed() {
    let engine = crate::start();
    let app = App::start().await;
    provision(&engine, &app).await;
    app.route_with_headers("/busy", 503, &[("Retry-After", "2")]);
    let sid = place_call(&engine, &app, "+15550530001", &app.url("/busy")).await;
    // Four callbacks each answered 503: wait for the completed one's second attempt.
    let completed = |app: &App| -> Vec<Received> {
        on(app, "/busy")
            .into_iter()
            .filter(|request| key(request) == (sid.clone(), "completed".to_owned()))
            .collect()
    };
    let retried = eventually(Duration::from_secs(20), async || completed(&app).len() >= 2).await;
    assert!(retried, "{:?}", completed(&app));
    let attempts = completed(&app);
    assert_eq!(token(&attempts[0]), token(&attempts[1]));
    assert_eq!(attempts[0].body, attempts[1].body);
    app.route("/busy", 200, "text/plain", "");
    let third = eventually(Duration::from_secs(20), async || completed(&app).len() >= 3).await;
    assert!(third, "{:?}", completed(&app));
    assert_eq!(token(&completed(&app)[2]), token(&attempts[0]));
    let delivered = eventually(Duration::from_secs(10), async || {
        deliveries(&engine, "delivered")
            .await
            .iter()
            .any(|delivery| {
                delivery["idempotency_token"] == token(&attempts[0]).as_str()
                    && delivery["attempts"] == 3
            })
    })
    .await;
    assert!(delivered, "{:?}", deliveries(&engine, "delivered").await);

    // Retry-After: 2 was honoured (the backoff alone would have come back after about 1 s).
    // The app does not time its requests, so the delivery's own record is the witness: three
    // attempts took at least 2 s each apart. Checked through a fresh callback with a clock.
    app.route_with_headers("/slow", 503, &[("Retry-After", "2")]);
    let timed = send_message(&engine, "+15550530002", &app.url("/slow")).await;
    let first_seen = eventually(Duration::from_secs(10), async || {
        !on(&app, "/slow").is_empty()
    })
    .await;
    assert!(first_seen);
    let seen_at = Instant::now();
    let count = on(&app, "/slow").len();
    let again = eventually(Duration::from_secs(10), async || {
        on(&app, "/slow")
            .iter()
            .filter(|request| key(request) == key(&on(&app, "/slow")[0]))
            .count()
            >= 2
    })
    .await;
    assert!(again, "{timed}: {count} requests");
    assert!(
        seen_at.elapsed() >= Duration::from_millis(1_800),
        "the retry came {:?} after the first attempt",
        seen_at.elapsed()
    );
    app.route("/slow", 200, "text/plain", "");

    // A 404 is final: one attempt, failed, alerted; replayed once the app is fixed.
    app.route("/gone", 404, "text/plain", "no such page");
    let lost = place_call(&engine, &app, "+15550530003", &app.url("/gone")).await;
    let failed = eventually(Duration::from_secs(20), async || {
        deliveries(&engine, "failed")
            .await
            .iter()
            .filter(|delivery| delivery["resource_sid"] == lost.as_str())
            .count()
            == 4
    })
    .await;
    assert!(failed, "{:?}", deliveries(&engine, "failed").await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(on(&app, "/gone").len(), 4, "one attempt per callback");
    let failures = deliveries(&engine, "failed").await;
    let completed_delivery = failures
        .iter()
        .find(|delivery| {
            delivery["resource_sid"] == lost.as_str()
                && on(&app, "/gone").iter().any(|request| {
                    token(request) == delivery["idempotency_token"].as_str().unwrap_or_default()
                        && key(request).1 == "completed"
                })
        })
        .expect("the completed callback's delivery")
        .clone();
    assert_eq!(completed_delivery["attempts"], 1);
    assert_eq!(completed_delivery["last_error_code"], 11200);
    assert_eq!(completed_delivery["kind"], "call-status");
    assert_eq!(completed_delivery["next_attempt_at"], Value::Null);
    let notifications = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{lost}/Notifications.json")),
        &[],
    )
    .await;
    assert!(
        notifications.1["notifications"]
            .as_array()
            .is_some_and(|alerts| alerts.iter().any(|alert| alert["error_code"] == "11200")),
        "{notifications:?}"
    );

    app.route("/gone", 200, "text/plain", "");
    let sid = completed_delivery["sid"].as_str().expect("sid");
    let replay_url = format!("{}/switchboard/v1/Deliveries/{sid}/Replay", engine.base_url);
    let replayed = call(&engine, "POST", &replay_url, &[]).await;
    assert_eq!(replayed.0, 200, "{replayed:?}");
    assert_eq!(replayed.1["status"], "pending", "{replayed:?}");
    let sent_again = eventually(Duration::from_secs(10), async || {
        on(&app, "/gone").len() == 5
    })
    .await;
    assert!(sent_again, "{:?}", on(&app, "/gone"));
    let last = on(&app, "/gone").pop().expect("the replay");
    assert_eq!(
        token(&last),
        completed_delivery["idempotency_token"].as_str().unwrap()
    );
    assert_eq!(key(&last), (lost.clone(), "completed".to_owned()));
    let now_delivered = eventually(Duration::from_secs(5), async || {
        deliveries(&engine, "delivered")
            .await
            .iter()
            .any(|delivery| delivery["sid"] == sid && delivery["attempts"] == 2)
    })
    .await;
    assert!(now_delivered);

    // What is not the caller's, or not a delivery, is not found; a bad filter is a 400.
    let unknown = format!(
        "{}/switchboard/v1/Deliveries/DL00000000000000000000000000000000/Replay",
        engine.base_url
    );
    assert_error(&call(&engine, "POST", &unknown, &[]).await, 404, 20404);
    let bogus = format!("{}/switchboard/v1/Deliveries?Status=lost", engine.base_url);
    assert_error(&call(&engine, "GET", &bogus, &[]).await, 400, 20422);
    // Paging: one at a time, newest first, following next_page_uri.
    let first = call(
        &engine,
        "GET",
        &format!("{}/switchboard/v1/Deliveries?PageSize=1", engine.base_url),
        &[],
    )
    .await;
    assert_eq!(first.1["deliveries"].as_array().map(Vec::len), Some(1));
    let next = first.1["next_page_uri"].as_str().expect("a next page");
    let second = call(&engine, "GET", &format!("{}{next}", engine.base_url), &[]).await;
    assert_eq!(second.0, 200, "{second:?}");
    let (a, b) = (&first.1["deliveries"][0], &second.1["deliveries"][0]);
    assert_ne!(a["sid"], b["sid"]);
}

/// `--callback-retry-for 0` is Twilio's single attempt: a 503 is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_for_zero_is_twilios_single_attempt() {
    let dir = scratch_dir("outbox-single");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database,
        vec![("SWITCHBOARD_CALLBACK_RETRY_FOR".into(), "0".into())],
    );
    let app = App::start().await;
    provision(&engine, &app).await;
    app.route("/busy", 503, "text/plain", "");
    let sid = send_message(&engine, "+15550540001", &app.url("/busy")).await;
    let failed = eventually(Duration::from_secs(10), async || {
        deliveries(&engine, "failed").await.len() == 3
    })
    .await;
    assert!(failed, "{:?}", deliveries(&engine, "failed").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        on(&app, "/busy").len(),
        3,
        "{sid}: one attempt per callback"
    );
    assert!(deliveries(&engine, "pending").await.is_empty());
}

/// A delivery retried until `--callback-retry-for` runs out fails, and is alerted twice: at its
/// first failure and when it is given up; the retry in between is not alerted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_retried_until_its_deadline_is_given_up_with_an_alert() {
    let dir = scratch_dir("outbox-deadline");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database,
        vec![("SWITCHBOARD_CALLBACK_RETRY_FOR".into(), "2s".into())],
    );
    let app = App::start().await;
    provision(&engine, &app).await;
    app.route("/busy", 503, "text/plain", "");
    let sid = send_message(&engine, "+15550550001", &app.url("/busy")).await;
    let failed = eventually(Duration::from_secs(15), async || {
        let failed = deliveries(&engine, "failed").await;
        failed.len() == 3 && failed.iter().all(|delivery| delivery["attempts"] == 2)
    })
    .await;
    assert!(failed, "{:?}", deliveries(&engine, "failed").await);
    assert_eq!(on(&app, "/busy").len(), 6, "two attempts per callback");
    let url = format!("{}/v1/Alerts?PageSize=1000", engine.base_url);
    let about_it = async || -> Vec<Value> {
        let listed = call(&engine, "GET", &url, &[]).await;
        listed.1["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|alert| alert["resource_sid"] == sid.as_str())
            .cloned()
            .collect()
    };
    let alerted = eventually(Duration::from_secs(5), async || about_it().await.len() == 6).await;
    let alerts = about_it().await;
    assert!(alerted, "{alerts:?}");
    assert!(
        alerts.iter().all(|alert| alert["log_level"] == "error"),
        "{alerts:?}"
    );
}
