//! Messages: send (to virtual handsets in the sandbox), list with filters, fetch, redact, delete,
//! and the Media subresource.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{Sid, SidKind, date, error_code};
use switchboard_store::{Column, Kind, Order, Record};

use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::resources::account::Account;
use crate::{AppState, now_ms, validate};
use switchboard_engine::messaging::{Outbound, message_record};

/// The Twilio representation of a stored message (engine-only fields are left out).
pub fn render(doc: &Value) -> Value {
    let mut body = Map::new();
    let Value::Object(fields) = doc else {
        return Value::Null;
    };
    for (name, value) in fields {
        if !name.starts_with("engine_") {
            body.insert(name.clone(), value.clone());
        }
    }
    let (sid, account) = (text(doc, "sid"), text(doc, "account_sid"));
    let base = format!("{ACCOUNTS}/{account}/Messages/{sid}");
    for name in ["date_created", "date_updated", "date_sent"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::rfc2822(ms)));
        }
    }
    body.insert("uri".into(), json!(format!("{base}.json")));
    body.insert(
        "subresource_uris".into(),
        // Only what this engine serves (Twilio also links `feedback`).
        json!({"media": format!("{base}/Media.json")}),
    );
    Value::Object(body)
}

fn text<'a>(doc: &'a Value, name: &str) -> &'a str {
    doc[name].as_str().unwrap_or_default()
}

/// Validates a create request into what to send.
async fn outbound(state: &AppState, account: &Account, params: &Params) -> ApiResult<Outbound> {
    let to = params
        .get("To")
        .filter(|to| !to.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::MESSAGE_TO_REQUIRED,
                "A 'To' phone number is required",
            )
        })?;
    let to = validate::e164(to).ok_or_else(|| {
        ApiError::bad_request(
            error_code::CALL_INVALID_TO,
            format!("The 'To' number {to} is not a valid phone number"),
        )
    })?;
    let service = messaging_service(state, account, params).await?;
    let from = match params.get("From").filter(|from| !from.is_empty()) {
        Some(from) => owned_sender(state, account, from).await?,
        None => match &service {
            Some(service) => pool_sender(state, service, &to).await?,
            None => {
                return Err(ApiError::bad_request(
                    error_code::MESSAGE_FROM_REQUIRED,
                    "A 'From' phone number is required",
                ));
            }
        },
    };
    let body = params.get("Body").unwrap_or_default().to_owned();
    let media: Vec<String> = params
        .all("MediaUrl")
        .into_iter()
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if body.is_empty() && media.is_empty() {
        return Err(ApiError::bad_request(
            error_code::MESSAGE_BODY_REQUIRED,
            "Message body is required",
        ));
    }
    if body.chars().count() > 1600 {
        return Err(ApiError::bad_request(
            error_code::MESSAGE_BODY_TOO_LONG,
            "The concatenated message body exceeds the 1600 character limit",
        ));
    }
    if media.len() > 10 {
        return Err(ApiError::bad_request(
            error_code::TOO_MANY_MEDIA_URLS,
            "Number of media files exceeds allowed limit of 10",
        ));
    }
    for url in &media {
        validate::webhook_url("MediaUrl", url, error_code::INVALID_MEDIA_URL)?;
    }
    let mut status_callback = match params.get("StatusCallback") {
        Some(url) => Some(validate::webhook_url(
            "StatusCallback",
            url,
            error_code::INVALID_STATUS_CALLBACK,
        )?)
        .filter(|url| !url.is_empty()),
        None => None,
    };
    if let Some(app) = params.get("ApplicationSid").filter(|sid| !sid.is_empty()) {
        let record = state
            .store
            .get(Kind::Application, app)
            .await?
            .filter(|record| record.account_sid == account.sid);
        let record = record.ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_APPLICATION_SID,
                format!("ApplicationSid {app} is not an application of this account"),
            )
        })?;
        status_callback = record.doc["message_status_callback"]
            .as_str()
            .map(str::to_owned);
    }
    // A message sent through a service that names no callback of its own reports to the
    // service's status callback.
    if status_callback.is_none() {
        status_callback = service
            .as_ref()
            .and_then(|service| service.doc["status_callback"].as_str())
            .map(str::to_owned);
    }
    Ok(Outbound {
        from,
        to,
        body,
        media,
        status_callback,
        direction: "outbound-api",
        messaging_service_sid: service.map(|service| service.sid),
    })
}

