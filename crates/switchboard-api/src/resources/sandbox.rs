//! `/sandbox/…`: drive inbound messages, read their transcripts, and set up virtual handsets.
//!
//! The sandbox is per account, scoped like the REST API. A sandbox call or message reaches only
//! a number of the caller's account or of one of its subaccounts; any other number, provisioned
//! by another account or by nobody, answers the same `404` (so the sandbox does not reveal which
//! numbers other accounts hold). Handset settings and a handset's message list belong to one
//! account: the caller's, or with `AccountSid` one of its subaccounts (scoped like a REST path:
//! 401 for anyone else's, 20005 for a suspended one). Transcripts are shown to who may act on
//! their call's or message's account, suspended or not, and answer `404` to anyone else.
//!
//! Calling or texting a number of a suspended account is allowed (the caller is the outside
//! world, not the account): the call or message is refused by the engine at once, `failed`,
//! with no webhook requested.

use std::time::Duration;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_core::error_code;
use switchboard_flow::GeoOverrides;
use switchboard_store::{Column, Filter, Kind, ListQuery, Order};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::{FormBody, query_params};
use crate::{AppState, validate};
use switchboard_engine::messaging::Inbound;
use switchboard_engine::sandbox::{Delivery, Handset};
use switchboard_engine::voice::{self, CallerAudioError};

const DEFAULT_FROM: &str = "+15005550006";
const MAX_WAIT: Duration = Duration::from_secs(600);

/// Who a sandbox sender or caller reaches: `To`, a number provisioned on this engine in an
/// account the caller may act on, and the `From` it comes from (default `+15005550006`).
struct Endpoints {
    to: String,
    from: String,
    number: switchboard_store::Record,
    account: crate::resources::account::Account,
}

async fn endpoints(
    state: &AppState,
    caller: &Caller,
    params: &crate::form::Params,
    path: &str,
    to_required: switchboard_core::ErrorCode,
    allow_client: bool,
) -> ApiResult<Endpoints> {
    let to = params
        .get("To")
        .filter(|to| !to.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                to_required,
                "To (a number provisioned on this engine) is required",
            )
        })?;
    let to = validate::e164(to).ok_or_else(|| {
        ApiError::bad_request(
            error_code::CALL_INVALID_TO,
            format!("To {to} is not a valid phone number"),
        )
    })?;
    let from = params
        .get("From")
        .filter(|from| !from.is_empty())
        .unwrap_or(DEFAULT_FROM);
    let from = validate::e164(from)
        .or_else(|| (allow_client && from.starts_with("client:")).then(|| from.to_owned()))
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::CALL_INVALID_FROM,
                format!("From {from} is not a valid phone number"),
            )
        })?;
    // Not provisioned and provisioned by an account the caller may not act on are one answer.
    let unknown = || ApiError::not_found(&format!("{path} (To {to})"));
    let number = state.engine.find_number(&to).await?.ok_or_else(unknown)?;
    let account = caller
        .owned(state, &number.account_sid, path)
        .await
        .map_err(|_| unknown())?;
    Ok(Endpoints {
        to,
        from,
        number,
        account,
    })
}

/// `Drill=true` (`switchboard drill`): the session's first request treats the primary URL as
/// failed without requesting it, so its fallback is tested as a real failure would.
fn drill(params: &crate::form::Params) -> ApiResult<bool> {
    match params.get("Drill") {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("Drill must be true or false, not {other:?}"),
        )),
    }
}

pub(crate) async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    let Endpoints {
        to,
        from,
        number,
        account,
    } = endpoints(
        &state,
        &caller,
        &params,
        uri.path(),
        error_code::MESSAGE_TO_REQUIRED,
        false,
    )
    .await?;
    let body = params.get("Body").unwrap_or_default().to_owned();
    if body.chars().count() > 1600 {
        return Err(ApiError::bad_request(
            error_code::MESSAGE_BODY_TOO_LONG,
            "The message body exceeds the 1600 character limit",
        ));
    }
    let media: Vec<String> = params
        .all("MediaUrl")
        .into_iter()
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if media.len() > 10 {
        return Err(ApiError::bad_request(
            error_code::TOO_MANY_MEDIA_URLS,
            "Number of media files exceeds allowed limit of 10",
        ));
    }
    for url in &media {
        validate::webhook_url("MediaUrl", url, error_code::INVALID_MEDIA_URL)?;
    }
    let drill = drill(&params)?;
    let geo = GeoOverrides::from_params(|name| params.get(name));
    let received = state
        .engine
        .receive_message(
            &account,
            &number,
            Inbound {
                from,
                to,
                body,
                media,
                drill,
                geo,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"message_sid": received.sid, "status": received.status})),
    )
        .into_response())
}

