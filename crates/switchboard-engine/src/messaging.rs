//! The messaging engine: outbound messages moving through their statuses to virtual handsets
//! (with status callbacks), and inbound messages running their SMS URL's TwiML with fallback.
//!
//! Each message gets its own task; a failing webhook or store write inside one never reaches
//! another. The pure session logic is `switchboard_messaging::Session`; this file only performs
//! what it asks for.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use switchboard_core::{ErrorCode, Sid, SidKind, error_code};
use switchboard_flow::{Geo, GeoOverrides};
use switchboard_messaging::{Action, Input, Reply, Session, segments};
use switchboard_store::{Kind, Record};
use switchboard_webhook::{
    AlertLevel, AlertRecord, Channel, CookieJar, Endpoint, Method, TwimlOutcome, WebhookRequest,
};

use crate::account::Account;
use crate::error::{EngineError, EngineResult};
use crate::sandbox::{Delivery, Log};
use crate::{Engine, now_ms};
use crate::{outbox, session};

/// A message to send.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<String>,
    pub status_callback: Option<String>,
    /// `outbound-api`, `outbound-reply` or `outbound-call`.
    pub direction: &'static str,
    /// The Messaging Service it is sent through (its `messaging_service_sid`), if any.
    pub messaging_service_sid: Option<String>,
}

