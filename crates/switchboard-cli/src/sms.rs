//! `switchboard sms`: sends a sandbox message to a running engine, waits for its session to end,
//! and prints what happened and the replies.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::remote::{Remote, failure};

#[derive(Debug, Args)]
pub struct SmsArgs {
    /// A number provisioned on the engine.
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "+15005550006")]
    pub from: String,
    #[arg(long, default_value = "")]
    pub body: String,
    /// Media URL to attach (repeatable).
    #[arg(long = "media-url")]
    pub media: Vec<String>,
    /// Seconds to wait for the session to end.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    pub remote: Remote,
}

pub async fn run(args: SmsArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    let mut form = vec![
        ("To", args.to.clone()),
        ("From", args.from.clone()),
        ("Body", args.body.clone()),
    ];
    form.extend(args.media.iter().map(|url| ("MediaUrl", url.clone())));
    let response = args
        .remote
        .post(&client, "/sandbox/Messages")
        .form(&form)
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    let created: Value = response.json().await?;
    let sid = created["message_sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!("{sid} {} -> {}: {}", args.from, args.to, args.body);
    let path = format!(
        "/sandbox/Messages/{sid}?WaitFor=done&Timeout={}",
        args.timeout
    );
    let response = args.remote.get(&client, &path).send().await?;
    let timed_out = response.status() == reqwest::StatusCode::REQUEST_TIMEOUT;
    let transcript: Value = response.json().await?;
    for event in transcript["events"].as_array().into_iter().flatten() {
        println!("  {}", describe(event));
    }
    let replies = transcript["replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for reply in &replies {
        let media = reply["media"].as_array().map(|m| m.len()).unwrap_or(0);
        let media = if media > 0 {
            format!(" (+{media} media)")
        } else {
            String::new()
        };
        println!(
            "reply {} -> {}: {}{media}",
            reply["from"].as_str().unwrap_or(""),
            reply["to"].as_str().unwrap_or(""),
            reply["body"].as_str().unwrap_or("")
        );
    }
    if timed_out {
        eprintln!(
            "the message's session did not finish within {}s",
            args.timeout
        );
        return Ok(ExitCode::FAILURE);
    }
    if replies.is_empty() {
        println!("(no reply)");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(event: &Value) -> String {
    let text = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
    let at = event["at_ms"].as_u64().unwrap_or_default();
    match event["type"].as_str().unwrap_or_default() {
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
                "{at:>6} ms webhook {} {}{fallback}: {status}{error}",
                text("method"),
                text("url")
            )
        }
        "alert" => format!("{at:>6} ms alert {} {}", event["error_code"], text("level")),
        "message" => format!("{at:>6} ms reply to {}: {}", text("to"), text("body")),
        other => format!("{at:>6} ms {other} {event}"),
    }
}
