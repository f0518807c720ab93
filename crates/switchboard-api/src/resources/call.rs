//! Calls: create outbound calls (to the sandbox's virtual handsets), list with filters, fetch,
//! update live calls (`Url`/`Twiml` redirect, `Status=completed|canceled`), delete; and the
//! call's Recordings list.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{ErrorCode, Sid, SidKind, date, error_code};
use switchboard_flow::{ApiEnd, CallSetup, Direction, Initial};
use switchboard_store::{Column, Kind, Order};
use switchboard_twiml::Context;
use switchboard_webhook::{Endpoint, Method};

use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created, machine_detection, recording};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::resources::account::Account;
use crate::{AppState, validate};
use switchboard_engine::voice::{self, CallInput, FarEnd, LegStart, LiveSettings, StatusCallback};

/// The Twilio representation of a stored call (engine-only fields are left out).
pub fn render(doc: &Value) -> Value {
    let Value::Object(fields) = doc else {
        return Value::Null;
    };
    let mut body: Map<String, Value> = fields
        .iter()
        .filter(|(name, _)| !name.starts_with("engine_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for name in ["date_created", "date_updated", "start_time", "end_time"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::rfc2822(ms)));
        }
    }
    let sid = doc["sid"].as_str().unwrap_or_default();
    let account = doc["account_sid"].as_str().unwrap_or_default();
    let base = format!("{ACCOUNTS}/{account}/Calls/{sid}");
    body.insert("uri".into(), json!(format!("{base}.json")));
    // Only the sub-resources this engine serves: a link handed out answers (Twilio also lists
    // events, feedback, streams, payments, siprec, transcriptions and user-defined messages).
    let mut subresources = Map::new();
    for (name, path) in [
        ("notifications", "Notifications"),
        ("recordings", "Recordings"),
    ] {
        subresources.insert(name.into(), json!(format!("{base}/{path}.json")));
    }
    body.insert("subresource_uris".into(), Value::Object(subresources));
    Value::Object(body)
}

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn method_param(params: &Params, name: &str) -> ApiResult<Method> {
    match params.get(name).filter(|value| !value.is_empty()) {
        None => Ok(Method::Post),
        Some(value) => Method::parse(value).ok_or_else(|| {
            bad(
                error_code::CALL_INVALID_METHOD,
                format!("{name} must be GET or POST, not {value:?}"),
            )
        }),
    }
}

fn url_param(params: &Params, name: &str, code: ErrorCode) -> ApiResult<Option<String>> {
    match params.get(name) {
        None => Ok(None),
        Some(value) => {
            Ok(Some(validate::webhook_url(name, value, code)?).filter(|url| !url.is_empty()))
        }
    }
}

/// Inline TwiML (`Twiml`): at most 4000 characters (32018) and a valid document.
fn inline_twiml(text: &str) -> ApiResult<Initial> {
    if text.chars().count() > 4000 {
        return Err(bad(
            error_code::TWIML_PARAMETER_TOO_LONG,
            "Twiml is longer than 4000 characters",
        ));
    }
    match switchboard_twiml::parse(text.as_bytes(), Context::Voice) {
        Ok(parsed) => Ok(Initial::Inline(parsed.document)),
        Err(rejected) => Err(bad(
            rejected.error.code,
            format!(
                "Twiml is not a valid TwiML document: {}",
                rejected.error.message
            ),
        )),
    }
}

/// Where a new or redirected call's TwiML comes from (`Twiml` wins over `Url`).
fn initial_of(params: &Params) -> ApiResult<Option<Initial>> {
    if let Some(twiml) = params.get("Twiml").filter(|t| !t.is_empty()) {
        return inline_twiml(twiml).map(Some);
    }
    let Some(url) = url_param(params, "Url", error_code::CALL_INVALID_URL)? else {
        return Ok(None);
    };
    let method = method_param(params, "Method")?;
    Ok(Some(Initial::Fetch { url, method }))
}

fn fallback_of(params: &Params) -> ApiResult<Option<Endpoint>> {
    let method = method_param(params, "FallbackMethod")?;
    Ok(
        url_param(params, "FallbackUrl", error_code::CALL_INVALID_URL)?
            .map(|url| Endpoint::new(url, method)),
    )
}

