//! Async helpers the engines call: one TwiML fetch driven through the failover policy, and one
//! notification-only webhook (status callback, debugger webhook).
//!
//! These glue the pure parts (policy, classification, alert records) to the executor; all
//! decisions live in the pure parts.

use serde::{Deserialize, Serialize};
use switchboard_core::ErrorCode;

use crate::alert::{AlertLevel, AlertRecord, describe_failure};
use crate::breaker::{Admission, Health, Transition, origin_of};
use crate::classify::{Channel, Reply, classify_exchange, classify_notification};
use crate::cookies::CookieJar;
use crate::executor::WebhookClient;
use crate::failover::{Action, Failover, FetchPlan, FetchReport, Verdict};
use crate::outcome::Exchange;
use crate::request::{Method, WebhookRequest, redact_url};

/// One request as the call/message transcript shows it (product.md `webhook` event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub url: String,
    pub method: Method,
    pub http_status: Option<u16>,
    pub error_code: Option<u32>,
    pub fallback: bool,
    pub duration_ms: u64,
    pub attempts: u32,
    /// `open` when the request was not sent because its origin's circuit breaker was open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<String>,
    /// The parameters sent (or that would have been, for a skipped request), in order: the
    /// console's timeline shows them. An engine addition to the contract's fields.
    #[serde(default, with = "param_object", skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    /// The first `EXCERPT` bytes of the answer's body (lossy UTF-8), empty when none arrived.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_excerpt: String,
}

/// How much of a response body a transcript keeps.
const EXCERPT: usize = 400;

/// Parameters as one JSON object (names in the order sent; a repeated name keeps its last
/// value when read back, as the console shows it).
mod param_object {
    use serde::Deserialize;
    use serde::de::Deserializer;
    use serde::ser::{SerializeMap, Serializer};

    pub fn serialize<S: Serializer>(
        params: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(params.len()))?;
        for (name, value) in params {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

/// How a TwiML fetch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwimlOutcome<T> {
    /// A usable answer; `from_fallback` when the fallback URL gave it.
    Answer {
        reply: Reply<T>,
        from_fallback: bool,
    },
    /// No usable answer: voice plays the platform prompt and hangs up; messaging sends nothing.
    GiveUp { error_code: ErrorCode },
}

/// The outcome plus everything to record: alerts to store and the transcript's webhook events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwimlFetchResult<T> {
    pub outcome: TwimlOutcome<T>,
    pub alerts: Vec<AlertRecord>,
    pub events: Vec<WebhookEvent>,
    /// The exchange whose answer is used (for warnings found in the document, e.g. 12200).
    pub answered_by: Option<Exchange>,
    pub channel: Channel,
}

impl<T> TwimlFetchResult<T> {
    /// A WARNING alert about the document that is used (e.g. a 12200 schema warning from the
    /// parser), recorded with that request and response; `None` when no answer is used.
    pub fn document_warning(&self, code: ErrorCode, message: String) -> Option<AlertRecord> {
        let exchange = self.answered_by.as_ref()?;
        let from_fallback = matches!(
            self.outcome,
            TwimlOutcome::Answer {
                from_fallback: true,
                ..
            }
        );
        Some(AlertRecord::from_exchange(
            exchange,
            code,
            AlertLevel::Warning,
            message,
            self.channel,
            from_fallback,
        ))
    }
}

/// Fetches TwiML for one step of a session, falling back per the policy.
///
/// `parse` is the document parser (`switchboard_twiml::parse` with the right context, mapped to
/// its rejection code — 12100, 12102, …). `cookies` is the session's jar.
pub async fn fetch_twiml<T>(
    client: &WebhookClient,
    auth_token: &str,
    cookies: &mut CookieJar,
    plan: FetchPlan,
    channel: Channel,
    parse: impl Fn(&[u8]) -> Result<T, ErrorCode>,
) -> TwimlFetchResult<T> {
    drive_failover(
        client,
        auth_token,
        cookies,
        Failover::new(plan),
        channel,
        parse,
    )
    .await
}

