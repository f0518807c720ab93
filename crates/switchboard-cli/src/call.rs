//! `switchboard call`: places a sandbox call on a running engine, presses `--digits` once the
//! call is answered, prints the transcript as it happens, and exits 0 when the call completes
//! normally (status `completed`).
//!
//! The transcript is followed by long-polling `GET /sandbox/Calls/{sid}?WaitFor=completed` with
//! a short timeout: each answer (408 while the call runs, 200 at its end) carries every event so
//! far, and only the new ones are printed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::remote::{Remote, failure};

#[derive(Debug, Args)]
pub struct CallArgs {
    /// A number provisioned on the engine.
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "+15005550006")]
    pub from: String,
    /// Keys the caller presses once the call is answered (`0-9*#`, `w` = half a second).
    #[arg(long, value_parser = parse_digits)]
    pub digits: Option<String>,
    /// Run the call on the virtual clock (pauses and timeouts take no wall time).
    #[arg(long)]
    pub fast: bool,
    /// Seconds to wait for the call to end.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    #[command(flatten)]
    pub remote: Remote,
}

/// `--digits`, checked before any call is placed, by the sandbox's own rule.
fn parse_digits(text: &str) -> Result<String, String> {
    if !text.is_empty()
        && text
            .chars()
            .all(|key| key.is_ascii_digit() || matches!(key, '*' | '#' | 'w'))
    {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "must be one or more of 0-9, *, # and w (half a second), not {text:?}"
        ))
    }
}

pub async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    let mut form = vec![("To", args.to.clone()), ("From", args.from.clone())];
    let mut digits = args.digits.clone();
    if args.fast {
        // On the virtual clock a gather's timeout passes at once: the keys go with the call
        // (the sandbox hands them to the first gather).
        form.push(("Clock", "fast".to_owned()));
        if let Some(keys) = digits.take() {
            form.push(("Digits", keys));
        }
    }
    let response = args
        .remote
        .post(&client, "/sandbox/Calls")
        .form(&form)
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    let created: Value = response.json().await?;
    let sid = created["call_sid"].as_str().unwrap_or_default().to_owned();
    println!("{sid} {} -> {}", args.from, args.to);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let path = format!("/sandbox/Calls/{sid}?WaitFor=completed&Timeout=0.25");
    let mut printed = 0;
    loop {
        let response = args.remote.get(&client, &path).send().await?;
        let over = response.status().is_success();
        if !over && response.status() != reqwest::StatusCode::REQUEST_TIMEOUT {
            return Err(failure(response).await);
        }
        let transcript: Value = response.json().await?;
        let events = transcript["events"].as_array().cloned().unwrap_or_default();
        for event in events.iter().skip(printed) {
            println!("  {}", describe(event));
        }
        printed = printed.max(events.len());
        let status = transcript["status"].as_str().unwrap_or_default();
        if over {
            println!("call {sid} ended: {status}");
            return Ok(if status == "completed" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if status == "in-progress"
            && let Some(keys) = digits.take()
        {
            let pressed = args
                .remote
                .post(&client, &format!("/sandbox/Calls/{sid}/Digits"))
                .form(&[("Digits", keys.as_str())])
                .send()
                .await?;
            if !pressed.status().is_success() {
                eprintln!("pressing {keys} failed: {}", failure(pressed).await);
            }
        }
        if Instant::now() > deadline {
            eprintln!("the call did not end within {}s", args.timeout);
            return Ok(ExitCode::FAILURE);
        }
    }
}

pub(crate) fn describe(event: &Value) -> String {
    let text = |name: &str| match &event[name] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let at = event["at_ms"].as_u64().unwrap_or_default();
    let what = match event["type"].as_str().unwrap_or_default() {
        "webhook" => {
            let status = event["http_status"]
                .as_u64()
                .map_or("no answer".to_owned(), |s| s.to_string());
            let error = event["error_code"]
                .as_u64()
                .map_or(String::new(), |code| format!(" error {code}"));
            let fallback = if event["fallback"] == true {
                " (fallback)"
            } else {
                ""
            };
            format!(
                "webhook {} {}{fallback}: {status}{error}",
                text("method"),
                text("url")
            )
        }
        "say" if event["source"] == "platform" => format!("say (platform): {}", text("text")),
        "say" => format!("say: {}", text("text")),
        "play" => format!("play {}{}", text("url"), text("digits")),
        "pause" => format!("pause {}s", text("length")),
        "gather" => format!("gather {} (timeout {}s)", text("input"), text("timeout")),
        "gather_result" => format!(
            "gathered digits {:?} speech {:?}",
            text("digits"),
            text("speech")
        ),
        "record" => format!("record (max {}s)", text("max_length")),
        "record_result" => format!("recorded {} ({}s)", text("recording_sid"), text("duration")),
        "dial" => format!("dial {}", event["targets"]),
        "dial_result" => format!(
            "dial ended {} ({}, {}s)",
            text("dial_call_status"),
            text("dial_call_sid"),
            text("duration")
        ),
        "message" => format!("sms to {}: {}", text("to"), text("body")),
        "redirect" => format!("redirect {}", text("url")),
        "reject" => format!("reject {}", text("reason")),
        "hangup" => format!("hangup by {}", text("by")),
        "status" => format!("status {}", text("status")),
        "alert" => format!("alert {} {}", text("error_code"), text("level")),
        "drill" => format!(
            "drill: {} treated as failed ({})",
            text("url"),
            text("error_code")
        ),
        other => format!("{other} {event}"),
    };
    format!("{at:>6} ms {what}")
}