fn status_callback_of(params: &Params) -> ApiResult<Option<StatusCallback>> {
    let method = method_param(params, "StatusCallbackMethod")?;
    let mut events = Vec::new();
    for value in params.all("StatusCallbackEvent") {
        for event in value.split([' ', ',']).filter(|e| !e.is_empty()) {
            if !matches!(event, "initiated" | "ringing" | "answered" | "completed") {
                return Err(bad(
                    error_code::INVALID_PARAMETER,
                    format!(
                        "StatusCallbackEvent must be initiated, ringing, answered or completed, not {event:?}"
                    ),
                ));
            }
            events.push(event.to_owned());
        }
    }
    Ok(url_param(
        params,
        "StatusCallback",
        error_code::INVALID_STATUS_CALLBACK,
    )?
    .map(|url| StatusCallback::new(url, method, events)))
}

fn number_param(params: &Params, name: &str, code: ErrorCode, max: u32) -> ApiResult<Option<u32>> {
    match params.get(name).filter(|value| !value.is_empty()) {
        None => Ok(None),
        Some(text) => match text.trim().parse::<u32>() {
            Ok(value) if value >= 1 => Ok(Some(value.min(max))),
            _ => Err(bad(
                code,
                format!("{name} must be a whole number of seconds, not {text:?}"),
            )),
        },
    }
}

/// Validates a create request (in Twilio's order of checks) into the leg to start.
/// `To` (a valid number) and `From` (a number of this account), with Twilio's codes; returns
/// them and the `From` number's record.
/// `To=sip:user@host[:port]`: a real SIP call (checked as a SIP URI, kept as written).
fn sip_target(to: &str) -> Option<String> {
    let uri = to.strip_prefix("sip:")?;
    switchboard_sip::SipUri::parse(to)?;
    (!uri.is_empty()).then(|| to.to_owned())
}

/// `To`, `From` and the SID of the number `From` is (`None` for a verified caller ID).
async fn parties(
    state: &AppState,
    account: &Account,
    params: &Params,
) -> ApiResult<(String, String, Option<String>)> {
    let to = params
        .get("To")
        .filter(|to| !to.is_empty())
        .ok_or_else(|| {
            bad(
                error_code::CALL_TO_REQUIRED,
                "A 'To' phone number is required",
            )
        })?;
    let to = sip_target(to)
        .or_else(|| validate::e164(to))
        .ok_or_else(|| {
            bad(
                error_code::CALL_INVALID_TO,
                format!("The phone number you are attempting to call, {to}, is not valid"),
            )
        })?;
    let from = params
        .get("From")
        .filter(|from| !from.is_empty())
        .ok_or_else(|| {
            bad(
                error_code::CALL_FROM_REQUIRED,
                "A 'From' phone number is required",
            )
        })?;
    let from = validate::e164(from).ok_or_else(|| {
        bad(
            error_code::CALL_INVALID_FROM,
            format!("The 'From' number {from} is not a valid phone number"),
        )
    })?;
    let owned = state
        .engine
        .find_number(&from)
        .await?
        .filter(|number| number.account_sid == account.sid);
    if let Some(number) = owned {
        return Ok((to, from, Some(number.sid)));
    }
    let verified = switchboard_engine::caller_ids::find(&state.engine, &account.sid, &from).await?;
    if verified.is_none() {
        return Err(bad(
            error_code::CALL_FROM_NOT_VERIFIED,
            format!(
                "The source phone number provided, {from}, is not yet verified for your account. You may only make calls from phone numbers that you've verified or purchased from Twilio."
            ),
        ));
    }
    Ok((to, from, None))
}

/// Where the call's TwiML comes from: `Twiml`/`Url` with their fallback and status callback,
/// or an Application's URLs (which then replace them).
async fn handler(
    state: &AppState,
    account: &Account,
    params: &Params,
) -> ApiResult<(
    Initial,
    Option<Endpoint>,
    Option<StatusCallback>,
    Option<Sid>,
)> {
    let mut initial = initial_of(params)?;
    let mut fallback = fallback_of(params)?;
    let mut status_callback = status_callback_of(params)?;
    let mut application_sid = None;
    if let Some(app) = params.get("ApplicationSid").filter(|sid| !sid.is_empty()) {
        let record = state
            .store
            .get(Kind::Application, app)
            .await?
            .filter(|r| r.account_sid == account.sid);
        if record.is_none() {
            return Err(bad(
                error_code::INVALID_APPLICATION_SID,
                format!("ApplicationSid {app} is not an application of this account"),
            ));
        }
        let handler = state
            .engine
            .voice_handler(&json!({"voice_application_sid": app}))
            .await?;
        initial = handler.primary.map(|endpoint| Initial::Fetch {
            url: endpoint.url,
            method: endpoint.method,
        });
        fallback = handler.fallback;
        status_callback = handler.status_callback.map(|callback| {
            StatusCallback::new(
                callback.endpoint.url,
                callback.endpoint.method,
                status_events(params),
            )
        });
        application_sid = Sid::parse(SidKind::Application, app);
    }
    let initial = initial.ok_or_else(|| {
        bad(
            error_code::CALL_INVALID_URL,
            "One of Url, Twiml or ApplicationSid is required",
        )
    })?;
    Ok((initial, fallback, status_callback, application_sid))
}

