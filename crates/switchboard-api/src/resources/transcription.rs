//! Transcriptions of `<Record transcribe>` recordings (`TR…`, written by the engine's
//! `voice::transcription`): `Transcriptions.json` (list), `Transcriptions/{Sid}.json` (fetch,
//! delete; `.txt` is the text alone, and `TranscriptionUrl`, handed out without an extension,
//! answers as `.json` does), and the same under `Recordings/{RecordingSid}/`.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::date;
use switchboard_store::{Kind, Order, Record};

use super::ACCOUNTS;
use super::listing::{ListPath, Listing};
use super::scoped::Scoped;
use crate::error::{ApiError, ApiResult};

/// Twilio's representation of a stored transcription.
pub fn render(doc: &Value) -> Value {
    let Value::Object(fields) = doc else {
        return Value::Null;
    };
    let mut body: Map<String, Value> = fields
        .iter()
        .filter(|(name, _)| !name.starts_with("engine_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for name in ["date_created", "date_updated"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::rfc2822(ms)));
        }
    }
    let sid = doc["sid"].as_str().unwrap_or_default();
    let account = doc["account_sid"].as_str().unwrap_or_default();
    body.insert(
        "uri".into(),
        json!(format!("{ACCOUNTS}/{account}/Transcriptions/{sid}.json")),
    );
    Value::Object(body)
}

/// `Transcriptions.json`, newest first.
const LIST: Listing = Listing {
    kind: Kind::Transcription,
    key: "transcriptions",
    order: Order::Descending,
    params: &[],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("Transcriptions.json"),
};

/// `Recordings/{RecordingSid}/Transcriptions.json`, newest first.
const OF_RECORDING: Listing = Listing {
    path: ListPath::Requested,
    ..LIST
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

/// `GET Transcriptions/{Sid}.json` (or `.txt`, or without extension).
pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Response> {
    let (sid, text) = file_sid(&scoped.rest);
    let record = scoped.record(Kind::Transcription, sid).await?;
    Ok(answer(&record, text))
}

/// `DELETE Transcriptions/{Sid}.json`.
pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    scoped.delete(Kind::Transcription).await
}

/// `GET Recordings/{RecordingSid}/Transcriptions.json`.
pub(crate) async fn of_recording(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let recording = scoped.record(Kind::Recording, &scoped.rest).await?;
    OF_RECORDING.of_account(&scoped, Some(recording.sid)).await
}

/// `GET Recordings/{RecordingSid}/Transcriptions/{Sid}.json`.
pub(crate) async fn fetch_of_recording(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (recording_sid, file) = &scoped.rest;
    let (sid, text) = file_sid(file);
    let record = owned_by_recording(&scoped, recording_sid, sid).await?;
    Ok(answer(&record, text))
}

/// `DELETE Recordings/{RecordingSid}/Transcriptions/{Sid}.json`.
pub(crate) async fn delete_of_recording(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (recording_sid, file) = &scoped.rest;
    let sid = scoped.json_sid(file)?;
    let record = owned_by_recording(&scoped, recording_sid, sid).await?;
    scoped
        .state
        .store
        .delete(Kind::Transcription, &record.sid)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

async fn owned_by_recording<P>(
    scoped: &Scoped<P>,
    recording_sid: &str,
    sid: &str,
) -> ApiResult<Record> {
    let record = scoped.record(Kind::Transcription, sid).await?;
    if record.parent_sid.as_deref() != Some(recording_sid) {
        return Err(ApiError::not_found(scoped.uri.path()));
    }
    Ok(record)
}

/// The SID of `{Sid}.json`, `{Sid}.txt` or `{Sid}`, and whether the text alone was asked for.
fn file_sid(file: &str) -> (&str, bool) {
    if let Some(sid) = file.strip_suffix(".txt") {
        return (sid, true);
    }
    (file.strip_suffix(".json").unwrap_or(file), false)
}

fn answer(record: &Record, text: bool) -> Response {
    if text {
        let body = record.doc["transcription_text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    }
    Json(render(&record.doc)).into_response()
}
