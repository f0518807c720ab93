//! Several nodes on PostgreSQL (issue 15's performance targets), measured in one run:
//!
//! 1. Sandbox calls/s of one node on SQLite and of one node on a fresh PostgreSQL database
//!    (voice-load's healthy cycle: Voice URL fetch, `<Say>`, `<Hangup>`, the completed status
//!    callback through the outbox), and whether the outbox kept up: deliveries still pending
//!    when the last call ended, and how long until none were.
//!    Then the same on PostgreSQL with `--single-node` (the node has the database to itself).
//! 2. What a call costs PostgreSQL over that run (its own statistics): transactions, rows
//!    written and WAL bytes per call, the inputs of the capacity model in BENCHMARKS.md.
//! 3. Takeover: `ORPHANS` calls parked on node A, a second node B on the same database, `kill
//!    -9` of A; the time until B has finished every one (target: the lease plus 5 s).
//! 4. An outage of the status-callback app for `OUTAGE` seconds while calls run on SQLite: how
//!    long after it comes back the outbox's backlog is delivered.
//!
//! Usage: `SWITCHBOARD_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres cluster-load
//! [CALLS] [CONCURRENCY] [ORPHANS] [OUTAGE]` (defaults 2000, 32, 1000, 60). It spawns the
//! release `switchboard` binary next to itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};
use switchboard_bench::load::{calls, provision_with, run};
use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::TestDatabase;

const SAY: &str = "<Response><Say>hi</Say><Hangup/></Response>";
const PARK: &str = "<Response><Say>hold</Say><Pause length=\"600\"/></Response>";
const HEALTHY: &str = "+15550600001";
const PARKED: &str = "+15550600002";
const LEASE_S: u64 = 3;