fn content_type_of(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match path.rsplit('.').next().unwrap_or_default() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The stored document of a new message (the Twilio fields plus the engine's own, which start
/// with `engine_` and are not rendered).
/// Who a message is between and what it says.
struct Envelope<'a> {
    from: &'a str,
    to: &'a str,
    body: &'a str,
    media: &'a [String],
}

fn message_doc(
    node: &str,
    account_sid: &str,
    sid: &str,
    envelope: Envelope<'_>,
    direction: &str,
    status: &str,
) -> Map<String, Value> {
    let now = now_ms();
    let Envelope {
        from,
        to,
        body,
        media,
    } = envelope;
    let (_, count) = segments(body);
    let mut doc = Map::new();
    for (name, value) in [
        ("sid", json!(sid)),
        ("account_sid", json!(account_sid)),
        ("messaging_service_sid", Value::Null),
        ("from", json!(from)),
        ("to", json!(to)),
        ("body", json!(body)),
        ("num_segments", json!(count.max(1).to_string())),
        ("num_media", json!(media.len().to_string())),
        ("direction", json!(direction)),
        ("status", json!(status)),
        ("error_code", Value::Null),
        ("error_message", Value::Null),
        ("price", Value::Null),
        ("price_unit", json!("USD")),
        ("api_version", json!("2010-04-01")),
        ("date_created", json!(now)),
        ("date_updated", json!(now)),
        (
            "date_sent",
            if direction == "inbound" {
                json!(now)
            } else {
                Value::Null
            },
        ),
        ("engine_status_callback", Value::Null),
        ("engine_node", json!(node)),
    ] {
        doc.insert(name.into(), value);
    }
    doc
}

/// The store row of a message document.
pub fn message_record(doc: &Map<String, Value>, created_ms: i64) -> Record {
    let text = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut record = Record::new(
        Kind::Message,
        text("sid"),
        text("account_sid"),
        created_ms,
        Value::Object(doc.clone()),
    );
    record.phone_number = Some(text("to"));
    record.from_number = Some(text("from"));
    record.status = Some(text("status"));
    record.date_key = doc.get("date_sent").and_then(Value::as_i64);
    record
}

pub(crate) async fn insert_media(
    state: &Engine,
    account_sid: &str,
    message_sid: &str,
    media: &[String],
) -> EngineResult<()> {
    for url in media {
        let sid = Sid::generate(SidKind::Media).into_string();
        let now = now_ms();
        let doc = json!({
            "sid": sid, "account_sid": account_sid, "parent_sid": message_sid,
            "content_type": content_type_of(url), "date_created": now, "date_updated": now, "engine_url": url,
        });
        let mut record = Record::new(Kind::Media, sid, account_sid.to_owned(), now, doc);
        record.parent_sid = Some(message_sid.to_owned());
        state.store.insert(&record).await?;
    }
    Ok(())
}

/// Stores a new outbound message as `queued` and starts its delivery; returns its document.
/// An account that is not active (`account::is_active`) sends nothing, a TwiML reply of a
/// session that was running when it was suspended included.
pub async fn send(
    state: &Engine,
    account: &Account,
    outbound: Outbound,
) -> EngineResult<Map<String, Value>> {
    if !crate::account::is_active(&*state.store, account).await? {
        return Err(EngineError::AccountNotActive);
    }
    let (doc, record) = outbound_record(state, account, &outbound, "queued");
    state.store.insert(&record).await?;
    insert_media(state, &account.sid, &record.sid, &outbound.media).await?;
    state.spawn(deliver(state.clone(), account.clone(), record));
    Ok(doc)
}

/// The document and store row of a new outbound message in `status` (`queued`, or
/// `scheduled`), not yet stored.
pub(crate) fn outbound_record(
    state: &Engine,
    account: &Account,
    outbound: &Outbound,
    status: &str,
) -> (Map<String, Value>, Record) {
    let kind = if outbound.media.is_empty() {
        SidKind::Message
    } else {
        SidKind::MediaMessage
    };
    let sid = Sid::generate(kind).into_string();
    let mut doc = message_doc(
        &state.node_id,
        &account.sid,
        &sid,
        Envelope {
            from: &outbound.from,
            to: &outbound.to,
            body: &outbound.body,
            media: &outbound.media,
        },
        outbound.direction,
        status,
    );
    doc.insert(
        "messaging_service_sid".into(),
        json!(outbound.messaging_service_sid),
    );
    doc.insert(
        "engine_status_callback".into(),
        json!(outbound.status_callback),
    );
    let record = message_record(&doc, now_ms());
    (doc, record)
}

/// Moves a message through `sending` and `sent` to the handset's outcome, posting a status
/// callback at each step, in order. A message found part of the way (after a restart) goes on
/// from where it was.
async fn deliver(state: Engine, account: Account, mut record: Record) {
    let outcome = state
        .sandbox
        .handset(
            &account.sid,
            record.phone_number.as_deref().unwrap_or_default(),
        )
        .delivery;
    let current = record.status.clone().unwrap_or_default();
    for (status, error) in delivery_steps(&current, outcome) {
        // The callback is written before the status it reports: a crash in between resumes
        // the delivery from the earlier status and calls back again, never skips a callback.
        let callback = match status_callback(&account, &record, status, error) {
            Some(request) => Some(
                outbox::enqueue(
                    &state,
                    &account.sid,
                    Some(&record.sid),
                    outbox::Kind::MessageStatus,
                    Channel::Messaging,
                    request,
                )
                .await,
            ),
            None => None,
        };
        if let Err(error) = set_status(&state, &mut record, status, error).await {
            tracing::error!(?error, message = %record.sid, "message status update failed");
            return;
        }
        metrics::counter!("switchboard_messages_status_total", "status" => status).increment(1);
        if let Some(pending) = callback {
            let token = &account.auth_token;
            outbox::attempt_and_alert(&state, pending, &account.sid, token, Some(&record.sid))
                .await;
        }
    }
}

/// Carries on delivering an outbound message stored before a restart (`queued`, `sending` or
/// `sent`), on a task of the engine.
pub(crate) fn resume_delivery(state: &Engine, account: Account, record: Record) {
    state.spawn(deliver(state.clone(), account, record));
}

/// An outbound message of an account that is not active, found under way after a restart:
/// it fails with 20005 and nothing is sent, its callback included.
pub(crate) async fn fail_inactive(state: &Engine, mut record: Record) -> EngineResult<()> {
    set_status(
        state,
        &mut record,
        "failed",
        Some(error_code::ACCOUNT_NOT_ACTIVE),
    )
    .await
}

/// Whether an outbound message in `status` still has delivery steps to go.
pub(crate) fn is_in_delivery(status: &str) -> bool {
    matches!(status, "accepted" | "queued" | "sending" | "sent")
}

/// The statuses still to come for a message in `current` whose handset does `outcome`.
fn delivery_steps(current: &str, outcome: Delivery) -> Vec<(&'static str, Option<ErrorCode>)> {
    let last = match outcome {
        Delivery::Deliver => ("delivered", None),
        Delivery::Undelivered => (
            "undelivered",
            Some(error_code::UNREACHABLE_DESTINATION_HANDSET),
        ),
        Delivery::Fail => ("failed", Some(error_code::MESSAGE_DELIVERY_UNKNOWN_ERROR)),
    };
    if !is_in_delivery(current) {
        return Vec::new();
    }
    let mut steps = match outcome {
        Delivery::Fail => vec![last],
        _ => vec![("sending", None), ("sent", None), last],
    };
    // Steps already taken are not taken again (their callbacks went out, or are lost with the
    // crash that stopped them: the final one is what receivers wait for).
    match current {
        "sending" => steps.retain(|(status, _)| *status != "sending"),
        "sent" => steps.retain(|(status, _)| !matches!(*status, "sending" | "sent")),
        _ => {}
    }
    steps
}

pub(crate) async fn set_status(
    state: &Engine,
    record: &mut Record,
    status: &str,
    error: Option<ErrorCode>,
) -> EngineResult<()> {
    let now = now_ms();
    let doc = &mut record.doc;
    doc["status"] = json!(status);
    doc["date_updated"] = json!(now);
    if status == "sent" || (status == "failed" && doc["date_sent"].is_null()) {
        doc["date_sent"] = json!(now);
        record.date_key = Some(now);
    }
    if let Some(code) = error {
        doc["error_code"] = json!(code.code);
        doc["error_message"] = json!(code.message);
    }
    record.status = Some(status.to_owned());
    state.store.update(record).await?;
    Ok(())
}

/// The status callback for `status` of the message `record`, when it has a callback URL.
pub(crate) fn status_callback(
    account: &Account,
    record: &Record,
    status: &str,
    error: Option<ErrorCode>,
) -> Option<WebhookRequest> {
    let url = record.doc["engine_status_callback"].as_str()?;
    let text = |name: &str| record.doc[name].as_str().unwrap_or_default().to_owned();
    let mut params = vec![
        ("AccountSid".to_owned(), account.sid.clone()),
        ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
        ("From".to_owned(), text("from")),
        ("MessageSid".to_owned(), record.sid.clone()),
        ("MessageStatus".to_owned(), status.to_owned()),
        ("SmsSid".to_owned(), record.sid.clone()),
        ("SmsStatus".to_owned(), status.to_owned()),
        ("To".to_owned(), text("to")),
    ];
    if let Some(code) = error {
        params.push(("ErrorCode".to_owned(), code.code.to_string()));
    }
    Some(WebhookRequest::form(url.to_owned(), Method::Post, params))
}

/// Where a number's messages go (its SMS application's URLs, else its own) and whether its
/// primary's origin is guarded by a circuit breaker; `None` without an SMS URL.
async fn sms_handler(state: &Engine, number: &Value) -> EngineResult<Option<SmsHandler>> {
    let handler = session::handler(state, number, Channel::Messaging).await?;
    Ok(handler.primary.map(|primary| SmsHandler {
        primary,
        fallback: handler.fallback,
        breaker: handler.breaker,
    }))
}

/// The URLs an inbound message session runs with.
struct SmsHandler {
    primary: Endpoint,
    fallback: Option<Endpoint>,
    breaker: bool,
}

/// An inbound message to a provisioned number.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<String>,
    /// `Drill=true`: the session's first request treats the primary as failed (11200) without
    /// requesting it, so the fallback answers.
    pub drill: bool,
    /// `FromState`, `ToCountry`, … set over what the numbers tell (sandbox).
    pub geo: GeoOverrides,
}