/// Runs the requests `failover` asks for until it decides, and collects what happened. With a
/// policy from `Failover::new` this is `fetch_twiml`; with one from
/// `Failover::after_execution_failure` (whose own alert the caller may have taken with
/// `poll_next` already) it is the fallback after a document failed to run.
pub async fn drive_failover<T>(
    client: &WebhookClient,
    auth_token: &str,
    cookies: &mut CookieJar,
    mut failover: Failover,
    channel: Channel,
    parse: impl Fn(&[u8]) -> Result<T, ErrorCode>,
) -> TwimlFetchResult<T> {
    let mut alerts = Vec::new();
    let mut events = Vec::new();
    let mut last_reply = None;
    let mut answered_by = None;
    loop {
        match failover.poll_next() {
            Some(Action::Send(planned)) => {
                let origin = planned
                    .breaker
                    .then(|| origin_of(&planned.endpoint.url))
                    .flatten();
                if let Some(origin) = &origin
                    && let Admission::Skip { error_code } = client.breaker_admit(origin)
                {
                    let (event, report) = skipped(planned, error_code);
                    events.push(event);
                    failover.handle_outcome(report);
                    continue;
                }
                let request = WebhookRequest::form(
                    planned.endpoint.url,
                    planned.endpoint.method,
                    planned.params,
                );
                let exchange = client.send(request, auth_token, cookies).await;
                let classified = classify_exchange(&exchange, channel, &parse);
                if let Some(origin) = &origin {
                    let failure = classified.as_ref().err().copied();
                    if let Some(transition) =
                        client.breaker_record(origin, health(&exchange, failure))
                    {
                        alerts.push(breaker_alert(
                            &exchange, origin, transition, failure, channel,
                        ));
                    }
                }
                events.push(event(
                    &exchange,
                    classified.as_ref().err().copied(),
                    planned.fallback,
                ));
                let warnings = warning_alerts(&exchange, channel, planned.fallback);
                let report = match classified {
                    Ok(reply) => {
                        last_reply = Some(reply);
                        answered_by = Some(exchange);
                        FetchReport::Usable { warnings }
                    }
                    Err(code) => {
                        let message = describe_failure(&exchange, code);
                        let alert = AlertRecord::from_exchange(
                            &exchange,
                            code,
                            AlertLevel::Error,
                            message,
                            channel,
                            planned.fallback,
                        );
                        FetchReport::Failed {
                            code,
                            alert: Box::new(alert),
                            warnings,
                        }
                    }
                };
                failover.handle_outcome(report);
            }
            Some(Action::Alert(alert)) => alerts.push(alert),
            Some(Action::Finish(Verdict::UseAnswer { from_fallback })) => {
                let outcome = match last_reply.take() {
                    Some(reply) => TwimlOutcome::Answer {
                        reply,
                        from_fallback,
                    },
                    // The policy only says UseAnswer right after a usable report, which set it.
                    None => TwimlOutcome::GiveUp {
                        error_code: switchboard_core::error_code::INTERNAL_FAILURE,
                    },
                };
                return TwimlFetchResult {
                    outcome,
                    alerts,
                    events,
                    answered_by,
                    channel,
                };
            }
            Some(Action::Finish(Verdict::GiveUp { error_code })) => {
                return TwimlFetchResult {
                    outcome: TwimlOutcome::GiveUp { error_code },
                    alerts,
                    events,
                    answered_by: None,
                    channel,
                };
            }
            // The policy always queues an action after each report; an empty queue is a bug in it.
            None => {
                let error_code = switchboard_core::error_code::INTERNAL_FAILURE;
                return TwimlFetchResult {
                    outcome: TwimlOutcome::GiveUp { error_code },
                    alerts,
                    events,
                    answered_by: None,
                    channel,
                };
            }
        }
    }
}

/// The result of a notification-only webhook: its alerts (an ERROR on failure, Decision 21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationResult {
    pub error_code: Option<ErrorCode>,
    pub alerts: Vec<AlertRecord>,
    pub event: WebhookEvent,
    /// Whether trying again could help (the outbox's retry decision).
    pub attempt: crate::retry::Attempt,
}

