//! The HTTP listener against hostile clients (product.md, "Limits and hostile clients (HTTP)"):
//! idle and slow connections beyond the cap do not keep requests out, each kind is closed on its
//! own timeout or evicted and counted, and SIGTERM ends the process within the drain timeout
//! whatever clients hold open.
//!
//! These are the shapes at a small size; the full-size run (20,000 idle and 3,000
//! slowloris connections, with RSS) is the `http-flood` benchmark (BENCHMARKS.md).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_test_support::engine::{Engine, scratch_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary;

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: usize = 200;
/// How late past its timeout the engine may close a connection.
const SLACK: Duration = Duration::from_secs(1);

/// The engine with `settings` as `SWITCHBOARD_*` variables (read like the flags).
fn start_with(settings: &[(&str, &str)]) -> Engine {
    let dir = scratch_dir("http-limits");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let env = settings
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Engine::start_on(binary(), dir, database_url, env)
}

fn address(engine: &Engine) -> SocketAddr {
    engine
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("the engine's address")
}

/// The head of an authenticated POST whose body (`length` bytes) is still to come: the request
/// is in flight from the moment the head is in.
fn post_head_without_body(engine: &Engine, length: usize) -> String {
    let url = engine.account_url("IncomingPhoneNumbers.json");
    let authorization = reqwest::Client::new()
        .post(&url)
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .build()
        .expect("a request")
        .headers()["authorization"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let path = url.trim_start_matches(&engine.base_url);
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Connects again and again until `until`, each time sending `head` and then `line` every
/// 300 ms (nothing at all when both are empty); returns how long each connection lasted before
/// the engine closed it, or `None` for one still open after 5 s.
async fn hold_connections(
    address: SocketAddr,
    head: &'static str,
    line: &'static str,
    until: Instant,
) -> Vec<Option<Duration>> {
    let mut lifetimes = Vec::new();
    while Instant::now() < until {
        let Ok(stream) = TcpStream::connect(address).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let started = Instant::now();
        let (mut reader, mut writer) = stream.into_split();
        writer.write_all(head.as_bytes()).await.ok();
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        tick.tick().await;
        let mut buffer = [0_u8; 256];
        let closed = loop {
            tokio::select! {
                _ = reader.read(&mut buffer) => break true,
                _ = tick.tick(), if !line.is_empty() => {
                    if writer.write_all(line.as_bytes()).await.is_err() {
                        break true;
                    }
                }
                () = tokio::time::sleep_until((started + Duration::from_secs(5)).into()) => {
                    break false;
                }
            }
        };
        lifetimes.push(closed.then(|| started.elapsed()));
        // An attacker reconnecting at once would only measure how fast the engine accepts.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    lifetimes
}

/// The value of `switchboard_http_connections_closed_total{reason="…"}`.
async fn closed_total(engine: &Engine, reason: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let series = format!("switchboard_http_connections_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_beyond_the_cap_do_not_keep_requests_out() {
    let engine = start_with(&[
        ("SWITCHBOARD_HTTP_HEADER_TIMEOUT", "1"),
        ("SWITCHBOARD_HTTP_IDLE_TIMEOUT", "2"),
        ("SWITCHBOARD_MAX_CONNECTIONS", "200"),
    ]);
    let address = address(&engine);
    let until = Instant::now() + Duration::from_secs(3);
    let idle: Vec<_> = (0..250)
        .map(|_| tokio::spawn(hold_connections(address, "", "", until)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let slow: Vec<_> = (0..30)
        .map(|_| {
            let head = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
            tokio::spawn(hold_connections(address, head, "X-Slow: 1\r\n", until))
        })
        .collect();
    // Through the flood, every request on a new connection is answered.
    let urls = [
        format!("{}/healthz", engine.base_url),
        format!(
            "{}/2010-04-01/Accounts/{}.json",
            engine.base_url, engine.account_sid
        ),
    ];
    let mut latencies = Vec::new();
    while Instant::now() < until {
        for url in &urls {
            let started = Instant::now();
            let response = engine
                .request(reqwest::Method::GET, url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .unwrap_or_else(|error| panic!("GET {url} through the flood: {error}"));
            assert_eq!(response.status(), 200, "GET {url}");
            latencies.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort_unstable();
    eprintln!(
        "{} requests through the flood, slowest {:?}",
        latencies.len(),
        latencies.last()
    );
    for (kind, tasks) in [("idle", idle), ("slowloris", slow)] {
        let started = tasks.len();
        let mut count = 0;
        for task in tasks {
            for lifetime in task.await.expect("a flood task") {
                let lifetime = lifetime.unwrap_or_else(|| panic!("a {kind} connection was kept"));
                assert!(
                    lifetime <= HEADER_TIMEOUT + SLACK,
                    "a {kind} connection lasted {lifetime:?}"
                );
                count += 1;
            }
        }
        assert!(count >= started, "only {count} {kind} connections");
    }
    assert!(closed_total(&engine, "idle_evicted").await > 0);
    assert!(closed_total(&engine, "header_timeout").await > 0);
    an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(address).await;
    assert!(closed_total(&engine, "idle_timeout").await > 0);
    at_the_cap_with_every_connection_busy_a_new_one_is_refused(&engine, address).await;
    assert!(closed_total(&engine, "limit").await > 0);
}

async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(address: SocketAddr) {
    let mut stream = TcpStream::connect(address).await.expect("connecting");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("sending a request");
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 1024];
    // The JSON body of `/healthz` ends with its closing brace.
    while !answer.ends_with(b"}") {
        let read = stream.read(&mut buffer).await.expect("reading the answer");
        assert!(read > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..read]);
    }
    let answered = Instant::now();
    let read = tokio::time::timeout(IDLE_TIMEOUT + SLACK + SLACK, stream.read(&mut buffer))
        .await
        .expect("closed after the idle timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let idle = answered.elapsed();
    assert!(
        idle + Duration::from_millis(100) >= IDLE_TIMEOUT && idle <= IDLE_TIMEOUT + SLACK,
        "closed after {idle:?} idle"
    );
}

async fn at_the_cap_with_every_connection_busy_a_new_one_is_refused(
    engine: &Engine,
    address: SocketAddr,
) {
    let head = post_head_without_body(engine, 64);
    let mut busy = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        let mut stream = TcpStream::connect(address).await.expect("connecting");
        stream.write_all(head.as_bytes()).await.expect("a head");
        busy.push(stream);
    }
    // The heads are complete: once the engine has read them, every connection serves a request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = TcpStream::connect(address).await.expect("connecting");
    refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    let mut buffer = [0_u8; 256];
    let read = tokio::time::timeout(Duration::from_millis(500), refused.read(&mut buffer))
        .await
        .expect("closed at once");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "answered at the cap: {:?}",
        read.map(|n| String::from_utf8_lossy(&buffer[..n]).into_owned())
    );
    drop(busy);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[test]
fn sigterm_exits_within_the_drain_timeout_whatever_clients_hold_open() {
    let mut engine = start_with(&[("SWITCHBOARD_DRAIN_TIMEOUT", "2")]);
    let drain_timeout = Duration::from_secs(2);
    let address = address(&engine);
    let half_sent: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(address).expect("connecting");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
                .expect("half a head");
            stream
        })
        .collect();
    // Requests in flight: complete heads whose bodies never come, and one whose body comes
    // after SIGTERM and is answered.
    let body = "PhoneNumber=%2B15550100001";
    let never = post_head_without_body(&engine, 64);
    let stuck: Vec<std::net::TcpStream> = (0..3)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(address).expect("connecting");
            stream.write_all(never.as_bytes()).expect("a head");
            stream
        })
        .collect();
    let mut finishing = std::net::TcpStream::connect(address).expect("connecting");
    finishing
        .write_all(post_head_without_body(&engine, body.len()).as_bytes())
        .expect("a head");
    std::thread::sleep(Duration::from_millis(300));
    let finisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        finishing.write_all(body.as_bytes()).expect("the body");
        let mut answer = String::new();
        finishing.read_to_string(&mut answer).ok();
        answer
    });
    let started = Instant::now();
    assert!(engine.terminate(), "SIGTERM drains and exits 0");
    let took = started.elapsed();
    assert!(
        took <= drain_timeout + Duration::from_secs(5),
        "exited {took:?} after SIGTERM"
    );
    let answer = finisher.join().expect("the finishing request");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "a request in flight at SIGTERM is answered: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    drop((half_sent, stuck));
}

#[test]
fn the_limits_are_read_from_flags_environment_and_file_and_checked() {
    let dir = scratch_dir("http-limits-config");
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, "http_header_timeout = 0\n").expect("writing the config file");
    let refused = |env: &[(&str, &str)], args: &[&str]| {
        let output = std::process::Command::new(binary())
            .args(["serve", "--http", "127.0.0.1:0", "--sip", "off"])
            .args(args)
            .current_dir(&dir)
            .env_remove("SWITCHBOARD_CONFIG")
            .envs(env.iter().copied())
            .output()
            .expect("running switchboard");
        assert!(!output.status.success(), "{args:?} {env:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let config = file.to_str().expect("a UTF-8 path");
    let from_file = refused(&[], &["--config", config]);
    assert!(from_file.contains("--http-header-timeout"), "{from_file}");
    let from_env = refused(&[("SWITCHBOARD_HTTP_IDLE_TIMEOUT", "0")], &[]);
    assert!(from_env.contains("--http-idle-timeout"), "{from_env}");
    let from_flag = refused(
        &[("SWITCHBOARD_MAX_CONNECTIONS", "5")],
        &["--max-connections", "0"],
    );
    assert!(from_flag.contains("--max-connections"), "{from_flag}");
    let too_long = refused(&[], &["--drain-timeout", "86401"]);
    assert!(too_long.contains("--drain-timeout"), "{too_long}");
    std::fs::remove_dir_all(dir).ok();
}

/// `--metrics ADDR` (here `SWITCHBOARD_METRICS`): `/metrics` is served on a listener of its own,
/// the HTTP port answers Twilio's 404 there, and a scraper holding the metrics port (mid-head
/// and idle) does not hold SIGTERM.
#[tokio::test]
async fn metrics_move_to_their_own_listener() {
    let mut engine = start_with(&[
        ("SWITCHBOARD_METRICS", "127.0.0.1:0"),
        ("SWITCHBOARD_DRAIN_TIMEOUT", "5"),
    ]);
    let metrics_addr = engine
        .metrics_addr
        .expect("the engine printed its metrics address");
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    assert_eq!(crate::call(&engine, "GET", &numbers, &[]).await.0, 200);
    let scraped = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains("# TYPE switchboard_"),
        "Prometheus text: {text}"
    );
    assert!(
        text.contains("switchboard_http_requests_total{route=\"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json\",method=\"GET\",status=\"200\"} 1"),
        "the main port's requests are counted: {text}"
    );
    let on_http = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .unwrap();
    assert_eq!(on_http.status(), 404);
    let json: serde_json::Value = on_http.json().await.unwrap();
    assert_eq!(json["code"], 20404, "{json}");
    let elsewhere = reqwest::get(format!("http://{metrics_addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        404,
        "the metrics port serves only /metrics"
    );

    let mut half_sent = TcpStream::connect(metrics_addr).await.unwrap();
    half_sent
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let _idle = TcpStream::connect(metrics_addr).await.unwrap();
    let started = Instant::now();
    assert!(engine.terminate(), "graceful shutdown exits 0");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "scrapers do not hold the drain: {:?}",
        started.elapsed()
    );
}
