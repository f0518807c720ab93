//! What a TwiML session of either kind (a call leg or an inbound message) does around its
//! interpreter: find where its TwiML comes from, fetch it through the webhook crate's failover
//! policy, fall back after a document fails to run, and record what went wrong.
//!
//! There is one fallback decision, the pure `switchboard_webhook::Failover`: a failed fetch
//! enters it through `fetch_twiml`, a document that cannot be executed through
//! `Failover::after_execution_failure`, and both are driven by `drive_failover`. Under
//! `--fallback-scope initial` the policy falls back only for the session's first document, as
//! product.md Decision 1 and twilio-behaviour.md §1.2 ("cannot retrieve or cannot execute")
//! say, whichever of the two happened to it.

use serde_json::{Value, json};
use switchboard_core::{ErrorCode, Method};
use switchboard_store::Kind;
use switchboard_twiml::{Context, Parsed};
use switchboard_webhook::failover::Action as PolicyAction;
use switchboard_webhook::{
    AlertLevel, AlertRecord, Channel, CookieJar, Endpoint, Failover, FetchPlan, TwimlFetchResult,
    drive_failover, fetch_twiml,
};

use crate::Engine;
use crate::alerts;
use crate::error::EngineResult;
use crate::sandbox::Log;

/// Where a number's (or an application's) TwiML for one channel comes from.
#[derive(Clone, Debug, Default)]
pub struct Handler {
    pub primary: Option<Endpoint>,
    pub fallback: Option<Endpoint>,
    /// The status callback configured with the URLs (calls only).
    pub status_callback: Option<Endpoint>,
    /// The application whose URLs these are, when the number delegates to one.
    pub application_sid: Option<String>,
    /// The number's `SwitchboardBreaker`: its primary URL's origin is guarded by a circuit
    /// breaker.
    pub breaker: bool,
}

/// The settings' field names of a channel: application, URL, fallback, status callback.
struct Fields {
    application_sid: &'static str,
    url: (&'static str, &'static str),
    fallback: (&'static str, &'static str),
    status_callback: Option<(&'static str, &'static str)>,
}

fn fields(channel: Channel) -> Fields {
    match channel {
        Channel::Voice => Fields {
            application_sid: "voice_application_sid",
            url: ("voice_url", "voice_method"),
            fallback: ("voice_fallback_url", "voice_fallback_method"),
            status_callback: Some(("status_callback", "status_callback_method")),
        },
        Channel::Messaging => Fields {
            application_sid: "sms_application_sid",
            url: ("sms_url", "sms_method"),
            fallback: ("sms_fallback_url", "sms_fallback_method"),
            status_callback: None,
        },
    }
}

/// The handler of `settings` (a number's or an application's stored document) for `channel`:
/// the application's URLs when the number names an existing one, else its own.
pub(crate) async fn handler(
    engine: &Engine,
    settings: &Value,
    channel: Channel,
) -> EngineResult<Handler> {
    let fields = fields(channel);
    let mut application_sid = None;
    let application = match settings[fields.application_sid]
        .as_str()
        .filter(|sid| !sid.is_empty())
    {
        Some(app) => {
            let record = engine.store.get_shared(Kind::Application, app).await?;
            if record.is_some() {
                application_sid = Some(app.to_owned());
            }
            record
        }
        None => None,
    };
    let source = application.as_ref().map_or(settings, |record| &record.doc);
    let endpoint = |(url, method): (&str, &str)| {
        let url = source[url].as_str().filter(|url| !url.is_empty())?;
        let method = source[method]
            .as_str()
            .and_then(Method::parse)
            .unwrap_or_default();
        Some(Endpoint::new(url, method))
    };
    Ok(Handler {
        primary: endpoint(fields.url),
        fallback: endpoint(fields.fallback),
        status_callback: fields.status_callback.and_then(endpoint),
        application_sid,
        breaker: settings["switchboard_breaker"].as_bool() == Some(true),
    })
}

/// The document parser of a channel, mapped to its rejection code (the fallback's `ErrorCode`).
fn parser(channel: Channel) -> fn(&[u8]) -> Result<Parsed, ErrorCode> {
    fn voice(bytes: &[u8]) -> Result<Parsed, ErrorCode> {
        switchboard_twiml::parse(bytes, Context::Voice).map_err(|rejected| rejected.error.code)
    }
    fn messaging(bytes: &[u8]) -> Result<Parsed, ErrorCode> {
        switchboard_twiml::parse(bytes, Context::Messaging).map_err(|rejected| rejected.error.code)
    }
    match channel {
        Channel::Voice => voice,
        Channel::Messaging => messaging,
    }
}