/// Sends a status callback or debugger webhook: body ignored, 2xx expected, never a fallback.
pub async fn send_notification(
    client: &WebhookClient,
    auth_token: &str,
    cookies: &mut CookieJar,
    request: WebhookRequest,
    channel: Channel,
) -> NotificationResult {
    let exchange = client.send(request, auth_token, cookies).await;
    let error_code = classify_notification(&exchange).err();
    let attempt = crate::retry::Attempt::of(&exchange);
    let mut alerts = warning_alerts(&exchange, channel, false);
    if let Some(code) = error_code {
        let message = describe_failure(&exchange, code);
        alerts.push(AlertRecord::from_exchange(
            &exchange,
            code,
            AlertLevel::Error,
            message,
            channel,
            false,
        ));
    }
    NotificationResult {
        error_code,
        alerts,
        event: event(&exchange, error_code, false),
        attempt,
    }
}

fn event(exchange: &Exchange, error: Option<ErrorCode>, fallback: bool) -> WebhookEvent {
    WebhookEvent {
        url: exchange.request.url.clone(),
        method: exchange.request.method,
        http_status: exchange.response.status,
        error_code: error.map(|code| code.code),
        fallback,
        duration_ms: u64::try_from(exchange.duration.as_millis()).unwrap_or(u64::MAX),
        attempts: exchange.attempts,
        breaker: None,
        params: exchange.request.params.clone(),
        body_excerpt: exchange.response_body(EXCERPT),
    }
}

/// Whether `exchange` showed its origin alive or dead, for its circuit breaker: no answer or a
/// 5xx is dead (see `breaker`).
fn health(exchange: &Exchange, classified: Option<ErrorCode>) -> Health {
    match (exchange.status(), classified) {
        (Some(status), _) if status < 500 => Health::Alive,
        (_, code) => {
            Health::Dead(code.unwrap_or(switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE))
        }
    }
}

/// A request its origin's open breaker kept from being sent: the transcript's event and the
/// policy's report (the request's URL and parameters, which the fallback request is built
/// from), with the origin's last failure as the code. It is not alerted: the breaker's opening
/// was, once (see `breaker_alert`), where an alert per skipped call would flood the debugger
/// for as long as the origin is down.
fn skipped(
    planned: crate::failover::PlannedRequest,
    code: ErrorCode,
) -> (WebhookEvent, FetchReport) {
    let request_url = redact_url(&planned.endpoint.url);
    let event = WebhookEvent {
        url: request_url.clone(),
        method: planned.endpoint.method,
        http_status: None,
        error_code: Some(code.code),
        fallback: false,
        duration_ms: 0,
        attempts: 0,
        breaker: Some("open".to_owned()),
        params: planned.params.clone(),
        body_excerpt: String::new(),
    };
    let report = FetchReport::Skipped {
        code,
        request_url,
        params: planned.params,
    };
    (event, report)
}

/// The alert about an origin's breaker opening (ERROR, about the request whose failure opened
/// it) or closing again (WARNING, about the request that found it answering).
fn breaker_alert(
    exchange: &Exchange,
    origin: &str,
    transition: Transition,
    code: Option<ErrorCode>,
    channel: Channel,
) -> AlertRecord {
    match transition {
        Transition::Opened => {
            let code = code.unwrap_or(switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE);
            let message = format!(
                "Circuit breaker opened for {origin} after consecutive failures (the last: {} {}): sessions go straight to their fallback URL until a probe finds it answering",
                code.code, code.message
            );
            AlertRecord::from_exchange(exchange, code, AlertLevel::Error, message, channel, false)
        }
        Transition::Closed => {
            let code = switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE;
            let message = format!("Circuit breaker closed for {origin}: it answers again");
            AlertRecord::from_exchange(exchange, code, AlertLevel::Warning, message, channel, false)
        }
    }
}

/// Clamped override values become WARNING alerts (product.md Decision 18).
fn warning_alerts(exchange: &Exchange, channel: Channel, fallback: bool) -> Vec<AlertRecord> {
    exchange
        .warnings
        .iter()
        .map(|finding| {
            let message = format!("Connection override: {}", finding.message);
            AlertRecord::from_exchange(
                exchange,
                finding.code,
                AlertLevel::Warning,
                message,
                channel,
                fallback,
            )
        })
        .collect()
}