/// Detection parameters whose values are an enum in Twilio's description, checked first (before
/// the parties), so a misspelt value is a 400 whatever else is wrong.
const CREATE_ENUMS: &[(&str, &[&str])] = &[
    ("MachineDetection", &["Enable", "DetectMessageEnd"]),
    ("AsyncAmd", &["true", "false"]),
];

/// The leg to start, and the detection thresholds that were clamped (to warn about).
pub(crate) async fn outbound(
    state: &AppState,
    account: &Account,
    params: &Params,
) -> ApiResult<(LegStart, Vec<String>)> {
    for (name, allowed) in CREATE_ENUMS {
        super::call_recording::one_of(params, name, allowed)?;
    }
    let amd = machine_detection::requested(params)?;
    let recording = super::call_recording::options_of(params, true, "OutboundAPI")?;
    let (to, from, phone_number_sid) = parties(state, account, params).await?;
    let (initial, fallback, status_callback, application_sid) =
        handler(state, account, params).await?;
    if let Some(digits) = params.get("SendDigits").filter(|d| !d.is_empty())
        && (digits.chars().count() > 32
            || !digits
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, 'A'..='D' | '#' | '*' | 'w' | 'W')))
    {
        return Err(bad(
            error_code::CALL_INVALID_SEND_DIGITS,
            "SendDigits may hold at most 32 of 0-9, A-D, #, *, w and W",
        ));
    }
    let ring_timeout_s =
        number_param(params, "Timeout", error_code::CALL_INVALID_TIMEOUT, 600)?.unwrap_or(60);
    let time_limit_s = number_param(params, "TimeLimit", error_code::INVALID_PARAMETER, 86_400)?;
    let record = match params.get("Record") {
        Some(record) => validate::boolean("Record", record)?,
        None => false,
    };
    let record = record.then_some(recording);
    let send_digits = params
        .get("SendDigits")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let account_sid = Sid::parse(SidKind::Account, &account.sid)
        .unwrap_or_else(|| Sid::generate(SidKind::Account));
    let mut setup = CallSetup::new(
        Sid::generate(SidKind::Call),
        account_sid,
        from,
        to.clone(),
        Direction::OutboundApi,
        initial,
    );
    setup.application_sid = application_sid;
    let start = LegStart {
        account: account.clone(),
        setup,
        fallback,
        breaker: false,
        resilience: None,
        status_callback,
        far_end: far_end(state, account, params, &to, ring_timeout_s)?,
        fast: false,
        time_limit_s,
        phone_number_sid,
        record,
        send_digits,
        drill: false,
        amd: amd.detection,
    };
    Ok((start, amd.clamped))
}

/// A SIP URI (or a number through `--sip-gateway`) gets a real INVITE; other numbers reach
/// the calling account's sandbox handset.
fn far_end(
    state: &AppState,
    account: &Account,
    params: &Params,
    to: &str,
    ring_timeout_s: u32,
) -> ApiResult<FarEnd> {
    let username = params.get("SipAuthUsername").filter(|u| !u.is_empty());
    let password = params.get("SipAuthPassword").unwrap_or_default();
    let auth = username.map(|username| (username.to_owned(), password.to_owned()));
    state
        .engine
        .far_end(&account.sid, to, auth, ring_timeout_s)
        .ok_or_else(|| {
            bad(
                error_code::CALL_INVALID_TO,
                format!("{to} is a SIP address, and SIP is off on this engine (--sip off)"),
            )
        })
}

