//! SIP load (issue 7): real calls from sipp into the release engine over loopback.
//!
//! - Throughput: `CALLS` calls at `RATE` calls per second, each INVITE → answer → the engine's
//!   `<Say>` inside `<Gather>` → an RFC 4733 digit from sip-tester's pcap → the Gather action's
//!   `<Hangup/>` → the engine's BYE (`bench/sipp/gather.xml`, about 2.7 s a call).
//! - Concurrency: `PARKED` calls ramped at 100 calls per second into `<Say>Hi</Say><Pause
//!   length="60"/>`, held `HOLD` seconds while the engine streams RTP to each; on the plateau a
//!   few probe calls point their SDP at this process's RTP receiver, which measures the jitter of
//!   what the engine sends (`probe.rs`).
//!
//! Usage: `sip-load [CALLS] [RATE] [PARKED] [HOLD] [PROBES]` (defaults 3000 200 1200 30 8). It
//! spawns the release `switchboard` next to itself on a fresh SQLite file and needs `sipp`
//! (Debian `sip-tester`) and `espeak-ng` on the PATH. Figures are printed as `key: value` lines.

mod engine;
mod probe;
mod sipp;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;

use engine::{EngineProcess, RssSampler};
use sipp::{SippOutcome, SippRun, free_udp_port, scenario};

const GATHER: &str = r#"<Response><Gather numDigits="1" timeout="5" action="/done"><Say>Hello, press one.</Say></Gather></Response>"#;
const DONE: &str = "<Response><Hangup/></Response>";
const PARK: &str = r#"<Response><Say>Hi</Say><Pause length="60"/></Response>"#;
const GATHER_NUMBER: &str = "+15550700001";
const PARK_NUMBER: &str = "+15550700002";
/// The ramp of the concurrency run, calls per second.
const PARK_RATE: usize = 100;

struct Settings {
    calls: usize,
    rate: usize,
    parked: usize,
    hold_seconds: u64,
    probes: usize,
}

fn settings() -> Settings {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("arguments are numbers: see the usage"))
        .collect();
    let arg = |index: usize, default: u64| args.get(index).copied().unwrap_or(default);
    Settings {
        calls: arg(0, 3000) as usize,
        rate: arg(1, 200) as usize,
        parked: arg(2, 1200) as usize,
        hold_seconds: arg(3, 30),
        probes: arg(4, 8) as usize,
    }
}

