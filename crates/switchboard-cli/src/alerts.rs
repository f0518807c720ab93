//! `switchboard alerts [--follow] [--level error|warning]`: the account's alerts, one line each:
//! date, level, code, resource SID, URL and message, separated by tabs (`-` for a field the
//! alert lacks; tabs and line breaks inside the message become spaces).
//!
//! Without `--follow` it prints the newest page of `/v1/Alerts` (oldest first, like the stream)
//! and exits. With `--follow` it reads `GET /switchboard/v1/Alerts/Stream` and prints each alert
//! as it is recorded; when the stream drops (the engine restarts, a proxy closes it) it connects
//! again with `Last-Event-ID` set to the last alert printed, so none is lost or printed twice.
//! Wrong credentials or a refused request end it (exit 1): retrying cannot help those. Each
//! connection is announced on standard error (`following alerts at URL`), which leaves standard
//! output to the alert lines.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::remote::{Remote, failure};

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Keep running and print each alert as it is recorded.
    #[arg(long)]
    pub follow: bool,
    /// Only alerts of this level.
    #[arg(long, value_parser = ["error", "warning"])]
    pub level: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

/// How long to wait before connecting again after the stream dropped.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

pub async fn run(args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    if args.follow {
        follow(&client, &args).await
    } else {
        recent(&client, &args).await
    }
}

fn level_query(args: &AlertsArgs) -> String {
    args.level
        .as_deref()
        .map_or(String::new(), |level| format!("LogLevel={level}"))
}

async fn recent(client: &reqwest::Client, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/Alerts?PageSize=50&{}", level_query(args));
    let response = args.remote.get(client, &path).send().await?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    let page: Value = response.json().await?;
    let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
    for alert in alerts.iter().rev() {
        println!("{}", line(alert));
    }
    Ok(ExitCode::SUCCESS)
}

async fn follow(client: &reqwest::Client, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let path = format!("/switchboard/v1/Alerts/Stream?{}", level_query(args));
    let mut last_id: Option<String> = None;
    loop {
        let mut request = args.remote.get(client, &path);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                eprintln!("following alerts at {}", args.remote.url(&path));
                if let Err(error) = read_events(response, &mut last_id).await {
                    eprintln!("the alert stream dropped ({error}); connecting again");
                } else {
                    eprintln!("the alert stream ended; connecting again");
                }
            }
            Ok(response) => return Err(failure(response).await),
            Err(error) => eprintln!("cannot reach the engine ({error}); trying again"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Prints every alert of one connection's stream; keeps the id of the last one printed.
async fn read_events(
    mut response: reqwest::Response,
    last_id: &mut Option<String>,
) -> reqwest::Result<()> {
    let mut parser = EventParser::default();
    while let Some(chunk) = response.chunk().await? {
        for event in parser.push(&chunk) {
            let alert: Value = serde_json::from_str(&event.data).unwrap_or_default();
            println!("{}", line(&alert));
            if event.id.is_some() {
                *last_id = event.id;
            }
        }
    }
    Ok(())
}

/// One alert (Monitor v1 JSON) as a line: date, level, code, resource SID, URL, message.
fn line(alert: &Value) -> String {
    let field = |name: &str| match &alert[name] {
        Value::String(text) if !text.is_empty() => text.replace(['\t', '\r', '\n'], " "),
        Value::Null => "-".to_owned(),
        Value::String(_) => "-".to_owned(),
        other => other.to_string(),
    };
    [
        "date_created",
        "log_level",
        "error_code",
        "resource_sid",
        "request_url",
        "alert_text",
    ]
    .map(field)
    .join("\t")
}

/// One server-sent event: its `id` (if it had one) and its `data` lines joined by `\n`.
#[derive(Debug, PartialEq)]
struct Event {
    id: Option<String>,
    data: String,
}

/// Splits a server-sent event stream into events as its bytes arrive, in chunks cut anywhere.
#[derive(Debug, Default)]
struct EventParser {
    pending: Vec<u8>,
    id: Option<String>,
    data: Vec<String>,
}

impl EventParser {
    /// Takes the next bytes; returns the events they completed.
    fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            if text.is_empty() {
                if !self.data.is_empty() {
                    events.push(Event {
                        id: self.id.take(),
                        data: self.data.join("\n"),
                    });
                    self.data.clear();
                }
                self.id = None;
                continue;
            }
            if text.starts_with(':') {
                continue;
            }
            let (name, value) = text.split_once(':').unwrap_or((text, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "id" => self.id = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_in_pieces(stream: &str, piece: usize) -> Vec<Event> {
        let mut parser = EventParser::default();
        stream
            .as_bytes()
            .chunks(piece)
            .flat_map(|chunk| parser.push(chunk))
            .collect()
    }

    #[test]
    fn events_are_parsed_however_the_bytes_are_cut() {
        let stream = ": streaming new alerts\n\nid: NO1\ndata: {\"a\":1}\n\n: keep-alive\n\n\
                      id: NO2\r\ndata: x\r\ndata:y\r\n\r\nretry: 5\n\nid: NO3\ndata: é\n\n";
        let expected = vec![
            Event {
                id: Some("NO1".into()),
                data: "{\"a\":1}".into(),
            },
            Event {
                id: Some("NO2".into()),
                data: "x\ny".into(),
            },
            Event {
                id: Some("NO3".into()),
                data: "é".into(),
            },
        ];
        for piece in [1, 2, 3, 7, stream.len()] {
            assert_eq!(
                parse_in_pieces(stream, piece),
                expected,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut parser = EventParser::default();
        assert!(parser.push(b"id: NO1\ndata: {}\n").is_empty());
        assert_eq!(parser.push(b"\n").len(), 1);
    }

    #[test]
    fn a_line_has_the_six_fields_in_order() {
        let alert = json!({
            "date_created": "2024-01-02T03:04:05Z",
            "log_level": "error",
            "error_code": "11200",
            "resource_sid": "CA1",
            "request_url": "http://app/voice",
            "alert_text": "Msg=HTTP 500\tfrom app\nretry",
        });
        assert_eq!(
            line(&alert),
            "2024-01-02T03:04:05Z\terror\t11200\tCA1\thttp://app/voice\tMsg=HTTP 500 from app retry"
        );
        let bare = json!({"date_created": "2024-01-02T03:04:05Z", "log_level": "warning",
            "error_code": "13331", "resource_sid": null, "request_url": "", "alert_text": "x"});
        assert_eq!(line(&bare), "2024-01-02T03:04:05Z\twarning\t13331\t-\t-\tx");
    }
}
