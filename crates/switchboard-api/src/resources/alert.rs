//! Monitor v1 Alerts (`/v1/Alerts`): the account's webhook failures and warnings, ISO 8601 dates,
//! the v1 `meta` paging envelope with absolute URLs (helper libraries follow them as given).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Column, Filter, Kind, Order};

use super::listing::{ListPath, Listing, Param};
use super::load_owned;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use switchboard_engine::alerts::alert_of;

pub(crate) fn render(state: &AppState, doc: &Value, with_exchange: bool) -> Value {
    let Some(alert) = alert_of(doc) else {
        return json!({});
    };
    let sid = doc["sid"].as_str().unwrap_or_default();
    let created = date::iso8601(doc["date_created"].as_i64().unwrap_or_default());
    let mut body = json!({
        "account_sid": doc["account_sid"],
        "alert_text": alert.alert_text,
        "api_version": "2010-04-01",
        "date_created": created,
        "date_generated": created,
        "date_updated": created,
        "error_code": alert.error_code.to_string(),
        "log_level": alert.level.monitor_name(),
        "more_info": alert.more_info(),
        "request_method": alert.request_method,
        "request_url": alert.request_url,
        "resource_sid": doc["resource_sid"],
        "service_sid": null,
        "sid": sid,
        "url": format!("{}/v1/Alerts/{sid}", state.public_url),
    });
    if with_exchange {
        body["request_variables"] = json!(alert.request_variables_encoded());
        body["request_headers"] = json!(alert.request_headers_encoded());
        body["response_body"] = json!(alert.response_body);
        body["response_headers"] = json!(alert.response_headers_encoded());
    }
    body
}

fn parse_date(name: &str, text: &str) -> ApiResult<i64> {
    date::parse_iso8601(text).ok_or_else(|| {
        ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("{name} must be an ISO 8601 date, not {text:?}"),
        )
    })
}

/// `LogLevel=`: one level, in any case (the console's debugger filters with it too).
pub(crate) fn log_level(level: &str) -> ApiResult<Filter> {
    Ok(Filter::Equals(Column::Status, level.to_ascii_lowercase()))
}

/// `/v1/Alerts`, newest first, filtered by `LogLevel` (any case) and `StartDate`/`EndDate`.
const LIST: Listing = Listing {
    kind: Kind::Alert,
    key: "alerts",
    order: Order::Descending,
    params: &[
        Param::Custom("LogLevel", log_level),
        Param::Custom("StartDate", |text| {
            let start = parse_date("StartDate", text)?;
            Ok(Filter::Between(Column::DateKey, Some(start), None))
        }),
        Param::Custom("EndDate", |text| {
            // EndDate is inclusive: a bare date covers its whole day, a time covers its second.
            let end = parse_date("EndDate", text)?;
            let until = if text.len() == 10 {
                end + 86_400_000
            } else {
                end + 1_000
            };
            Ok(Filter::Between(Column::DateKey, None, Some(until)))
        }),
    ],
    render: |state, record| Ok(render(state, &record.doc, false)),
    path: ListPath::Fixed("/v1/Alerts"),
};

/// The 2010 envelope `LIST` answers, rewritten as v1's: the items, and the paging in `meta`
/// with absolute URLs.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let envelope = LIST
        .answer(&state, LIST.query(&caller.account.sid), &uri)
        .await?;
    let absolute = |key: &str| match envelope[key].as_str() {
        Some(path) => json!(format!("{}{path}", state.public_url)),
        None => Value::Null,
    };
    Ok(Json(json!({
        "alerts": envelope["alerts"],
        "meta": {
            "first_page_url": absolute("first_page_uri"),
            "key": "alerts",
            "next_page_url": absolute("next_page_uri"),
            "page": envelope["page"],
            "page_size": envelope["page_size"],
            "previous_page_url": absolute("previous_page_uri"),
            "url": absolute("uri"),
        }
    })))
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let (record, _) =
        load_owned::<Value>(&state, Kind::Alert, &sid, &caller.account.sid, uri.path()).await?;
    Ok(Json(render(&state, &record.doc, true)))
}
