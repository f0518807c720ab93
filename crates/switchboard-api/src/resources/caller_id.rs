//! OutgoingCallerIds: numbers an account verified by answering a call and typing a code, so it
//! may call from them (`From` on Calls create). Creating one is a validation request
//! (`ValidationRequest`: the code, and the verification call's SID); the engine places the call
//! and stores the caller ID once the right code is typed (`switchboard_engine::caller_ids`).
//! The verification call's gather action and status callback come back to the two routes
//! under `/switchboard/v1/CallerIdVerifications/{token}`, which only the random token opens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_engine::caller_ids::{self, VerificationRequest};
use switchboard_store::{Column, Kind, Order};
use switchboard_webhook::{Endpoint, Method};

use super::ACCOUNTS;
use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::form::{FormBody, Params};
use crate::{now_ms, validate};

/// The Twilio representation of a stored caller ID.
pub fn render(doc: &Value) -> Value {
    let mut body = doc.clone();
    let (Some(sid), Some(account)) = (doc["sid"].as_str(), doc["account_sid"].as_str()) else {
        return body;
    };
    body["uri"] = json!(format!("{ACCOUNTS}/{account}/OutgoingCallerIds/{sid}.json"));
    for name in ["date_created", "date_updated"] {
        body[name] = json!(date::rfc2822(doc[name].as_i64().unwrap_or_default()));
    }
    body
}

/// `OutgoingCallerIds.json`, oldest first, filtered by `PhoneNumber` and `FriendlyName`.
const LIST: Listing = Listing {
    kind: Kind::OutgoingCallerId,
    key: "outgoing_caller_ids",
    order: Order::Ascending,
    params: &[
        Param::Equals("PhoneNumber", Column::PhoneNumber),
        Param::Equals("FriendlyName", Column::FriendlyName),
    ],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("OutgoingCallerIds.json"),
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

fn bad(code: switchboard_core::ErrorCode, message: String) -> ApiError {
    ApiError::bad_request(code, message)
}

/// A validation request's parameters, checked in Twilio's order.
fn verification_request(params: &Params) -> ApiResult<VerificationRequest> {
    let number = params
        .get("PhoneNumber")
        .filter(|number| !number.is_empty())
        .ok_or_else(|| {
            bad(
                error_code::INVALID_PHONE_NUMBER,
                "A PhoneNumber to verify is required".into(),
            )
        })?;
    let phone_number = validate::e164(number).ok_or_else(|| {
        bad(
            error_code::INVALID_PHONE_NUMBER,
            format!("PhoneNumber {number:?} is not a valid phone number"),
        )
    })?;
    let friendly_name = match params.get("FriendlyName").filter(|name| !name.is_empty()) {
        Some(name) => validate::friendly_name(name)?,
        None => switchboard_core::phone::formatted_number(&phone_number),
    };
    let call_delay_s = match params.get("CallDelay").filter(|delay| !delay.is_empty()) {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|delay| *delay <= 60)
            .ok_or_else(|| {
                bad(
                    error_code::INVALID_PARAMETER,
                    format!(
                        "CallDelay must be a whole number of seconds from 0 to 60, not {text:?}"
                    ),
                )
            })?,
    };
    let extension = match params.get("Extension").filter(|keys| !keys.is_empty()) {
        None => None,
        Some(keys)
            if keys.chars().count() <= 32
                && keys
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '#' | '*' | 'w' | 'W')) =>
        {
            Some(keys.to_owned())
        }
        Some(keys) => {
            return Err(bad(
                error_code::INVALID_PARAMETER,
                format!("Extension may hold at most 32 of 0-9, #, * and w, not {keys:?}"),
            ));
        }
    };
    let method = match params.get("StatusCallbackMethod").filter(|m| !m.is_empty()) {
        None => Method::Post,
        Some(value) => Method::parse(value).ok_or_else(|| {
            bad(
                error_code::INVALID_METHOD,
                format!("StatusCallbackMethod must be GET or POST, not {value:?}"),
            )
        })?,
    };
    let status_callback = match params.get("StatusCallback") {
        None => None,
        Some(url) => Some(validate::webhook_url(
            "StatusCallback",
            url,
            error_code::INVALID_STATUS_CALLBACK,
        )?)
        .filter(|url| !url.is_empty())
        .map(|url| Endpoint::new(url, method)),
    };
    Ok(VerificationRequest {
        phone_number,
        friendly_name,
        call_delay_s,
        extension,
        status_callback,
    })
}

/// `POST OutgoingCallerIds.json`: a validation request. The code comes back at once; the
/// caller ID exists once it was typed on the verification call.
pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Json<Value>> {
    let request = verification_request(&params)?;
    let engine = &scoped.state.engine;
    if caller_ids::find(engine, &scoped.account.sid, &request.phone_number)
        .await?
        .is_some()
    {
        return Err(bad(
            error_code::CALLER_ID_ALREADY_VERIFIED,
            format!(
                "Phone number {} is already verified for your account",
                request.phone_number
            ),
        ));
    }
    let (phone_number, friendly_name) =
        (request.phone_number.clone(), request.friendly_name.clone());
    let started = engine.start_verification(&scoped.account, request).await?;
    Ok(Json(json!({
        "account_sid": scoped.account.sid,
        "call_sid": started.call_sid,
        "friendly_name": friendly_name,
        "phone_number": phone_number,
        "validation_code": started.validation_code,
    })))
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped
        .file_record(Kind::OutgoingCallerId, &scoped.rest)
        .await?;
    Ok(Json(render(&record.doc)))
}

/// Only `FriendlyName` changes.
pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let mut record = scoped.record(Kind::OutgoingCallerId, sid).await?;
    if let Some(name) = params.get("FriendlyName") {
        let name = validate::friendly_name(name)?;
        record.doc["friendly_name"] = json!(name);
        record.doc["date_updated"] = json!(now_ms());
        record.friendly_name = Some(name);
        scoped.state.store.update(&record).await?;
    }
    Ok(Json(render(&record.doc)))
}

pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    scoped.delete(Kind::OutgoingCallerId).await
}

/// The verification call's gather action: the TwiML that follows the keys typed.
pub(crate) async fn verification_digits(
    State(state): State<AppState>,
    Path(token): Path<String>,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    let digits = params.get("Digits").unwrap_or_default();
    match state.engine.verification_digits(&token, digits).await? {
        Some(twiml) => Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response()),
        None => Err(ApiError::not_found("the verification")),
    }
}

/// The verification call's status callback: once it ended, the outcome goes to the request's
/// `StatusCallback`.
pub(crate) async fn verification_status(
    State(state): State<AppState>,
    Path(token): Path<String>,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    if state.engine.verification_ended(&token, params.0).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("the verification"))
    }
}
