//! A live call's recordings: `POST Calls/{CallSid}/Recordings.json` starts one (201, status
//! `in-progress`), `POST Calls/{CallSid}/Recordings/{Sid}.json` with `Status=paused|in-progress|
//! stopped` (and `PauseBehavior=skip|silence`) changes it, `Twilio.CURRENT` naming the call's
//! current recording; `GET` and `DELETE` of `Calls/{CallSid}/Recordings/{Sid}.json`. The
//! recording options of `Calls.json` create (`Record=true`) are read here too.
//!
//! The call's driver owns its recordings (`switchboard_engine::voice::call_recording`): a
//! request is validated here, sent to the driver, and answered with what the driver stored.
//! A call that is not live on this engine, or not answered yet, is Twilio's 21220.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{ErrorCode, date, error_code};
use switchboard_engine::voice::{
    Change, Pause, RecordingCallback, RecordingCommand, RecordingOptions, RecordingRefusal, Track,
    Which,
};
use switchboard_store::Kind;
use switchboard_webhook::{Endpoint, Method};

use super::ACCOUNTS;
use super::scoped::{Scoped, ScopedForm};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

/// The Twilio representation of a call's recording (`uri` under the call).
pub fn render(doc: &Value) -> Value {
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
    let (account, call, sid) = (
        doc["account_sid"].as_str().unwrap_or_default(),
        doc["call_sid"].as_str().unwrap_or_default(),
        doc["sid"].as_str().unwrap_or_default(),
    );
    body.insert(
        "uri".into(),
        json!(format!(
            "{ACCOUNTS}/{account}/Calls/{call}/Recordings/{sid}.json"
        )),
    );
    Value::Object(body)
}

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// `name` is one of `allowed` (or absent: `None`), else 400 (20422).
pub(crate) fn one_of<'a>(
    params: &'a Params,
    name: &str,
    allowed: &[&str],
) -> ApiResult<Option<&'a str>> {
    match params.get(name).filter(|value| !value.is_empty()) {
        Some(value) if !allowed.contains(&value) => Err(bad(
            error_code::INVALID_PARAMETER,
            format!(
                "{name} must be one of {}, not {value:?}",
                allowed.join(", ")
            ),
        )),
        value => Ok(value),
    }
}

/// The recording options of a request: `RecordingChannels`, `RecordingTrack`, `Trim`
/// (`default_trim` when absent: `do-not-trim` here, `trim-silence` on call create) and the
/// status callback with its method and events.
pub(crate) fn options_of(
    params: &Params,
    default_trim: bool,
    source: &'static str,
) -> ApiResult<RecordingOptions> {
    let dual = one_of(params, "RecordingChannels", &["mono", "dual"])? == Some("dual");
    let track = one_of(params, "RecordingTrack", &["inbound", "outbound", "both"])?
        .and_then(Track::parse)
        .unwrap_or(Track::Both);
    let trim = match one_of(params, "Trim", &["trim-silence", "do-not-trim"])? {
        Some(value) => value == "trim-silence",
        None => default_trim,
    };
    let method = match one_of(params, "RecordingStatusCallbackMethod", &["GET", "POST"])? {
        Some("GET") => Method::Get,
        _ => Method::Post,
    };
    let mut events = Vec::new();
    for value in params.all("RecordingStatusCallbackEvent") {
        for event in value.split([' ', ',']).filter(|e| !e.is_empty()) {
            if !matches!(event, "in-progress" | "completed" | "absent") {
                return Err(bad(
                    error_code::INVALID_PARAMETER,
                    format!(
                        "RecordingStatusCallbackEvent must be in-progress, completed or absent, not {event:?}"
                    ),
                ));
            }
            events.push(event.to_owned());
        }
    }
    let callback = match params.get("RecordingStatusCallback") {
        Some(url) => Some(validate::webhook_url(
            "RecordingStatusCallback",
            url,
            error_code::CALL_INVALID_URL,
        )?)
        .filter(|url| !url.is_empty()),
        None => None,
    };
    Ok(RecordingOptions {
        dual,
        track,
        trim,
        callback: callback.map(|url| RecordingCallback {
            endpoint: Endpoint::new(url, method),
            events,
        }),
        source,
    })
}

fn not_in_progress(call_sid: &str) -> ApiError {
    bad(
        error_code::CALL_NOT_IN_PROGRESS,
        format!("Call {call_sid} is not in-progress. Cannot record."),
    )
}

/// What the driver's refusal is to the client.
fn refused(refusal: RecordingRefusal, call_sid: &str, recording: &str) -> ApiError {
    match refusal {
        RecordingRefusal::CallNotInProgress => not_in_progress(call_sid),
        RecordingRefusal::NotActive => bad(
            error_code::INVALID_PARAMETER,
            format!("Recording {recording} of call {call_sid} is not in progress or paused"),
        ),
        RecordingRefusal::Failed(error) => error.into(),
    }
}