/// How an inbound message was taken: its SID and its status (`received`, or `failed` when the
/// number's account is not active).
#[derive(Clone, Debug)]
pub struct Received {
    pub sid: String,
    pub status: &'static str,
}

/// Stores the inbound message as `received` and runs its SMS URL's session on its own task.
/// A message to a number of an account that is not active is stored `failed` with 20005 and
/// nothing runs: no SMS URL is requested, no alert pushed; its transcript is one `refused`
/// event, already finished.
pub async fn receive(
    state: &Engine,
    account: &Account,
    number: &Record,
    inbound: Inbound,
) -> EngineResult<Received> {
    let active = crate::account::is_active(&*state.store, account).await?;
    let kind = if inbound.media.is_empty() {
        SidKind::Message
    } else {
        SidKind::MediaMessage
    };
    let sid = Sid::generate(kind).into_string();
    let doc = message_doc(
        &state.node_id,
        &account.sid,
        &sid,
        Envelope {
            from: &inbound.from,
            to: &inbound.to,
            body: &inbound.body,
            media: &inbound.media,
        },
        "inbound",
        if active { "received" } else { "failed" },
    );
    if !active {
        return refuse_inbound(state, doc).await;
    }
    // A number in a Messaging Service's pool receives for the service.
    let service = crate::services::of_number(state, &number.sid).await?;
    let mut doc = doc;
    if let Some(service) = &service {
        doc.insert("messaging_service_sid".into(), json!(service.sid));
    }
    let record = message_record(&doc, now_ms());
    state.store.insert(&record).await?;
    insert_media(state, &account.sid, &sid, &inbound.media).await?;
    let log = state.sandbox.open_log(&sid);
    let handler = match &service {
        Some(service) if crate::services::handles_inbound(&service.doc) => {
            let (primary, fallback) = crate::services::inbound_endpoints(&service.doc);
            primary.map(|primary| SmsHandler {
                primary,
                fallback,
                breaker: number.doc["switchboard_breaker"].as_bool() == Some(true),
            })
        }
        _ => sms_handler(state, &number.doc).await?,
    };
    let mut params = inbound_params(&account.sid, &sid, &inbound, &doc);
    if let Some(service) = &service {
        params.push(("MessagingServiceSid".to_owned(), service.sid.clone()));
    }
    state.spawn(run_session(
        state.clone(),
        account.clone(),
        sid.clone(),
        inbound,
        params,
        handler,
        log,
    ));
    Ok(Received {
        sid,
        status: "received",
    })
}

