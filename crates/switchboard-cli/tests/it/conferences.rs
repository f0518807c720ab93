//! Conferences and queues through the sandbox, with real local HTTP apps: a `waitUrl` that
//! fails falls over to the number's fallback like any other fetch; callers wait in queues with
//! looping hold TwiML (on the virtual clock), are bridged by an agent's `<Dial><Queue>`, hang up,
//! leave, are turned away by a full queue and are dequeued through `Members`. The conference
//! flow with the official `twilio` client is `compat::twilio_python_runs_a_conference`.

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;

use crate::voice::{events, finished, form, param, place, provision};
use crate::{call, eventually, start};

const XML: &str = "text/xml";

/// Places a sandbox call on the wall clock; returns its SID.
async fn place_live(engine: &Engine, to: &str, from: &str) -> String {
    let placed = call(
        engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", to), ("From", from)],
    )
    .await;
    assert_eq!(placed.0, 201, "{placed:?}");
    placed.1["call_sid"].as_str().expect("call_sid").to_owned()
}

/// The form parameters of every request `app` received at `path`, in order.
fn requests(app: &App, path: &str) -> Vec<Vec<(String, String)>> {
    app.received()
        .into_iter()
        .filter(|r| r.target.split('?').next() == Some(path))
        .map(|r| form(&r.body))
        .collect()
}

async fn hang_up(engine: &Engine, sid: &str) {
    let answer = call(
        engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Hangup", engine.base_url),
        &[],
    )
    .await;
    if answer.0 != 200 {
        let transcript = call(
            engine,
            "GET",
            &format!("{}/sandbox/Calls/{sid}", engine.base_url),
            &[],
        )
        .await;
        panic!("hanging up {sid}: {answer:?}\n{transcript:?}");
    }
}

async fn received_at_least(app: &App, path: &str, count: usize) {
    let seen = eventually(std::time::Duration::from_secs(15), async || {
        requests(app, path).len() >= count
    })
    .await;
    assert!(
        seen,
        "{path}: wanted {count} requests, got {:?}",
        requests(app, path)
    );
}

#[tokio::test]
async fn a_wait_url_answering_500_falls_over_to_the_fallback() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/room",
        200,
        XML,
        "<Response><Dial><Conference waitUrl=\"/broken-wait\" startConferenceOnEnter=\"false\">lonely</Conference></Dial></Response>",
    );
    app.route("/broken-wait", 500, "text/html", "<h1>down</h1>");
    app.route(
        "/fallback",
        200,
        XML,
        "<Response><Say>Fallback hold music.</Say><Pause length=\"1\"/></Response>",
    );
    provision(
        &engine,
        "+15550700001",
        &app.url("/room"),
        Some(&app.url("/fallback")),
    )
    .await;
    let sid = place_live(&engine, "+15550700001", "+15551230001").await;
    // The fallback's hold document runs and, when it runs out, the wait URL is tried again.
    received_at_least(&app, "/fallback", 2).await;
    hang_up(&engine, &sid).await;
    let transcript = finished(&engine, &sid).await;
    let fallback = requests(&app, "/fallback");
    assert_eq!(
        param(&fallback[0], "ErrorCode"),
        Some("11200"),
        "{fallback:?}"
    );
    assert_eq!(
        param(&fallback[0], "ErrorUrl"),
        Some(app.url("/broken-wait").as_str())
    );
    assert_eq!(param(&fallback[0], "FriendlyName"), Some("lonely"));
    let webhooks = events(&transcript, "webhook");
    assert!(
        webhooks
            .iter()
            .any(|w| w["http_status"] == 500 && w["fallback"] == false),
        "{transcript}"
    );
    assert!(
        webhooks
            .iter()
            .any(|w| w["fallback"] == true && w["http_status"] == 200),
        "{transcript}"
    );
    let says = events(&transcript, "say");
    assert!(
        says.iter().any(|say| say["text"] == "Fallback hold music."),
        "{transcript}"
    );
    let alerts = events(&transcript, "alert");
    assert!(
        alerts.iter().any(|a| a["error_code"] == 11200),
        "{transcript}"
    );
    let joined: Vec<&Value> = events(&transcript, "conference");
    assert_eq!(joined[0]["action"], "join", "{transcript}");
    assert_eq!(joined[0]["name"], "lonely");
}

