//! `switchboard drill NUMBER [--sms]`: a fire drill for a number's fallback URL. It places a
//! sandbox call (or sends a sandbox message) with `Drill=true`, in which the engine treats the
//! primary URL as failed without requesting it: the fallback gets `ErrorCode=11200` and
//! `ErrorUrl=<the primary>` exactly as in a real failure. The transcript is printed, then a
//! verdict line; the exit status is 0 only if the fallback answered with usable TwiML and the
//! session ended without the platform's error prompt or an ERROR alert, so a deploy pipeline
//! can gate on it.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::call::describe;
use crate::remote::{Remote, failure};

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// A number provisioned on the engine.
    pub number: String,
    /// Drill the number's SMS URLs (a sandbox message) instead of its Voice URLs.
    #[arg(long)]
    pub sms: bool,
    /// Seconds to wait for the session to end.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub remote: Remote,
}

pub async fn run(args: DrillArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    let (create, form, sid_field, wait) = if args.sms {
        (
            "/sandbox/Messages",
            vec![
                ("To", args.number.clone()),
                ("From", "+15005550006".to_owned()),
                ("Body", "Switchboard drill".to_owned()),
                ("Drill", "true".to_owned()),
            ],
            "message_sid",
            "WaitFor=done",
        )
    } else {
        (
            "/sandbox/Calls",
            vec![
                ("To", args.number.clone()),
                ("Drill", "true".to_owned()),
                // Pauses and timeouts of the fallback's TwiML take no wall time.
                ("Clock", "fast".to_owned()),
            ],
            "call_sid",
            "WaitFor=completed",
        )
    };
    let response = args.remote.post(&client, create).form(&form).send().await?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    let created: Value = response.json().await?;
    let sid = created[sid_field].as_str().unwrap_or_default().to_owned();
    println!("drill {sid} on {}", args.number);
    let path = format!("{create}/{sid}?{wait}&Timeout={}", args.timeout);
    let response = args.remote.get(&client, &path).send().await?;
    let over = response.status().is_success();
    if !over && response.status() != reqwest::StatusCode::REQUEST_TIMEOUT {
        return Err(failure(response).await);
    }
    let transcript: Value = response.json().await?;
    let events = transcript["events"].as_array().cloned().unwrap_or_default();
    for event in &events {
        println!("  {}", describe(event));
    }
    let verdict = if over {
        verdict(&events)
    } else {
        Err(format!("the session did not end within {}s", args.timeout))
    };
    Ok(match verdict {
        Ok(url) => {
            println!(
                "drill passed: the fallback {url} answered with usable TwiML and the session ended without the platform prompt"
            );
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("drill FAILED: {reason}");
            ExitCode::FAILURE
        }
    })
}

/// The fallback URL that answered, or why the drill failed.
fn verdict(events: &[Value]) -> Result<String, String> {
    let answered = events.iter().find(|event| {
        event["type"] == "webhook"
            && event["fallback"] == true
            && event["error_code"].is_null()
            && event["http_status"]
                .as_u64()
                .is_some_and(|status| (200..300).contains(&status))
    });
    let Some(answered) = answered else {
        let tried = events
            .iter()
            .find(|event| event["type"] == "webhook" && event["fallback"] == true);
        return Err(match tried {
            Some(event) => format!(
                "the fallback {} did not give usable TwiML (HTTP {}, error {})",
                event["url"].as_str().unwrap_or_default(),
                event["http_status"],
                event["error_code"]
            ),
            None => "no fallback URL was requested (is one configured?)".to_owned(),
        });
    };
    if events
        .iter()
        .any(|event| event["type"] == "say" && event["source"] == "platform")
    {
        return Err("the caller heard the platform's error prompt".to_owned());
    }
    if let Some(alert) = events
        .iter()
        .find(|event| event["type"] == "alert" && event["level"] == "error")
    {
        return Err(format!(
            "the session raised ERROR alert {} {}",
            alert["error_code"],
            alert["sid"].as_str().unwrap_or_default()
        ));
    }
    Ok(answered["url"].as_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_verdict_needs_a_usable_fallback_answer_and_no_platform_prompt() {
        let drill = json!({"type": "drill", "url": "https://a/voice", "error_code": 11200});
        let good = json!({"type": "webhook", "fallback": true, "http_status": 200, "error_code": null, "url": "https://b/fb"});
        let bad = json!({"type": "webhook", "fallback": true, "http_status": 500, "error_code": 11200, "url": "https://b/fb"});
        let say = json!({"type": "say", "source": "twiml", "text": "hi"});
        let prompt = json!({"type": "say", "source": "platform", "text": "sorry"});
        let alert = json!({"type": "alert", "level": "error", "error_code": 12100, "sid": "NO1"});
        assert_eq!(
            verdict(&[drill.clone(), good.clone(), say.clone()]),
            Ok("https://b/fb".to_owned())
        );
        assert!(verdict(&[drill.clone(), bad, prompt.clone()]).is_err());
        assert!(verdict(&[drill.clone(), good.clone(), prompt]).is_err());
        assert!(verdict(&[drill.clone(), good, alert]).is_err());
        assert!(verdict(&[drill, say]).is_err());
    }
}