/// Stores `doc` (an inbound message to an account that is not active) as `failed` with 20005
/// and closes its transcript with one `refused` event.
async fn refuse_inbound(state: &Engine, mut doc: Map<String, Value>) -> EngineResult<Received> {
    let code = error_code::ACCOUNT_NOT_ACTIVE;
    doc.insert("error_code".into(), json!(code.code));
    doc.insert("error_message".into(), json!(code.message));
    let record = message_record(&doc, now_ms());
    state.store.insert(&record).await?;
    let log = state.sandbox.open_log(&record.sid);
    log.push(
        "refused",
        json!({"error_code": code.code, "message": code.message}),
    );
    log.finish();
    metrics::counter!("switchboard_messages_refused_total", "reason" => "account_not_active")
        .increment(1);
    Ok(Received {
        sid: record.sid,
        status: "failed",
    })
}

fn inbound_params(
    account_sid: &str,
    sid: &str,
    inbound: &Inbound,
    doc: &Map<String, Value>,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", account_sid),
        ("From", &inbound.from),
        ("To", &inbound.to),
        ("Body", &inbound.body),
        ("NumMedia", doc["num_media"].as_str().unwrap_or("0")),
        ("NumSegments", doc["num_segments"].as_str().unwrap_or("1")),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    let (mut from, mut to) = (Geo::of(&inbound.from), Geo::of(&inbound.to));
    inbound.geo.apply(&mut from, &mut to);
    let names = GeoOverrides::NAMES;
    for (names, geo) in [(&names[..4], from), (&names[4..], to)] {
        for (name, value) in names
            .iter()
            .zip([geo.city, geo.state, geo.zip, geo.country])
        {
            params.push(((*name).to_owned(), value));
        }
    }
    for (index, url) in inbound.media.iter().enumerate() {
        params.push((format!("MediaUrl{index}"), url.clone()));
        params.push((
            format!("MediaContentType{index}"),
            content_type_of(url).to_owned(),
        ));
    }
    params
}

