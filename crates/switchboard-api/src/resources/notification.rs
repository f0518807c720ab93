//! 2010 Notifications (`…/Notifications.json`, `…/Calls/{CallSid}/Notifications.json`): the same
//! stored alerts as Monitor v1, in the 2010 shape (RFC 2822 dates, `log` "0"/"1").

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order};

use super::{ACCOUNTS, json_sid, load_owned};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::{Params, query_params};
use crate::paging::{PageRequest, fetch_page};
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

fn day(name: &str, text: &str) -> ApiResult<i64> {
    date::parse_day(text).ok_or_else(|| {
        ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("{name} must be YYYY-MM-DD, not {text:?}"),
        )
    })
}

/// `Log`, `MessageDate`, `MessageDate<`, `MessageDate>` (days, UTC; `<` and `>` inclusive like Twilio's).
fn filters(params: &Params, query: &mut ListQuery) -> ApiResult<Vec<(&'static str, String)>> {
    let mut kept = Vec::new();
    if let Some(log) = params.get("Log") {
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
        query
            .filters
            .push(Filter::Equals(Column::Status, level.into()));
        kept.push(("Log", log.to_owned()));
    }
    const DAY: i64 = 86_400_000;
    for (name, from, until) in [
        ("MessageDate", true, true),
        ("MessageDate>", true, false),
        ("MessageDate<", false, true),
    ] {
        if let Some(text) = params.get(name) {
            let start = day(name, text)?;
            query.filters.push(Filter::Between(
                Column::DateKey,
                from.then_some(start),
                until.then_some(start + DAY),
            ));
            kept.push((name, text.to_owned()));
        }
    }
    Ok(kept)
}

async fn list_for(
    state: AppState,
    caller: Caller,
    account: String,
    call: Option<String>,
    uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let mut query = ListQuery::new(Kind::Alert, &account.sid);
    query.order = Order::Descending;
    query.parent_sid = call;
    let kept = filters(&params, &mut query)?;
    let page = fetch_page(state.store.as_ref(), query, request).await?;
    let items = page
        .records
        .iter()
        .map(|record| render(&record.doc, false))
        .collect();
    Ok(Json(page.envelope(
        uri.path(),
        &kept,
        "notifications",
        items,
    )))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    list_for(state, caller, account, None, uri).await
}

pub(crate) async fn list_for_call(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, call)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    list_for(state, caller, account, Some(call), uri).await
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    let (record, _) =
        load_owned::<Value>(&state, Kind::Alert, sid, &account.sid, uri.path()).await?;
    Ok(Json(render(&record.doc, true)))
}

pub(crate) async fn fetch_for_call(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, call, file)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    let (record, _) =
        load_owned::<Value>(&state, Kind::Alert, sid, &account.sid, uri.path()).await?;
    if record.parent_sid.as_deref() != Some(call.as_str()) {
        return Err(ApiError::not_found(uri.path()));
    }
    Ok(Json(render(&record.doc, true)))
}
