//! What the load tools share: running jobs at a fixed concurrency, placing sandbox calls,
//! provisioning numbers, and reading an engine process's CPU time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use switchboard_test_support::engine::Engine;

pub async fn run<F, Fut>(total: usize, concurrency: usize, job: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, job) = (next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                job(n).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("load request");
    }
    started.elapsed()
}

/// The engine's `/proc/PID` directory, found by the database path on its command line.
pub fn engine_proc(db: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd)
                .contains(db)
                .then(|| entry.path())
        })
}

/// User plus system CPU seconds of the process whose `/proc` directory this is.
pub fn cpu_seconds(proc_dir: &std::path::Path) -> f64 {
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

pub async fn provision_with(
    client: &reqwest::Client,
    engine: &Engine,
    number: &str,
    url: &str,
    fallback: &str,
    status: &str,
    breaker: bool,
) {
    let r = client
        .post(engine.account_url("IncomingPhoneNumbers.json"))
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .form(&[
            ("PhoneNumber", number),
            ("VoiceUrl", url),
            ("VoiceFallbackUrl", fallback),
            ("StatusCallback", status),
            ("SwitchboardBreaker", if breaker { "true" } else { "false" }),
        ])
        .send()
        .await
        .expect("load request");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

pub async fn calls(
    client: reqwest::Client,
    base: String,
    sid: String,
    token: String,
    to: &'static str,
    total: usize,
    concurrency: usize,
) -> f64 {
    let elapsed = run(total, concurrency, move |_| {
        let (client, base, sid, token) = (client.clone(), base.clone(), sid.clone(), token.clone());
        async move {
            let placed: serde_json::Value = client
                .post(format!("{base}/sandbox/Calls"))
                .basic_auth(&sid, Some(&token))
                .form(&[("To", to), ("Clock", "fast")])
                .send()
                .await
                .expect("load request")
                .json()
                .await
                .expect("load request");
            let call = placed["call_sid"]
                .as_str()
                .expect("load request")
                .to_owned();
            let done = client
                .get(format!(
                    "{base}/sandbox/Calls/{call}?WaitFor=completed&Timeout=30"
                ))
                .basic_auth(&sid, Some(&token))
                .send()
                .await
                .expect("load request");
            assert_eq!(done.status(), 200);
        }
    })
    .await;
    total as f64 / elapsed.as_secs_f64()
}
