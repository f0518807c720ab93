//! Randomized calls (virtual clock) against apps that fail in every way the engine classifies:
//! every call reaches a terminal status, every failed webhook has an alert, and no call is left
//! running. The seed is printed so a failure can be replayed (`VOICE_SEED=…`).

use std::collections::HashMap;

use serde_json::Value;
use switchboard_test_support::app::App;

use crate::call;
use crate::voice::{events, provision};

const XML: &str = "text/xml";

/// A small xorshift generator: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn routes(app: &App) {
    let table: &[(&str, u16, &str, &str)] = &[
        (
            "/say",
            200,
            XML,
            "<Response><Say>hello</Say><Hangup/></Response>",
        ),
        (
            "/gather",
            200,
            XML,
            "<Response><Gather numDigits=\"1\" action=\"/say\" timeout=\"3\"><Say>press</Say></Gather><Say>no input</Say></Response>",
        ),
        (
            "/gather-broken",
            200,
            XML,
            "<Response><Gather numDigits=\"1\" action=\"/500\"><Say>press</Say></Gather></Response>",
        ),
        ("/500", 500, "text/plain", "boom"),
        ("/404", 404, "text/plain", "missing"),
        ("/invalid", 200, XML, "<Response><Say>unclosed</Response>"),
        ("/wrong-root", 200, XML, "<Foo/>"),
        ("/text", 200, "text/plain", "plain words"),
        ("/no-type", 200, "application/octet-stream", "???"),
        (
            "/loop",
            200,
            XML,
            "<Response><Redirect>/loop</Redirect></Response>",
        ),
        (
            "/pause",
            200,
            XML,
            "<Response><Pause length=\"60\"/><Say>after the pause</Say></Response>",
        ),
        (
            "/dial-busy",
            200,
            XML,
            "<Response><Dial timeout=\"20\">+15559990002</Dial><Say>they were busy</Say></Response>",
        ),
        (
            "/dial-silent",
            200,
            XML,
            "<Response><Dial timeout=\"20\">+15559990003</Dial></Response>",
        ),
        (
            "/record",
            200,
            XML,
            "<Response><Record timeout=\"1\" action=\"/say\"/><Say>nothing recorded</Say></Response>",
        ),
        (
            "/reject",
            200,
            XML,
            "<Response><Reject reason=\"busy\"/></Response>",
        ),
        (
            "/client",
            200,
            XML,
            "<Response><Dial><Client>alice</Client></Dial><Say>no clients</Say></Response>",
        ),
        (
            "/sms",
            200,
            XML,
            "<Response><Sms>hi from the call</Sms></Response>",
        ),
    ];
    for (path, status, content_type, body) in table {
        app.route(path, *status, content_type, body);
    }
}

#[tokio::test]
async fn randomized_calls_against_failing_apps_all_end_with_alerts_for_every_failure() {
    let seed = std::env::var("VOICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
                | 1
        });
    println!("VOICE_SEED={seed}");
    let mut rng = Rng(seed);
    let engine = crate::start();
    let app = App::start().await;
    routes(&app);
    for (number, answer) in [("+15559990002", "busy"), ("+15559990003", "no-answer")] {
        let set = call(
            &engine,
            "POST",
            &format!("{}/sandbox/Phones/{number}", engine.base_url),
            &[("Answer", answer)],
        )
        .await;
        assert_eq!(set.0, 200);
    }
    let refused = format!(
        "http://{}/voice",
        switchboard_test_support::net::refused_addr()
    );
    let primaries = [
        "/say",
        "/gather",
        "/gather-broken",
        "/500",
        "/404",
        "/invalid",
        "/wrong-root",
        "/text",
        "/no-type",
        "/loop",
        "/pause",
        "/dial-busy",
        "/dial-silent",
        "/record",
        "/reject",
        "/client",
        "/sms",
        "refused",
    ];
    let fallbacks = ["", "/say", "/500", "/invalid", "/gather", "/text"];
    let url = |path: &str| {
        if path == "refused" {
            refused.clone()
        } else {
            app.url(path)
        }
    };
    let mut numbers = Vec::new();
    for index in 0..24 {
        let number = format!("+155504{index:05}");
        let primary = primaries[rng.below(primaries.len())];
        let fallback = fallbacks[rng.below(fallbacks.len())];
        let fallback_url = (!fallback.is_empty()).then(|| url(fallback));
        provision(&engine, &number, &url(primary), fallback_url.as_deref()).await;
        numbers.push(number);
    }
    const CALLS: usize = 2_000;
    let mut plans = Vec::new();
    for _ in 0..CALLS {
        let number = numbers[rng.below(numbers.len())].clone();
        let action = rng.below(4);
        plans.push((number, action));
    }
    let base = engine.base_url.clone();
    let (sid, token) = (engine.account_sid.clone(), engine.auth_token.clone());
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (number, action) in plans {
        let (client, base, sid, token) = (client.clone(), base.clone(), sid.clone(), token.clone());
        tasks.spawn(async move {
            let mut form = vec![("To", number), ("Clock", "fast".to_owned())];
            if action == 1 {
                form.push(("Digits", "7".to_owned()));
            }
            let placed: Value = client
                .post(format!("{base}/sandbox/Calls"))
                .basic_auth(&sid, Some(&token))
                .form(&form)
                .send()
                .await
                .expect("place")
                .json()
                .await
                .expect("placed");
            let call_sid = placed["call_sid"].as_str().expect("call_sid").to_owned();
            if action == 2 {
                let _ = client
                    .post(format!("{base}/sandbox/Calls/{call_sid}/Hangup"))
                    .basic_auth(&sid, Some(&token))
                    .send()
                    .await;
            }
            let response = client
                .get(format!(
                    "{base}/sandbox/Calls/{call_sid}?WaitFor=completed&Timeout=40"
                ))
                .basic_auth(&sid, Some(&token))
                .send()
                .await
                .expect("transcript");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("transcript body");
            (call_sid, status, body)
        });
    }
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut count = 0;
    while let Some(joined) = tasks.join_next().await {
        let (call_sid, http_status, transcript) = joined.expect("call task");
        count += 1;
        assert_eq!(http_status, 200, "call {call_sid} is stuck: {transcript}");
        let status = transcript["status"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["completed", "busy", "no-answer", "canceled", "failed"].contains(&status.as_str()),
            "{call_sid} ended {status}: {transcript}"
        );
        let failures = events(&transcript, "webhook")
            .iter()
            .filter(|hook| !hook["error_code"].is_null())
            .count();
        let alerts = events(&transcript, "alert").len();
        assert!(
            alerts >= failures,
            "{call_sid}: {failures} failed webhooks but {alerts} alerts: {transcript}"
        );
        let platform = events(&transcript, "say")
            .iter()
            .any(|say| say["source"] == "platform");
        assert!(
            !platform || alerts > 0,
            "{call_sid}: platform prompt without alert"
        );
        let last = events(&transcript, "status")
            .last()
            .map(|e| e["status"].clone());
        assert_eq!(last, Some(Value::String(status.clone())), "{transcript}");
        *statuses.entry(status).or_default() += 1;
    }
    assert_eq!(count, CALLS);
    println!("statuses: {statuses:?}");
    for status in ["queued", "ringing", "in-progress"] {
        let listed = call(
            &engine,
            "GET",
            &engine.account_url(&format!("Calls.json?Status={status}&PageSize=1000")),
            &[],
        )
        .await;
        assert_eq!(
            listed.1["calls"].as_array().map(Vec::len),
            Some(0),
            "calls left {status}: {listed:?}"
        );
    }
}