/// A drill's first fetch: the primary is treated as failed with 11200 without being requested,
/// through the policy a document that cannot run takes (the fallback gets `ErrorCode=11200` and
/// `ErrorUrl` = the primary). No alert is recorded: nothing failed. Without a fallback the
/// session has no TwiML, as a real failure would leave it.
async fn drill_primary(
    state: &Engine,
    account: &Account,
    log: &Log,
    cookies: &mut CookieJar,
    plan: switchboard_webhook::FetchPlan,
) -> switchboard_webhook::TwimlFetchResult<switchboard_twiml::Parsed> {
    let code = error_code::HTTP_RETRIEVAL_FAILURE;
    let url = plan.primary.url.clone();
    log.push("drill", json!({"url": url, "error_code": code.code}));
    let alert = session::session_alert(
        Channel::Messaging,
        code,
        AlertLevel::Error,
        "Drill: the primary URL is treated as failed".to_owned(),
        url,
    );
    match session::after_execution_failure(plan, code, alert).failover {
        Some(failover) => {
            session::fetch_fallback(
                state,
                &account.auth_token,
                cookies,
                failover,
                Channel::Messaging,
            )
            .await
        }
        None => switchboard_webhook::TwimlFetchResult {
            outcome: TwimlOutcome::GiveUp { error_code: code },
            alerts: Vec::new(),
            events: Vec::new(),
            answered_by: None,
            channel: Channel::Messaging,
        },
    }
}