fn status_events(params: &Params) -> Vec<String> {
    params
        .all("StatusCallbackEvent")
        .iter()
        .flat_map(|v| v.split([' ', ',']))
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Response> {
    let (start, clamped) = outbound(&scoped.state, &scoped.account, &params).await?;
    let (record, _) = scoped.state.engine.start_call(start).await?;
    scoped.warn_clamped(&record.sid, &clamped).await;
    scoped
        .warn_ignored(Some(&record.sid), &params, super::ignored::CALL_CREATE)
        .await;
    Ok(created(render(&record.doc)))
}

/// `Calls.json`, newest first, filtered by `To`, `From`, `Status`, `ParentCallSid` and the days
/// of `StartTime` and `EndTime`.
pub(crate) const LIST: Listing = Listing {
    kind: Kind::Call,
    key: "calls",
    order: Order::Descending,
    params: &[
        Param::Equals("To", Column::PhoneNumber),
        Param::Equals("From", Column::FromNumber),
        Param::Custom("Status", status_filter),
        Param::Equals("ParentCallSid", Column::ParentSid),
        Param::Days {
            name: "StartTime",
            column: Column::CreatedMs,
            times: true,
        },
        Param::Days {
            name: "EndTime",
            column: Column::DateKey,
            times: true,
        },
    ],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("Calls.json"),
};

/// The statuses a call can have in the REST API (no `initiated`: that one is only a callback's).
pub(crate) const STATUSES: [&str; 8] = [
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
];

/// `Status=` on the list: one of `STATUSES`, else 400 (a misspelt status is not an empty list).
fn status_filter(status: &str) -> ApiResult<switchboard_store::Filter> {
    if STATUSES.contains(&status) {
        Ok(switchboard_store::Filter::Equals(
            Column::Status,
            status.to_owned(),
        ))
    } else {
        Err(bad(
            error_code::INVALID_PARAMETER,
            format!(
                "Status must be one of {}, not {status:?}",
                STATUSES.join(", ")
            ),
        ))
    }
}

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Call, &scoped.rest).await?;
    Ok(Json(render(&record.doc)))
}

fn not_in_progress(sid: &str) -> ApiError {
    bad(
        error_code::CALL_NOT_IN_PROGRESS,
        format!("Call {sid} is not in-progress. Cannot redirect."),
    )
}

/// `StatusCallback` (with `StatusCallbackMethod`) and `TimeLimit` of a call update, checked
/// like the create's; `None` when the update changes neither.
fn live_settings(params: &Params) -> ApiResult<Option<LiveSettings>> {
    let method = method_param(params, "StatusCallbackMethod")?;
    let status_callback = url_param(params, "StatusCallback", error_code::CALL_INVALID_URL)?
        .map(|url| Endpoint::new(url, method));
    let time_limit_s = number_param(params, "TimeLimit", error_code::INVALID_PARAMETER, 86_400)?;
    Ok(
        (status_callback.is_some() || time_limit_s.is_some()).then_some(LiveSettings {
            status_callback,
            time_limit_s,
        }),
    )
}

pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let record = scoped.record(Kind::Call, sid).await?;
    if voice::leg::is_terminal(record.status.as_deref().unwrap_or_default()) {
        return Err(not_in_progress(sid));
    }
    let end = match params.get("Status").filter(|s| !s.is_empty()) {
        None => None,
        Some("completed") => Some(ApiEnd::Completed),
        Some("canceled") => Some(ApiEnd::Canceled),
        Some(other) => {
            return Err(bad(
                error_code::INVALID_PARAMETER,
                format!("Status must be completed or canceled, not {other:?}"),
            ));
        }
    };
    let initial = initial_of(&params)?;
    let fallback = fallback_of(&params)?;
    let settings = live_settings(&params)?;
    let engine = &scoped.state.engine;
    if let Some(settings) = settings
        && !engine.send_input(sid, CallInput::Settings(Box::new(settings)))
    {
        return Err(not_in_progress(sid));
    }
    let input = match (end, initial) {
        (Some(end), _) => CallInput::End(end),
        (None, Some(initial)) => CallInput::Update(Box::new((initial, fallback))),
        (None, None) => return Ok(Json(render(&record.doc))),
    };
    // `completed` ends any call and `canceled` one not answered yet: the answer shows the end.
    let answered = record.status.as_deref() == Some("in-progress");
    let ending = match &input {
        CallInput::End(ApiEnd::Completed) => true,
        CallInput::End(ApiEnd::Canceled) => !answered,
        _ => false,
    };
    if !engine.send_input(sid, input) {
        return Err(not_in_progress(sid));
    }
    if ending && let Some(log) = engine.sandbox().log(sid) {
        log.wait_done(Duration::from_secs(5)).await;
    }
    let record = scoped.record(Kind::Call, sid).await?;
    Ok(Json(render(&record.doc)))
}

pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let record = scoped.record(Kind::Call, sid).await?;
    if scoped.state.engine.is_live(sid)
        || !voice::leg::is_terminal(record.status.as_deref().unwrap_or_default())
    {
        return Err(bad(
            error_code::INVALID_PARAMETER,
            format!("Call {sid} is still in progress; end it before deleting it"),
        ));
    }
    scoped.state.store.delete(Kind::Call, sid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Calls/{CallSid}/Recordings.json`.
pub(crate) async fn recordings(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    scoped.record(Kind::Call, &scoped.rest).await?;
    recording::OF_CALL
        .of_account(&scoped, Some(scoped.rest.clone()))
        .await
}
