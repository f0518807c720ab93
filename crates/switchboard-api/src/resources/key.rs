//! API keys (`SK…`): a secret shown once at creation, usable as Basic auth in place of the
//! account's auth token. Only the secret's SHA-256 is stored.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_store::{Kind, Order, Record, StoreError};

use super::listing::{ListPath, Listing};
use super::scoped::{AuthTokenOnly, Scoped, ScopedForm};
use super::{created, to_doc};
use crate::auth::secret_digest;
use crate::error::ApiResult;
use crate::{now_ms, validate};

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

/// `Keys.json`, newest first.
const LIST: Listing = Listing {
    kind: Kind::ApiKey,
    key: "keys",
    order: Order::Descending,
    params: &[],
    render: |_, record| {
        let key: ApiKey = serde_json::from_value(record.doc.clone()).map_err(StoreError::from)?;
        Ok(key.render())
    },
    path: ListPath::Account("Keys.json"),
};

/// A request on an account's keys, which only its auth token may make.
type KeyScoped<P = ()> = Scoped<P, AuthTokenOnly>;
type KeyScopedForm<P = ()> = ScopedForm<P, AuthTokenOnly>;

pub(crate) async fn list(scoped: KeyScoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn create(ScopedForm(scoped, params): KeyScopedForm) -> ApiResult<Response> {
    let secret = crate::resources::account::generate_auth_token();
    let now = now_ms();
    let key = ApiKey {
        sid: Sid::generate(SidKind::ApiKey).into_string(),
        account_sid: scoped.account.sid,
        friendly_name: validate::friendly_name(params.get("FriendlyName").unwrap_or(""))?,
        secret_sha256: secret_digest(&secret),
        date_created: now,
        date_updated: now,
    };
    scoped.state.store.insert(&key.record()).await?;
    let mut body = key.render();
    body["secret"] = json!(secret);
    Ok(created(body))
}

pub(crate) async fn fetch(scoped: KeyScoped<String>) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let (_, key) = scoped.load::<ApiKey>(Kind::ApiKey, sid).await?;
    Ok(Json(key.render()))
}

pub(crate) async fn update(
    ScopedForm(scoped, params): KeyScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let (_, mut key) = scoped.load::<ApiKey>(Kind::ApiKey, sid).await?;
    if let Some(name) = params.get("FriendlyName") {
        key.friendly_name = validate::friendly_name(name)?;
    }
    key.date_updated = now_ms();
    scoped.state.store.update(&key.record()).await?;
    Ok(Json(key.render()))
}

pub(crate) async fn delete(scoped: KeyScoped<String>) -> ApiResult<Response> {
    let sid = scoped.json_sid(&scoped.rest)?;
    scoped.load::<ApiKey>(Kind::ApiKey, sid).await?;
    scoped.state.store.delete(Kind::ApiKey, sid).await?;
    scoped.state.auth_cache.forget_all();
    Ok(StatusCode::NO_CONTENT.into_response())
}