/// `From`, which must be a number of the account.
async fn owned_sender(state: &AppState, account: &Account, from: &str) -> ApiResult<String> {
    let not_owned = |from: &str| {
        ApiError::bad_request(
            error_code::MESSAGE_FROM_NOT_OWNED,
            format!(
                "The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account"
            ),
        )
    };
    let e164 = validate::e164(from).ok_or_else(|| not_owned(from))?;
    match state.engine.find_number(&e164).await? {
        Some(number) if number.account_sid == account.sid => Ok(e164),
        _ => Err(not_owned(&e164)),
    }
}

/// The Messaging Service `MessagingServiceSid` names, which must be the account's (21701).
async fn messaging_service(
    state: &AppState,
    account: &Account,
    params: &Params,
) -> ApiResult<Option<Record>> {
    let Some(sid) = params
        .get("MessagingServiceSid")
        .filter(|sid| !sid.is_empty())
    else {
        return Ok(None);
    };
    let service = match Sid::parse(SidKind::MessagingService, sid) {
        Some(parsed) => {
            state
                .store
                .get(Kind::MessagingService, parsed.as_str())
                .await?
        }
        None => None,
    };
    let service = service.filter(|service| service.account_sid == account.sid);
    service.map(Some).ok_or_else(|| {
        ApiError::bad_request(
            error_code::MESSAGING_SERVICE_NOT_FOUND,
            format!("The Messaging Service {sid} does not exist"),
        )
    })
}

/// The sender the service's pool gives `to`: always the same number for the same recipient
/// while the pool is unchanged (Twilio's sticky sender), spread over the pool across
/// recipients; 21704 for an empty pool.
async fn pool_sender(state: &AppState, service: &Record, to: &str) -> ApiResult<String> {
    let pool = super::messaging_service::pool(state, service).await?;
    if pool.is_empty() {
        return Err(ApiError::bad_request(
            error_code::MESSAGING_SERVICE_NO_NUMBERS,
            format!(
                "The Messaging Service {} contains no phone numbers",
                service.sid
            ),
        ));
    }
    // FNV-1a: stable across processes and nodes, unlike the standard library's hasher.
    let hash = to.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let index = usize::try_from(hash % pool.len() as u64).unwrap_or(0);
    Ok(pool[index].phone_number.clone().unwrap_or_default())
}

pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Response> {
    let outbound = outbound(&scoped.state, &scoped.account, &params).await?;
    let engine = &scoped.state.engine;
    let min_ahead = i64::try_from(engine.schedule_min_ahead().as_millis()).unwrap_or(i64::MAX);
    let has_service = outbound.messaging_service_sid.is_some();
    let doc = match super::schedule::send_at(&params, has_service, now_ms(), min_ahead)? {
        Some(at) => {
            engine
                .schedule_message(&scoped.account, outbound, at)
                .await?
        }
        None => engine.send_message(&scoped.account, outbound).await?,
    };
    let sid = doc.get("sid").and_then(Value::as_str);
    scoped
        .warn_ignored(sid, &params, super::ignored::MESSAGE_CREATE)
        .await;
    Ok(created(render(&Value::Object(doc))))
}

/// `Messages.json`, newest first, filtered by `To`, `From` and the day of `DateSent`.
pub(crate) const LIST: Listing = Listing {
    kind: Kind::Message,
    key: "messages",
    order: Order::Descending,
    params: &[
        Param::Equals("To", Column::PhoneNumber),
        Param::Equals("From", Column::FromNumber),
        Param::Days {
            name: "DateSent",
            column: Column::DateKey,
            times: true,
        },
    ],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("Messages.json"),
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Message, &scoped.rest).await?;
    Ok(Json(render(&record.doc)))
}

pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let (mut record, mut doc) = scoped
        .load::<Map<String, Value>>(Kind::Message, sid)
        .await?;
    if let Some(status) = params.get("Status") {
        (record, doc) = cancel(&scoped, record, status).await?;
    }
    match params.get("Body") {
        Some("") => {
            doc.insert("body".into(), json!(""));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                "Body can only be set to an empty string (redaction)",
            ));
        }
        None => {}
    }
    doc.insert("date_updated".into(), json!(now_ms()));
    let updated = message_record(&doc, record.created_ms);
    scoped.state.store.update(&updated).await?;
    Ok(Json(render(&updated.doc)))
}

/// `Status=canceled`: cancels a scheduled message (anything else is refused); the updated row
/// and document.
async fn cancel(
    scoped: &Scoped<String>,
    record: Record,
    status: &str,
) -> ApiResult<(Record, Map<String, Value>)> {
    if status != "canceled" {
        return Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("Status can only be set to canceled, not {status:?}"),
        ));
    }
    let current = record.status.clone().unwrap_or_default();
    let engine = &scoped.state.engine;
    let Some(canceled) = engine.cancel_message(&scoped.account, record).await? else {
        return Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("Only scheduled messages can be canceled, and this message is {current}"),
        ));
    };
    let doc = canceled.doc.as_object().cloned().unwrap_or_default();
    Ok((canceled, doc))
}

pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    scoped.delete(Kind::Message).await
}

fn render_media(doc: &Value) -> Value {
    let (sid, account, parent) = (
        text(doc, "sid"),
        text(doc, "account_sid"),
        text(doc, "parent_sid"),
    );
    json!({
        "sid": sid,
        "account_sid": account,
        "parent_sid": parent,
        "content_type": doc["content_type"],
        "date_created": date::rfc2822(doc["date_created"].as_i64().unwrap_or_default()),
        "date_updated": date::rfc2822(doc["date_updated"].as_i64().unwrap_or_default()),
        "uri": format!("{ACCOUNTS}/{account}/Messages/{parent}/Media/{sid}.json"),
    })
}

/// `Messages/{MessageSid}/Media.json`, oldest first.
const MEDIA: Listing = Listing {
    kind: Kind::Media,
    key: "media_list",
    order: Order::Ascending,
    params: &[Param::Days {
        name: "DateCreated",
        column: Column::CreatedMs,
        times: true,
    }],
    render: |_, record| Ok(render_media(&record.doc)),
    path: ListPath::Requested,
};

pub(crate) async fn media_list(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    scoped.record(Kind::Message, &scoped.rest).await?;
    MEDIA.of_account(&scoped, Some(scoped.rest.clone())).await
}

/// `…/Media/{Sid}.json` is the resource; `…/Media/{Sid}` (no suffix) is the content itself,
/// which the sandbox never downloaded: it redirects to the URL the media came from.
pub(crate) async fn media_fetch(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (message, file) = &scoped.rest;
    let sid = file.strip_suffix(".json").unwrap_or(file);
    let record = scoped.record(Kind::Media, sid).await?;
    if record.parent_sid.as_deref() != Some(message.as_str()) {
        return Err(ApiError::not_found(scoped.uri.path()));
    }
    if file.ends_with(".json") {
        return Ok(Json(render_media(&record.doc)).into_response());
    }
    Ok(Redirect::to(text(&record.doc, "engine_url")).into_response())
}

pub(crate) async fn media_delete(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (message, file) = &scoped.rest;
    let record = scoped.file_record(Kind::Media, file).await?;
    if record.parent_sid.as_deref() != Some(message.as_str()) {
        return Err(ApiError::not_found(scoped.uri.path()));
    }
    scoped.state.store.delete(Kind::Media, &record.sid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