/// The call `call_sid` of the scoped account (404 otherwise); 21220 once it has ended.
async fn live_call<P>(scoped: &Scoped<P>, call_sid: &str) -> ApiResult<()> {
    let call = scoped.record(Kind::Call, call_sid).await?;
    let status = call.status.as_deref().unwrap_or_default();
    if switchboard_engine::voice::leg::is_terminal(status) {
        return Err(not_in_progress(call_sid));
    }
    Ok(())
}

/// `POST Calls/{CallSid}/Recordings.json`.
pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm<String>) -> ApiResult<Response> {
    let call_sid = scoped.rest.clone();
    let options = options_of(&params, false, "StartCallRecordingAPI")?;
    live_call(&scoped, &call_sid).await?;
    let doc = scoped
        .state
        .engine
        .control_recording(&call_sid, RecordingCommand::Start(options))
        .await
        .map_err(|refusal| refused(refusal, &call_sid, ""))?;
    Ok((StatusCode::CREATED, Json(render(&doc))).into_response())
}

/// The recording named by a `{Sid}.json` segment (or `Twilio.CURRENT.json`).
fn which_of<P>(scoped: &Scoped<P>, file: &str) -> ApiResult<Which> {
    if file == "Twilio.CURRENT.json" {
        return Ok(Which::Current);
    }
    Ok(Which::Sid(scoped.json_sid(file)?.to_owned()))
}

/// `POST Calls/{CallSid}/Recordings/{Sid}.json`: `Status=paused|in-progress|stopped`.
pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (call_sid, file) = scoped.rest.clone();
    let which = which_of(&scoped, &file)?;
    let status = one_of(&params, "Status", &["paused", "in-progress", "stopped"])?;
    let pause = match one_of(&params, "PauseBehavior", &["skip", "silence"])? {
        Some("skip") => Pause::Skip,
        _ => Pause::Silence,
    };
    let change = match status {
        Some("paused") => Change::Pause(pause),
        Some("in-progress") => Change::Resume,
        Some(_) => Change::Stop,
        None => {
            return Err(bad(
                error_code::INVALID_PARAMETER,
                "Status is required: paused, in-progress or stopped",
            ));
        }
    };
    if let Which::Sid(sid) = &which {
        owned_recording(&scoped, &call_sid, sid).await?;
    }
    live_call(&scoped, &call_sid).await?;
    let named = match &which {
        Which::Sid(sid) => sid.as_str(),
        Which::Current => "Twilio.CURRENT",
    };
    let doc = scoped
        .state
        .engine
        .control_recording(&call_sid, RecordingCommand::Update(which.clone(), change))
        .await
        .map_err(|refusal| refused(refusal, &call_sid, named))?;
    Ok(Json(render(&doc)))
}

/// The stored recording `sid` of the call `call_sid` of the scoped account; 404 otherwise.
async fn owned_recording<P>(
    scoped: &Scoped<P>,
    call_sid: &str,
    sid: &str,
) -> ApiResult<switchboard_store::Record> {
    let record = scoped.record(Kind::Recording, sid).await?;
    if record.parent_sid.as_deref() != Some(call_sid) {
        return Err(ApiError::not_found(scoped.uri.path()));
    }
    Ok(record)
}

/// `GET Calls/{CallSid}/Recordings/{Sid}.json`.
pub(crate) async fn fetch(scoped: Scoped<(String, String)>) -> ApiResult<Json<Value>> {
    let (call_sid, file) = &scoped.rest;
    let sid = scoped.json_sid(file)?;
    let record = owned_recording(&scoped, call_sid, sid).await?;
    Ok(Json(render(&record.doc)))
}

/// `DELETE Calls/{CallSid}/Recordings/{Sid}.json`: a recording still running is ended without
/// being kept, then removed.
pub(crate) async fn delete(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (call_sid, file) = &scoped.rest;
    let sid = scoped.json_sid(file)?;
    let record = owned_recording(&scoped, call_sid, sid).await?;
    discard_if_running(&scoped.state, &record).await;
    scoped.state.store.delete(Kind::Recording, sid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Asks the call's driver to drop `record`'s recording when it is still running.
pub(crate) async fn discard_if_running(
    state: &crate::AppState,
    record: &switchboard_store::Record,
) {
    let running = matches!(record.status.as_deref(), Some("in-progress" | "paused"));
    if let (true, Some(call_sid)) = (running, record.parent_sid.as_deref()) {
        let command = RecordingCommand::Discard(record.sid.clone());
        // A call that ended meanwhile has finished the recording: deleting it is all there is.
        let _ = state.engine.control_recording(call_sid, command).await;
    }
}
