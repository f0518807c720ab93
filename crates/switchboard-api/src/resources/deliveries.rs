//! `GET /switchboard/v1/Deliveries` and `POST /switchboard/v1/Deliveries/{Sid}/Replay`
//! (beyond Twilio, product.md "Beyond Twilio"): the caller's status callbacks and debugger
//! webhooks as the outbox holds them, newest first, and a way to send one again.
//!
//! The URL is shown redacted (no password, no override fragment), as alerts show it; the
//! parameters a delivery sends are not shown (they are the call's or message's own, which its
//! resource already answers).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use serde_json::{Value, json};
use switchboard_core::{date, error_code};
use switchboard_store::{Delivery, DeliveryQuery, Order};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::query_params;
use crate::paging::{PageRequest, fetch_keyed};

const PATH: &str = "/switchboard/v1/Deliveries";
const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    Ok(Json(page(&state, &caller.account.sid, &uri).await?))
}

/// The page of `account_sid`'s deliveries `uri`'s query asks for, in the envelope (the API's
/// answer, and what the console's page shows).
pub(crate) async fn page(
    state: &AppState,
    account_sid: &str,
    uri: &axum::http::Uri,
) -> ApiResult<Value> {
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let status = match params.get("Status") {
        None => None,
        Some(status) if STATUSES.contains(&status) => Some(status.to_owned()),
        Some(other) => {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Status must be one of pending, delivered, failed, not {other:?}"),
            ));
        }
    };
    let kept: Vec<(String, String)> = status
        .iter()
        .map(|status| ("Status".to_owned(), status.clone()))
        .collect();
    let store = state.store.as_ref();
    let account_sid = account_sid.to_owned();
    let page = fetch_keyed(Order::Descending, request, |window| {
        let query = DeliveryQuery {
            account_sid: account_sid.clone(),
            status: status.clone(),
            order: window.order,
            after_seq: window.after_seq,
            offset: window.offset,
            limit: window.limit,
        };
        async move { Ok(store.list_deliveries(&query).await?) }
    })
    .await?;
    let items = page.records.iter().map(render).collect();
    Ok(page.envelope(PATH, &kept, "deliveries", items))
}

pub(crate) async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    match state
        .engine
        .replay_delivery(&caller.account.sid, &sid)
        .await?
    {
        Some(delivery) => Ok(Json(render(&delivery))),
        None => Err(ApiError::not_found(uri.path())),
    }
}

fn render(delivery: &Delivery) -> Value {
    let at = |ms: Option<i64>| ms.map(date::iso8601);
    json!({
        "sid": delivery.sid,
        "account_sid": delivery.account_sid,
        "kind": delivery.kind,
        "url": switchboard_webhook::request::redact_url(&delivery.url),
        "method": delivery.method,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error_code": delivery.last_error_code,
        "last_attempt_at": at(delivery.last_attempt_ms),
        "next_attempt_at": at((delivery.status == "pending").then_some(delivery.next_attempt_ms)),
        "idempotency_token": delivery.idempotency_token,
        "resource_sid": delivery.resource_sid,
        "date_created": date::iso8601(delivery.created_ms),
    })
}