async fn run_session(
    state: Engine,
    account: Account,
    sid: String,
    inbound: Inbound,
    params: Vec<(String, String)>,
    handler: Option<SmsHandler>,
    log: Arc<Log>,
) {
    let Some(SmsHandler {
        primary,
        fallback,
        breaker,
    }) = handler
    else {
        log.finish();
        return;
    };
    let mut session = Session::new(params, primary.url.clone(), primary.method);
    let mut cookies = state
        .sandbox
        .cookies(&account.sid, &inbound.from, &inbound.to);
    let mut first = true;
    while let Some(action) = session.poll() {
        match action {
            Action::Fetch {
                url,
                method,
                params,
            } => {
                let plan = session::plan(
                    &state,
                    Endpoint::new(url.clone(), method),
                    fallback.clone(),
                    params,
                    first,
                    breaker,
                );
                let drill = first && inbound.drill;
                first = false;
                let result = if drill {
                    drill_primary(&state, &account, &log, &mut cookies, plan).await
                } else {
                    session::fetch(
                        &state,
                        &account.auth_token,
                        &mut cookies,
                        plan,
                        Channel::Messaging,
                    )
                    .await
                };
                session::log_exchanges(&log, &result);
                record_alerts(&state, &account, &sid, &log, &result.alerts).await;
                // Schema warnings (12200) of the document that runs, with its request and response.
                let warnings: Vec<AlertRecord> = match &result.outcome {
                    TwimlOutcome::Answer {
                        reply: switchboard_webhook::Reply::Document(parsed),
                        ..
                    } => parsed
                        .warnings
                        .iter()
                        .filter_map(|finding| {
                            let message = format!(
                                "{} (line {}, column {})",
                                finding.message, finding.line, finding.column
                            );
                            result.document_warning(finding.code, message)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                record_alerts(&state, &account, &sid, &log, &warnings).await;
                let input = match result.outcome {
                    TwimlOutcome::Answer {
                        reply: switchboard_webhook::Reply::Document(parsed),
                        from_fallback,
                    } => {
                        let source = if from_fallback {
                            fallback.as_ref().map_or(url.clone(), |f| f.url.clone())
                        } else {
                            url.clone()
                        };
                        Input::Document {
                            document: parsed.document,
                            url: source,
                        }
                    }
                    TwimlOutcome::Answer {
                        reply: switchboard_webhook::Reply::Text(body),
                        ..
                    } => Input::Text { body },
                    TwimlOutcome::Answer {
                        reply: switchboard_webhook::Reply::Audio { .. },
                        ..
                    }
                    | TwimlOutcome::GiveUp { .. } => Input::NoUsableTwiml,
                };
                session.handle(input);
            }
            Action::Send(reply) => {
                if let Some(queued) = send_reply(&state, &account, &log, reply).await {
                    session.handle(queued);
                }
            }
            Action::Alert { code, message, url } => {
                let alert = session::session_alert(
                    Channel::Messaging,
                    code,
                    AlertLevel::Error,
                    message,
                    url.unwrap_or_default(),
                );
                record_alerts(&state, &account, &sid, &log, std::slice::from_ref(&alert)).await;
            }
            Action::Done => break,
        }
    }
    state
        .sandbox
        .keep_cookies(&account.sid, &inbound.from, &inbound.to, cookies);
    log.finish();
}

async fn send_reply(state: &Engine, account: &Account, log: &Log, reply: Reply) -> Option<Input> {
    log.push(
        "message",
        json!({"to": reply.to, "from": reply.from, "body": reply.body, "media": reply.media}),
    );
    let outbound = Outbound {
        from: reply.from,
        to: reply.to,
        body: reply.body,
        media: reply.media,
        status_callback: reply.status_callback,
        direction: "outbound-reply",
        messaging_service_sid: None,
    };
    match send(state, account, outbound).await {
        Ok(doc) => {
            let message_sid = doc["sid"].as_str().unwrap_or_default().to_owned();
            log.add_reply(message_sid.clone());
            reply.awaits_status.then(|| Input::ReplyQueued {
                message_sid,
                status: "queued".into(),
            })
        }
        Err(error) => {
            tracing::error!(?error, "storing a reply failed");
            None
        }
    }
}

async fn record_alerts(
    state: &Engine,
    account: &Account,
    sid: &str,
    log: &Log,
    alerts: &[AlertRecord],
) {
    session::record_alerts(state, &account.sid, sid, log, alerts).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(current: &str, outcome: Delivery) -> Vec<&'static str> {
        delivery_steps(current, outcome)
            .into_iter()
            .map(|(status, _)| status)
            .collect()
    }

    #[test]
    fn a_delivery_goes_on_from_the_status_it_was_stopped_in() {
        use Delivery::{Deliver, Fail, Undelivered};
        assert_eq!(
            statuses("queued", Deliver),
            ["sending", "sent", "delivered"]
        );
        assert_eq!(
            statuses("accepted", Undelivered),
            ["sending", "sent", "undelivered"]
        );
        assert_eq!(statuses("sending", Deliver), ["sent", "delivered"]);
        assert_eq!(statuses("sent", Deliver), ["delivered"]);
        assert_eq!(statuses("sent", Undelivered), ["undelivered"]);
        assert_eq!(statuses("queued", Fail), ["failed"]);
        assert_eq!(statuses("sent", Fail), ["failed"]);
        for done in ["delivered", "undelivered", "failed", "received", ""] {
            assert!(statuses(done, Deliver).is_empty(), "{done}");
        }
        let failed = delivery_steps("queued", Fail);
        assert_eq!(
            failed[0].1.map(|code| code.code),
            Some(error_code::MESSAGE_DELIVERY_UNKNOWN_ERROR.code)
        );
    }
}
