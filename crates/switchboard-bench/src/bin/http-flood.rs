//! The HTTP limits under a flood (issue 20): idle connections (connect, send nothing) and
//! slowloris connections (half a head, then one header line every 10 s) far beyond the
//! engine's cap, reconnecting a second after the engine closes them, while `/healthz` and an
//! authenticated REST fetch are timed, each on a new connection, and the engine's RSS sampled.
//!
//! Usage: `bench/http-flood.sh [IDLE] [SLOWLORIS] [SECONDS] [ENGINE FLAGS…]` (defaults 20000,
//! 3000, 30; the engine runs with its default limits unless flags are given). With
//! `HTTP_FLOOD_CHECK` set it also checks what the issue asks (every timed request answered,
//! slowloris closed within the header timeout plus 1 s, RSS under `RSS_LIMIT_KIB`) and exits 1
//! when a check fails: the test `tests/http_flood.rs` runs it that way at full size. The script raises
//! `ulimit -n` to the hard limit; the flood runs in two child processes of this binary
//! (`http-flood --hold ADDR IDLE SLOWLORIS SECONDS INDEX`) so none needs more descriptors than
//! that. Each flood connection has a source address of its own (`127.0.1.INDEX+1`, port
//! 10000 and up) instead of an ephemeral port: with 23,000 ephemeral ports of 28,000 taken,
//! every `connect` searched the port range, the flood's processes spent their time in the
//! kernel and their clocks ran ten seconds late.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_test_support::engine::{Engine, scratch_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long a flood connection waits after the engine closed it before connecting again, in
/// seconds (`HTTP_FLOOD_RECONNECT`, default 1; longer than the run: each connects once).
fn reconnect_after() -> Duration {
    let seconds = std::env::var("HTTP_FLOOD_RECONNECT")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(seconds)
}
/// A slowloris connection's pace: one header line this often (as in the probe).
const SLOW_LINE_EVERY: Duration = Duration::from_secs(10);
/// Connections are opened over this long at the start, not all in the same instant.
const RAMP: Duration = Duration::from_secs(5);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if args.first().map(String::as_str) == Some("--hold") {
        let number = |index: usize| -> u64 {
            args.get(index)
                .and_then(|arg| arg.parse().ok())
                .expect("--hold ADDR IDLE SLOWLORIS SECONDS INDEX")
        };
        let address: SocketAddr = args[1].parse().expect("an address");
        let seconds = Duration::from_secs(number(4));
        let source = std::net::Ipv4Addr::new(127, 0, 1, number(5) as u8 + 1);
        runtime.block_on(hold(address, number(2), number(3), seconds, source));
        return;
    }
    let number = |index: usize, default: u64| {
        args.get(index)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(default)
    };
    let (idle, slowloris, seconds) = (number(0, 20_000), number(1, 3_000), number(2, 30));
    let flags: Vec<String> = args.iter().skip(3).cloned().collect();
    let header_timeout = flags
        .iter()
        .position(|flag| flag == "--http-header-timeout")
        .and_then(|at| flags.get(at + 1))
        .and_then(|value| value.parse().ok())
        .map_or(DEFAULT_HEADER_TIMEOUT, Duration::from_secs);
    let report = runtime.block_on(measure(
        idle,
        slowloris,
        Duration::from_secs(seconds),
        flags,
    ));
    if std::env::var_os("HTTP_FLOOD_CHECK").is_some() {
        let failures = report.failures(header_timeout);
        for failure in &failures {
            println!("FAILED: {failure}");
        }
        if !failures.is_empty() {
            std::process::exit(1);
        }
        println!("every check passed");
    }
}

/// The engine's `--http-header-timeout` when the flags do not set it.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The RSS the engine may reach under the full flood with its default cap of 10,000
/// connections (`HTTP_FLOOD_CHECK`). Measured: 138 MiB peak for a debug build (34 MiB before),
/// about 10 KiB per held connection (a task, a registry entry, a socket; hyper's buffers only
/// for connections that sent bytes). Twice that leaves room for allocator and runtime variance;
/// the engine that the issue probed, with no cap, reached 712 MB at 21,000 connections.
const RSS_LIMIT_KIB: u64 = 256 * 1024;