/// A fetch of one step of a session: `primary` with the session's `fallback`, under the
/// engine's scope; `initial` for the session's first request.
pub(crate) fn plan(
    engine: &Engine,
    primary: Endpoint,
    fallback: Option<Endpoint>,
    params: Vec<(String, String)>,
    initial: bool,
    breaker: bool,
) -> FetchPlan {
    FetchPlan {
        primary,
        fallback,
        params,
        initial,
        scope: engine.fallback_scope,
        breaker,
    }
}

/// Fetches TwiML for one step, falling back per the policy.
pub(crate) async fn fetch(
    engine: &Engine,
    auth_token: &str,
    cookies: &mut CookieJar,
    plan: FetchPlan,
    channel: Channel,
) -> TwimlFetchResult<Parsed> {
    fetch_twiml(
        &engine.webhooks,
        auth_token,
        cookies,
        plan,
        channel,
        parser(channel),
    )
    .await
}

/// A document could not be executed: the alert to record now, and the policy to drive when it
/// asks for the fallback (`None`: no fallback applies, the session has no usable TwiML).
pub(crate) struct ExecutionFallback {
    pub alert: AlertRecord,
    pub failover: Option<Failover>,
}

/// Enters the policy after the document fetched with `plan` (its URL, parameters, whether it
/// was the session's first) failed to run with `code`.
pub(crate) fn after_execution_failure(
    plan: FetchPlan,
    code: ErrorCode,
    alert: AlertRecord,
) -> ExecutionFallback {
    let mut failover = Failover::after_execution_failure(plan, code, alert.clone());
    // The policy hands the failure's own alert back first; the caller records it at once.
    let alert = match failover.poll_next() {
        Some(PolicyAction::Alert(alert)) => alert,
        _ => alert,
    };
    ExecutionFallback {
        alert,
        failover: failover.next_is_request().then_some(failover),
    }
}

/// Drives a policy from `after_execution_failure` to its verdict.
pub(crate) async fn fetch_fallback(
    engine: &Engine,
    auth_token: &str,
    cookies: &mut CookieJar,
    failover: Failover,
    channel: Channel,
) -> TwimlFetchResult<Parsed> {
    drive_failover(
        &engine.webhooks,
        auth_token,
        cookies,
        failover,
        channel,
        parser(channel),
    )
    .await
}

/// An alert about a session itself rather than one webhook exchange (a document limit, a
/// document that cannot run, a TwiML warning), from the channel's source component (12000
/// for voice, 14100 for messaging).
pub(crate) fn session_alert(
    channel: Channel,
    code: ErrorCode,
    level: AlertLevel,
    message: String,
    url: String,
) -> AlertRecord {
    let component = match channel {
        Channel::Voice => "12000",
        Channel::Messaging => "14100",
    };
    let alert_text =
        switchboard_webhook::alert::alert_text(&message, component, code, None, level, &url);
    AlertRecord {
        error_code: code.code,
        level,
        message,
        source_component: component.into(),
        request_url: url,
        request_method: String::new(),
        request_variables: Vec::new(),
        request_headers: Vec::new(),
        response_status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
        attempts: 0,
        duration_ms: 0,
        fallback: false,
        alert_text,
    }
}

/// Stores each alert about the session `resource_sid` (pushing it to the debugger webhook) and
/// writes it to the session's transcript.
pub(crate) async fn record_alerts(
    engine: &Engine,
    account_sid: &str,
    resource_sid: &str,
    log: &Log,
    alerts: &[AlertRecord],
) {
    for alert in alerts {
        match alerts::record(engine, account_sid, Some(resource_sid), alert).await {
            Ok(sid) => log.push(
                "alert",
                json!({"sid": sid, "error_code": alert.error_code, "level": alert.level.monitor_name()}),
            ),
            Err(error) => tracing::error!(?error, "recording an alert failed"),
        }
    }
}

/// Writes each webhook exchange of a fetch to the session's transcript.
pub(crate) fn log_exchanges(log: &Log, result: &TwimlFetchResult<Parsed>) {
    for event in &result.events {
        log.push("webhook", serde_json::to_value(event).unwrap_or_default());
    }
}
