//! Recordings: list, fetch, delete, and the audio itself at `…/Recordings/{Sid}.wav` (also
//! without extension, as `RecordingUrl` is handed out) and `…/Recordings/{Sid}.mp3` (encoded
//! by `lame` per request; 503 when it is not installed).
//!
//! The audio is served without credentials, like Twilio's default "public media" setting: a
//! `RecordingUrl` handed to a customer's webhook must be playable by it. The `.json` resource
//! needs the account's credentials as every REST resource does.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Kind, Order};

use super::listing::{ListPath, Listing, Param};
use super::scoped::Scoped;
use super::{ACCOUNTS, load_owned};
use crate::AppState;
use crate::auth::authenticate;
use crate::error::{ApiError, ApiResult};
use switchboard_engine::voice::recording::{mp3_of, wav_of};

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
        // Add-on results are not served here, so no link to them is handed out (Twilio links
        // them too).
        json!({"transcriptions": format!("{base}/Transcriptions.json")}),
    );
    Value::Object(body)
}

/// `Recordings.json`, newest first, filtered by `CallSid`, the days of `DateCreated`,
/// `ConferenceSid` (a recorded conference's mix) and `IncludeSoftDeleted`
/// (nothing is soft-deleted here).
const LIST: Listing = Listing {
    kind: Kind::Recording,
    key: "recordings",
    order: Order::Descending,
    params: &[
        Param::Parent("CallSid"),
        Param::Days {
            name: "DateCreated",
            column: switchboard_store::Column::CreatedMs,
            times: true,
        },
        Param::Parent("ConferenceSid"),
        Param::Custom("IncludeSoftDeleted", |value| {
            crate::validate::boolean("IncludeSoftDeleted", value)?;
            Ok(super::listing::everything())
        }),
    ],
    render: |state, record| Ok(render(state, &record.doc)),
    path: ListPath::Account("Recordings.json"),
};

/// `Calls/{CallSid}/Recordings.json`, newest first.
pub(crate) const OF_CALL: Listing = Listing {
    params: &[],
    path: ListPath::Requested,
    ..LIST
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
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
    let (sid, mp3) = match file.strip_suffix(".mp3") {
        Some(sid) => (sid, true),
        None => (file.strip_suffix(".wav").unwrap_or(&file), false),
    };
    let record = match state.store.get(Kind::Recording, sid).await? {
        Some(record) if record.account_sid == account => record,
        _ => return Err(ApiError::not_found(uri.path())),
    };
    if !mp3 {
        let bytes = wav_of(&record.doc);
        return Ok(([(header::CONTENT_TYPE, "audio/x-wav")], bytes).into_response());
    }
    match mp3_of(&record.doc).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "audio/mpeg")], bytes).into_response()),
        Err(error) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::SERVICE_UNAVAILABLE,
            format!("Recording {sid} cannot be served as MP3: {error}; its .wav can"),
        )),
    }
}

/// `Recordings/{Sid}.json`: a recording still running is ended without being kept first.
pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    let record = scoped.file_record(Kind::Recording, &scoped.rest).await?;
    super::call_recording::discard_if_running(&scoped.state, &record).await;
    scoped.delete(Kind::Recording).await
}
