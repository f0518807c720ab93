//! Conference load (issue 18): `CONFERENCES` conferences of `SIZE` real SIP participants each,
//! placed by one sipp (`bench/sipp/conference-load.xml`, numbers and RTP ports from an `-inf`
//! CSV), every participant's SDP pointing at a socket of this process, which sends a 20 ms
//! PCMU frame on absolute deadlines and times every frame the engine sends back (the mix of the
//! others). On the plateau it measures the engine's CPU (`/proc/<pid>/stat`) and how late the
//! engine's frames arrive (the deviation of each inter-arrival time from 20 ms; "late" is more
//! than 20 ms past its slot). Then every conference is ended by REST (`Status=completed`) and
//! the engine hangs up every call.
//!
//! Usage: `conference-load [CONFERENCES] [SIZE] [HOLD]` (defaults 100 3 20). It spawns the
//! release `switchboard` next to itself and needs `sipp` (Debian `sip-tester`).

#[path = "sip-load/engine.rs"]
#[allow(dead_code)]
mod engine;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::post;
use engine::{EngineProcess, cpu_seconds};
use tokio::net::UdpSocket;

async fn start_app() -> String {
    let room = |UrlPath(n): UrlPath<usize>| async move {
        (
            [("content-type", "text/xml")],
            format!(
                "<Response><Dial><Conference beep=\"false\">room-{n}</Conference></Dial></Response>"
            ),
        )
    };
    let app = Router::new().route("/room/{n}", post(room));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the TwiML app");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{address}")
}

/// What one participant's socket saw while measuring.
#[derive(Default)]
struct Seen {
    /// |inter-arrival − 20 ms| of each frame, in µs.
    deviations_us: Vec<u64>,
    late: usize,
    frames: usize,
}

