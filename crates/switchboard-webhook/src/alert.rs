//! Alert records: plain data describing each webhook failure or warning, for the alert store
//! (Monitor v1 Alerts and 2010 Notifications are two views of it) and the debugger webhook.
//!
//! The store adds what only it knows (SID, account, resource SID, dates); everything about the
//! HTTP exchange is here. Secrets never enter a record: URLs are redacted by the executor and the
//! `Authorization` header is never recorded.

use serde::{Deserialize, Serialize};
use switchboard_core::ErrorCode;

use crate::classify::Channel;
use crate::outcome::Exchange;

/// The most of a response body an alert keeps (Twilio's TwiML limit).
pub const RECORDED_BODY_LIMIT: usize = 64 * 1024;

/// `ERROR` or `WARNING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    Error,
    Warning,
}

impl AlertLevel {
    /// Monitor v1 `log_level`: `error` / `warning`.
    pub fn monitor_name(self) -> &'static str {
        match self {
            AlertLevel::Error => "error",
            AlertLevel::Warning => "warning",
        }
    }

    /// The `LogLevel` in `alert_text` and the debugger's `Level`: `ERROR` / `WARNING`.
    pub fn upper_name(self) -> &'static str {
        match self {
            AlertLevel::Error => "ERROR",
            AlertLevel::Warning => "WARNING",
        }
    }

    /// 2010 Notifications `log`: `"0"` for errors, `"1"` for warnings.
    pub fn notification_log(self) -> &'static str {
        match self {
            AlertLevel::Error => "0",
            AlertLevel::Warning => "1",
        }
    }
}

/// One failure or warning of a webhook, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub error_code: u32,
    pub level: AlertLevel,
    /// Human-readable description (`Msg` in `alert_text`).
    pub message: String,
    /// `sourceComponent`: `12000` for voice, `14100` for messaging.
    pub source_component: String,
    /// The request URL without fragment, password replaced by `***`.
    pub request_url: String,
    pub request_method: String,
    pub request_variables: Vec<(String, String)>,
    pub request_headers: Vec<(String, String)>,
    pub response_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// At most 64 KiB, decoded lossily.
    pub response_body: String,
    pub attempts: u32,
    pub duration_ms: u64,
    /// Whether the failing request was itself a fallback request.
    pub fallback: bool,
    /// Twilio's form-encoded detail string.
    pub alert_text: String,
}

impl AlertRecord {
    /// Builds the record of `exchange` failing (or warning) with `code`.
    pub fn from_exchange(
        exchange: &Exchange,
        code: ErrorCode,
        level: AlertLevel,
        message: String,
        channel: Channel,
        fallback: bool,
    ) -> AlertRecord {
        let source_component = match channel {
            Channel::Voice => "12000",
            Channel::Messaging => "14100",
        };
        let response_status = exchange.response.status;
        let alert_text = alert_text(
            &message,
            source_component,
            code,
            response_status,
            level,
            &exchange.request.url,
        );
        AlertRecord {
            error_code: code.code,
            level,
            message,
            source_component: source_component.to_string(),
            request_url: exchange.request.url.clone(),
            request_method: exchange.request.method.as_str().to_string(),
            request_variables: exchange.request.params.clone(),
            request_headers: exchange
                .request
                .headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            response_status,
            response_headers: exchange.response_headers(),
            response_body: exchange.response_body(RECORDED_BODY_LIMIT),
            attempts: exchange.attempts,
            duration_ms: u64::try_from(exchange.duration.as_millis()).unwrap_or(u64::MAX),
            fallback,
            alert_text,
        }
    }

    /// `request_variables` as the REST views show it (form-encoded).
    pub fn request_variables_encoded(&self) -> String {
        form_encode(&self.request_variables)
    }

    /// `request_headers` as the REST views show it (form-encoded).
    pub fn request_headers_encoded(&self) -> String {
        form_encode(&self.request_headers)
    }

    /// `response_headers` as the REST views show it (form-encoded).
    pub fn response_headers_encoded(&self) -> String {
        form_encode(&self.response_headers)
    }

    /// `more_info`: Twilio's documentation link for the code.
    pub fn more_info(&self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.error_code)
    }
}

/// A description of a failed exchange, Twilio style (`Got HTTP 502 response to …`).
pub fn describe_failure(exchange: &Exchange, code: ErrorCode) -> String {
    match exchange.status() {
        Some(status) if !(200..300).contains(&status) => {
            format!("Got HTTP {status} response to {}", exchange.request.url)
        }
        _ => format!("{} while requesting {}", code.message, exchange.request.url),
    }
}

/// `alert_text`: `Msg=…&sourceComponent=…&ErrorCode=…&httpResponse=…&LogLevel=…&url=…`.
pub fn alert_text(
    message: &str,
    source_component: &str,
    code: ErrorCode,
    http_response: Option<u16>,
    level: AlertLevel,
    url: &str,
) -> String {
    let mut pairs = vec![
        ("Msg".to_string(), message.to_string()),
        ("sourceComponent".to_string(), source_component.to_string()),
        ("ErrorCode".to_string(), code.code.to_string()),
    ];
    if let Some(status) = http_response {
        pairs.push(("httpResponse".to_string(), status.to_string()));
    }
    pairs.push(("LogLevel".to_string(), level.upper_name().to_string()));
    pairs.push(("url".to_string(), url.to_string()));
    form_encode(&pairs)
}