/// What one run measured.
struct Report {
    /// Each timed request's name, latencies of the answered ones, and failures.
    requests: Vec<(String, Vec<Duration>, u32)>,
    /// How long each probing slowloris connection lived before the engine closed it.
    probes: Vec<Duration>,
    /// How late this process's runtime woke at worst: the probes' measurement error.
    lag: Duration,
    rss_peak_kib: u64,
}

impl Report {
    /// What the issue asks of the engine under the flood, as failed checks (`HTTP_FLOOD_CHECK`).
    fn failures(&self, header_timeout: Duration) -> Vec<String> {
        let mut failures = Vec::new();
        for (name, latencies, failed) in &self.requests {
            if *failed > 0 || latencies.is_empty() {
                failures.push(format!(
                    "{name}: {failed} failed, {} answered",
                    latencies.len()
                ));
            }
        }
        let allowed = header_timeout + Duration::from_secs(1) + self.lag;
        match self.probes.iter().max() {
            None => failures.push("no probing slowloris connection was closed".to_owned()),
            Some(longest) if *longest > allowed => failures.push(format!(
                "a slowloris connection lived {longest:?}, more than the header timeout + 1 s (+ {:?} of this process's lag)",
                self.lag
            )),
            Some(_) => {}
        }
        if self.rss_peak_kib > RSS_LIMIT_KIB {
            failures.push(format!(
                "the engine's RSS peaked at {} MiB, over {} MiB",
                self.rss_peak_kib / 1024,
                RSS_LIMIT_KIB / 1024
            ));
        }
        failures
    }
}

