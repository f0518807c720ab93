//! Messaging throughput (issue 6): inbound messages per second for the whole cycle
//! message → SMS URL fetch → one `<Message>` reply → reply delivered, against a minimal local
//! TwiML app, next to a bare HTTP client posting to the same app in the same run.
//!
//! Usage: `messaging-load [MESSAGES] [CONCURRENCY]` (defaults 4000 and 32). It spawns the release
//! `switchboard` binary next to itself on a fresh SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use switchboard_test_support::engine::Engine;

const REPLY: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>ok</Message></Response>";

async fn start_app() -> String {
    let app = Router::new().route(
        "/sms",
        post(|| async { ([("content-type", "application/xml")], REPLY) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind app");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{address}/sms")
}

/// Runs `total` jobs over `concurrency` workers; returns the elapsed time.
async fn run<F, Fut>(total: usize, concurrency: usize, job: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    job(index).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    started.elapsed()
}

async fn delivered(client: &reqwest::Client, engine: &Engine) -> usize {
    let text = client
        .get(format!("{}/metrics", engine.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find(|line| line.starts_with("switchboard_messages_status_total{status=\"delivered\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |count| count as usize)
}

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("switchboard");
    let app_url = start_app().await;
    let engine = Engine::start(&binary);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let created = engine
        .request(
            reqwest::Method::POST,
            &engine.account_url("IncomingPhoneNumbers.json"),
        )
        .form(&[
            ("PhoneNumber", "+15550300001"),
            ("SmsUrl", app_url.as_str()),
        ])
        .send()
        .await
        .expect("provision");
    assert_eq!(created.status(), 201, "provisioning the number");

    let bare = {
        let (client, url) = (client.clone(), app_url.clone());
        run(total, concurrency, move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client
                    .post(&url)
                    .form(&[("Body", "hi")])
                    .send()
                    .await
                    .expect("bare post");
                response.bytes().await.expect("bare body");
            }
        })
        .await
    };

    let engine = Arc::new(engine);
    let sent = {
        let (client, engine) = (client.clone(), engine.clone());
        run(total, concurrency, move |index| {
            let (client, engine) = (client.clone(), engine.clone());
            async move {
                let form = [
                    ("To", "+15550300001".to_owned()),
                    ("From", format!("+1555040{:04}", index % 10_000)),
                    ("Body", "hi".to_owned()),
                ];
                let answer = client
                    .post(format!("{}/sandbox/Messages", engine.base_url))
                    .basic_auth(&engine.account_sid, Some(&engine.auth_token))
                    .form(&form)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(answer.status(), 201);
            }
        })
        .await
    };
    let started = Instant::now() - sent;
    while delivered(&client, &engine).await < total {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "replies were not all delivered within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cycle = started.elapsed();
    let bare_rate = total as f64 / bare.as_secs_f64();
    let cycle_rate = total as f64 / cycle.as_secs_f64();
    println!(
        "messages: {total}, concurrency: {concurrency}, cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("bare client POST to the app        {bare_rate:>10.0} req/s");
    println!(
        "inbound message -> reply delivered {cycle_rate:>10.0} msg/s   (accepting took {:.2} s, all delivered after {:.2} s)",
        sent.as_secs_f64(),
        cycle.as_secs_f64()
    );
    println!("ratio to bare client: {:.3}", cycle_rate / bare_rate);
}
