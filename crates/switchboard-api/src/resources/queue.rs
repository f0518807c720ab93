//! `Queues` (create, list, fetch, update, delete) and `Queues/{Sid}/Members` (list, fetch by
//! call SID or `Front`, update with `Url` to dequeue the caller to that TwiML).
//!
//! A queue is a stored row (`Kind::Queue`, one per account and name through its unique key);
//! `current_size`, `average_wait_time` and the members are the engine's live state
//! (`switchboard_engine::voice::queue`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_core::{ErrorCode, date, error_code};
use switchboard_engine::voice::MemberView;
use switchboard_engine::voice::queue::{self, DEFAULT_MAX_SIZE, MAX_MAX_SIZE};
use switchboard_store::{Kind, Order, Record, StoreError};
use switchboard_webhook::{Endpoint, Method};

use super::call_recording::one_of;
use super::listing::{ListPath, Listing};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created, live_list};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// The Twilio representation of a queue, with its live figures.
pub fn render(state: &AppState, doc: &Value) -> Value {
    let (account, sid) = (
        doc["account_sid"].as_str().unwrap_or_default(),
        doc["sid"].as_str().unwrap_or_default(),
    );
    let view = state.engine.queue_view(sid);
    let base = format!("{ACCOUNTS}/{account}/Queues/{sid}");
    let when = |name: &str| doc[name].as_i64().map(date::rfc2822);
    json!({
        "account_sid": account, "sid": sid, "friendly_name": doc["friendly_name"],
        "max_size": doc["max_size"], "current_size": view.current_size,
        "average_wait_time": view.average_wait_time_s,
        "date_created": when("date_created"), "date_updated": when("date_updated"),
        "uri": format!("{base}.json"),
        "subresource_uris": {"members": format!("{base}/Members.json")},
    })
}

fn render_member(account_sid: &str, member: &MemberView) -> Value {
    json!({
        "call_sid": member.call_sid, "queue_sid": member.queue_sid,
        "date_enqueued": date::rfc2822(member.enqueued_ms), "position": member.position,
        "wait_time": member.wait_time_s,
        "uri": format!(
            "{ACCOUNTS}/{account_sid}/Queues/{}/Members/{}.json",
            member.queue_sid, member.call_sid
        ),
    })
}

/// `FriendlyName`: 1 to 64 characters.
fn friendly_name(params: &Params, required: bool) -> ApiResult<Option<String>> {
    match params.get("FriendlyName") {
        Some(name) if !name.is_empty() && name.chars().count() <= 64 => Ok(Some(name.to_owned())),
        None if !required => Ok(None),
        _ => Err(bad(
            error_code::INVALID_PARAMETER,
            "FriendlyName is required and must be 1 to 64 characters",
        )),
    }
}

/// `MaxSize`: 1 to 5000.
fn max_size(params: &Params) -> ApiResult<Option<u32>> {
    match params.get("MaxSize").filter(|size| !size.is_empty()) {
        None => Ok(None),
        Some(size) => match size.parse::<u32>() {
            Ok(size) if (1..=MAX_MAX_SIZE).contains(&size) => Ok(Some(size)),
            _ => Err(bad(
                error_code::INVALID_PARAMETER,
                format!("MaxSize must be an integer from 1 to {MAX_MAX_SIZE}"),
            )),
        },
    }
}

fn taken(name: &str) -> ApiError {
    bad(
        error_code::INVALID_PARAMETER,
        format!("A queue named {name:?} already exists"),
    )
}

pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Response> {
    let name = friendly_name(&params, true)?.unwrap_or_default();
    let size = max_size(&params)?.unwrap_or(DEFAULT_MAX_SIZE);
    let record = queue::new_record(&scoped.account.sid, &name, size);
    match scoped.state.store.insert(&record).await {
        Ok(_) => Ok(created(render(&scoped.state, &record.doc))),
        Err(StoreError::Conflict(_)) => Err(taken(&name)),
        Err(error) => Err(error.into()),
    }
}

