//! End-to-end tests: the real `switchboard` binary on port 0 with a fresh database, driven
//! through its REST API exactly as a user (or a Twilio helper library) would.

mod amd;
mod bad_input;
mod breaker;
mod call_recordings;
mod caller_ids;
mod cli;
mod cluster;
mod compat;
mod conferences;
mod config;
mod drill;
mod durability;
mod geography;
mod http_limits;
mod last_resort;
mod live_alerts;
mod messaging_services;
mod outbox;
mod probes;
mod recovery;
mod rest;
mod sandbox_streams;
mod scheduled;
mod sip_amd;
mod sip_calls;
mod sip_cluster;
mod sip_conference;
mod sip_limits;
mod sip_midcall;
mod sip_outbound;
mod sip_proxy;
mod sip_recordings;
mod sip_streams;
mod speech;
mod stream_failover;
mod tenancy;
mod usage;
mod voice;
mod voice_calls;
mod voice_legs;
mod voice_random;

use serde_json::Value;
use switchboard_test_support::engine::Engine;

/// Waits until `check` holds, for at most `limit`; returns whether it did.
pub async fn eventually(limit: std::time::Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub fn binary() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

pub fn start() -> Engine {
    Engine::start(binary())
}

/// `start` with extra `serve` flags.
pub fn start_with(args: &[&str]) -> Engine {
    Engine::start_with_args(binary(), args)
}

/// Sends a form request with the main account's credentials; returns status and JSON body.
pub async fn call(engine: &Engine, method: &str, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = engine
        .request(method, url)
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts a Twilio error body with `status` and `code`.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16, code: u64) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["code"], code, "{answer:?}");
    assert_eq!(answer.1["status"], status, "{answer:?}");
    assert_eq!(
        answer.1["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}