fn queue_app(app: &App) {
    app.route(
        "/enqueue",
        200,
        XML,
        "<Response><Enqueue action=\"/queue-done\" waitUrl=\"/hold\">support</Enqueue><Say>After the queue.</Say></Response>",
    );
    app.route(
        "/hold",
        200,
        XML,
        "<Response><Say>You are in line.</Say><Pause length=\"5\"/></Response>",
    );
    app.route(
        "/agent",
        200,
        XML,
        "<Response><Dial action=\"/agent-done\" timeout=\"20\"><Queue>support</Queue></Dial></Response>",
    );
    app.route("/agent-done", 200, XML, "<Response><Hangup/></Response>");
    app.route(
        "/queue-done",
        200,
        XML,
        "<Response><Say>Thanks for waiting.</Say></Response>",
    );
}

const CALLER_LINE: &str = "+15550700010";
const AGENT_LINE: &str = "+15550700011";

async fn queue_engine(app: &App) -> Engine {
    let engine = start();
    queue_app(app);
    provision(&engine, CALLER_LINE, &app.url("/enqueue"), None).await;
    provision(&engine, AGENT_LINE, &app.url("/agent"), None).await;
    engine
}

fn number(params: &[(String, String)], name: &str) -> u64 {
    param(params, name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {params:?}"))
}

#[tokio::test]
async fn a_queued_caller_hears_hold_music_with_increasing_queue_time_until_an_agent_bridges_it() {
    let app = App::start().await;
    let engine = queue_engine(&app).await;
    // The caller runs on the virtual clock: its hold loop's pauses take no wall time, and its
    // queue time is counted in the same virtual time.
    let caller = place(&engine, CALLER_LINE, &[("From", "+15551230010")]).await;
    received_at_least(&app, "/hold", 3).await;
    let holds = requests(&app, "/hold");
    let times: Vec<u64> = holds.iter().map(|p| number(p, "QueueTime")).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(times[2] >= 10, "two loops of a 5 s pause: {times:?}");
    let first = &holds[0];
    assert_eq!(param(first, "QueuePosition"), Some("1"), "{first:?}");
    assert_eq!(param(first, "CurrentQueueSize"), Some("1"));
    assert_eq!(param(first, "MaxQueueSize"), Some("1000"));
    assert_eq!(param(first, "AvgQueueTime"), Some("0"));
    let queue_sid = param(first, "QueueSid").expect("QueueSid").to_owned();
    assert!(queue_sid.starts_with("QU"), "{queue_sid}");
    // The queue and its member through REST.
    let queue = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Queues/{queue_sid}.json")),
        &[],
    )
    .await;
    assert_eq!(queue.0, 200, "{queue:?}");
    assert_eq!(queue.1["friendly_name"], "support");
    assert_eq!(queue.1["current_size"], 1);
    let front = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Queues/{queue_sid}/Members/Front.json")),
        &[],
    )
    .await;
    assert_eq!(front.1["call_sid"], caller.as_str(), "{front:?}");
    assert_eq!(front.1["position"], 1);
    // The agent dials the queue and is bridged with the caller; the agent hangs up later.
    let agent = place_live(&engine, AGENT_LINE, "+15551230011").await;
    let bridged = eventually(std::time::Duration::from_secs(10), async || {
        let queue = call(
            &engine,
            "GET",
            &engine.account_url(&format!("Queues/{queue_sid}.json")),
            &[],
        )
        .await;
        queue.1["current_size"] == 0
    })
    .await;
    assert!(bridged, "the caller was not dequeued");
    hang_up(&engine, &agent).await;
    let transcript = finished(&engine, &caller).await;
    let enqueue = events(&transcript, "enqueue");
    assert_eq!(enqueue[0]["queue"], "support", "{transcript}");
    assert_eq!(enqueue[0]["queue_sid"], queue_sid.as_str());
    let result = events(&transcript, "enqueue_result");
    assert_eq!(result[0]["result"], "bridged", "{transcript}");
    let done = requests(&app, "/queue-done");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(param(&done[0], "QueueResult"), Some("bridged"));
    assert_eq!(param(&done[0], "QueueSid"), Some(queue_sid.as_str()));
    assert!(number(&done[0], "QueueTime") >= times[2], "{done:?}");
    let says = events(&transcript, "say");
    assert!(
        says.iter().any(|say| say["text"] == "Thanks for waiting."),
        "{transcript}"
    );
    let agent_transcript = finished(&engine, &agent).await;
    let dialled = events(&agent_transcript, "dial_result");
    assert_eq!(
        dialled[0]["dial_call_status"], "completed",
        "{agent_transcript}"
    );
    assert_eq!(dialled[0]["dial_call_sid"], caller.as_str());
    assert_eq!(dialled[0]["bridged"], true);
    let after = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Queues/{queue_sid}.json")),
        &[],
    )
    .await;
    assert_eq!(after.1["current_size"], 0, "{after:?}");
}

