//! API keys (`SK…`): a secret shown once at creation, usable as Basic auth in place of the
//! account's auth token. Only the secret's SHA-256 is stored.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_store::{Kind, ListQuery, Order, Record, StoreError};

use super::account::forbid_keys;
use super::{ACCOUNTS, created, json_sid, load_owned, to_doc};
use crate::auth::{Caller, secret_digest};
use crate::error::ApiResult;
use crate::form::{FormBody, query_params};
use crate::paging::{PageRequest, fetch_page};
use crate::{AppState, now_ms, validate};

/// A stored API key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKey {
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub secret_sha256: String,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ApiKey {
    fn record(&self) -> Record {
        let mut record = Record::new(
            Kind::ApiKey,
            self.sid.clone(),
            self.account_sid.clone(),
            self.date_created,
            to_doc(self),
        );
        record.friendly_name = Some(self.friendly_name.clone());
        record
    }

    fn render(&self) -> Value {
        json!({
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "date_created": date::rfc2822(self.date_created),
            "date_updated": date::rfc2822(self.date_updated),
        })
    }
}

fn collection(account_sid: &str) -> String {
    format!("{ACCOUNTS}/{account_sid}/Keys.json")
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    forbid_keys(&caller)?;
    let account = caller.scope(&state, &account, uri.path()).await?;
    let request = PageRequest::from_params(&query_params(uri.query())?)?;
    let mut query = ListQuery::new(Kind::ApiKey, &account.sid);
    query.order = Order::Descending;
    let page = fetch_page(state.store.as_ref(), query, request).await?;
    let items = page
        .records
        .iter()
        .map(|record| Ok(serde_json::from_value::<ApiKey>(record.doc.clone())?.render()))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(StoreError::from)?;
    Ok(Json(page.envelope(
        &collection(&account.sid),
        &[],
        "keys",
        items,
    )))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    forbid_keys(&caller)?;
    let account = caller.scope(&state, &account, uri.path()).await?;
    let secret = crate::resources::account::generate_auth_token();
    let now = now_ms();
    let key = ApiKey {
        sid: Sid::generate(SidKind::ApiKey).into_string(),
        account_sid: account.sid,
        friendly_name: validate::friendly_name(params.get("FriendlyName").unwrap_or(""))?,
        secret_sha256: secret_digest(&secret),
        date_created: now,
        date_updated: now,
    };
    state.store.insert(&key.record()).await?;
    let mut body = key.render();
    body["secret"] = json!(secret);
    Ok(created(body))
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    forbid_keys(&caller)?;
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    let (_, key) =
        load_owned::<ApiKey>(&state, Kind::ApiKey, sid, &account.sid, uri.path()).await?;
    Ok(Json(key.render()))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    forbid_keys(&caller)?;
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    let (_, mut key) =
        load_owned::<ApiKey>(&state, Kind::ApiKey, sid, &account.sid, uri.path()).await?;
    if let Some(name) = params.get("FriendlyName") {
        key.friendly_name = validate::friendly_name(name)?;
    }
    key.date_updated = now_ms();
    state.store.update(&key.record()).await?;
    Ok(Json(key.render()))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    forbid_keys(&caller)?;
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    load_owned::<ApiKey>(&state, Kind::ApiKey, sid, &account.sid, uri.path()).await?;
    state.store.delete(Kind::ApiKey, sid).await?;
    state.auth_cache.forget_all();
    Ok(StatusCode::NO_CONTENT.into_response())
}