async fn participant(socket: UdpSocket, stop: Arc<AtomicBool>, measure: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut engine = None;
    let mut buffer = [0u8; 2048];
    let mut last: Option<Instant> = None;
    let start = tokio::time::Instant::now();
    let mut slot = 0u64;
    let frame: Vec<u8> = (0..160u32)
        .map(|n| if n % 16 < 8 { 0x20 } else { 0xA0 })
        .collect();
    let (mut sequence, mut timestamp) = (1u16, 0u32);
    while !stop.load(Ordering::Relaxed) {
        let deadline = start + Duration::from_millis(20 * slot);
        tokio::select! {
            got = socket.recv_from(&mut buffer) => {
                let Ok((length, from)) = got else { continue };
                if length <= 12 {
                    continue;
                }
                engine.get_or_insert(from);
                let now = Instant::now();
                if measure.load(Ordering::Relaxed) {
                    if let Some(previous) = last {
                        let gap = now.duration_since(previous).as_micros() as u64;
                        seen.deviations_us.push(gap.abs_diff(20_000));
                        if gap > 40_000 {
                            seen.late += 1;
                        }
                    }
                    seen.frames += 1;
                }
                last = Some(now);
            }
            () = tokio::time::sleep_until(deadline) => {
                slot += 1;
                let Some(to) = engine else { continue };
                let mut packet = vec![0x80, 0];
                packet.extend_from_slice(&sequence.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&0x0c0f_0000u32.to_be_bytes());
                packet.extend_from_slice(&frame);
                let _ = socket.send_to(&packet, to).await;
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
            }
        }
    }
    seen
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("arguments are numbers: see the usage"))
        .collect();
    let conferences = args.first().copied().unwrap_or(100);
    let size = args.get(1).copied().unwrap_or(3);
    let hold = args.get(2).copied().unwrap_or(20) as u64;
    let total = conferences * size;
    let binary = std::env::current_exe()
        .expect("own path")
        .with_file_name("switchboard");
    let engine = EngineProcess::start(&binary, "20000-29999", total + 100);
    let app = start_app().await;
    let client = reqwest::Client::new();
    for n in 0..conferences {
        let response = client
            .post(engine.account_url("IncomingPhoneNumbers.json"))
            .basic_auth(&engine.account_sid, Some(&engine.auth_token))
            .form(&[
                ("PhoneNumber", format!("+1555091{n:04}")),
                ("VoiceUrl", format!("{app}/room/{n}")),
            ])
            .send()
            .await
            .expect("provisioning");
        assert_eq!(response.status(), 201);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let measure = Arc::new(AtomicBool::new(false));
    let mut csv = String::from("SEQUENTIAL\n");
    let mut tasks = Vec::new();
    for index in 0..total {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let port = socket.local_addr().expect("addr").port();
        csv.push_str(&format!("+1555091{:04};{port}\n", index % conferences));
        tasks.push(tokio::spawn(participant(
            socket,
            stop.clone(),
            measure.clone(),
        )));
    }
    let dir = engine::scratch_dir("conference-sipp");
    std::fs::write(dir.join("calls.csv"), csv).expect("csv");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/sipp/conference-load.xml");
    let sipp_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a port for sipp");
    let mut sipp = tokio::process::Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(&scenario)
        .arg(engine.sip_addr.to_string())
        .args(["-inf", "calls.csv", "-i", "127.0.0.1"])
        .args(["-p", &sipp_port.to_string()])
        .args([
            "-m",
            &total.to_string(),
            "-r",
            "100",
            "-l",
            &total.to_string(),
        ])
        .args(["-nostdin", "-timeout", "300s", "-trace_err"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("running sipp");
    // Ramp: wait until every conference runs with every participant.
    let ramp = Instant::now();
    loop {
        let url = engine.account_url("Conferences.json?Status=in-progress&PageSize=1000");
        let body: serde_json::Value = client
            .get(url)
            .basic_auth(&engine.account_sid, Some(&engine.auth_token))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let running = body["conferences"].as_array().map_or(0, Vec::len);
        if running >= conferences || ramp.elapsed() > Duration::from_secs(120) {
            println!("conferences running: {running} after {:?}", ramp.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_before = cpu_seconds(engine.pid);
    let window = Instant::now();
    measure.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(hold)).await;
    measure.store(false, Ordering::Relaxed);
    let cpu = cpu_seconds(engine.pid) - cpu_before;
    let seconds = window.elapsed().as_secs_f64();
    let url = engine.account_url("Conferences.json?Status=in-progress&PageSize=1000");
    let body: serde_json::Value = client
        .get(url)
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    for conference in body["conferences"].as_array().cloned().unwrap_or_default() {
        let sid = conference["sid"].as_str().unwrap_or_default();
        client
            .post(engine.account_url(&format!("Conferences/{sid}.json")))
            .basic_auth(&engine.account_sid, Some(&engine.auth_token))
            .form(&[("Status", "completed")])
            .send()
            .await
            .expect("end");
    }
    let status = tokio::time::timeout(Duration::from_secs(120), sipp.wait()).await;
    stop.store(true, Ordering::Relaxed);
    let mut deviations = Vec::new();
    let (mut late, mut frames, mut silent) = (0, 0, 0);
    for task in tasks {
        let seen = task.await.expect("participant");
        if seen.frames == 0 {
            silent += 1;
        }
        late += seen.late;
        frames += seen.frames;
        deviations.extend(seen.deviations_us);
    }
    deviations.sort_unstable();
    println!("conferences: {conferences}, participants each: {size}, streams: {total}");
    println!("sipp exit: {status:?}");
    println!(
        "engine CPU on the plateau: {:.0}% of a core ({cpu:.1} s in {seconds:.1} s)",
        100.0 * cpu / seconds
    );
    println!(
        "frames received while measuring: {frames}; participants that heard nothing: {silent}"
    );
    println!(
        "inter-arrival deviation from 20 ms: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; frames late by more than 20 ms: {late}",
        percentile(&deviations, 0.5),
        percentile(&deviations, 0.99),
        percentile(&deviations, 1.0)
    );
}