async fn start_app() -> String {
    let xml = |body: &'static str| move || async move { ([("content-type", "text/xml")], body) };
    let app = Router::new()
        .route("/voice", post(xml(GATHER)))
        .route("/done", post(xml(DONE)))
        .route("/park", post(xml(PARK)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the TwiML app");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{address}")
}

async fn provision(client: &reqwest::Client, engine: &EngineProcess, number: &str, url: &str) {
    let response = client
        .post(engine.account_url("IncomingPhoneNumbers.json"))
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .form(&[("PhoneNumber", number), ("VoiceUrl", url)])
        .send()
        .await
        .expect("provisioning a number");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
}

/// The sum of a metric's samples (all label sets) on the engine's `/metrics`.
async fn metric(client: &reqwest::Client, engine: &EngineProcess, name: &str) -> f64 {
    let Ok(response) = client
        .get(format!("{}/metrics", engine.base_url))
        .send()
        .await
    else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn gather_run(engine: &EngineProcess, calls: usize, rate: usize) -> SippRun {
    SippRun {
        label: "gather",
        scenario: scenario("gather"),
        target: engine.sip_addr,
        service: GATHER_NUMBER.trim_start_matches('+').to_owned(),
        calls,
        rate,
        limit: 5000,
        hold_ms: None,
        keys: Vec::new(),
        media_port: free_udp_port(),
    }
}

fn park_run(engine: &EngineProcess, label: &'static str, calls: usize, hold_ms: u64) -> SippRun {
    let media_port = free_udp_port();
    SippRun {
        label,
        scenario: scenario("park"),
        target: engine.sip_addr,
        service: PARK_NUMBER.trim_start_matches('+').to_owned(),
        calls,
        rate: PARK_RATE,
        limit: calls + 100,
        hold_ms: Some(hold_ms),
        keys: vec![("rtp_port", media_port.to_string())],
        media_port,
    }
}

fn print_sipp(prefix: &str, outcome: &SippOutcome) {
    println!(
        "{prefix}.sipp: created {}, successful {}, failed {}, exit {:?}, wall {:.1}s",
        outcome.created,
        outcome.successful,
        outcome.failed,
        outcome.exit_code,
        outcome.wall.as_secs_f64()
    );
    println!(
        "{prefix}.rates: started {:.1} calls/s, completed {:.1} calls/s; peak concurrent {}; mean answer {:.1} ms; mean call {:.0} ms",
        outcome.creation_rate,
        outcome.completion_rate,
        outcome.peak_concurrent,
        outcome.answer_ms,
        outcome.call_length_ms
    );
}

/// One call of each kind so the TTS cache holds both prompts before anything is measured.
async fn warm_up(engine: &EngineProcess) {
    let gather = gather_run(engine, 1, 1).spawn().finish().await;
    let park = park_run(engine, "warm", 1, 1000).spawn().finish().await;
    assert!(
        gather.successful == 1 && park.successful == 1,
        "warm-up calls failed: {gather:?} {park:?}"
    );
}

async fn throughput(engine: &EngineProcess, client: &reqwest::Client, settings: &Settings) {
    println!("throughput.load_before: {}", load_average());
    let (engine_cpu, sipp_cpu) = (
        engine::cpu_seconds(engine.pid),
        engine::reaped_children_cpu_seconds(),
    );
    let sampler = RssSampler::start(engine.pid);
    let outcome = gather_run(engine, settings.calls, settings.rate)
        .spawn()
        .finish()
        .await;
    let peak_rss = sampler.stop();
    print_sipp("throughput", &outcome);
    println!(
        "throughput.cpu: engine {:.2} s, sipp {:.2} s over {:.1} s wall; engine peak RSS {} kB (VmHWM {} kB)",
        engine::cpu_seconds(engine.pid) - engine_cpu,
        engine::reaped_children_cpu_seconds() - sipp_cpu,
        outcome.wall.as_secs_f64(),
        peak_rss,
        engine::status_kb(engine.pid, "VmHWM")
    );
    println!(
        "throughput.engine: rejected {} (capacity/unavailable), RTP send drops {}",
        metric(client, engine, "sip_calls_rejected_total")
            .await
            .abs(),
        metric(client, engine, "rtp_packets_dropped_total").await
    );
    println!("throughput.load_after: {}", load_average());
}

/// The plateau of the concurrency run: probe calls, engine CPU, RSS and descriptors.
async fn plateau(engine: &EngineProcess, client: &reqwest::Client, settings: &Settings) {
    let ramp = (settings.parked / PARK_RATE) as u64;
    let probe_hold = settings.hold_seconds.saturating_sub(ramp + 5).max(5) * 1000;
    let probe = probe::RtpProbe::start();
    let mut probe_run = park_run(engine, "probe", settings.probes, probe_hold);
    probe_run.keys = vec![("rtp_port", probe.port.to_string())];
    let (cpu_before, started) = (engine::cpu_seconds(engine.pid), Instant::now());
    let sipp_cpu = engine::reaped_children_cpu_seconds();
    let running = probe_run.spawn();
    tokio::time::sleep(Duration::from_millis(probe_hold / 2)).await;
    println!(
        "concurrency.mid_plateau: engine active SIP calls {}, open fds {}, RSS {} kB, load {}",
        metric(client, engine, "sip_active_calls").await,
        engine::open_fds(engine.pid),
        engine::status_kb(engine.pid, "VmRSS"),
        load_average()
    );
    let outcome = running.finish().await;
    let (cpu, wall) = (
        engine::cpu_seconds(engine.pid) - cpu_before,
        started.elapsed().as_secs_f64(),
    );
    let (jitter, baseline) = probe.stop();
    print_sipp("concurrency.probe", &outcome);
    println!(
        "concurrency.plateau_cpu: engine {cpu:.2} s over {wall:.1} s ({:.0}% of one core); probe sipp {:.2} s",
        cpu / wall * 100.0,
        engine::reaped_children_cpu_seconds() - sipp_cpu
    );
    println!(
        "concurrency.jitter: {} streams, {} packets; deviation from 20 ms p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; skipped slots {}, lost {}",
        jitter.streams,
        jitter.packets,
        jitter.p50_ms,
        jitter.p99_ms,
        jitter.max_ms,
        jitter.skipped_slots,
        jitter.lost
    );
    println!(
        "concurrency.jitter_baseline: pacer thread, {} packets; deviation p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        baseline.packets, baseline.p50_ms, baseline.p99_ms, baseline.max_ms
    );
}

async fn concurrency(engine: &EngineProcess, client: &reqwest::Client, settings: &Settings) {
    println!("concurrency.load_before: {}", load_average());
    let (engine_cpu, sipp_cpu) = (
        engine::cpu_seconds(engine.pid),
        engine::reaped_children_cpu_seconds(),
    );
    let sampler = RssSampler::start(engine.pid);
    let bulk = park_run(
        engine,
        "park",
        settings.parked,
        settings.hold_seconds * 1000,
    )
    .spawn();
    let ramp = Duration::from_secs_f64(settings.parked as f64 / PARK_RATE as f64);
    tokio::time::sleep(ramp + Duration::from_secs(2)).await;
    plateau(engine, client, settings).await;
    let outcome = bulk.finish().await;
    let peak_rss = sampler.stop();
    print_sipp("concurrency", &outcome);
    println!(
        "concurrency.cpu: engine {:.2} s, sipp (bulk and probe) {:.2} s over {:.1} s wall; engine peak RSS {} kB",
        engine::cpu_seconds(engine.pid) - engine_cpu,
        engine::reaped_children_cpu_seconds() - sipp_cpu,
        outcome.wall.as_secs_f64(),
        peak_rss
    );
    println!(
        "concurrency.engine: rejected {}, RTP packets sent {}, send drops {}",
        metric(client, engine, "sip_calls_rejected_total")
            .await
            .abs(),
        metric(client, engine, "rtp_packets_sent_total").await,
        metric(client, engine, "rtp_packets_dropped_total").await
    );
    println!("concurrency.load_after: {}", load_average());
}

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let settings = settings();
    let binary = std::env::current_exe()
        .expect("this executable's path")
        .with_file_name("switchboard");
    let engine = EngineProcess::start(&binary, "20000-29999", 5000);
    let app = start_app().await;
    let client = reqwest::Client::new();
    provision(&client, &engine, GATHER_NUMBER, &format!("{app}/voice")).await;
    provision(&client, &engine, PARK_NUMBER, &format!("{app}/park")).await;
    warm_up(&engine).await;
    if settings.calls > 0 {
        throughput(&engine, &client, &settings).await;
    }
    if settings.parked > 0 {
        concurrency(&engine, &client, &settings).await;
    }
}