pub(crate) async fn message_transcript(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let record = state
        .store
        .get(Kind::Message, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    caller
        .owned(&state, &record.account_sid, uri.path())
        .await
        .map_err(|_| ApiError::not_found(uri.path()))?;
    let params = query_params(uri.query())?;
    let log = state
        .engine
        .sandbox()
        .log(&sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let mut done = log.is_done();
    if params.get("WaitFor").is_some() && !done {
        let seconds = params
            .get("Timeout")
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(30.0);
        // A long-poll answers with the current state as soon as the engine starts shutting
        // down, so it never holds a graceful exit.
        done = tokio::select! {
            done = log.wait_done(Duration::from_secs_f64(seconds).min(MAX_WAIT)) => done,
            () = state.engine.closing() => log.is_done(),
        };
    }
    let (events, _, reply_sids) = log.snapshot();
    let mut replies = Vec::new();
    for reply in reply_sids {
        if let Some(record) = state.store.get(Kind::Message, &reply).await? {
            replies.push(reply_view(&state, &record.doc).await?);
        }
    }
    let status = if done { "done" } else { "running" };
    let body = json!({"message_sid": sid, "status": status, "message_status": record.doc["status"], "events": events, "replies": replies});
    let code = if params.get("WaitFor").is_some() && !done {
        StatusCode::REQUEST_TIMEOUT
    } else {
        StatusCode::OK
    };
    Ok((code, Json(body)).into_response())
}

async fn reply_view(state: &AppState, doc: &Value) -> ApiResult<Value> {
    let sid = doc["sid"].as_str().unwrap_or_default();
    let mut query = ListQuery::new(Kind::Media, doc["account_sid"].as_str().unwrap_or_default());
    query.parent_sid = Some(sid.to_owned());
    query.limit = 10;
    let media: Vec<Value> = state
        .store
        .list(&query)
        .await?
        .iter()
        .map(|record| record.doc["engine_url"].clone())
        .collect();
    Ok(
        json!({"sid": sid, "to": doc["to"], "from": doc["from"], "body": doc["body"], "media": media, "status": doc["status"], "direction": doc["direction"]}),
    )
}

/// The account whose handsets a request sets up or reads: the caller's own, or with
/// `AccountSid` one of its subaccounts, scoped like a REST path.
async fn handset_account(
    state: &AppState,
    caller: &Caller,
    requested: Option<&str>,
    path: &str,
) -> ApiResult<crate::resources::account::Account> {
    match requested.filter(|sid| !sid.is_empty()) {
        None => Ok(caller.account.clone()),
        Some(sid) => caller.scope(state, sid, path).await,
    }
}

pub(crate) async fn set_phone(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    let number = validate::e164(&number).ok_or_else(|| {
        ApiError::bad_request(
            error_code::INVALID_PHONE_NUMBER,
            format!("{number} is not a valid phone number"),
        )
    })?;
    let account = handset_account(&state, &caller, params.get("AccountSid"), uri.path()).await?;
    let sandbox = state.engine.sandbox();
    let mut handset: Handset = sandbox.handset(&account.sid, &number);
    if let Some(deliver) = params.get("Deliver") {
        handset.delivery = match deliver {
            "deliver" => Delivery::Deliver,
            "fail" => Delivery::Fail,
            "undelivered" => Delivery::Undelivered,
            other => {
                return Err(ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    format!("Deliver must be deliver, fail or undelivered, not {other:?}"),
                ));
            }
        };
    }
    if let Some(answer) = params.get("Answer") {
        if !matches!(answer, "answer" | "busy" | "no-answer" | "fail") {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Answer must be answer, busy, no-answer or fail, not {answer:?}"),
            ));
        }
        handset.answer = Some(answer.to_owned());
    }
    if let Some(digits) = params.get("Digits") {
        if !digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
        {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                "Digits may only contain 0-9, *, # and w",
            ));
        }
        handset.digits = Some(digits.to_owned());
    }
    if let Some(answered_by) = params.get("AnsweredBy") {
        handset.answered_by = Some(handset_answered_by(answered_by)?);
    }
    if let Some(after) = params.get("HangupAfter") {
        handset.hangup_after_s = Some(after.parse().map_err(|_| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                "HangupAfter must be a number of seconds",
            )
        })?);
    }
    sandbox.set_handset(&account.sid, &number, handset.clone());
    let deliver = match handset.delivery {
        Delivery::Deliver => "deliver",
        Delivery::Fail => "fail",
        Delivery::Undelivered => "undelivered",
    };
    Ok(Json(
        json!({"account_sid": account.sid, "number": number, "deliver": deliver, "answer": handset.answer.as_deref().unwrap_or("answer"), "digits": handset.digits, "hangup_after": handset.hangup_after_s,
               "answered_by": handset.answered_by.map_or("human", switchboard_amd::AnsweredBy::as_str)}),
    ))
}

