//! Work in flight when the engine stops is never left without a final state (issue 20):
//! after `kill -9` and a restart, every call that was ringing or talking is ended with its final
//! status, transcript, alert and status callback, and every message being delivered reaches
//! its outcome with its callbacks, within 10 s of the restart; a SIGTERM whose drain timeout
//! cuts deliveries short exits in time and leaves them to the next start, which finishes them.
//!
//! The status callbacks go to a `Gate`: a receiver that holds every request unanswered until it
//! is opened, so the deliveries are still under way when the engine is stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::{TestDatabase, server_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::voice::{events, form, param};
use crate::{binary, call, eventually};

const PARKED_CALLS: usize = 200;
const RINGING_CALLS: usize = 20;
const MESSAGES: usize = 300;
const NUMBER: &str = "+15550400100";
const RINGING_HANDSET: &str = "+15550400199";

/// A request the gate answered: its path and its form.
type Answered = (String, Vec<(String, String)>);

/// A request the gate answered: its `I-Twilio-Idempotency-Token`, path and body.
pub(crate) type Tokened = (String, String, String);

/// A status-callback receiver that holds requests unanswered until opened; records each
/// request's path and form once it is answered.
#[derive(Clone)]
pub(crate) struct Gate {
    base_url: String,
    open: Arc<AtomicBool>,
    opened: Arc<tokio::sync::Notify>,
    received: Arc<Mutex<Vec<Answered>>>,
    tokened: Arc<Mutex<Vec<Tokened>>>,
}

