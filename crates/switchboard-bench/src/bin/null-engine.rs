//! The ceiling for `voice-load`: a process that makes the same HTTP exchanges as a sandbox call
//! and does nothing else. It answers `POST /sandbox/Calls` with a call SID, then posts the call's
//! parameters to the Voice URL, reads the body, posts a completed status callback, and wakes
//! `GET /sandbox/Calls/{sid}?WaitFor=completed`. No storage, no TwiML, no signing, no transcript:
//! whatever rate it reaches is what four HTTP exchanges per call cost on this machine, so a real
//! engine's calls/s divided by it is the engine's own efficiency.
//!
//! Usage: `null-engine VOICE_URL STATUS_URL`; prints `listening on http://ADDR` on stdout.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::Notify;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A call that has been placed: set done, then notified, once its status callback is answered.
#[derive(Default)]
struct Call {
    done: AtomicBool,
    finished: Notify,
}

struct Relay {
    client: reqwest::Client,
    voice_url: String,
    status_url: String,
    next: AtomicU64,
    calls: Mutex<HashMap<String, Arc<Call>>>,
}

/// The parameters a Voice URL request carries (as the engine sends them, less the signature).
fn parameters(sid: &str, to: &str, status: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "AccountSid",
            "AC00000000000000000000000000000000".to_owned(),
        ),
        ("ApiVersion", "2010-04-01".to_owned()),
        ("CallSid", sid.to_owned()),
        ("CallStatus", status.to_owned()),
        ("Called", to.to_owned()),
        ("Caller", "+15005550006".to_owned()),
        ("Direction", "inbound".to_owned()),
        ("From", "+15005550006".to_owned()),
        ("To", to.to_owned()),
    ]
}

async fn place(State(relay): State<Arc<Relay>>, body: String) -> impl IntoResponse {
    let sid = format!("CA{:032x}", relay.next.fetch_add(1, Ordering::Relaxed));
    let call = Arc::new(Call::default());
    relay
        .calls
        .lock()
        .expect("calls")
        .insert(sid.clone(), call.clone());
    // The load tool sends `To=%2B1…&Clock=fast`; only the number is needed.
    let to = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("To="))
        .unwrap_or_default()
        .replace("%2B", "+");
    let (relay, task_sid) = (relay.clone(), sid.clone());
    tokio::spawn(async move {
        let fetched = relay
            .client
            .post(&relay.voice_url)
            .form(&parameters(&task_sid, &to, "ringing"))
            .send()
            .await;
        if let Ok(response) = fetched {
            let _ = response.bytes().await;
        }
        let mut callback = parameters(&task_sid, &to, "completed");
        callback.push(("CallDuration", "0".to_owned()));
        callback.push(("CallbackSource", "call-progress-events".to_owned()));
        callback.push(("SequenceNumber", "0".to_owned()));
        if let Ok(response) = relay
            .client
            .post(&relay.status_url)
            .form(&callback)
            .send()
            .await
        {
            let _ = response.bytes().await;
        }
        call.done.store(true, Ordering::Release);
        call.finished.notify_waiters();
    });
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "call_sid": sid })),
    )
}

async fn wait(State(relay): State<Arc<Relay>>, Path(sid): Path<String>) -> impl IntoResponse {
    let call = relay.calls.lock().expect("calls").get(&sid).cloned();
    let Some(call) = call else {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({})));
    };
    let finished = call.finished.notified();
    tokio::pin!(finished);
    // Registered before the flag is read, so a notification between the two is not missed.
    finished.as_mut().enable();
    if !call.done.load(Ordering::Acquire) {
        finished.await;
    }
    relay.calls.lock().expect("calls").remove(&sid);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "call_sid": sid, "status": "completed", "events": [] })),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(voice_url), Some(status_url)) = (args.first(), args.get(1)) else {
        eprintln!("usage: null-engine VOICE_URL STATUS_URL");
        std::process::exit(2);
    };
    let relay = Arc::new(Relay {
        client: reqwest::Client::new(),
        voice_url: voice_url.clone(),
        status_url: status_url.clone(),
        next: AtomicU64::new(1),
        calls: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/sandbox/Calls", post(place))
        .route("/sandbox/Calls/{sid}", get(wait))
        .with_state(relay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the null engine");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("null engine address")
    );
    axum::serve(listener, app).await.expect("null engine");
}