/// What answering-machine detection hears when the handset answers (`AnsweredBy`): a person,
/// a machine (its greeting's end: `machine_start` never ends, `machine_end_beep` beeps,
/// `machine_end_silence` falls silent), a fax, or silence (`unknown`).
fn handset_answered_by(value: &str) -> ApiResult<switchboard_amd::AnsweredBy> {
    use switchboard_amd::AnsweredBy;
    const ALLOWED: &str =
        "human, machine_start, machine_end_beep, machine_end_silence, fax or unknown";
    AnsweredBy::parse(value)
        .filter(|answered_by| *answered_by != AnsweredBy::MachineEndOther)
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("AnsweredBy must be {ALLOWED}, not {value:?}"),
            )
        })
}

/// `GET /sandbox/Phones/{Number}/Messages`: what the account's messages delivered to the
/// handset `Number` (the caller's account, or with `AccountSid` one of its subaccounts).
pub(crate) async fn phone_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let number = validate::e164(&number).unwrap_or(number);
    let params = query_params(uri.query())?;
    let account = handset_account(&state, &caller, params.get("AccountSid"), uri.path()).await?;
    let mut query = ListQuery::new(Kind::Message, &account.sid);
    query
        .filters
        .push(Filter::Equals(Column::PhoneNumber, number));
    query.order = Order::Ascending;
    query.limit = 1000;
    let mut messages = Vec::new();
    for record in state.store.list(&query).await? {
        // A scheduled message has not reached the handset yet, and a canceled one never will.
        let waiting = matches!(record.status.as_deref(), Some("scheduled" | "canceled"));
        if record.doc["direction"] != "inbound" && !waiting {
            messages.push(reply_view(&state, &record.doc).await?);
        }
    }
    Ok(Json(json!({"messages": messages})))
}

/// `POST /sandbox/Calls`: a sandbox caller dials a provisioned number.
pub(crate) async fn create_call(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    let Endpoints {
        to,
        from,
        number,
        account,
    } = endpoints(
        &state,
        &caller,
        &params,
        uri.path(),
        error_code::CALL_TO_REQUIRED,
        true,
    )
    .await?;
    let fast = match params.get("Clock") {
        None | Some("" | "real") => false,
        Some("fast") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Clock must be fast or real, not {other:?}"),
            ));
        }
    };
    let optional = |name: &str| {
        params
            .get(name)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let digits = optional("Digits");
    let drill = drill(&params)?;
    if let Some(digits) = &digits
        && !digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
    {
        return Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            "Digits may only contain 0-9, *, # and w",
        ));
    }
    let call = voice::InboundCall {
        from,
        to,
        caller_name: optional("CallerName"),
        forwarded_from: optional("ForwardedFrom"),
        fast,
        digits,
        drill,
        geo: GeoOverrides::from_params(|name| params.get(name)),
    };
    let started = state.engine.inbound_call(&account, &number, call).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"call_sid": started.sid, "status": started.status})),
    )
        .into_response())
}

/// Loads a call the caller may see, by SID; anything else is a 404 for `path`.
async fn owned_call(
    state: &AppState,
    caller: &Caller,
    sid: &str,
    path: &str,
) -> ApiResult<switchboard_store::Record> {
    let record = state
        .store
        .get(Kind::Call, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(path))?;
    caller
        .owned(state, &record.account_sid, path)
        .await
        .map_err(|_| ApiError::not_found(path))?;
    Ok(record)
}