impl Gate {
    pub(crate) async fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let gate = Gate {
            base_url: format!("http://{}", listener.local_addr().expect("gate address")),
            open: Arc::default(),
            opened: Arc::default(),
            received: Arc::default(),
            tokened: Arc::default(),
        };
        let server = gate.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream));
            }
        });
        gate
    }

    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The forms received on `path`.
    pub(crate) fn received(&self, path: &str) -> Vec<Vec<(String, String)>> {
        self.received
            .lock()
            .expect("received")
            .iter()
            .filter(|(target, _)| target == path)
            .map(|(_, form)| form.clone())
            .collect()
    }

    /// Every answered request's idempotency token, path and body.
    pub(crate) fn tokened(&self) -> Vec<Tokened> {
        self.tokened.lock().expect("tokened").clone()
    }

    async fn serve(self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") else {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let target = head
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
            }
            let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
            buffer.drain(..end + 4 + length);
            loop {
                let opened = self.opened.notified();
                if self.open.load(Ordering::SeqCst) {
                    break;
                }
                // The engine dropping the connection (a kill) ends the wait: the request was
                // never answered, so it is not recorded.
                tokio::select! {
                    () = opened => {}
                    read = stream.read(&mut chunk) => if matches!(read, Ok(0) | Err(_)) { return },
                }
            }
            let token = head
                .lines()
                .find_map(|line| line.strip_prefix("i-twilio-idempotency-token:"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            self.tokened
                .lock()
                .expect("tokened")
                .push((token, target.clone(), body.clone()));
            self.received
                .lock()
                .expect("received")
                .push((target, form(&body)));
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// A number whose calls park in a long `<Pause>`, with a status callback to the gate.
async fn provision(engine: &Engine, app: &App, gate: &Gate) {
    app.route(
        "/park",
        200,
        "text/xml",
        "<Response><Say>Please hold.</Say><Pause length=\"600\"/></Response>",
    );
    let created = call(
        engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", NUMBER),
            ("VoiceUrl", &app.url("/park")),
            ("StatusCallback", &gate.url("/call-status")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
}

/// Sends `MESSAGES` messages to handsets with their callbacks to the gate; returns their SIDs.
async fn send_messages(engine: &Engine, gate: &Gate) -> Vec<String> {
    let url = engine.account_url("Messages.json");
    let status = gate.url("/message-status");
    let mut sids = Vec::new();
    for n in 0..MESSAGES {
        let to = format!("+1555041{n:04}");
        let sent = call(
            engine,
            "POST",
            &url,
            &[
                ("To", &to),
                ("From", NUMBER),
                ("Body", "in flight"),
                ("StatusCallback", &status),
            ],
        )
        .await;
        assert_eq!(sent.0, 201, "{sent:?}");
        sids.push(sent.1["sid"].as_str().expect("sid").to_owned());
    }
    sids
}

/// Places the parked inbound calls and the outbound calls left ringing; returns their SIDs.
async fn place_calls(engine: &Engine, app: &App, gate: &Gate) -> (Vec<String>, Vec<String>) {
    let mut parked = Vec::new();
    for _ in 0..PARKED_CALLS {
        let placed = call(
            engine,
            "POST",
            &format!("{}/sandbox/Calls", engine.base_url),
            &[("To", NUMBER)],
        )
        .await;
        assert_eq!(placed.0, 201, "{placed:?}");
        parked.push(placed.1["call_sid"].as_str().expect("sid").to_owned());
    }
    let handset = format!("{}/sandbox/Phones/{RINGING_HANDSET}", engine.base_url);
    let set = call(engine, "POST", &handset, &[("Answer", "no-answer")]).await;
    assert_eq!(set.0, 200, "{set:?}");
    let mut ringing = Vec::new();
    for _ in 0..RINGING_CALLS {
        let created = call(
            engine,
            "POST",
            &engine.account_url("Calls.json"),
            &[
                ("To", RINGING_HANDSET),
                ("From", NUMBER),
                ("Url", &app.url("/park")),
                ("Timeout", "600"),
                ("StatusCallback", &gate.url("/call-status")),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        ringing.push(created.1["sid"].as_str().expect("sid").to_owned());
    }
    (parked, ringing)
}

/// The REST status of every call or message in `sids`, read with one list request (the
/// account holds nothing else of the kind): a request each would itself take seconds on a
/// loaded machine.
async fn statuses(engine: &Engine, resource: &str, sids: &[String]) -> Vec<String> {
    let url = engine.account_url(&format!("{resource}.json?PageSize=1000"));
    let listed = call(engine, "GET", &url, &[]).await;
    assert_eq!(listed.0, 200, "{listed:?}");
    let key = resource.to_ascii_lowercase();
    let rows = listed.1[key.as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    sids.iter()
        .map(|sid| {
            rows.iter()
                .find(|row| row["sid"] == sid.as_str())
                .and_then(|row| row["status"].as_str())
                .unwrap_or("missing")
                .to_owned()
        })
        .collect()
}

/// Waits until every call in `sids` has the REST status `status`.
async fn wait_for_calls(engine: &Engine, sids: &[String], status: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = statuses(engine, "Calls", sids).await;
        if now.iter().all(|s| s == status) {
            return;
        }
        assert!(Instant::now() < deadline, "calls not all {status}: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After a restart: every message delivered, each with its `delivered` callback, within
/// `limit` of `restarted`.
async fn messages_finish(engine: &Engine, gate: &Gate, sids: &[String], restarted: Instant) {
    let limit = Duration::from_secs(10);
    let delivered = eventually(limit, async || {
        let callbacks = gate.received("/message-status");
        sids.iter().all(|sid| {
            callbacks.iter().any(|callback| {
                param(callback, "MessageSid") == Some(sid)
                    && param(callback, "MessageStatus") == Some("delivered")
            })
        })
    })
    .await;
    let missing = sids
        .iter()
        .filter(|sid| {
            !gate.received("/message-status").iter().any(|callback| {
                param(callback, "MessageSid") == Some(sid.as_str())
                    && param(callback, "MessageStatus") == Some("delivered")
            })
        })
        .count();
    assert!(
        delivered,
        "{missing} of {} messages had no delivered callback {:?} after the restart",
        sids.len(),
        restarted.elapsed()
    );
    // Once each: a delivery is resumed once, not once per status it was found in.
    let callbacks = gate.received("/message-status");
    for sid in sids {
        let finals = callbacks
            .iter()
            .filter(|callback| {
                param(callback, "MessageSid") == Some(sid.as_str())
                    && param(callback, "MessageStatus") == Some("delivered")
            })
            .count();
        assert_eq!(finals, 1, "delivered callbacks of {sid}");
    }
    let stored = statuses(engine, "Messages", sids).await;
    assert!(stored.iter().all(|s| s == "delivered"), "{stored:?}");
    // The `sending` callbacks the stop cut off (held unanswered at the gate) were in the
    // outbox, and the next start sent them again: every callback arrived at least once, and
    // a token never came with two different bodies.
    let all_sent = eventually(Duration::from_secs(5), async || {
        let callbacks = gate.received("/message-status");
        sids.iter().all(|sid| {
            callbacks.iter().any(|callback| {
                param(callback, "MessageSid") == Some(sid.as_str())
                    && param(callback, "MessageStatus") == Some("sending")
            })
        })
    })
    .await;
    assert!(all_sent, "a sending callback was lost");
    let mut bodies = std::collections::HashMap::new();
    for (token, path, body) in gate.tokened() {
        assert!(!token.is_empty(), "{path} {body}");
        let first = bodies.entry(token.clone()).or_insert(body.clone());
        assert_eq!(*first, body, "token {token} came with two bodies");
    }
}

async fn kill_and_restart(engine: &mut Engine) {
    let app = App::start().await;
    let gate = Gate::start().await;
    provision(engine, &app, &gate).await;
    let (parked, ringing) = place_calls(engine, &app, &gate).await;
    wait_for_calls(engine, &parked, "in-progress").await;
    wait_for_calls(engine, &ringing, "ringing").await;
    let messages = send_messages(engine, &gate).await;
    // Every delivery is under way: its first callback is held at the gate.
    let under_way = eventually(Duration::from_secs(60), async || {
        statuses(engine, "Messages", &messages)
            .await
            .iter()
            .all(|s| s == "sending")
    })
    .await;
    assert!(under_way, "the deliveries did not all reach sending");

    engine.kill_hard();
    gate.open();
    let restarted = Instant::now();
    engine.restart();

    let calls_done = eventually(Duration::from_secs(10), async || {
        let callbacks = gate.received("/call-status");
        parked.iter().chain(&ringing).all(|sid| {
            callbacks
                .iter()
                .any(|callback| param(callback, "CallSid") == Some(sid.as_str()))
        })
    })
    .await;
    let callbacks = gate.received("/call-status");
    assert!(
        calls_done,
        "{} of {} final call callbacks within 10 s of the restart",
        callbacks.len(),
        PARKED_CALLS + RINGING_CALLS
    );
    for (sids, status) in [(&parked, "completed"), (&ringing, "failed")] {
        assert!(
            statuses(engine, "Calls", sids)
                .await
                .iter()
                .all(|s| s == status)
        );
        for sid in sids {
            let sent: Vec<_> = callbacks
                .iter()
                .filter(|callback| param(callback, "CallSid") == Some(sid.as_str()))
                .collect();
            assert_eq!(sent.len(), 1, "one final callback for {sid}: {sent:?}");
            assert_eq!(param(sent[0], "CallStatus"), Some(status), "{sent:?}");
            assert!(param(sent[0], "CallDuration").is_some(), "{sent:?}");
        }
    }
    // The transcript answers again, ending as the engine ended it, with the alert.
    let url = format!("{}/sandbox/Calls/{}", engine.base_url, parked[0]);
    let transcript = call(engine, "GET", &url, &[]).await;
    assert_eq!(transcript.0, 200, "{transcript:?}");
    assert_eq!(transcript.1["status"], "completed", "{transcript:?}");
    assert_eq!(events(&transcript.1, "hangup")[0]["by"], "engine");
    assert_eq!(events(&transcript.1, "alert")[0]["error_code"], 12400);
    let notifications = call(
        engine,
        "GET",
        &engine.account_url(&format!("Calls/{}/Notifications.json", ringing[0])),
        &[],
    )
    .await;
    assert_eq!(
        notifications.1["notifications"][0]["error_code"], "12400",
        "{notifications:?}"
    );
    messages_finish(engine, &gate, &messages, restarted).await;

    // A clean stop leaves nothing for the next start to finish.
    assert!(engine.terminate(), "SIGTERM exits 0");
    let before = gate.received("/call-status").len();
    engine.restart();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gate.received("/call-status").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_kill_9_finishes_every_call_and_message_on_sqlite() {
    let mut engine = crate::start();
    kill_and_restart(&mut engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_kill_9_finishes_every_call_and_message_on_postgres() {
    let Some(server) = server_url("restart recovery on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        // A shared database: the node finishes only what carries its own id, so the id must
        // outlive the restart (the HTTP port does not).
        let mut engine = Engine::start_on(
            binary(),
            scratch_dir("recovery-pg"),
            database.url.clone(),
            vec![("SWITCHBOARD_NODE_ID".into(), "recovery-test".into())],
        );
        kill_and_restart(&mut engine).await;
    }
    database.drop_database().await.expect("drop test database");
}

/// SIGTERM with half-sent heads, a long-poll and deliveries that cannot finish: the process
/// exits within the drain timeout plus 5 s, and the next start finishes the deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_deliveries_held_exits_in_time_and_the_next_start_finishes_them() {
    let dir = scratch_dir("recovery-term");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let mut engine = Engine::start_on(
        binary(),
        dir,
        database_url,
        vec![("SWITCHBOARD_DRAIN_TIMEOUT".into(), "2".into())],
    );
    let app = App::start().await;
    let gate = Gate::start().await;
    provision(&engine, &app, &gate).await;
    let messages = send_messages(&engine, &gate).await;
    let address = engine.base_url.trim_start_matches("http://").to_owned();
    let half_sent: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            use std::io::Write;
            let mut stream = std::net::TcpStream::connect(&address).expect("connecting");
            stream
                .write_all(b"POST /2010-04-01/Accounts HTTP/1.1\r\nHost: x\r\nX-Half: ")
                .expect("half a head");
            stream
        })
        .collect();
    let placed = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", NUMBER)],
    )
    .await;
    let sid = placed.1["call_sid"].as_str().expect("sid").to_owned();
    let poll = engine
        .request(
            reqwest::Method::GET,
            &format!(
                "{}/sandbox/Calls/{sid}?WaitFor=completed&Timeout=120",
                engine.base_url
            ),
        )
        .send();
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || {
        let exited = engine.terminate();
        (engine, exited)
    });
    let (mut engine, exited) = stopped.await.expect("terminate");
    let took = started.elapsed();
    assert!(exited, "SIGTERM exits 0");
    assert!(
        took <= Duration::from_secs(2 + 5),
        "exited {took:?} after SIGTERM"
    );
    // The long-poll was answered with the call's state at the shutdown, not held.
    let answered = poll.await.expect("the long-poll").expect("answered");
    assert!(
        matches!(answered.status().as_u16(), 200 | 408),
        "{answered:?}"
    );
    let transcript: Value = answered.json().await.expect("json");
    assert_eq!(transcript["call_sid"], sid.as_str(), "{transcript}");
    drop(half_sent);

    gate.open();
    let restarted = Instant::now();
    engine.restart();
    messages_finish(&engine, &gate, &messages, restarted).await;
}
