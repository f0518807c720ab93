//! Several nodes on one PostgreSQL (issue 15, product.md "Several nodes"): nodes register and
//! renew a lease; when one is killed, a survivor claims it and finishes its calls (final
//! status, `hangup` `by: "engine"`, an alert, the final status callback) and delivers its
//! messages, within the lease plus 5 s; `switchboard nodes` shows who is live, dead and who
//! took over; `/healthz` names the node.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::{TestDatabase, server_url};

use crate::recovery::Gate;
use crate::voice::{events, param};
use crate::{binary, call, eventually};

const LEASE_S: u64 = 3;
const CALLS: usize = 50;
const MESSAGES: usize = 100;
const NUMBER: &str = "+15550800100";
const MENU: &str = "+15550800200";

fn node(database: &TestDatabase, id: &str, credentials: Option<&Engine>) -> Engine {
    let lease = ("SWITCHBOARD_NODE_LEASE".to_owned(), LEASE_S.to_string());
    node_with(database, id, credentials, vec![lease], Vec::new())
}

/// A node named `id` on `database` with `env` and `args` added, sharing the first node's
/// account when `first` is given (the bootstrap credentials are per engine).
pub(crate) fn node_with(
    database: &TestDatabase,
    id: &str,
    first: Option<&Engine>,
    mut env: Vec<(String, String)>,
    args: Vec<String>,
) -> Engine {
    env.push(("SWITCHBOARD_NODE_ID".to_owned(), id.to_owned()));
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
    Engine::launched(
        binary(),
        scratch_dir("cluster"),
        database.url.clone(),
        env,
        args,
    )
}