/// Starts the engine, the two flooding processes and the timed requests; prints the report
/// and returns it.
async fn measure(idle: u64, slowloris: u64, seconds: Duration, flags: Vec<String>) -> Report {
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("switchboard");
    let dir = scratch_dir("http-flood");
    let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let env = flags_as_env(&flags);
    let engine = Engine::start_on(&binary, dir, database_url, env);
    let pid = engine_pid(&engine).expect("the engine's process");
    let address: SocketAddr = engine.base_url["http://".len()..].parse().expect("address");
    let rss_before = rss_kib(pid);
    println!(
        "engine pid {pid}, RSS before the flood {} MiB",
        rss_before / 1024
    );
    let floods: Vec<_> = [idle.div_ceil(2), idle / 2]
        .into_iter()
        .zip([slowloris.div_ceil(2), slowloris / 2])
        .enumerate()
        .map(|(index, (idle, slowloris))| {
            Command::new(std::env::current_exe().expect("exe"))
                .args(["--hold", &address.to_string()])
                .args([idle, slowloris, seconds.as_secs(), index as u64].map(|n| n.to_string()))
                .stdout(Stdio::piped())
                .spawn()
                .expect("a flooding process")
        })
        .collect();
    let sampler = tokio::spawn(sample_rss(pid, seconds + RAMP));
    let lag = tokio::spawn(runtime_lag(Instant::now() + seconds + RAMP));
    let probes = tokio::spawn(probe_slowloris(address, seconds));
    let timings = timed_requests(&engine, seconds + RAMP).await;
    let rss_peak = sampler.await.expect("the RSS sampler");
    let mut probed = probes.await.expect("the probes");
    for flood in floods {
        let output = flood.wait_with_output().expect("a flooding process");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    let mut timings = timings;
    for (name, latencies, failures) in &mut timings {
        latencies.sort_unstable();
        println!(
            "{name}: {} answered, {failures} failed; p50 {:?} p99 {:?} max {:?}",
            latencies.len(),
            percentile(latencies, 50),
            percentile(latencies, 99),
            latencies.last().copied().unwrap_or_default()
        );
    }
    probed.sort_unstable();
    let lag = lag.await.expect("the lag probe");
    println!(
        "probe slowloris (here, a line a second from the end of the ramp): {} closed, lifetime p50 {:?} p99 {:?} max {:?}; this process woke up to {lag:?} late",
        probed.len(),
        percentile(&probed, 50),
        percentile(&probed, 99),
        probed.last().copied().unwrap_or_default(),
    );
    println!(
        "engine RSS: {} MiB before, {} MiB peak during the flood",
        rss_before / 1024,
        rss_peak / 1024
    );
    let metrics = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for line in metrics.lines() {
        if line.starts_with("switchboard_http_connections") {
            println!("{line}");
        }
    }
    Report {
        requests: timings,
        probes: probed,
        lag,
        rss_peak_kib: rss_peak,
    }
}

/// `--max-connections 500` as `SWITCHBOARD_MAX_CONNECTIONS=500` (the test-support engine takes
/// settings as environment variables).
fn flags_as_env(flags: &[String]) -> Vec<(String, String)> {
    flags
        .chunks(2)
        .map(|pair| {
            let name = pair[0].trim_start_matches("--").replace('-', "_");
            let value = pair.get(1).cloned().expect("a value for every flag");
            (format!("SWITCHBOARD_{}", name.to_uppercase()), value)
        })
        .collect()
}

/// The engine's process: the one whose command line names its scratch directory.
fn engine_pid(engine: &Engine) -> Option<u32> {
    let dir = engine.dir().to_str()?.to_owned();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let entry = entry.ok()?;
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let command = std::fs::read(entry.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&command)
            .contains(&dir)
            .then_some(pid)
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn sample_rss(pid: u32, duration: Duration) -> u64 {
    let until = Instant::now() + duration;
    let mut peak = 0;
    while Instant::now() < until {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    peak
}

/// GET /healthz and GET the account, alternately, each on a new connection, until `duration`
/// is over; returns each one's latencies and failures.
async fn timed_requests(engine: &Engine, duration: Duration) -> Vec<(String, Vec<Duration>, u32)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let urls = [
        ("GET /healthz", format!("{}/healthz", engine.base_url)),
        (
            "GET /2010-04-01/Accounts/{sid}.json",
            format!(
                "{}/2010-04-01/Accounts/{}.json",
                engine.base_url, engine.account_sid
            ),
        ),
    ];
    let mut timings: Vec<(String, Vec<Duration>, u32)> = urls
        .iter()
        .map(|(name, _)| ((*name).to_owned(), Vec::new(), 0))
        .collect();
    let until = Instant::now() + duration;
    while Instant::now() < until {
        for ((_, url), (_, latencies, failures)) in urls.iter().zip(timings.iter_mut()) {
            let started = Instant::now();
            let answer = client
                .get(url)
                .basic_auth(&engine.account_sid, Some(&engine.auth_token))
                .send()
                .await;
            match answer {
                Ok(response) if response.status() == 200 => latencies.push(started.elapsed()),
                _ => *failures += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    timings
}

/// `PROBES` slowloris connections opened by this (lightly loaded) process once the flood is at
/// full strength, each sending a header line a second, so that they are never the connection
/// silent longest: their lifetimes are the header timeout as a client sees it.
async fn probe_slowloris(address: SocketAddr, seconds: Duration) -> Vec<Duration> {
    const PROBES: usize = 100;
    tokio::time::sleep(RAMP).await;
    let until = Instant::now() + seconds;
    let probes: Vec<_> = (0..PROBES)
        .map(|_| {
            tokio::spawn(async move {
                let mut lifetimes = Vec::new();
                while Instant::now() < until {
                    let Ok(mut stream) = TcpStream::connect(address).await else {
                        continue;
                    };
                    let started = Instant::now();
                    stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n")
                        .await
                        .ok();
                    let mut buffer = [0_u8; 64];
                    loop {
                        let read =
                            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer));
                        match read.await {
                            Ok(_) => break,
                            Err(_) => {
                                if stream.write_all(b"X-Probe: 1\r\n").await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    lifetimes.push(started.elapsed());
                }
                lifetimes
            })
        })
        .collect();
    let mut lifetimes = Vec::new();
    for probe in probes {
        lifetimes.extend(probe.await.expect("a probe"));
    }
    lifetimes
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// The flooding half: `idle` and `slowloris` connections kept up for `seconds` after a ramp;
/// prints how long the engine let each kind live.
async fn hold(
    address: SocketAddr,
    idle: u64,
    slowloris: u64,
    seconds: Duration,
    source: std::net::Ipv4Addr,
) {
    let until = Instant::now() + RAMP + seconds;
    let total = idle + slowloris;
    let tasks: Vec<_> = (0..total)
        .map(|index| {
            let start = RAMP.mul_f64(index as f64 / total.max(1) as f64);
            // Slowloris connections spread evenly among the idle ones.
            let slow = (index * slowloris) / total != ((index + 1) * slowloris) / total;
            tokio::spawn(async move {
                tokio::time::sleep(start).await;
                let port = 10_000 + u16::try_from(index).expect("at most 55,000 per process");
                let from = SocketAddr::from((source, port));
                (
                    slow,
                    connect_again_and_again(from, address, slow, until).await,
                )
            })
        })
        .collect();
    let lag = tokio::spawn(runtime_lag(until));
    let mut lifetimes = [Vec::new(), Vec::new()];
    let mut open_at_end = [0, 0];
    let mut failed_connects = [0, 0];
    for task in tasks {
        let (slow, held) = task.await.expect("a flood task");
        let kind = usize::from(slow);
        lifetimes[kind].extend(held.closed);
        open_at_end[kind] += u64::from(held.open_at_end);
        failed_connects[kind] += held.failed_connects;
    }
    println!(
        "flood process {}: its runtime woke up to {:?} late",
        std::process::id(),
        lag.await.expect("the lag probe")
    );
    for (kind, name) in ["idle", "slowloris"].iter().enumerate() {
        let closed = &mut lifetimes[kind];
        closed.sort_unstable();
        println!(
            "{name} (pid {}): {} closed by the engine, lifetime p50 {:?} p99 {:?} max {:?}; {} open at the end; {} connects failed",
            std::process::id(),
            closed.len(),
            percentile(closed, 50),
            percentile(closed, 99),
            closed.last().copied().unwrap_or_default(),
            open_at_end[kind],
            failed_connects[kind],
        );
    }
}

/// How late this process's runtime wakes a 100 ms sleep at worst, until `until`: a lifetime
/// measured here is late by as much (the flood's own processes share the cores).
async fn runtime_lag(until: Instant) -> Duration {
    let mut worst = Duration::ZERO;
    while Instant::now() < until {
        let asked = Instant::now() + Duration::from_millis(100);
        tokio::time::sleep_until(asked.into()).await;
        worst = worst.max(asked.elapsed());
    }
    worst
}

async fn connect_from(from: SocketAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    // The previous connection from this address may still be closing.
    socket.set_reuseaddr(true)?;
    socket.bind(from)?;
    socket.connect(to).await
}

struct Held {
    closed: Vec<Duration>,
    open_at_end: bool,
    failed_connects: u64,
}

/// One flood connection: connect, be idle (or slow), and when the engine closes it connect
/// again after `reconnect_after()`, until `until`.
async fn connect_again_and_again(
    from: SocketAddr,
    address: SocketAddr,
    slow: bool,
    until: Instant,
) -> Held {
    let reconnect_after = reconnect_after();
    let mut held = Held {
        closed: Vec::new(),
        open_at_end: false,
        failed_connects: 0,
    };
    while Instant::now() < until {
        let Ok(stream) = connect_from(from, address).await else {
            held.failed_connects += 1;
            tokio::time::sleep(reconnect_after).await;
            continue;
        };
        let started = Instant::now();
        let (mut reader, mut writer) = stream.into_split();
        if slow {
            writer
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: flood\r\n")
                .await
                .ok();
        }
        let mut line =
            tokio::time::interval_at((started + SLOW_LINE_EVERY).into(), SLOW_LINE_EVERY);
        let mut buffer = [0_u8; 64];
        let closed = loop {
            tokio::select! {
                _ = reader.read(&mut buffer) => break true,
                _ = line.tick(), if slow => {
                    if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break true;
                    }
                }
                () = tokio::time::sleep_until(until.into()) => break false,
            }
        };
        if !closed {
            held.open_at_end = true;
            break;
        }
        held.closed.push(started.elapsed());
        tokio::time::sleep(reconnect_after).await;
    }
    held
}
