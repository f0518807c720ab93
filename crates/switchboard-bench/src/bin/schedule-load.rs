//! Scheduled messages (issue 19): N messages scheduled through a Messaging Service for one
//! minute are all sent, by one node, within 5 s of their time.
//!
//! Usage: `schedule-load [MESSAGES] [WINDOW_S] [CONCURRENCY]` (defaults 100000, 60 and 32). It
//! starts the release `switchboard` binary next to itself on a fresh SQLite file with
//! `--schedule-min-ahead 1`, provisions a number in a service's pool, and creates the messages
//! through the REST API with `SendAt` spread evenly over a window of `WINDOW_S` seconds (0: all
//! at one instant) that opens once they are all created. While the window runs it samples the
//! engine's count of scheduled messages handed to delivery (`/metrics`) every 50 ms next to how
//! many were due by then; the lateness of the last one is when the count reached N minus the
//! last `SendAt`. Afterwards it reads every message's `date_sent` (whole seconds) to report how
//! late each reached `sent`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_test_support::engine::{Engine, scratch_dir};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for epoch milliseconds (days from the civil calendar).
fn iso8601(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (hour, minute) = (rest / 3_600_000, rest / 60_000 % 60);
    let (second, milli) = (rest / 1000 % 60, rest % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

async fn post(
    engine: &Engine,
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> serde_json::Value {
    let answer = client
        .post(url)
        .basic_auth(&engine.account_sid, Some(&engine.auth_token))
        .form(form)
        .send()
        .await
        .expect("request");
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.json().await.expect("json")
}

/// The engine's count of scheduled messages handed to delivery.
async fn handed_over(client: &reqwest::Client, engine: &Engine) -> usize {
    counter(client, engine, "switchboard_scheduled_messages_sent_total ").await
}

/// The engine's count of messages delivered.
async fn delivered(client: &reqwest::Client, engine: &Engine) -> usize {
    counter(
        client,
        engine,
        "switchboard_messages_status_total{status=\"delivered\"} ",
    )
    .await
}

async fn counter(client: &reqwest::Client, engine: &Engine, prefix: &str) -> usize {
    let text = client
        .get(format!("{}/metrics", engine.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|count| count.trim().parse::<f64>().ok())
        .map_or(0, |count| count as usize)
}

/// A number in a new service's pool; the service's SID.
async fn service(engine: &Engine, client: &reqwest::Client) -> String {
    let number = post(
        engine,
        client,
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550600001")],
    )
    .await;
    let services = format!("{}/v1/Services", engine.base_url);
    let service = post(engine, client, &services, &[("FriendlyName", "load")]).await;
    let sid = service["sid"].as_str().expect("sid").to_owned();
    let pool = format!("{services}/{sid}/PhoneNumbers");
    post(
        engine,
        client,
        &pool,
        &[("PhoneNumberSid", number["sid"].as_str().expect("number"))],
    )
    .await;
    sid
}

/// Creates the messages over `concurrency` connections, `send_at(index)` each.
async fn create_all(
    engine: &Arc<Engine>,
    client: &reqwest::Client,
    service: &str,
    total: usize,
    concurrency: usize,
    send_at: Arc<dyn Fn(usize) -> i64 + Send + Sync>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (engine, client, next, send_at) = (
                engine.clone(),
                client.clone(),
                next.clone(),
                send_at.clone(),
            );
            let (url, service) = (engine.account_url("Messages.json"), service.to_owned());
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    let to = format!("+1555{index:07}");
                    let at = iso8601(send_at(index));
                    let form = [
                        ("To", to.as_str()),
                        ("MessagingServiceSid", &service),
                        ("Body", "reminder"),
                        ("ScheduleType", "fixed"),
                        ("SendAt", &at),
                    ];
                    post(&engine, &client, &url, &form).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}

/// Every message's lateness at `sent` in whole seconds (`date_sent` minus `SendAt`, both
/// truncated to the second), read back through the list in pages of 1000.
async fn sent_lateness(
    engine: &Engine,
    client: &reqwest::Client,
    send_at: &dyn Fn(usize) -> i64,
) -> Vec<i64> {
    let mut late = Vec::new();
    let mut url = Some(format!(
        "{}?PageSize=1000",
        engine.account_url("Messages.json")
    ));
    while let Some(page_url) = url {
        let page: serde_json::Value = client
            .get(&page_url)
            .basic_auth(&engine.account_sid, Some(&engine.auth_token))
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        for message in page["messages"].as_array().into_iter().flatten() {
            let Some(sent) = message["date_sent"]
                .as_str()
                .and_then(switchboard_core::date::parse_rfc2822)
            else {
                continue;
            };
            // The message's `To` is `+1555` and its index, which gives its SendAt.
            let to = message["to"].as_str().unwrap_or_default();
            let Some(index) = to.get(5..).and_then(|digits| digits.parse().ok()) else {
                continue;
            };
            late.push(sent / 1000 - send_at(index) / 1000);
        }
        url = page["next_page_uri"]
            .as_str()
            .map(|next| format!("{}{next}", engine.base_url));
    }
    late
}

/// The engine binary's allocator, so whatever is measured here runs on the same one.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let window_s: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let binary = std::env::current_exe()
        .expect("exe")
        .with_file_name("switchboard");
    let dir = scratch_dir("schedule-load");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let args = vec!["--schedule-min-ahead".to_owned(), "1".to_owned()];
    let engine = Arc::new(Engine::launched(&binary, dir, database, Vec::new(), args));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let service = service(&engine, &client).await;

    // The window opens after creation: estimate creation at 1,000 messages/s at worst, and
    // check afterwards that it really was over before the first message was due.
    let created_at = Instant::now();
    let first_ms = now_ms() + (total as i64).max(10_000) + 5_000;
    let window_ms = window_s as i64 * 1000;
    let spacing_ms = if total > 1 {
        window_ms as f64 / (total - 1) as f64
    } else {
        0.0
    };
    let send_at: Arc<dyn Fn(usize) -> i64 + Send + Sync> =
        Arc::new(move |index| first_ms + (index as f64 * spacing_ms) as i64);
    create_all(
        &engine,
        &client,
        &service,
        total,
        concurrency,
        send_at.clone(),
    )
    .await;
    let creating = created_at.elapsed();
    assert!(
        now_ms() < first_ms,
        "creating took past the window's opening; rerun with fewer messages"
    );
    let last_ms = send_at(total - 1);

    // Sample the count handed over against the count due.
    let mut worst_backlog = (0usize, 0i64);
    let done_ms = loop {
        let count = handed_over(&client, &engine).await;
        let now = now_ms();
        let due = if now < first_ms {
            0
        } else if spacing_ms == 0.0 {
            total
        } else {
            (((now - first_ms) as f64 / spacing_ms) as usize + 1).min(total)
        };
        let backlog = due.saturating_sub(count);
        if backlog > worst_backlog.0 {
            worst_backlog = (backlog, now - first_ms);
        }
        if count >= total {
            break now;
        }
        assert!(
            now < last_ms + 600_000,
            "not all sent 10 minutes after the last was due ({count}/{total})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    while delivered(&client, &engine).await < total {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut late = sent_lateness(&engine, &client, &*send_at).await;
    late.sort_unstable();
    let percentile = |p: f64| {
        late.get(((late.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(-1)
    };
    println!(
        "messages: {total}, window: {window_s} s, concurrency: {concurrency}, cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "created (REST, scheduled) in {:.1} s: {:.0} msg/s",
        creating.as_secs_f64(),
        total as f64 / creating.as_secs_f64()
    );
    println!(
        "last handed to delivery {:.2} s after the last SendAt",
        (done_ms - last_ms) as f64 / 1000.0
    );
    println!(
        "largest backlog seen: {} due and not yet handed over, {:.1} s into the window",
        worst_backlog.0,
        worst_backlog.1 as f64 / 1000.0
    );
    println!(
        "date_sent - SendAt (whole seconds) over {} messages: p50 {} s, p99 {} s, max {} s",
        late.len(),
        percentile(0.5),
        percentile(0.99),
        late.last().copied().unwrap_or(-1)
    );
}
