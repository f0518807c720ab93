//! 2010 Notifications (`…/Notifications.json`, `…/Calls/{CallSid}/Notifications.json`): the same
//! stored alerts as Monitor v1, in the 2010 shape (RFC 2822 dates, `log` "0"/"1").

use axum::Json;
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Column, Filter, Kind, Order};

use super::ACCOUNTS;
use super::listing::{ListPath, Listing, Param};
use super::scoped::Scoped;
use crate::error::{ApiError, ApiResult};
use switchboard_engine::alerts::alert_of;

fn render(doc: &Value, with_exchange: bool) -> Value {
    let Some(alert) = alert_of(doc) else {
        return json!({});
    };
    let sid = doc["sid"].as_str().unwrap_or_default();
    let account = doc["account_sid"].as_str().unwrap_or_default();
    let created = date::rfc2822(doc["date_created"].as_i64().unwrap_or_default());
    let call_sid = doc["resource_sid"]
        .as_str()
        .filter(|sid| sid.starts_with("CA"));
    let mut body = json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "call_sid": call_sid,
        "date_created": created,
        "date_updated": created,
        "error_code": alert.error_code.to_string(),
        "log": alert.level.notification_log(),
        "message_date": created,
        "message_text": alert.alert_text,
        "more_info": alert.more_info(),
        "request_method": alert.request_method,
        "request_url": alert.request_url,
        "sid": sid,
        "uri": format!("{ACCOUNTS}/{account}/Notifications/{sid}.json"),
    });
    if with_exchange {
        body["request_variables"] = json!(alert.request_variables_encoded());
        body["response_body"] = json!(alert.response_body);
        body["response_headers"] = json!(alert.response_headers_encoded());
    }
    body
}

/// `Log=0|1`: errors or warnings.
fn log_filter(log: &str) -> ApiResult<Filter> {
    let level = match log {
        "0" => "error",
        "1" => "warning",
        other => {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Log must be 0 or 1, not {other:?}"),
            ));
        }
    };
    Ok(Filter::Equals(Column::Status, level.into()))
}

/// `Notifications.json` and `Calls/{CallSid}/Notifications.json`, newest first, filtered by
/// `Log` and the day of `MessageDate` (days only, UTC; `<` and `>` inclusive like Twilio's).
const LIST: Listing = Listing {
    kind: Kind::Alert,
    key: "notifications",
    order: Order::Descending,
    params: &[
        Param::Custom("Log", log_filter),
        Param::Days {
            name: "MessageDate",
            column: Column::DateKey,
            times: false,
        },
    ],
    render: |_, record| Ok(render(&record.doc, false)),
    path: ListPath::Requested,
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn list_for_call(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, Some(scoped.rest.clone())).await
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Alert, &scoped.rest).await?;
    Ok(Json(render(&record.doc, true)))
}

pub(crate) async fn fetch_for_call(scoped: Scoped<(String, String)>) -> ApiResult<Json<Value>> {
    let (call, file) = &scoped.rest;
    let record = scoped.file_record(Kind::Alert, file).await?;
    if record.parent_sid.as_deref() != Some(call.as_str()) {
        return Err(ApiError::not_found(scoped.uri.path()));
    }
    Ok(Json(render(&record.doc, true)))
}
