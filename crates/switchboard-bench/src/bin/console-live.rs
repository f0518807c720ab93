//! `console-live BASE SID TOKEN [PRESSES]`: how long a transcript event takes to reach an open
//! console call page (issue 16: ≤ 100 ms). A sandbox call loops on `<Gather numDigits="1">`; the
//! page's event stream (`/console/calls/{Sid}/live`) is open, signed in as a browser would be.
//! Each press is timed from just before `POST /sandbox/Calls/{Sid}/Digits` is sent to the moment
//! the page's stream delivers the `gather_result` item, which is an upper bound on "after it
//! happens" (it includes the press's own request). The press's HTTP round trip, measured in the
//! same run, is printed beside it as the baseline.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::any;

const GATHER: &str =
    r#"<Response><Gather numDigits="1" timeout="60"/><Redirect>/voice</Redirect></Response>"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, sid, token, rest @ ..] = args.as_slice() else {
        eprintln!("usage: console-live BASE SID TOKEN [PRESSES]");
        std::process::exit(2);
    };
    let presses: usize = rest.first().map(|n| n.parse()).transpose()?.unwrap_or(100);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app_addr = listener.local_addr()?;
    let app = Router::new().route(
        "/voice",
        any(|| async { ([("content-type", "text/xml")], GATHER) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let number = format!("+1415{:07}", std::process::id() % 10_000_000);
    let created = client
        .post(format!(
            "{base}/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
        ))
        .basic_auth(sid, Some(token))
        .form(&[
            ("PhoneNumber", number.as_str()),
            ("VoiceUrl", &format!("http://{app_addr}/voice")),
        ])
        .send()
        .await?;
    assert!(
        created.status().is_success(),
        "provisioning: {}",
        created.status()
    );

    // Sign in: the form's token and cookie, then the form.
    let form = client.get(format!("{base}/console/signin")).send().await?;
    let signin_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_signin="))
        .and_then(|v| v.split(';').next())
        .ok_or("no sign-in cookie")?
        .to_owned();
    let html = form.text().await?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no form token")?
        .to_owned();
    let signed = client
        .post(format!("{base}/console/signin"))
        .header("cookie", signin_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("AccountSid", sid),
            ("AuthToken", token),
        ])
        .send()
        .await?;
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_session="))
        .and_then(|v| v.split(';').next())
        .ok_or("sign-in failed")?
        .to_owned();

    let started: serde_json::Value = client
        .post(format!("{base}/sandbox/Calls"))
        .basic_auth(sid, Some(token))
        .form(&[("To", number.as_str())])
        .send()
        .await?
        .json()
        .await?;
    let call = started["call_sid"].as_str().ok_or("no call")?.to_owned();
    let mut stream = client
        .get(format!("{base}/console/calls/{call}/live?from=0"))
        .header("cookie", &session)
        .send()
        .await?;
    let mut buffer = String::new();
    // Reads the stream until `needle` has arrived after `from` (an offset into `buffer`).
    async fn until(
        stream: &mut reqwest::Response,
        buffer: &mut String,
        from: usize,
        needle: &str,
    ) -> Result<usize, Box<dyn std::error::Error>> {
        loop {
            if let Some(at) = buffer[from..].find(needle) {
                return Ok(from + at + needle.len());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), stream.chunk())
                .await?
                .map_err(|e| e.to_string())?
                .ok_or("the stream ended")?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let mut seen = until(&mut stream, &mut buffer, 0, "data-type=\"gather\"").await?;
    let mut arrivals = Vec::new();
    let mut round_trips = Vec::new();
    for _ in 0..presses {
        let sent = Instant::now();
        let press = {
            let client = client.clone();
            let url = format!("{base}/sandbox/Calls/{call}/Digits");
            let (sid, token) = (sid.clone(), token.clone());
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .basic_auth(sid, Some(token))
                    .form(&[("Digits", "1")])
                    .send()
                    .await;
                (response.map(|r| r.status()), sent.elapsed())
            })
        };
        seen = until(
            &mut stream,
            &mut buffer,
            seen,
            "data-type=\"gather_result\"",
        )
        .await?;
        arrivals.push(sent.elapsed());
        let (status, round_trip) = press.await?;
        assert!(status?.is_success(), "a press was refused");
        round_trips.push(round_trip);
        seen = until(&mut stream, &mut buffer, seen, "data-type=\"gather\"").await?;
    }
    let _ = client
        .post(format!("{base}/sandbox/Calls/{call}/Hangup"))
        .basic_auth(sid, Some(token))
        .send()
        .await;
    arrivals.sort();
    round_trips.sort();
    for (label, times) in [
        ("press → item on the open call page", &arrivals),
        ("press request round trip (baseline)", &round_trips),
    ] {
        println!(
            "{label:<40} p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms   ({} presses)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            times.len()
        );
    }
    Ok(())
}