/// What the debugger webhook needs beyond the record (the store's identifiers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugEventContext {
    /// The alert SID (`NO…`).
    pub sid: String,
    pub account_sid: String,
    /// Present for subaccounts.
    pub parent_account_sid: Option<String>,
    /// ISO 8601 time the alert was generated.
    pub timestamp: String,
    /// The CallSid / MessageSid concerned.
    pub resource_sid: Option<String>,
    pub service_sid: Option<String>,
}

/// The form parameters of Twilio's Debug Event (twilio-behaviour.md §6.8) for `alert`.
pub fn debug_event_params(
    alert: &AlertRecord,
    context: &DebugEventContext,
) -> Vec<(String, String)> {
    let mut more_info = serde_json::Map::new();
    for (key, value) in url::form_urlencoded::parse(alert.alert_text.as_bytes()) {
        more_info.insert(key.into_owned(), value.into_owned().into());
    }
    more_info.insert("EmailNotification".to_string(), "false".into());
    let object = |pairs: &[(String, String)]| {
        let mut map = serde_json::Map::new();
        for (key, value) in pairs {
            map.insert(key.clone(), value.clone().into());
        }
        serde_json::Value::Object(map)
    };
    let payload = serde_json::json!({
        "resource_sid": context.resource_sid,
        "service_sid": context.service_sid,
        "error_code": alert.error_code.to_string(),
        "more_info": more_info,
        "webhook": {
            "type": "application/json",
            "request": {
                "url": alert.request_url,
                "method": alert.request_method,
                "headers": object(&alert.request_headers),
                "parameters": object(&alert.request_variables),
            },
            "response": {
                "status_code": alert.response_status,
                "headers": object(&alert.response_headers),
                "body": alert.response_body,
            },
        },
    });
    let mut params = vec![
        ("Sid".to_string(), context.sid.clone()),
        ("AccountSid".to_string(), context.account_sid.clone()),
    ];
    if let Some(parent) = &context.parent_account_sid {
        params.push(("ParentAccountSid".to_string(), parent.clone()));
    }
    params.push(("Timestamp".to_string(), context.timestamp.clone()));
    params.push(("Level".to_string(), alert.level.upper_name().to_string()));
    params.push(("PayloadType".to_string(), "application/json".to_string()));
    params.push(("Payload".to_string(), payload.to_string()));
    params
}

fn form_encode(pairs: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE;

    fn sample() -> AlertRecord {
        let message = "Got HTTP 502 response to https://example.com/voice".to_string();
        let text = alert_text(
            &message,
            "12000",
            HTTP_RETRIEVAL_FAILURE,
            Some(502),
            AlertLevel::Error,
            "https://example.com/voice",
        );
        AlertRecord {
            error_code: 11200,
            level: AlertLevel::Error,
            message,
            source_component: "12000".into(),
            request_url: "https://example.com/voice".into(),
            request_method: "POST".into(),
            request_variables: vec![
                ("CallSid".into(), "CA1".into()),
                ("From".into(), "+1555".into()),
            ],
            request_headers: vec![("User-Agent".into(), "TwilioProxy/1.1".into())],
            response_status: Some(502),
            response_headers: vec![("content-type".into(), "text/html".into())],
            response_body: "bad gateway".into(),
            attempts: 1,
            duration_ms: 12,
            fallback: false,
            alert_text: text,
        }
    }

    #[test]
    fn alert_text_matches_twilio_example() {
        assert_eq!(
            sample().alert_text,
            "Msg=Got+HTTP+502+response+to+https%3A%2F%2Fexample.com%2Fvoice&sourceComponent=12000&ErrorCode=11200\
             &httpResponse=502&LogLevel=ERROR&url=https%3A%2F%2Fexample.com%2Fvoice"
        );
        assert_eq!(
            sample().request_variables_encoded(),
            "CallSid=CA1&From=%2B1555"
        );
    }

    #[test]
    fn debug_event_payload() {
        let context = DebugEventContext {
            sid: "NO1".into(),
            account_sid: "AC1".into(),
            parent_account_sid: None,
            timestamp: "2026-11-29T10:00:00Z".into(),
            resource_sid: Some("CA1".into()),
            service_sid: None,
        };
        let params = debug_event_params(&sample(), &context);
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Sid",
                "AccountSid",
                "Timestamp",
                "Level",
                "PayloadType",
                "Payload"
            ]
        );
        let payload: serde_json::Value = serde_json::from_str(&params[5].1).expect("json");
        assert_eq!(payload["error_code"], "11200");
        assert_eq!(payload["resource_sid"], "CA1");
        assert_eq!(payload["more_info"]["httpResponse"], "502");
        assert_eq!(payload["webhook"]["request"]["parameters"]["From"], "+1555");
        assert_eq!(payload["webhook"]["response"]["status_code"], 502);
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&sample()).expect("serialize");
        assert!(json.contains("\"level\":\"error\""));
        assert_eq!(
            serde_json::from_str::<AlertRecord>(&json).expect("deserialize"),
            sample()
        );
    }
}
