//! Webhook benchmarks (a small bench binary; run with `cargo bench -p switchboard-webhook`).
//!
//! 1. Overhead: TwiML fetches per second through `fetch_twiml` (sign, send, classify, parse with
//!    the real `switchboard_twiml::parse`) against a minimal local HTTP server, next to a bare
//!    reqwest loop (POST the same form, read the body) against the same server in the same run.
//!    Both use the same concurrency; rounds alternate and the median round ratio is reported.
//! 2. Failover latency: from the moment the primary has written its 500 (or, for a refused
//!    connection, from the start of the fetch, and again less a paired bare measure of the two
//!    refused connects the default `rc=1` makes) to the first byte of the fallback request reaching
//!    the fallback server, p50/p99 over many sequential sessions.
//!
//! Chosen over criterion because both figures are ratios/percentiles of one run against one
//! server, which a custom loop reports directly.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_webhook::{
    Channel, ClientSettings, CookieJar, Endpoint, FallbackScope, FetchPlan, Method, TwimlOutcome,
    WebhookClient, fetch_twiml,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const DOCUMENT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Gather numDigits=\"1\" action=\"/menu\"><Say>Press 1 for sales, 2 for support.</Say></Gather><Say>Goodbye.</Say></Response>";

/// Timestamps the servers record: when the primary finished writing its 500, when the fallback
/// saw the first byte of a request.
#[derive(Default)]
struct Marks {
    primary_answered: Option<Instant>,
    fallback_first_byte: Vec<Instant>,
}

type SharedMarks = Arc<Mutex<Marks>>;

/// Connections accepted by the servers (keep-alive sanity check).
static ACCEPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn params() -> Vec<(String, String)> {
    [
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+15005550006"),
        ("To", "+15551234567"),
        ("FromCity", "SAN FRANCISCO"),
        ("FromCountry", "US"),
        ("ToCountry", "US"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A minimal keep-alive HTTP/1.1 server: `/fail` answers 500, anything else the document.
async fn start_server(marks: SharedMarks, is_fallback: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(serve(stream, marks.clone(), is_fallback));
        }
    });
    format!("http://{addr}")
}

async fn serve(mut stream: TcpStream, marks: SharedMarks, is_fallback: bool) {
    let _ = stream.set_nodelay(true);
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{DOCUMENT}",
        DOCUMENT.len()
    );
    let fail = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nboom";
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let mut first_byte = None;
        let (head_end, length) = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    first_byte.get_or_insert_with(Instant::now);
                    buffer.extend_from_slice(&chunk[..n]);
                }
            }
        };
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let failing = buffer.starts_with(b"POST /fail") || buffer.starts_with(b"GET /fail");
        buffer.drain(..head_end + length);
        if let (true, Some(at)) = (is_fallback, first_byte) {
            marks.lock().expect("marks").fallback_first_byte.push(at);
        }
        let reply = if failing {
            fail.as_bytes()
        } else {
            ok.as_bytes()
        };
        if failing {
            // Marked just before the write, so the client cannot see the answer first.
            marks.lock().expect("marks").primary_answered = Some(Instant::now());
        }
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn parse(body: &[u8]) -> Result<switchboard_twiml::Parsed, switchboard_core::ErrorCode> {
    switchboard_twiml::parse(body, switchboard_twiml::Context::Voice)
        .map_err(|rejected| rejected.error.code)
}

/// A bare reqwest client: defaults, or the same transport settings as the webhook client
/// (connect/read timeouts, no redirects, title-case headers, no proxy).
fn bare_client(same_settings: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder().http1_only().no_proxy();
    let builder = if same_settings {
        builder
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .http1_title_case_headers()
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(switchboard_webhook::connect::EngineResolver))
    } else {
        builder
    };
    builder.build().expect("client")
}

async fn bare_round(client: reqwest::Client, base: &str, total: usize, workers: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url) = (client.clone(), format!("{base}/voice"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / workers {
                // Built per request, as the webhook loop does (an engine builds them per call).
                let params = params();
                let response = client
                    .post(&url)
                    .form(&params)
                    .send()
                    .await
                    .expect("bare send");
                let body = response.bytes().await.expect("bare body");
                assert_eq!(body.len(), DOCUMENT.len());
            }
        }));
    }
    for task in tasks {
        task.await.expect("bare worker");
    }
    (total / workers * workers) as f64 / started.elapsed().as_secs_f64()
}

