//! Recordings: list, fetch, delete, and the audio itself at `…/Recordings/{Sid}.wav` (also
//! without extension, as `RecordingUrl` is handed out).
//!
//! The audio is served without credentials, like Twilio's default "public media" setting: a
//! `RecordingUrl` handed to a customer's webhook must be playable by it. The `.json` resource
//! needs the account's credentials as every REST resource does.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::date;
use switchboard_store::{Kind, ListQuery, Order};

use super::{ACCOUNTS, delete_owned, load_owned};
use crate::AppState;
use crate::auth::{Caller, authenticate};
use crate::error::{ApiError, ApiResult};
use crate::form::query_params;
use crate::paging::{PageRequest, fetch_page};
use switchboard_engine::voice::recording::{audio_of, pcm_of, wav};

/// The Twilio representation of a stored recording.
pub fn render(state: &AppState, doc: &Value) -> Value {
    let Value::Object(fields) = doc else {
        return Value::Null;
    };
    let mut body: Map<String, Value> = fields
        .iter()
        .filter(|(name, _)| !name.starts_with("engine_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for name in ["date_created", "date_updated", "start_time"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::rfc2822(ms)));
        }
    }
    let sid = doc["sid"].as_str().unwrap_or_default();
    let account = doc["account_sid"].as_str().unwrap_or_default();
    let base = format!("{ACCOUNTS}/{account}/Recordings/{sid}");
    body.insert("uri".into(), json!(format!("{base}.json")));
    body.insert(
        "media_url".into(),
        json!(format!("{}{base}", state.public_url.trim_end_matches('/'))),
    );
    body.insert(
        "subresource_uris".into(),
        json!({"add_on_results": format!("{base}/AddOnResults.json"), "transcriptions": format!("{base}/Transcriptions.json")}),
    );
    Value::Object(body)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let mut query = ListQuery::new(Kind::Recording, &account.sid);
    query.order = Order::Descending;
    let mut kept = Vec::new();
    if let Some(call) = params.get("CallSid") {
        query.parent_sid = Some(call.to_owned());
        kept.push(("CallSid", call.to_owned()));
    }
    let page = fetch_page(state.store.as_ref(), query, request).await?;
    let items = page
        .records
        .iter()
        .map(|record| render(&state, &record.doc))
        .collect();
    Ok(Json(page.envelope(
        &format!("{ACCOUNTS}/{}/Recordings.json", account.sid),
        &kept,
        "recordings",
        items,
    )))
}

/// `{Sid}.json` (the resource, authenticated) or `{Sid}.wav` / `{Sid}` (the audio).
pub(crate) async fn fetch(
    State(state): State<AppState>,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(sid) = file.strip_suffix(".json") {
        let caller = authenticate(&state, &headers).await?;
        let account = caller.scope(&state, &account, uri.path()).await?;
        let (record, _) =
            load_owned::<Value>(&state, Kind::Recording, sid, &account.sid, uri.path()).await?;
        return Ok(Json(render(&state, &record.doc)).into_response());
    }
    let sid = file.strip_suffix(".wav").unwrap_or(&file);
    let record = match state.store.get(Kind::Recording, sid).await? {
        Some(record) if record.account_sid == account => record,
        _ => return Err(ApiError::not_found(uri.path())),
    };
    let bytes = wav(audio_of(&record.doc), pcm_of(&record.doc).as_deref());
    Ok(([(header::CONTENT_TYPE, "audio/x-wav")], bytes).into_response())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    delete_owned(
        &state,
        &caller,
        &account,
        &file,
        uri.path(),
        Kind::Recording,
    )
    .await
}
