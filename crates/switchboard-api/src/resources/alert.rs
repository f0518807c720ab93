//! Monitor v1 Alerts (`/v1/Alerts`): the account's webhook failures and warnings, ISO 8601 dates,
//! the v1 `meta` paging envelope with absolute URLs (helper libraries follow them as given).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order};

use super::load_owned;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::query_params;
use crate::paging::{PageRequest, fetch_page};
use switchboard_engine::alerts::alert_of;

fn render(state: &AppState, doc: &Value, with_exchange: bool) -> Value {
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

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let mut query = ListQuery::new(Kind::Alert, &caller.account.sid);
    query.order = Order::Descending;
    let mut filters = Vec::new();
    if let Some(level) = params.get("LogLevel") {
        query
            .filters
            .push(Filter::Equals(Column::Status, level.to_ascii_lowercase()));
        filters.push(("LogLevel", level.to_owned()));
    }
    let start = params
        .get("StartDate")
        .map(|text| parse_date("StartDate", text))
        .transpose()?;
    let end = params
        .get("EndDate")
        .map(|text| parse_date("EndDate", text))
        .transpose()?;
    if start.is_some() || end.is_some() {
        // EndDate is inclusive: a bare date covers its whole day, a time covers its second.
        let until = match (end, params.get("EndDate")) {
            (Some(end), Some(text)) if text.len() == 10 => Some(end + 86_400_000),
            (Some(end), _) => Some(end + 1_000),
            (None, _) => None,
        };
        query
            .filters
            .push(Filter::Between(Column::DateKey, start, until));
        for name in ["StartDate", "EndDate"] {
            if let Some(value) = params.get(name) {
                filters.push((name, value.to_owned()));
            }
        }
    }
    let page = fetch_page(state.store.as_ref(), query, request).await?;
    let items: Vec<Value> = page
        .records
        .iter()
        .map(|record| render(&state, &record.doc, false))
        .collect();
    let envelope = page.envelope("/v1/Alerts", &filters, "alerts", items);
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