async fn webhook_round(
    client: Arc<WebhookClient>,
    base: &str,
    total: usize,
    workers: usize,
) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url) = (client.clone(), format!("{base}/voice"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / workers {
                let plan = FetchPlan {
                    primary: Endpoint::new(url.clone(), Method::Post),
                    fallback: None,
                    params: params(),
                    initial: true,
                    scope: FallbackScope::All,
                    breaker: false,
                };
                let mut jar = CookieJar::new();
                let result = fetch_twiml(
                    &client,
                    "bench-token",
                    &mut jar,
                    plan,
                    Channel::Voice,
                    parse,
                )
                .await;
                assert!(
                    matches!(result.outcome, TwimlOutcome::Answer { .. }),
                    "{:?}",
                    result.outcome
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("webhook worker");
    }
    (total / workers * workers) as f64 / started.elapsed().as_secs_f64()
}

async fn send_only_round(
    client: Arc<WebhookClient>,
    base: &str,
    total: usize,
    workers: usize,
) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url) = (client.clone(), format!("{base}/voice"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / workers {
                let request =
                    switchboard_webhook::WebhookRequest::form(url.clone(), Method::Post, params());
                let exchange = client
                    .send(request, "bench-token", &mut CookieJar::new())
                    .await;
                assert!(exchange.result.is_ok());
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    (total / workers * workers) as f64 / started.elapsed().as_secs_f64()
}

/// Process CPU time (user + system) from `/proc/self/stat`, in seconds; 0 where unavailable.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name; USER_HZ is 100.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs a round; returns its wall-clock rate and its rate per CPU-second of the whole process
/// (client and server), which is steadier than wall-clock on a shared machine.
async fn measured(round: impl std::future::Future<Output = f64>) -> (f64, f64) {
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let rate = round.await;
    let (cpu, wall) = (cpu_seconds() - cpu_before, started.elapsed().as_secs_f64());
    let done = rate * wall;
    (rate, if cpu > 0.0 { done / cpu } else { 0.0 })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Sequential sessions whose primary fails; returns sorted latencies to the fallback's first byte.
/// For a refused port (`refused` names it) each session is paired with a bare measure of the
/// primary's own answer time, two refused `connect`s (the default `rc=1, rp=ct` tries twice), and
/// the second list holds each session's latency minus its pair: the cost beyond the primary's.
async fn failover_latencies(
    client: &WebhookClient,
    primary: &str,
    fallback: &str,
    marks: &SharedMarks,
    sessions: usize,
    refused: Option<std::net::SocketAddr>,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut latencies = Vec::with_capacity(sessions);
    let mut beyond = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let bare = match refused {
            Some(addr) => {
                let started = Instant::now();
                for _ in 0..2 {
                    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
                }
                Some(started.elapsed())
            }
            None => None,
        };
        marks.lock().expect("marks").primary_answered = None;
        let plan = FetchPlan {
            primary: Endpoint::new(primary.to_string(), Method::Post),
            fallback: Some(Endpoint::new(format!("{fallback}/fallback"), Method::Post)),
            params: params(),
            initial: true,
            scope: FallbackScope::All,
            breaker: false,
        };
        let started = Instant::now();
        let result = fetch_twiml(
            client,
            "bench-token",
            &mut CookieJar::new(),
            plan,
            Channel::Voice,
            parse,
        )
        .await;
        assert!(matches!(
            result.outcome,
            TwimlOutcome::Answer {
                from_fallback: true,
                ..
            }
        ));
        let mut marks = marks.lock().expect("marks");
        let first_byte = marks
            .fallback_first_byte
            .pop()
            .expect("fallback request seen");
        let from = if refused.is_some() {
            started
        } else {
            match marks.primary_answered {
                Some(at) => at,
                None => panic!("primary never answered: {:?}", result.events),
            }
        };
        let latency = first_byte.saturating_duration_since(from);
        latencies.push(latency);
        if let Some(bare) = bare {
            beyond.push(latency.saturating_sub(bare));
        }
    }
    latencies.sort();
    beyond.sort();
    (latencies, beyond)
}

/// Per-operation CPU cost of the pure steps, so the throughput gap can be attributed.
fn component_costs() {
    fn cost(name: &str, iterations: u32, mut step: impl FnMut()) {
        let started = Instant::now();
        for _ in 0..iterations {
            step();
        }
        println!(
            "  {name}: {:.2} µs",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
        );
    }
    let url = url::Url::parse("http://127.0.0.1:8080/voice").expect("url");
    let p = params();
    println!("component costs:");
    cost("twiml parse", 20_000, || {
        std::hint::black_box(parse(DOCUMENT.as_bytes()).is_ok());
    });
    cost("prepare (encode + sign)", 20_000, || {
        std::hint::black_box(switchboard_webhook::request::prepare(
            &url,
            Method::Post,
            &p,
            None,
            "token",
            "idem",
        ));
    });
    cost("target parse", 20_000, || {
        std::hint::black_box(
            switchboard_webhook::request::Target::parse("http://127.0.0.1:8080/voice").is_ok(),
        );
    });
    cost("idempotency token", 20_000, || {
        std::hint::black_box(switchboard_webhook::request::new_idempotency_token());
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    component_costs();
    runtime.block_on(async {
        let requests = env_number("WEBHOOK_BENCH_REQUESTS", 20_000);
        let sessions = env_number("WEBHOOK_BENCH_SESSIONS", 10_000);
        let workers = env_number("WEBHOOK_BENCH_WORKERS", 4);
        let marks = SharedMarks::default();
        let primary = start_server(marks.clone(), false).await;
        let fallback = start_server(marks.clone(), true).await;
        let client = Arc::new(WebhookClient::new(ClientSettings::default()).expect("client"));

        if std::env::var("WEBHOOK_BENCH_ONLY").as_deref() == Ok("send") {
            let (rate, per_cpu) = measured(send_only_round(client.clone(), &primary, requests, workers)).await;
            println!("send only {rate:.0}/s, {per_cpu:.0} per CPU-second");
            return;
        }
        if std::env::var("WEBHOOK_BENCH_ONLY").as_deref() == Ok("fetch") {
            let (rate, per_cpu) = measured(webhook_round(client.clone(), &primary, requests, workers)).await;
            println!("fetch {rate:.0}/s, {per_cpu:.0} per CPU-second");
            return;
        }
        if std::env::var("WEBHOOK_BENCH_ONLY").as_deref() == Ok("bare") {
            let (rate, per_cpu) = measured(bare_round(bare_client(true), &primary, requests, workers)).await;
            println!("bare {rate:.0}/s, {per_cpu:.0} per CPU-second");
            return;
        }
        let rounds = env_number("WEBHOOK_BENCH_ROUNDS", 9);
        bare_round(bare_client(false), &primary, 2000, workers).await;
        webhook_round(client.clone(), &primary, 2000, workers).await;
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for round in 1..=rounds {
            let (bare, bare_cpu) = measured(bare_round(bare_client(true), &primary, requests, workers)).await;
            let (ours, ours_cpu) = measured(webhook_round(client.clone(), &primary, requests, workers)).await;
            let accepted = ACCEPTED.swap(0, std::sync::atomic::Ordering::Relaxed);
            println!(
                "round {round}: bare reqwest {bare:.0}/s ({:.0} per CPU-second), webhook client {ours:.0}/s ({:.0} per CPU-second); {accepted} connections",
                bare_cpu, ours_cpu
            );
            wall.push(ours / bare);
            cpu.push(ours_cpu / bare_cpu);
        }
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        println!(
            "webhook client vs bare reqwest, median of {rounds} interleaved rounds ({requests} fetches, {workers} workers): \
             {:.1}% of the wall-clock rate, {:.1}% of the rate per CPU-second (target >= 80%)",
            100.0 * wall[rounds / 2],
            100.0 * cpu[rounds / 2],
        );

        let refused = refused_addr().await;
        for (name, primary_url, refused) in [
            ("500", format!("{primary}/fail"), None),
            ("refused connection (rc=1: two connect attempts)", format!("http://{refused}/voice"), Some(refused)),
        ] {
            let (latencies, beyond) = failover_latencies(&client, &primary_url, &fallback, &marks, sessions, refused).await;
            println!(
                "failover after {name}, {sessions} sessions: p50 {:?}, p99 {:?}, max {:?} (target p99 <= 1 ms)",
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                latencies[latencies.len() - 1],
            );
            if !beyond.is_empty() {
                println!(
                    "  beyond the primary's own answer time (each session minus its paired bare pair of refused connects): p50 {:?}, p99 {:?}",
                    percentile(&beyond, 0.50),
                    percentile(&beyond, 0.99),
                );
            }
        }
    });
}

async fn refused_addr() -> std::net::SocketAddr {
    switchboard_test_support::net::refused_addr()
}