fn nodes_table(database: &TestDatabase) -> String {
    let output = std::process::Command::new(binary())
        .args(["nodes", "--database", &database.url, "--node-lease"])
        .arg(LEASE_S.to_string())
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .expect("switchboard nodes");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn row<'a>(table: &'a str, id: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|line| line.starts_with(&format!("{id}\t")))
        .unwrap_or_else(|| panic!("no node {id} in\n{table}"))
        .split('\t')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_finishes_a_killed_nodes_calls_and_messages_within_the_lease_plus_5_s() {
    let Some(server) = server_url("several nodes") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let mut a = node(&database, "node-a", None);
        // The same account on both nodes (the bootstrap credentials are per engine).
        let mut b = node(&database, "node-b", Some(&a));
        let mut c = node(&database, "node-c", Some(&a));
        for other in [&mut b, &mut c] {
            other.account_sid = a.account_sid.clone();
            other.auth_token = a.auth_token.clone();
        }
        let app = App::start().await;
        app.route(
            "/park",
            200,
            "text/xml",
            "<Response><Say>Please hold.</Say><Pause length=\"600\"/></Response>",
        );
        let gate = Gate::start().await;
        let created = call(
            &a,
            "POST",
            &a.account_url("IncomingPhoneNumbers.json"),
            &[
                ("PhoneNumber", NUMBER),
                ("VoiceUrl", &app.url("/park")),
                ("StatusCallback", &gate.url("/call-status")),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");

        let health: Value = reqwest::get(format!("{}/healthz", b.base_url))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        assert_eq!(health["node_id"], "node-b", "{health}");
        let table = nodes_table(&database);
        for id in ["node-a", "node-b", "node-c"] {
            assert_eq!(row(&table, id)[1], "live", "{table}");
        }

        // Any node, any request: provisioned through A, called through B, keys pressed and the
        // transcript awaited through C; the Gather action receives the keys.
        app.route(
            "/menu",
            200,
            "text/xml",
            &format!(
                "<Response><Gather numDigits=\"2\" timeout=\"20\" action=\"{}\"><Say>Two digits.</Say></Gather></Response>",
                app.url("/chosen")
            ),
        );
        app.route(
            "/chosen",
            200,
            "text/xml",
            "<Response><Say>Thanks.</Say></Response>",
        );
        let menu = call(
            &a,
            "POST",
            &a.account_url("IncomingPhoneNumbers.json"),
            &[("PhoneNumber", MENU), ("VoiceUrl", &app.url("/menu"))],
        )
        .await;
        assert_eq!(menu.0, 201, "{menu:?}");
        let placed = call(
            &b,
            "POST",
            &format!("{}/sandbox/Calls", b.base_url),
            &[("To", MENU)],
        )
        .await;
        assert_eq!(placed.0, 201, "{placed:?}");
        let menu_call = placed.1["call_sid"].as_str().expect("sid").to_owned();
        let pressed = call(
            &c,
            "POST",
            &format!("{}/sandbox/Calls/{menu_call}/Digits", c.base_url),
            &[("Digits", "42")],
        )
        .await;
        assert_eq!(pressed.0, 200, "{pressed:?}");
        let waited = call(
            &c,
            "GET",
            &format!(
                "{}/sandbox/Calls/{menu_call}?WaitFor=completed&Timeout=20",
                c.base_url
            ),
            &[],
        )
        .await;
        assert_eq!(waited.0, 200, "{waited:?}");
        assert_eq!(waited.1["status"], "completed", "{waited:?}");
        assert_eq!(
            events(&waited.1, "gather_result")[0]["digits"],
            "42",
            "{waited:?}"
        );
        let chosen = app
            .received()
            .into_iter()
            .find(|request| request.target.starts_with("/chosen"))
            .expect("the Gather action was requested");
        assert_eq!(
            param(&crate::voice::form(&chosen.body), "Digits"),
            Some("42")
        );
        // The same transcript, whichever node is asked.
        let through_a = call(
            &a,
            "GET",
            &format!("{}/sandbox/Calls/{menu_call}", a.base_url),
            &[],
        )
        .await;
        assert_eq!(through_a.1, waited.1);

        // Calls and deliveries under way on node A.
        let mut calls = Vec::new();
        for _ in 0..CALLS {
            let placed = call(
                &a,
                "POST",
                &format!("{}/sandbox/Calls", a.base_url),
                &[("To", NUMBER)],
            )
            .await;
            assert_eq!(placed.0, 201, "{placed:?}");
            calls.push(placed.1["call_sid"].as_str().expect("sid").to_owned());
        }
        let mut messages = Vec::new();
        for n in 0..MESSAGES {
            let sent = call(
                &a,
                "POST",
                &a.account_url("Messages.json"),
                &[
                    ("To", &format!("+1555081{n:04}")),
                    ("From", NUMBER),
                    ("Body", "in flight"),
                    ("StatusCallback", &gate.url("/message-status")),
                ],
            )
            .await;
            assert_eq!(sent.0, 201, "{sent:?}");
            messages.push(sent.1["sid"].as_str().expect("sid").to_owned());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = listed(&b, "Calls").await;
            let talking = rows
                .iter()
                .filter(|row| row["status"] == "in-progress")
                .count();
            let sending = listed(&b, "Messages")
                .await
                .iter()
                .filter(|row| row["status"] == "sending")
                .count();
            if talking == CALLS && sending == MESSAGES {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{talking} calls talking, {sending} sending"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Node A dies; B notices within the lease and finishes A's work.
        a.kill_hard();
        gate.open();
        let killed = Instant::now();
        let limit = Duration::from_secs(LEASE_S + 5);
        loop {
            let callbacks = gate.received("/call-status");
            let delivered = gate
                .received("/message-status")
                .iter()
                .filter(|callback| param(callback, "MessageStatus") == Some("delivered"))
                .count();
            let called_back = calls.iter().all(|sid| {
                callbacks
                    .iter()
                    .any(|callback| param(callback, "CallSid") == Some(sid.as_str()))
            });
            if called_back && delivered >= MESSAGES {
                break;
            }
            assert!(
                killed.elapsed() < limit,
                "{} of {CALLS} final call callbacks and {delivered} of {MESSAGES} deliveries within {limit:?} of the kill",
                callbacks.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "node-a's work was finished {:?} after the kill",
            killed.elapsed()
        );
        let rows = listed(&b, "Calls").await;
        assert!(
            rows.iter().all(|row| row["status"] == "completed"),
            "{rows:?}"
        );
        // Every status callback of every message arrived at least once, the ones node A was
        // sending when it died included (the heir sent them again from the outbox), and no
        // idempotency token came with two different bodies.
        let finished = eventually(Duration::from_secs(5), async || {
            let callbacks = gate.received("/message-status");
            messages.iter().all(|sid| {
                ["sending", "sent", "delivered"].iter().all(|status| {
                    callbacks.iter().any(|callback| {
                        param(callback, "MessageSid") == Some(sid.as_str())
                            && param(callback, "MessageStatus") == Some(*status)
                    })
                })
            })
        })
        .await;
        assert!(
            finished,
            "message callbacks missing: {} received",
            gate.received("/message-status").len()
        );
        let mut bodies = std::collections::HashMap::new();
        for (token, path, body) in gate.tokened() {
            assert!(!token.is_empty(), "{path} {body}");
            let first = bodies.entry(token.clone()).or_insert(body.clone());
            assert_eq!(*first, body, "token {token} came with two bodies");
        }
        for sid in &calls {
            let finals = gate
                .received("/call-status")
                .iter()
                .filter(|callback| param(callback, "CallSid") == Some(sid.as_str()))
                .count();
            assert_eq!(finals, 1, "final callbacks of {sid}");
        }
        // Asked of either survivor, the transcript is the one the heir keeps. Two survivors
        // watched; exactly one claimed node A, and no call was finished twice (one final
        // callback each, above).
        let transcript = call(
            &c,
            "GET",
            &format!("{}/sandbox/Calls/{}", c.base_url, calls[0]),
            &[],
        )
        .await;
        assert_eq!(transcript.0, 200, "{transcript:?}");
        assert_eq!(events(&transcript.1, "hangup")[0]["by"], "engine");
        assert_eq!(events(&transcript.1, "alert")[0]["error_code"], 12400);
        let table = nodes_table(&database);
        let dead = row(&table, "node-a");
        assert_eq!(dead[1], "dead", "{table}");
        assert!(matches!(dead[5], "node-b" | "node-c"), "{table}");
        assert_eq!(row(&table, "node-b")[1], "live", "{table}");

        // Node A comes back under its name: it registers anew and nothing is finished twice.
        a.restart();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let table = nodes_table(&database);
        assert_eq!(row(&table, "node-a")[1], "live", "{table}");
        assert_eq!(row(&table, "node-a")[5], "-", "{table}");
        assert_eq!(gate.received("/call-status").len(), CALLS);
        assert!(
            a.terminate() && b.terminate() && c.terminate(),
            "every node drains and exits 0"
        );
    }
    database.drop_database().await.expect("drop test database");
}

/// The rows of one list of the account (`Calls`, `Messages`), read through `engine`.
async fn listed(engine: &Engine, resource: &str) -> Vec<Value> {
    let url = engine.account_url(&format!("{resource}.json?PageSize=1000"));
    let answer = call(engine, "GET", &url, &[]).await;
    answer.1[resource.to_ascii_lowercase().as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Breaker state is shared by all nodes (issue 15 item 7): once node A's breaker for an origin
/// opens, node B skips that origin too, without failing a request of its own first; once the
/// origin answers again, calls through either node reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opened_on_one_node_skips_the_origin_on_the_others() {
    let Some(server) = server_url("shared breakers") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let settings = || {
            vec![
                ("SWITCHBOARD_BREAKER_FAILURES".to_owned(), "2".to_owned()),
                ("SWITCHBOARD_BREAKER_COOLOFF".to_owned(), "6".to_owned()),
            ]
        };
        let a = node_with(&database, "breaker-a", None, settings(), Vec::new());
        let mut b = node_with(&database, "breaker-b", Some(&a), settings(), Vec::new());
        b.account_sid = a.account_sid.clone();
        b.auth_token = a.auth_token.clone();
        // The primary's address, taken and let go: connections are refused until it comes
        // back.
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address")
        };
        let primary = format!("http://{address}/voice");
        let app = App::start().await;
        app.route(
            "/fallback",
            200,
            "text/xml",
            "<Response><Say>fallback</Say></Response>",
        );
        let created = call(
            &a,
            "POST",
            &a.account_url("IncomingPhoneNumbers.json"),
            &[
                ("PhoneNumber", NUMBER),
                ("VoiceUrl", &primary),
                ("VoiceFallbackUrl", &app.url("/fallback")),
                ("SwitchboardBreaker", "true"),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        let first_webhook = async |node: &Engine| -> Value {
            let placed = call(
                node,
                "POST",
                &format!("{}/sandbox/Calls", node.base_url),
                &[("To", NUMBER), ("Clock", "fast")],
            )
            .await;
            assert_eq!(placed.0, 201, "{placed:?}");
            let sid = placed.1["call_sid"].as_str().expect("sid");
            let url = format!(
                "{}/sandbox/Calls/{sid}?WaitFor=completed&Timeout=40",
                node.base_url
            );
            let done = call(node, "GET", &url, &[]).await;
            assert_eq!(done.0, 200, "{done:?}");
            events(&done.1, "webhook")[0].clone()
        };
        // Two refused calls on A open its breaker.
        for _ in 0..2 {
            let sent = first_webhook(&a).await;
            assert!(sent["breaker"].is_null(), "{sent}");
            assert!(sent["error_code"].is_number(), "{sent}");
        }
        assert_eq!(first_webhook(&a).await["breaker"], "open");
        // B has not failed once, and skips the origin within its next look (a second).
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let on_b = first_webhook(&b).await;
        assert_eq!(on_b["breaker"], "open", "{on_b}");
        assert_eq!(on_b["url"], primary.as_str(), "{on_b}");

        // The primary comes back; after the cooloff, calls through either node reach it.
        let back = App::start_on(&address.to_string()).await;
        back.route(
            "/voice",
            200,
            "text/xml",
            "<Response><Say>primary</Say></Response>",
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        let probe = first_webhook(&a).await;
        assert_eq!(probe["http_status"], 200, "{probe}");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for node in [&b, &a] {
            let sent = first_webhook(node).await;
            assert_eq!(sent["http_status"], 200, "{sent}");
            assert!(sent["breaker"].is_null(), "{sent}");
        }
    }
    database.drop_database().await.expect("drop test database");
}

/// Runs `switchboard serve` on `database` with `env` until it exits (at most 20 s); its
/// success and what it wrote to stderr.
fn serve_refused(database: &TestDatabase, env: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(binary());
    command
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--sip",
            "off",
            "--database",
        ])
        .arg(&database.url)
        .env_remove("SWITCHBOARD_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("switchboard serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr)
                .ok();
            return (status.success(), stderr);
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            panic!("switchboard serve was not refused");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--single-node` on PostgreSQL: the node caches rows without the cross-node barrier, so it
/// must have the database to itself, and PostgreSQL holds it to that (an advisory lock): no
/// other node starts while it runs, it does not start while another node runs, and once it is
/// gone, cluster nodes start again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_has_its_postgresql_database_to_itself() {
    let Some(server) = server_url("single node on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let single = vec![("SWITCHBOARD_SINGLE_NODE".to_owned(), "true".to_owned())];
        let mut only = node_with(&database, "only", None, single, Vec::new());
        let app = App::start().await;
        app.route(
            "/voice",
            200,
            "text/xml",
            "<Response><Say>Alone.</Say></Response>",
        );
        let created = call(
            &only,
            "POST",
            &only.account_url("IncomingPhoneNumbers.json"),
            &[("PhoneNumber", NUMBER), ("VoiceUrl", &app.url("/voice"))],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        let sid = crate::voice::place(&only, NUMBER, &[]).await;
        let done = crate::voice::finished(&only, &sid).await;
        assert_eq!(done["status"], "completed", "{done}");

        let (started, stderr) = serve_refused(&database, &[]);
        assert!(!started, "a cluster node started beside a single node");
        assert!(stderr.contains("--single-node"), "{stderr}");
        let (started, stderr) = serve_refused(&database, &[("SWITCHBOARD_SINGLE_NODE", "true")]);
        assert!(!started, "two single nodes");
        assert!(stderr.contains("to itself"), "{stderr}");

        assert!(only.terminate(), "the single node drains and exits 0");
        let after = node_with(&database, "after", None, Vec::new(), Vec::new());
        let (started, stderr) = serve_refused(&database, &[("SWITCHBOARD_SINGLE_NODE", "true")]);
        assert!(!started, "a single node started beside a cluster node");
        assert!(stderr.contains("to itself"), "{stderr}");
        drop(after);
    }
    database.drop_database().await.expect("drop test database");
}
