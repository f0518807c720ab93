//! Voice load (issue 5): sandbox calls per second for the cycle inbound call → Voice URL fetch →
//! `<Say>` → `<Hangup>` → completed status callback, the same with every primary answering 500
//! (the fallback adds a request), the same with a dead primary behind an open circuit breaker
//! (`SwitchboardBreaker`: no connect attempt, the fallback answers), and a bare HTTP client doing
//! the call's two requests against
//! the same app; then RSS with many calls parked in `<Pause length="60">` (virtual clock off).
//!
//! The same calls are also placed against `null-engine` (built next to this tool), which makes a
//! call's four HTTP exchanges and nothing else: the ceiling of this cycle on this machine.
//!
//! Usage: `voice-load [CALLS] [CONCURRENCY] [PARKED]` (defaults 4000, 64, 5000). It spawns the
//! release `switchboard` binary next to itself on a fresh SQLite file.
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use switchboard_bench::load::{calls, cpu_seconds, engine_proc, provision_with, run};
use switchboard_test_support::engine::Engine;

const SAY: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>hi</Say><Hangup/></Response>";
const PAUSE: &str = "<Response><Say>hold</Say><Pause length=\"60\"/></Response>";

async fn start_app() -> String {
    let app = Router::new()
        .route(
            "/voice",
            post(|| async { ([("content-type", "application/xml")], SAY) }),
        )
        .route(
            "/pause",
            post(|| async { ([("content-type", "application/xml")], PAUSE) }),
        )
        .route(
            "/down",
            post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .route(
            "/status",
            post(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("load request");
    let address = listener.local_addr().expect("load request");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{address}")
}

fn engine_rss_kb(db: &str) -> Option<u64> {
    let status = std::fs::read_to_string(engine_proc(db)?.join("status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU seconds the engine has used (`/proc/PID/stat`, 100 ticks a second).
fn engine_cpu_seconds(db: &str) -> f64 {
    engine_proc(db).map_or(f64::NAN, |p| cpu_seconds(&p))
}

async fn provision(
    client: &reqwest::Client,
    engine: &Engine,
    number: &str,
    url: &str,
    fallback: &str,
    status: &str,
) {
    provision_with(client, engine, number, url, fallback, status, false).await;
}

/// Places `total` calls against a freshly spawned `null-engine`: its calls/s and CPU seconds.
async fn null_engine_calls(
    client: &reqwest::Client,
    app: &str,
    total: usize,
    concurrency: usize,
) -> (f64, f64) {
    use std::io::BufRead;
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("null-engine");
    let mut child = std::process::Command::new(&binary)
        .args([format!("{app}/voice"), format!("{app}/status")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("null engine stdout"))
        .read_line(&mut line)
        .expect("null engine address");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("null engine address")
        .to_owned();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let place = |n| {
        calls(
            client.clone(),
            base.clone(),
            "AC".into(),
            "token".into(),
            "+15550500001",
            n,
            concurrency,
        )
    };
    place(200).await;
    let cpu_before = cpu_seconds(&proc_dir);
    let rate = place(total).await;
    let cpu = cpu_seconds(&proc_dir) - cpu_before;
    child.kill().ok();
    child.wait().ok();
    (rate, cpu)
}

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (total, concurrency, parked) = (
        args.first().copied().unwrap_or(4000),
        args.get(1).copied().unwrap_or(64),
        args.get(2).copied().unwrap_or(5000),
    );
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("switchboard");
    let engine = Engine::start(&binary);
    let app = start_app().await;
    let client = reqwest::Client::new();
    provision(
        &client,
        &engine,
        "+15550500001",
        &format!("{app}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
    )
    .await;
    provision(
        &client,
        &engine,
        "+15550500002",
        &format!("{app}/down"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
    )
    .await;
    provision(
        &client,
        &engine,
        "+15550500003",
        &format!("{app}/pause"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
    )
    .await;
    // A dead primary (nothing listens on its port) behind a circuit breaker: once the breaker
    // is open (after the warm-up), no connect attempt is made and the fallback answers.
    let dead = switchboard_test_support::net::refused_addr();
    provision_with(
        &client,
        &engine,
        "+15550500004",
        &format!("http://{dead}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
        true,
    )
    .await;
    // The healthy number again, with its breaker on: what the bookkeeping costs.
    provision_with(
        &client,
        &engine,
        "+15550500005",
        &format!("{app}/voice"),
        &format!("{app}/voice"),
        &format!("{app}/status"),
        true,
    )
    .await;
    let (base, sid, token) = (
        engine.base_url.clone(),
        engine.account_sid.clone(),
        engine.auth_token.clone(),
    );
    // `VOICE_LOAD_ONLY=healthy|guarded|broken`: only that number's warm-up and calls, for
    // instruction counts per phase (the engine under callgrind; see BENCHMARKS.md).
    if let Ok(only) = std::env::var("VOICE_LOAD_ONLY") {
        let number = match only.as_str() {
            "healthy" => "+15550500001",
            "guarded" => "+15550500005",
            "broken" => "+15550500004",
            other => panic!("VOICE_LOAD_ONLY={other}: healthy, guarded or broken"),
        };
        let place = |n| {
            calls(
                client.clone(),
                base.clone(),
                sid.clone(),
                token.clone(),
                number,
                n,
                concurrency,
            )
        };
        place(200).await;
        let rate = place(total).await;
        println!("{only}: {total} calls, {rate:.0} calls/s");
        return;
    }
    // warm-up
    calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500001",
        200,
        concurrency,
    )
    .await;
    let db = engine
        .database_url
        .trim_start_matches("sqlite://")
        .to_owned();
    let cpu_before = engine_cpu_seconds(&db);
    let healthy = calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500001",
        total,
        concurrency,
    )
    .await;
    let cpu_healthy = engine_cpu_seconds(&db) - cpu_before;
    // Right after the healthy run, so both see the same database size.
    let cpu_before = engine_cpu_seconds(&db);
    let guarded = calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500005",
        total,
        concurrency,
    )
    .await;
    let cpu_guarded = engine_cpu_seconds(&db) - cpu_before;
    let cpu_before = engine_cpu_seconds(&db);
    let failing = calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500002",
        total,
        concurrency,
    )
    .await;
    let cpu_failing = engine_cpu_seconds(&db) - cpu_before;
    // The breaker opens during a warm-up (5 failures by default), then stays open for its
    // 30 s cooloff, a probe at most every 30 s after that.
    calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500004",
        200,
        concurrency,
    )
    .await;
    let cpu_before = engine_cpu_seconds(&db);
    let broken = calls(
        client.clone(),
        base.clone(),
        sid.clone(),
        token.clone(),
        "+15550500004",
        total,
        concurrency,
    )
    .await;
    let cpu_broken = engine_cpu_seconds(&db) - cpu_before;
    let app2 = app.clone();
    let bare_client = client.clone();
    let elapsed = run(total, concurrency, move |_| {
        let (client, app) = (bare_client.clone(), app2.clone());
        async move {
            client
                .post(format!("{app}/voice"))
                .form(&[("CallSid", "CA1")])
                .send()
                .await
                .expect("load request")
                .bytes()
                .await
                .expect("load request");
            client
                .post(format!("{app}/status"))
                .form(&[("CallSid", "CA1")])
                .send()
                .await
                .expect("load request")
                .bytes()
                .await
                .expect("load request");
        }
    })
    .await;
    let bare = total as f64 / elapsed.as_secs_f64();
    let (null, null_cpu) = null_engine_calls(&client, &app, total, concurrency).await;
    println!(
        "healthy calls/s {healthy:.0}; failing-primary calls/s {failing:.0} ({:.0}%); bare client cycles/s {bare:.0} (calls = {:.0}% of bare)",
        failing / healthy * 100.0,
        healthy / bare * 100.0
    );
    println!(
        "null engine calls/s {null:.0} ({:.0}% of bare): the engine reaches {:.0}% of it",
        null / bare * 100.0,
        healthy / null * 100.0
    );
    println!(
        "engine CPU per call: healthy {:.0} us, failing primary {:.0} us; null engine {:.0} us",
        cpu_healthy / total as f64 * 1e6,
        cpu_failing / total as f64 * 1e6,
        null_cpu / total as f64 * 1e6
    );
    println!(
        "dead primary behind an open breaker: calls/s {broken:.0} ({:.0}% of healthy), engine CPU per call {:.0} us",
        broken / healthy * 100.0,
        cpu_broken / total as f64 * 1e6
    );
    println!(
        "healthy primary with its breaker on: calls/s {guarded:.0} ({:.0}% of healthy), engine CPU per call {:.0} us (healthy {:.0} us)",
        guarded / healthy * 100.0,
        cpu_guarded / total as f64 * 1e6,
        cpu_healthy / total as f64 * 1e6
    );
    let before = engine_rss_kb(&db).unwrap_or(0);
    let started = Instant::now();
    run(parked, concurrency, {
        let (client, base, sid, token) = (client.clone(), base.clone(), sid.clone(), token.clone());
        move |_| {
            let (client, base, sid, token) =
                (client.clone(), base.clone(), sid.clone(), token.clone());
            async move {
                let r = client
                    .post(format!("{base}/sandbox/Calls"))
                    .basic_auth(&sid, Some(&token))
                    .form(&[("To", "+15550500003")])
                    .send()
                    .await
                    .expect("load request");
                assert_eq!(r.status(), 201);
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = engine_rss_kb(&db).unwrap_or(0);
    println!(
        "parked {parked} calls in {:.1}s: RSS {before} kB -> {after} kB ({:.0} bytes per call)",
        started.elapsed().as_secs_f64(),
        (after.saturating_sub(before) as f64 * 1024.0) / parked as f64
    );
}
