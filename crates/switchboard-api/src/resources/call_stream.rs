//! A live call's media streams: `POST Calls/{CallSid}/Streams.json` starts a one-way stream
//! (201, status `in-progress`) with `Url`, `Name`, `Track`, `StatusCallback`,
//! `StatusCallbackMethod` and `Parameter{N}.Name`/`.Value`; `POST Calls/{CallSid}/Streams/{Sid
//! or Name}.json` with `Status=stopped` stops it. The call's driver owns its streams
//! (`switchboard_engine::voice::stream`); a call that is not live here, or not answered, is
//! 21220 as for recordings.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchboard_core::error_code;
use switchboard_engine::voice::stream::{NewStream, StreamCommand, StreamRefusal};
use switchboard_store::Kind;
use switchboard_twiml::keyword::Keyword;
use switchboard_twiml::verb::{MAX_PARAMETER_CHARS, StreamTrack, UrlProblem, url_problem};
use switchboard_webhook::Method;

use super::ACCOUNTS;
use super::scoped::{Scoped, ScopedForm};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

/// Parameters a stream may carry (`Parameter1` … `Parameter99`).
const MAX_PARAMETERS: usize = 99;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(error_code::INVALID_PARAMETER, message)
}

/// The Twilio representation, with its `uri` under the call.
fn render(mut doc: Value) -> Value {
    let uri = format!(
        "{ACCOUNTS}/{}/Calls/{}/Streams/{}.json",
        doc["account_sid"].as_str().unwrap_or_default(),
        doc["call_sid"].as_str().unwrap_or_default(),
        doc["sid"].as_str().unwrap_or_default()
    );
    doc["uri"] = Value::String(uri);
    doc
}

fn refused(refusal: StreamRefusal, call_sid: &str, path: &str) -> ApiError {
    match refusal {
        StreamRefusal::CallNotInProgress => ApiError::bad_request(
            error_code::CALL_NOT_IN_PROGRESS,
            format!("Call {call_sid} is not in-progress. Cannot start or stop a stream."),
        ),
        StreamRefusal::NotFound => ApiError::not_found(path),
    }
}

async fn live_call<P>(scoped: &Scoped<P>, call_sid: &str) -> ApiResult<()> {
    let call = scoped.record(Kind::Call, call_sid).await?;
    let status = call.status.as_deref().unwrap_or_default();
    if switchboard_engine::voice::leg::is_terminal(status) {
        return Err(refused(StreamRefusal::CallNotInProgress, call_sid, ""));
    }
    Ok(())
}

fn new_stream(params: &Params) -> ApiResult<NewStream> {
    let url = params
        .get("Url")
        .filter(|url| !url.is_empty())
        .ok_or_else(|| bad("Url is required: the stream's wss:// (or ws://) URL"))?;
    match url_problem(url) {
        Some(UrlProblem::Scheme) | Some(UrlProblem::Malformed) => {
            return Err(bad(format!("Url {url:?} is not a ws:// or wss:// URL")));
        }
        Some(UrlProblem::Insecure) | None => {}
    }
    let track = match params.get("Track") {
        None => StreamTrack::InboundTrack,
        Some(text) => StreamTrack::from_keyword(text).ok_or_else(|| {
            bad(format!(
                "Track must be inbound_track, outbound_track or both_tracks, not {text:?}"
            ))
        })?,
    };
    let method = match params.get("StatusCallbackMethod") {
        None => Method::Post,
        Some(value) => {
            let checked =
                validate::method("StatusCallbackMethod", value, error_code::INVALID_METHOD)?;
            Method::parse(&checked).unwrap_or(Method::Post)
        }
    };
    let status_callback = match params.get("StatusCallback").filter(|url| !url.is_empty()) {
        Some(url) => Some((
            validate::webhook_url("StatusCallback", url, error_code::INVALID_STATUS_CALLBACK)?,
            method,
        )),
        None => None,
    };
    let mut parameters = Vec::new();
    for index in 1..=MAX_PARAMETERS {
        let (Some(name), value) = (
            params.get(&format!("Parameter{index}.Name")),
            params.get(&format!("Parameter{index}.Value")),
        ) else {
            continue;
        };
        let value = value.unwrap_or_default();
        if name.chars().count() + value.chars().count() > MAX_PARAMETER_CHARS {
            return Err(bad(format!(
                "Parameter{index}: name and value together must be under 500 characters"
            )));
        }
        parameters.push((name.to_owned(), value.to_owned()));
    }
    Ok(NewStream {
        url: url.to_owned(),
        name: params
            .get("Name")
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        track,
        status_callback,
        parameters,
    })
}

/// `POST Calls/{CallSid}/Streams.json`.
pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm<String>) -> ApiResult<Response> {
    let call_sid = scoped.rest.clone();
    let new = new_stream(&params)?;
    live_call(&scoped, &call_sid).await?;
    let doc = scoped
        .state
        .engine
        .control_stream(&call_sid, StreamCommand::Start(new))
        .await
        .map_err(|refusal| refused(refusal, &call_sid, scoped.uri.path()))?;
    Ok((StatusCode::CREATED, Json(render(doc))).into_response())
}

/// `POST Calls/{CallSid}/Streams/{Sid or Name}.json` with `Status=stopped`.
pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (call_sid, file) = scoped.rest.clone();
    let which = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    match params.get("Status") {
        Some("stopped") => {}
        other => {
            return Err(bad(format!("Status must be stopped, not {other:?}")));
        }
    }
    live_call(&scoped, &call_sid).await?;
    let doc = scoped
        .state
        .engine
        .control_stream(&call_sid, StreamCommand::Stop(which))
        .await
        .map_err(|refusal| refused(refusal, &call_sid, scoped.uri.path()))?;
    Ok(Json(render(doc)))
}