const LIST: Listing = Listing {
    kind: Kind::Queue,
    key: "queues",
    order: Order::Ascending,
    params: &[],
    render: |state, record| Ok(render(state, &record.doc)),
    path: ListPath::Account("Queues.json"),
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Queue, &scoped.rest).await?;
    Ok(Json(render(&scoped.state, &record.doc)))
}

pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let mut record: Record = scoped.file_record(Kind::Queue, &scoped.rest).await?;
    let name = friendly_name(&params, false)?;
    let size = max_size(&params)?;
    if let Some(name) = &name {
        record.doc["friendly_name"] = json!(name);
        record.friendly_name = Some(name.clone());
        record.unique_key = Some(queue::unique_key(&scoped.account.sid, name));
    }
    if let Some(size) = size {
        record.doc["max_size"] = json!(size);
    }
    record.doc["date_updated"] = json!(switchboard_engine::now_ms());
    match scoped.state.store.update(&record).await {
        Ok(_) => Ok(Json(render(&scoped.state, &record.doc))),
        Err(StoreError::Conflict(_)) => Err(taken(name.as_deref().unwrap_or_default())),
        Err(error) => Err(error.into()),
    }
}

/// A queue with callers waiting cannot be deleted (they would wait in a queue nobody can see).
pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    let record = scoped.file_record(Kind::Queue, &scoped.rest).await?;
    if scoped.state.engine.queue_view(&record.sid).current_size > 0 {
        return Err(bad(
            error_code::INVALID_PARAMETER,
            "The queue has callers waiting; dequeue them before deleting it",
        ));
    }
    scoped.state.store.delete(Kind::Queue, &record.sid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn members(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.record(Kind::Queue, &scoped.rest).await?;
    let items = scoped
        .state
        .engine
        .queue_members(&record.sid)
        .iter()
        .map(|member| render_member(&scoped.account.sid, member))
        .collect();
    Ok(Json(
        live_list::answer(&scoped.uri, "queue_members", items).await?,
    ))
}

/// The member `{file}` names: `{CallSid}.json` or `Front.json`.
fn member_of(members: Vec<MemberView>, file: &str) -> Option<MemberView> {
    match file.strip_suffix(".json")? {
        "Front" => members.into_iter().next(),
        sid => members.into_iter().find(|member| member.call_sid == sid),
    }
}

pub(crate) async fn member(scoped: Scoped<(String, String)>) -> ApiResult<Json<Value>> {
    let (queue_sid, file) = scoped.rest.clone();
    let record = scoped.record(Kind::Queue, &queue_sid).await?;
    let member = member_of(scoped.state.engine.queue_members(&record.sid), &file)
        .ok_or_else(|| ApiError::not_found(scoped.uri.path()))?;
    Ok(Json(render_member(&scoped.account.sid, &member)))
}

/// `POST Members/{CallSid|Front}.json` with `Url` (and `Method`): the caller leaves the queue
/// and its call continues with that TwiML.
pub(crate) async fn dequeue(
    ScopedForm(scoped, params): ScopedForm<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (queue_sid, file) = scoped.rest.clone();
    let record = scoped.record(Kind::Queue, &queue_sid).await?;
    let url = params
        .get("Url")
        .filter(|url| !url.is_empty())
        .ok_or_else(|| bad(error_code::INVALID_PARAMETER, "Url is required"))?;
    let url = validate::webhook_url("Url", url, error_code::CALL_INVALID_URL)?;
    let method = match one_of(&params, "Method", &["GET", "POST"])? {
        Some("GET") => Method::Get,
        _ => Method::Post,
    };
    let who = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::no_such_path(scoped.uri.path()))?;
    let member = scoped
        .state
        .engine
        .queue_dequeue_to(&record.sid, who, Endpoint::new(url, method))
        .ok_or_else(|| ApiError::not_found(scoped.uri.path()))?;
    Ok(Json(render_member(&scoped.account.sid, &member)))
}