#[tokio::test]
async fn a_queued_caller_who_hangs_up_first_gets_hangup() {
    let app = App::start().await;
    let engine = queue_engine(&app).await;
    let caller = place(&engine, CALLER_LINE, &[("From", "+15551230012")]).await;
    received_at_least(&app, "/hold", 1).await;
    hang_up(&engine, &caller).await;
    let transcript = finished(&engine, &caller).await;
    assert_eq!(events(&transcript, "enqueue_result")[0]["result"], "hangup");
    received_at_least(&app, "/queue-done", 1).await;
    let done = requests(&app, "/queue-done");
    assert_eq!(param(&done[0], "QueueResult"), Some("hangup"), "{done:?}");
    assert_eq!(param(&done[0], "CallStatus"), Some("completed"));
}

#[tokio::test]
async fn leave_full_queues_and_rest_dequeue_each_end_the_enqueue_with_their_result() {
    let app = App::start().await;
    let engine = queue_engine(&app).await;
    app.route(
        "/leave-hold",
        200,
        XML,
        "<Response><Say>One moment.</Say><Leave/></Response>",
    );
    app.route(
        "/leave",
        200,
        XML,
        "<Response><Enqueue action=\"/queue-done\" waitUrl=\"/leave-hold\">quick</Enqueue><Say>Back from the queue.</Say></Response>",
    );
    app.route(
        "/small",
        200,
        XML,
        "<Response><Enqueue action=\"/queue-done\" waitUrl=\"/hold\">small</Enqueue></Response>",
    );
    app.route(
        "/moved",
        200,
        XML,
        "<Response><Say>You were moved.</Say></Response>",
    );
    provision(&engine, "+15550700012", &app.url("/leave"), None).await;
    provision(&engine, "+15550700013", &app.url("/small"), None).await;
    // <Leave> in the wait document: QueueResult=leave, and the TwiML after <Enqueue> runs.
    let leaver = place(&engine, "+15550700012", &[]).await;
    let transcript = finished(&engine, &leaver).await;
    assert_eq!(events(&transcript, "enqueue_result")[0]["result"], "leave");
    let says: Vec<&Value> = events(&transcript, "say");
    assert!(
        says.iter().any(|s| s["text"] == "Thanks for waiting."),
        "{transcript}"
    );
    // A queue of one: the second caller is turned away with queue-full.
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Queues.json"),
        &[("FriendlyName", "small"), ("MaxSize", "1")],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["max_size"], 1);
    let queue_sid = created.1["sid"].as_str().expect("sid").to_owned();
    let first = place_live(&engine, "+15550700013", "+15551230013").await;
    let seen = eventually(std::time::Duration::from_secs(10), async || {
        requests(&app, "/hold")
            .iter()
            .any(|p| param(p, "CallSid") == Some(first.as_str()))
    })
    .await;
    assert!(seen, "the first caller did not wait");
    let second = place(&engine, "+15550700013", &[("From", "+15551230014")]).await;
    let turned_away = finished(&engine, &second).await;
    assert_eq!(
        events(&turned_away, "enqueue_result")[0]["result"],
        "queue-full",
        "{turned_away}"
    );
    let listed = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Queues/{queue_sid}/Members.json")),
        &[],
    )
    .await;
    assert_eq!(
        listed.1["queue_members"][0]["call_sid"],
        first.as_str(),
        "{listed:?}"
    );
    // Dequeued through Members with a Url: the call goes on there.
    let dequeued = call(
        &engine,
        "POST",
        &engine.account_url(&format!("Queues/{queue_sid}/Members/{first}.json")),
        &[("Url", &app.url("/moved")), ("Method", "POST")],
    )
    .await;
    assert_eq!(dequeued.0, 200, "{dequeued:?}");
    let moved = finished(&engine, &first).await;
    assert_eq!(
        events(&moved, "enqueue_result")[0]["result"],
        "redirected",
        "{moved}"
    );
    assert!(
        events(&moved, "say")
            .iter()
            .any(|s| s["text"] == "You were moved."),
        "{moved}"
    );
    let deleted = call(
        &engine,
        "DELETE",
        &engine.account_url(&format!("Queues/{queue_sid}.json")),
        &[],
    )
    .await;
    assert_eq!(deleted.0, 204, "{deleted:?}");
    let list = call(&engine, "GET", &engine.account_url("Queues.json"), &[]).await;
    let names: Vec<&Value> = list.1["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| &q["friendly_name"])
        .collect();
    assert!(!names.contains(&&Value::from("small")), "{list:?}");
}
