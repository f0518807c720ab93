//! HTTP Basic authentication (AccountSid:AuthToken or ApiKeySid:Secret) and account scoping.
//!
//! A caller may act on its own account and on its subaccounts; any other account in a path is
//! answered like bad credentials (401, 20003), so the existence of other accounts is not revealed.
//!
//! Suspension (`switchboard_engine::account::is_active`): right credentials of an account that
//! is suspended or closed, or whose parent is, get 401 with 20005 (wrong ones still get 20003,
//! so the status is shown only to who holds the secret), whether they are its auth token or one
//! of its API keys. A parent acting on a suspended subaccount gets the same 20005 on every path
//! under `Accounts/{Sub}/…`: nothing of the subaccount is read or run while it is suspended.
//! Only the account resource itself (`Accounts/{Sub}.json`) stays reachable to the parent
//! (`Caller::owned`), so the parent can see the status and set it back to `active`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_core::{Sid, SidKind};
use switchboard_store::Kind;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::resources::account::Account;
use crate::resources::key::ApiKey;

/// Who is making a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub account: Account,
    /// The API key used instead of the auth token, if any.
    pub key_sid: Option<String>,
}

/// The hex SHA-256 under which an API key secret is stored (secrets are shown once, never kept).
pub fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Recently verified credentials, so a burst of requests does not look the account up (and
/// hash a key secret) for each one. Entries live one second: a token change, a closed account
/// or a deleted key takes effect within that second on every node, and at once on the node that
/// made the change (it calls `forget_all`).
#[derive(Debug, Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

const AUTH_CACHE_TTL: Duration = Duration::from_secs(1);
const AUTH_CACHE_CAPACITY: usize = 10_000;

impl AuthCache {
    fn get(&self, header: &str) -> Option<Caller> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (caller, verified) = entries.get(header)?;
        (verified.elapsed() < AUTH_CACHE_TTL).then(|| caller.clone())
    }

    fn put(&self, header: &str, caller: &Caller) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= AUTH_CACHE_CAPACITY {
            entries.retain(|_, (_, verified)| verified.elapsed() < AUTH_CACHE_TTL);
            if entries.len() >= AUTH_CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(header.to_owned(), (caller.clone(), Instant::now()));
    }

    /// Drops every cached credential (after a change to accounts or keys).
    pub fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

/// Authenticates the request's credentials.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    let header = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if let Some(caller) = state.auth_cache.get(header) {
        return Ok(caller);
    }
    let caller = verify(state, headers).await?;
    state.auth_cache.put(header, &caller);
    Ok(caller)
}

async fn verify(state: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    let (user, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
    if let Some(sid) = Sid::parse(SidKind::Account, &user) {
        let account = load_account(state, sid.as_str())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if !same_secret(&password, &account.auth_token) {
            return Err(ApiError::unauthenticated());
        }
        require_active(state, &account).await?;
        return Ok(Caller {
            account,
            key_sid: None,
        });
    }
    if let Some(sid) = Sid::parse(SidKind::ApiKey, &user) {
        let record = state
            .store
            .get(Kind::ApiKey, sid.as_str())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let key: ApiKey =
            serde_json::from_value(record.doc).map_err(switchboard_store::StoreError::from)?;
        if !same_secret(&secret_digest(&password), &key.secret_sha256) {
            return Err(ApiError::unauthenticated());
        }
        let account = load_account(state, &key.account_sid)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        require_active(state, &account).await?;
        return Ok(Caller {
            account,
            key_sid: Some(key.sid),
        });
    }
    Err(ApiError::unauthenticated())
}

/// 401 with 20005 unless `account` may act (its status, and its parent's).
async fn require_active(state: &AppState, account: &Account) -> ApiResult<()> {
    if switchboard_engine::account::is_active(state.store.as_ref(), account).await? {
        Ok(())
    } else {
        Err(ApiError::account_not_active())
    }
}

pub async fn load_account(state: &AppState, sid: &str) -> ApiResult<Option<Account>> {
    Ok(switchboard_engine::account::load(state.store.as_ref(), sid).await?)
}

impl Caller {
    /// The account named in a request path, if the caller may act on it: its own, or one of
    /// its subaccounts while that is active (401 with 20005 while it is suspended or closed).
    pub async fn scope(&self, state: &AppState, path_sid: &str, path: &str) -> ApiResult<Account> {
        let account = self.owned(state, path_sid, path).await?;
        // The caller's own account was checked when it authenticated.
        if account.sid != self.account.sid {
            require_active(state, &account).await?;
        }
        Ok(account)
    }

    /// The account named in a request path if it is the caller's or one of its subaccounts,
    /// whatever its status: the account resource itself, and the sandbox's phone network
    /// (whose callers are outside the account), are reached through this.
    pub async fn owned(&self, state: &AppState, path_sid: &str, path: &str) -> ApiResult<Account> {
        let Some(sid) = Sid::parse(SidKind::Account, path_sid) else {
            return Err(ApiError::not_found(path));
        };
        if sid.as_str() == self.account.sid {
            return Ok(self.account.clone());
        }
        match load_account(state, sid.as_str()).await? {
            Some(account) if account.owner_account_sid == self.account.sid => Ok(account),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}