/// `GET /sandbox/Calls/{CallSid}` (`WaitFor=completed&Timeout=S` waits for the end).
pub(crate) async fn call_transcript(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let record = owned_call(&state, &caller, &sid, uri.path()).await?;
    let params = query_params(uri.query())?;
    let log = state
        .engine
        .sandbox()
        .log(&sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    let waiting = params.get("WaitFor").is_some();
    let mut done = log.is_done();
    if waiting && !done {
        let seconds = params
            .get("Timeout")
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(30.0);
        // A long-poll answers with the current state as soon as the engine starts shutting
        // down, so it never holds a graceful exit.
        done = tokio::select! {
            done = log.wait_done(Duration::from_secs_f64(seconds).min(MAX_WAIT)) => done,
            () = state.engine.closing() => log.is_done(),
        };
    }
    // The body is written around the stored events' text: parsing every event back into a
    // map only to print it again was most of this request's cost.
    let (events, last_status) = log.events_json();
    // The transcript's last status is the call's (the REST spelling has no `initiated`).
    let status = match last_status.as_deref() {
        Some("initiated") => json!("queued"),
        Some(status) => json!(status),
        None => record.doc["status"].clone(),
    };
    let body = format!(
        "{{\"call_sid\":{},\"status\":{status},\"events\":{events}}}",
        Value::from(sid)
    );
    let code = if waiting && !done {
        StatusCode::REQUEST_TIMEOUT
    } else {
        StatusCode::OK
    };
    Ok((code, [(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /sandbox/Calls/{CallSid}/{Digits|Speech|Hangup|Audio}`: the caller acts.
pub(crate) async fn call_input(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, what)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    owned_call(&state, &caller, &sid, uri.path()).await?;
    let input = match what.as_str() {
        "Digits" => {
            let digits = params.get("Digits").unwrap_or_default();
            if digits.is_empty()
                || !digits
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
            {
                return Err(ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    "Digits must be one or more of 0-9, *, # and w",
                ));
            }
            voice::CallInput::Digits(digits.to_owned())
        }
        "Speech" => {
            let result = params.get("SpeechResult").unwrap_or_default().to_owned();
            let confidence = confidence(&params)?;
            voice::CallInput::Speech { result, confidence }
        }
        "Hangup" => voice::CallInput::Hangup,
        "Audio" => voice::CallInput::Audio(caller_audio(&state, &caller, &params).await?),
        _ => return Err(ApiError::not_found(uri.path())),
    };
    if !state.engine.send_input(&sid, input) {
        return Err(ApiError::bad_request(
            error_code::CALL_NOT_IN_PROGRESS,
            format!("Call {sid} is not in progress"),
        ));
    }
    Ok(Json(json!({"call_sid": sid, "accepted": what})))
}

/// `Confidence` of `Speech` and `Text`: 0.0 to 1.0, 0.9 when not given.
fn confidence(params: &crate::form::Params) -> ApiResult<f64> {
    match params.get("Confidence") {
        None => Ok(0.9),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|c| (0.0..=1.0).contains(c))
            .ok_or_else(|| {
                ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    "Confidence must be a number from 0.0 to 1.0",
                )
            }),
    }
}

/// The longest `Text` a sandbox caller says: 4,096 characters (Twilio's `<Say>` limit).
const MAX_TEXT_CHARS: usize = 4096;

/// `Audio`: `Seconds=N` (a tone), `Url` (a PCM WAV, fetched now, played by the caller) or `Text`
/// (words said at 150 a minute, at least a second: what a speech `<Gather>` and a transcription
/// get).
async fn caller_audio(
    state: &AppState,
    caller: &Caller,
    params: &crate::form::Params,
) -> ApiResult<voice::recording::Clip> {
    let invalid = |message: &str| ApiError::bad_request(error_code::INVALID_PARAMETER, message);
    if let Some(text) = params.get("Text") {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid("Text must be 1 to 4096 characters of words"));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid("Text must not contain control characters"));
        }
        return Ok(voice::recording::Clip::said(&text, confidence(params)?));
    }
    if let Some(url) = params.get("Url").filter(|url| !url.is_empty()) {
        let url = validate::webhook_url("Url", url, error_code::INVALID_URL)?;
        return match state
            .engine
            .fetch_caller_audio(&url, &caller.account.auth_token)
            .await
        {
            Ok(clip) => Ok(clip),
            Err(CallerAudioError::Unreachable) => {
                Err(invalid(&format!("the audio at {url} could not be fetched")))
            }
            Err(CallerAudioError::NotAudio) => Err(invalid(
                "Url must serve audio: a WAV (PCM, µ-law or A-law) or MP3 file",
            )),
        };
    }
    let seconds = params
        .get("Seconds")
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|s| (1..=14_400).contains(s))
        .ok_or_else(|| invalid("Seconds (1 to 14400), Url (a WAV) or Text is required"))?;
    Ok(voice::recording::Clip::tone(seconds))
}

/// `GET /sandbox/Calls/{CallSid}/Heard.wav`: what the caller heard so far, 8 kHz, in real time
/// from the call's start (silence where nothing played). Today that is a media stream's audio;
/// `<Say>` and `<Play>` of a sandbox call are modelled by their durations and are silence here.
pub(crate) async fn heard(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, what)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    if what != "Heard.wav" {
        return Err(ApiError::not_found(uri.path()));
    }
    owned_call(&state, &caller, &sid, uri.path()).await?;
    let log = state
        .engine
        .sandbox()
        .log(&sid)
        .ok_or_else(|| ApiError::not_found(uri.path()))?;
    Ok(([(CONTENT_TYPE, "audio/x-wav")], log.heard_wav()).into_response())
}