/// The TwiML and status-callback app: counts callbacks, and answers them 503 while `down`.
#[derive(Clone, Default)]
struct App {
    callbacks: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl App {
    async fn start(&self) -> String {
        let state = self.clone();
        let app = Router::new()
            .route(
                "/voice",
                post(|| async { ([("content-type", "text/xml")], SAY) }),
            )
            .route(
                "/park",
                post(|| async { ([("content-type", "text/xml")], PARK) }),
            )
            .route(
                "/status",
                post(move || {
                    let state = state.clone();
                    async move {
                        if state.down.load(Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        state.callbacks.fetch_add(1, Ordering::SeqCst);
                        axum::http::StatusCode::NO_CONTENT
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the app");
        let address = listener.local_addr().expect("the app's address");
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        format!("http://{address}")
    }
}

async fn get(client: &reqwest::Client, engine: &Engine, url: &str) -> Value {
    client
        .get(url)
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .send()
        .await
        .expect("load request")
        .json()
        .await
        .expect("load request")
}

/// How many of the account's deliveries are pending (up to 1000).
async fn pending(client: &reqwest::Client, engine: &Engine) -> usize {
    let url = format!(
        "{}/switchboard/v1/Deliveries?Status=pending&PageSize=1000",
        engine.base_url
    );
    get(client, engine, &url).await["deliveries"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Waits until no delivery is pending; how long that took.
async fn drained(client: &reqwest::Client, engine: &Engine, limit: Duration) -> Duration {
    let started = Instant::now();
    while pending(client, engine).await > 0 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Places `total` healthy calls through `engine`: calls/s, deliveries pending at the end, and
/// how long until none were.
async fn healthy_calls(
    client: &reqwest::Client,
    engine: &Engine,
    total: usize,
    concurrency: usize,
) -> (f64, usize, Duration) {
    let place = |n| {
        calls(
            client.clone(),
            engine.base_url.clone(),
            engine.account_sid.clone(),
            engine.auth_token.clone(),
            HEALTHY,
            n,
            concurrency,
        )
    };
    place(200).await;
    let rate = place(total).await;
    let left = pending(client, engine).await;
    let drain = drained(client, engine, Duration::from_secs(60)).await;
    (rate, left, drain)
}

/// PostgreSQL's counters for the engine's database, and the server's WAL position.
async fn pg_counters(admin: &mut PgConnection, database: &str) -> [i64; 5] {
    let row = sqlx::query(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, \
         pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::BIGINT AS wal \
         FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .expect("pg_stat_database");
    [
        "xact_commit",
        "tup_inserted",
        "tup_updated",
        "tup_deleted",
        "wal",
    ]
    .map(|name| {
        row.try_get::<i64, _>(name)
            .expect("a pg_stat_database counter")
    })
}

fn node(
    binary: &std::path::Path,
    database: &TestDatabase,
    id: &str,
    first: Option<&Engine>,
) -> Engine {
    let mut env = vec![
        ("SWITCHBOARD_NODE_ID".to_owned(), id.to_owned()),
        ("SWITCHBOARD_NODE_LEASE".to_owned(), LEASE_S.to_string()),
    ];
    if let Some(first) = first {
        env.push((
            "SWITCHBOARD_ACCOUNT_SID".to_owned(),
            first.account_sid.clone(),
        ));
        env.push((
            "SWITCHBOARD_AUTH_TOKEN".to_owned(),
            first.auth_token.clone(),
        ));
    }
    let mut engine = Engine::launched(
        binary,
        scratch_dir("cluster-load"),
        database.url.clone(),
        env,
        Vec::new(),
    );
    if let Some(first) = first {
        engine.account_sid = first.account_sid.clone();
        engine.auth_token = first.auth_token.clone();
    }
    engine
}

/// Statuses of the account's calls, read through `engine` (up to 1000 a page).
async fn call_statuses(client: &reqwest::Client, engine: &Engine) -> Vec<String> {
    let mut url = engine.account_url("Calls.json?PageSize=1000");
    let mut statuses = Vec::new();
    loop {
        let page = get(client, engine, &url).await;
        statuses.extend(
            page["calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|call| call["status"].as_str().map(str::to_owned)),
        );
        match page["next_page_uri"].as_str() {
            Some(next) => url = format!("{}{next}", engine.base_url),
            None => return statuses,
        }
    }
}

/// Takeover of `orphans` parked calls: the seconds from `kill -9` of their node to the last
/// one finished by the survivor.
async fn takeover(
    binary: &std::path::Path,
    server: &str,
    app: &str,
    orphans: usize,
    concurrency: usize,
) -> Duration {
    let client = reqwest::Client::new();
    let database = TestDatabase::create(server).await.expect("a database");
    let mut a = node(binary, &database, "load-a", None);
    let b = node(binary, &database, "load-b", Some(&a));
    provision_with(
        &client,
        &a,
        PARKED,
        &format!("{app}/park"),
        &format!("{app}/park"),
        &format!("{app}/status"),
        false,
    )
    .await;
    let (base, sid, token) = (
        a.base_url.clone(),
        a.account_sid.clone(),
        a.auth_token.clone(),
    );
    run(orphans, concurrency, move |_| {
        let (client, base, sid, token) = (client.clone(), base.clone(), sid.clone(), token.clone());
        async move {
            let placed = client
                .post(format!("{base}/sandbox/Calls"))
                .basic_auth(&sid, Some(&token))
                .form(&[("To", PARKED)])
                .send()
                .await
                .expect("load request");
            assert_eq!(placed.status(), 201);
        }
    })
    .await;
    let client = reqwest::Client::new();
    loop {
        let statuses = call_statuses(&client, &b).await;
        if statuses.len() == orphans && statuses.iter().all(|s| s == "in-progress") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    a.kill_hard();
    let killed = Instant::now();
    loop {
        let statuses = call_statuses(&client, &b).await;
        if statuses.iter().filter(|s| *s == "completed").count() == orphans {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "not taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed.elapsed();
    drop(b);
    drop(a);
    database.drop_database().await.ok();
    took
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(32);
    let orphans = args.get(2).copied().unwrap_or(1000);
    let outage = args.get(3).copied().unwrap_or(60);
    let server = std::env::var("SWITCHBOARD_TEST_POSTGRES")
        .expect("SWITCHBOARD_TEST_POSTGRES: the PostgreSQL server to measure against");
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("switchboard");
    let state = App::default();
    let app = state.start().await;
    let client = reqwest::Client::new();

    // 1 and 2: the same node on SQLite, then on PostgreSQL.
    let sqlite = Engine::start(&binary);
    provision_with(
        &client,
        &sqlite,
        HEALTHY,
        &format!("{app}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
        false,
    )
    .await;
    let (sqlite_rate, sqlite_left, sqlite_drain) =
        healthy_calls(&client, &sqlite, total, concurrency).await;
    println!(
        "SQLite: {sqlite_rate:.0} calls/s; {sqlite_left} callbacks pending at the end, none after {:.2}s",
        sqlite_drain.as_secs_f64()
    );

    let database = TestDatabase::create(&server).await.expect("a database");
    let name = database
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let postgres = Engine::start_on(
        &binary,
        scratch_dir("cluster-load"),
        database.url.clone(),
        Vec::new(),
    );
    provision_with(
        &client,
        &postgres,
        HEALTHY,
        &format!("{app}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
        false,
    )
    .await;
    let mut admin = PgConnection::connect(&server).await.expect("connect");
    // Warm-up inside, counters around the measured calls only.
    calls(
        client.clone(),
        postgres.base_url.clone(),
        postgres.account_sid.clone(),
        postgres.auth_token.clone(),
        HEALTHY,
        200,
        concurrency,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = pg_counters(&mut admin, &name).await;
    let callbacks_before = state.callbacks.load(Ordering::SeqCst);
    let pg_rate = calls(
        client.clone(),
        postgres.base_url.clone(),
        postgres.account_sid.clone(),
        postgres.auth_token.clone(),
        HEALTHY,
        total,
        concurrency,
    )
    .await;
    let pg_left = pending(&client, &postgres).await;
    let pg_drain = drained(&client, &postgres, Duration::from_secs(60)).await;
    // Backends report their counters at most once a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = pg_counters(&mut admin, &name).await;
    let delivered = state.callbacks.load(Ordering::SeqCst) - callbacks_before;
    let per_call = |i: usize| (after[i] - before[i]) as f64 / total as f64;
    println!(
        "PostgreSQL: {pg_rate:.0} calls/s ({:.0}% of SQLite); {pg_left} callbacks pending at the end, none after {:.2}s; {delivered} callbacks delivered",
        pg_rate / sqlite_rate * 100.0,
        pg_drain.as_secs_f64()
    );
    println!(
        "PostgreSQL per call: {:.1} transactions, {:.1} rows inserted, {:.1} updated, {:.1} deleted, {:.0} WAL bytes",
        per_call(0),
        per_call(1),
        per_call(2),
        per_call(3),
        per_call(4)
    );
    // Whether the row updates were HOT (no index entry rewritten).
    let mut own = PgConnection::connect(&database.url).await.expect("connect");
    for table in ["resources", "deliveries"] {
        let row = sqlx::query(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = $1",
        )
        .bind(table)
        .fetch_one(&mut own)
        .await
        .expect("pg_stat_user_tables");
        let (updates, hot): (i64, i64) = (
            row.try_get("n_tup_upd").expect("n_tup_upd"),
            row.try_get("n_tup_hot_upd").expect("n_tup_hot_upd"),
        );
        println!("PostgreSQL {table}: {updates} row updates, {hot} of them HOT");
    }
    own.close().await.ok();
    drop(postgres);
    database.drop_database().await.ok();

    // 1b: one node with the database to itself (`--single-node`: no cross-node barrier).
    let database = TestDatabase::create(&server).await.expect("a database");
    let single = Engine::start_on(
        &binary,
        scratch_dir("cluster-load"),
        database.url.clone(),
        vec![("SWITCHBOARD_SINGLE_NODE".to_owned(), "true".to_owned())],
    );
    provision_with(
        &client,
        &single,
        HEALTHY,
        &format!("{app}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
        false,
    )
    .await;
    let (single_rate, single_left, _) = healthy_calls(&client, &single, total, concurrency).await;
    println!(
        "PostgreSQL, --single-node: {single_rate:.0} calls/s ({:.0}% of SQLite); {single_left} callbacks pending at the end",
        single_rate / sqlite_rate * 100.0
    );
    drop(single);
    database.drop_database().await.ok();

    // 3: takeover.
    let took = takeover(&binary, &server, &app, orphans, concurrency).await;
    println!(
        "takeover of {orphans} parked calls: the last finished {:.2}s after kill -9 (lease {LEASE_S}s + 5s = {}s)",
        took.as_secs_f64(),
        LEASE_S + 5
    );

    // 4: the callback app is down for `outage` seconds while calls run.
    state.down.store(true, Ordering::SeqCst);
    let down_at = Instant::now();
    let during = calls(
        client.clone(),
        sqlite.base_url.clone(),
        sqlite.account_sid.clone(),
        sqlite.auth_token.clone(),
        HEALTHY,
        total.min(1000),
        concurrency,
    )
    .await;
    let backlog = pending(&client, &sqlite).await;
    tokio::time::sleep(Duration::from_secs(outage as u64).saturating_sub(down_at.elapsed())).await;
    state.down.store(false, Ordering::SeqCst);
    let drain = drained(&client, &sqlite, Duration::from_secs(180)).await;
    println!(
        "callback app down {outage}s: {backlog} callbacks waiting ({during:.0} calls/s meanwhile); backlog delivered {:.1}s after it came back",
        drain.as_secs_f64()
    );
}
