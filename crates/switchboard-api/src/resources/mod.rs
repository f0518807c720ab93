//! One module per REST resource, and what they share: routing, the caller extractor, the
//! account-scope extractor (`scoped`), the list descriptions (`listing`), loading a resource an
//! account owns, and the 404/405 answers.

pub mod account;
pub(crate) mod alert;
pub(crate) mod alert_stream;
pub mod application;
pub mod available;
pub mod call;
pub(crate) mod call_recording;
pub(crate) mod call_stream;
pub mod caller_id;
pub(crate) mod conference;
pub(crate) mod deliveries;
mod fields;
pub(crate) mod ignored;
pub mod key;
pub(crate) mod listing;
mod live_list;
mod machine_detection;
pub mod message;
pub(crate) mod messaging_service;
mod notification;
pub mod phone_number;
pub(crate) mod queue;
pub mod recording;
mod sandbox;
mod schedule;
pub(crate) mod scoped;
pub mod transcription;
mod usage;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use switchboard_core::error_code;
use switchboard_store::{Kind, Record};

use crate::AppState;
use crate::auth::{Caller, authenticate};
use crate::error::{ApiError, ApiResult};

const ACCOUNTS: &str = "/2010-04-01/Accounts";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts.json",
            get(account::list).post(account::create),
        )
        .route(
            "/2010-04-01/Accounts/{file}",
            get(account::fetch).post(account::update),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Keys.json",
            get(key::list).post(key::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Keys/{file}",
            get(key::fetch).post(key::update).delete(key::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(phone_number::list).post(phone_number::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(phone_number::fetch_or_list_type)
                .post(phone_number::update_or_create_type)
                .delete(phone_number::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers.json",
            get(available::countries),
        )
        .route(
            "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{file}",
            get(available::country),
        )
        .route(
            "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{file}",
            get(available::country_or_search),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Applications.json",
            get(application::list).post(application::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Applications/{file}",
            get(application::fetch)
                .post(application::update)
                .delete(application::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Notifications.json",
            get(notification::list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Notifications/{file}",
            get(notification::fetch),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            get(call::list).post(call::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(call::fetch).post(call::update).delete(call::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json",
            get(call::recordings).post(call_recording::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{file}",
            get(call_recording::fetch)
                .post(call_recording::update)
                .delete(call_recording::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Streams.json",
            post(call_stream::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Streams/{file}",
            post(call_stream::update),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings.json",
            get(recording::list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(recording::fetch).delete(recording::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{recording}/Transcriptions.json",
            get(transcription::of_recording),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{recording}/Transcriptions/{file}",
            get(transcription::fetch_of_recording).delete(transcription::delete_of_recording),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Transcriptions.json",
            get(transcription::list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Transcriptions/{file}",
            get(transcription::fetch).delete(transcription::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Notifications.json",
            get(notification::list_for_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{call}/Notifications/{file}",
            get(notification::fetch_for_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            get(message::list).post(message::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(message::fetch)
                .post(message::update)
                .delete(message::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media.json",
            get(message::media_list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{file}",
            get(message::media_fetch).delete(message::media_delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Usage/Records.json",
            get(usage::records),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Usage/Records/{file}",
            get(usage::records_by_period),
        )
        .route(
            "/2010-04-01/Accounts/{account}/OutgoingCallerIds.json",
            get(caller_id::list).post(caller_id::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/OutgoingCallerIds/{file}",
            get(caller_id::fetch)
                .post(caller_id::update)
                .delete(caller_id::delete),
        )
        .route(
            "/switchboard/v1/CallerIdVerifications/{token}",
            axum::routing::post(caller_id::verification_digits),
        )
        .route(
            "/switchboard/v1/CallerIdVerifications/{token}/Status",
            axum::routing::post(caller_id::verification_status),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Balance.json",
            get(usage::balance),
        )
        .route(
            "/sandbox/Messages",
            axum::routing::post(sandbox::send_message),
        )
        .route("/sandbox/Messages/{sid}", get(sandbox::message_transcript))
        .route("/sandbox/Calls", axum::routing::post(sandbox::create_call))
        .route("/sandbox/Calls/{sid}", get(sandbox::call_transcript))
        .route(
            "/sandbox/Calls/{sid}/{what}",
            axum::routing::post(sandbox::call_input).get(sandbox::heard),
        )
        .route(
            "/sandbox/Phones/{number}",
            axum::routing::post(sandbox::set_phone),
        )
        .route(
            "/sandbox/Phones/{number}/Messages",
            get(sandbox::phone_messages),
        )
        .route(
            "/v1/Services",
            get(messaging_service::list).post(messaging_service::create),
        )
        .route(
            "/v1/Services/{sid}",
            get(messaging_service::fetch)
                .post(messaging_service::update)
                .delete(messaging_service::delete),
        )
        .route(
            "/v1/Services/{service}/PhoneNumbers",
            get(messaging_service::list_numbers).post(messaging_service::add_number),
        )
        .route(
            "/v1/Services/{service}/PhoneNumbers/{sid}",
            get(messaging_service::fetch_number).delete(messaging_service::remove_number),
        )
        .route("/v1/Alerts", get(alert::list))
        .route("/v1/Alerts/{sid}", get(alert::fetch))
        .route("/switchboard/v1/Alerts/Stream", get(alert_stream::stream))
        .route("/switchboard/v1/Deliveries", get(deliveries::list))
        .route(
            "/switchboard/v1/Deliveries/{sid}/Replay",
            axum::routing::post(deliveries::replay),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Conferences.json",
            get(conference::list),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Conferences/{file}",
            get(conference::fetch).post(conference::update),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants.json",
            get(conference::participants).post(conference::create_participant),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants/{file}",
            get(conference::participant)
                .post(conference::update_participant)
                .delete(conference::delete_participant),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Queues.json",
            get(queue::list).post(queue::create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Queues/{file}",
            get(queue::fetch).post(queue::update).delete(queue::delete),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Queues/{queue}/Members.json",
            get(queue::members),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Queues/{queue}/Members/{file}",
            get(queue::member).post(queue::dequeue),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        authenticate(state, &parts.headers).await
    }
}

/// Twilio's 404 for any path the API does not have (including `.xml` and suffix-less forms).
pub(crate) async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::no_such_path(uri.path())
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        error_code::METHOD_NOT_ALLOWED,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
    .into_response()
}

/// The SID in a `{Sid}.json` path segment; anything else is Twilio's 404 for `path`. A segment
/// that is not SID-shaped (two capital letters and 32 hex digits), such as a sub-resource
/// Twilio has and this engine does not (`Calls/FeedbackSummary.json`), is a path the API does
/// not have rather than a resource that does not exist.
pub(crate) fn json_sid<'a>(file: &'a str, path: &str) -> ApiResult<&'a str> {
    let sid = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::no_such_path(path))?;
    let shaped = sid.len() == 34
        && sid.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
        && sid.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit);
    if shaped {
        Ok(sid)
    } else {
        Err(ApiError::no_such_path(path))
    }
}

/// Loads a resource of `kind` owned by `account_sid`; anything else is a 404 for `path`.
pub(crate) async fn load_owned<T: DeserializeOwned>(
    state: &AppState,
    kind: Kind,
    sid: &str,
    account_sid: &str,
    path: &str,
) -> ApiResult<(Record, T)> {
    let record = load_record(state, kind, sid, account_sid, path).await?;
    let value =
        serde_json::from_value(record.doc.clone()).map_err(switchboard_store::StoreError::from)?;
    Ok((record, value))
}

/// Loads a resource of `kind` owned by `account_sid` without decoding its document (the hot
/// fetch paths render the stored JSON directly); anything else is a 404 for `path`.
pub(crate) async fn load_record(
    state: &AppState,
    kind: Kind,
    sid: &str,
    account_sid: &str,
    path: &str,
) -> ApiResult<Record> {
    match state.store.get(kind, sid).await? {
        Some(record) if record.account_sid == account_sid => Ok(record),
        _ => Err(ApiError::not_found(path)),
    }
}

/// Serialises a resource for its `doc` column.
pub(crate) fn to_doc<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Serialising plain structs of strings, numbers and options cannot fail.
    serde_json::to_value(value).unwrap_or_default()
}

/// `201 Created` with a JSON body.
pub(crate) fn created(body: serde_json::Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
