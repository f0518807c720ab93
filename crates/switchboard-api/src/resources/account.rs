//! Accounts: the main account, its subaccounts, and their auth tokens.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date, error_code};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Store, StoreError};

use super::listing::{ListPath, Listing, Param};
use super::{ACCOUNTS, created, json_sid};
use crate::auth::{Caller, load_account};
use crate::error::{ApiError, ApiResult};
use crate::form::{FormBody, Params};
use crate::validate;
use crate::{AppState, now_ms};

pub use switchboard_engine::Account;

/// The Twilio representation of an account.
pub fn render(account: &Account) -> Value {
    let base = format!("{ACCOUNTS}/{}", account.sid);
    // Only the collections this engine serves, so every link handed out answers (Twilio also
    // links addresses, conferences, queues and signing keys).
    let subresources = [
        ("applications", "Applications"),
        ("balance", "Balance"),
        ("calls", "Calls"),
        ("incoming_phone_numbers", "IncomingPhoneNumbers"),
        ("keys", "Keys"),
        ("messages", "Messages"),
        ("notifications", "Notifications"),
        ("outgoing_caller_ids", "OutgoingCallerIds"),
        ("recordings", "Recordings"),
        ("transcriptions", "Transcriptions"),
    ];
    let uris: serde_json::Map<String, Value> = subresources
        .iter()
        .map(|(key, path)| ((*key).to_owned(), json!(format!("{base}/{path}.json"))))
        .collect();
    json!({
        "auth_token": account.auth_token,
        "date_created": date::rfc2822(account.date_created),
        "date_updated": date::rfc2822(account.date_updated),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner_account_sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": uris,
        "type": "Full",
        "uri": format!("{base}.json"),
    })
}

/// A new random auth token: 32 lower-case hex digits (128 bits).
pub fn generate_auth_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Outcome of making sure the bootstrap account exists.
#[derive(Debug)]
pub enum Bootstrap {
    /// The account already existed (its token was set to the configured one, if given).
    Existing(Account),
    /// The account was created now; a generated token must be shown to the operator once.
    Created(Account),
}

/// Makes sure a main account exists: the configured one (SID and token) if given, else the first
/// main account in the database, else a new random one.
pub async fn bootstrap(
    store: &dyn Store,
    configured: Option<(&str, &str)>,
) -> Result<Bootstrap, BootstrapError> {
    if let Some((sid, token)) = configured {
        let sid = Sid::parse(SidKind::Account, sid).ok_or(BootstrapError::InvalidSid)?;
        if token.len() < 8 {
            return Err(BootstrapError::WeakToken);
        }
        if let Some(record) = store.get(Kind::Account, sid.as_str()).await? {
            let mut account: Account = serde_json::from_value(record.doc)?;
            if account.auth_token != token {
                account.auth_token = token.to_owned();
                account.date_updated = now_ms();
                store.update(&account.record()).await?;
            }
            return Ok(Bootstrap::Existing(account));
        }
        let account = Account::new(
            sid.into_string(),
            token.to_owned(),
            None,
            "Switchboard".into(),
        );
        store.insert(&account.record()).await?;
        return Ok(Bootstrap::Existing(account));
    }
    if let Some(account) = main_account(store).await? {
        return Ok(Bootstrap::Existing(account));
    }
    let account = Account::new(
        Sid::generate(SidKind::Account).into_string(),
        generate_auth_token(),
        None,
        "Switchboard".into(),
    );
    store.insert(&account.record()).await?;
    Ok(Bootstrap::Created(account))
}

/// The oldest main account, if any.
pub async fn main_account(store: &dyn Store) -> Result<Option<Account>, BootstrapError> {
    let mut query = ListQuery::new(Kind::Account, "");
    query.account_sid = None;
    query.filters.push(Filter::Absent(Column::ParentSid));
    query.limit = 1;
    match store.list(&query).await?.into_iter().next() {
        Some(record) => Ok(Some(serde_json::from_value(record.doc)?)),
        None => Ok(None),
    }
}

/// Why the bootstrap account could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("SWITCHBOARD_ACCOUNT_SID must be AC followed by 32 hex digits")]
    InvalidSid,
    #[error("SWITCHBOARD_AUTH_TOKEN must be at least 8 characters")]
    WeakToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored account is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// `Accounts.json`: the caller's account and its subaccounts, oldest first, filtered by
/// `FriendlyName` and `Status`.
const LIST: Listing = Listing {
    kind: Kind::Account,
    key: "accounts",
    order: Order::Ascending,
    params: &[
        Param::Equals("FriendlyName", Column::FriendlyName),
        Param::Equals("Status", Column::Status),
    ],
    render: |_, record| {
        let account: Account =
            serde_json::from_value(record.doc.clone()).map_err(StoreError::from)?;
        Ok(render(&account))
    },
    path: ListPath::Fixed("/2010-04-01/Accounts.json"),
};

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let mut query = LIST.query(&caller.account.sid);
    if !caller.account.is_main() {
        // A subaccount sees only itself: its row is owned by its parent.
        query.account_sid = Some(caller.account.owner_account_sid.clone());
        query
            .filters
            .push(Filter::Equals(Column::Sid, caller.account.sid.clone()));
    }
    Ok(Json(LIST.answer(&state, query, &uri).await?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    forbid_keys(&caller)?;
    if !caller.account.is_main() {
        return Err(ApiError::forbidden("Subaccounts cannot create subaccounts"));
    }
    let sid = Sid::generate(SidKind::Account).into_string();
    let default_name = format!(
        "SubAccount Created at {}",
        switchboard_core::date::rfc2822(now_ms())
    );
    let name = validate::friendly_name(params.get("FriendlyName").unwrap_or(&default_name))?;
    let account = Account::new(sid, generate_auth_token(), Some(&caller.account.sid), name);
    state.store.insert(&account.record()).await?;
    Ok(created(render(&account)))
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let sid = json_sid(&file, uri.path())?;
    // A parent sees its subaccount whatever its status (so it can tell it is suspended).
    let account = caller.owned(&state, sid, uri.path()).await?;
    Ok(Json(render(&account)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    forbid_keys(&caller)?;
    let sid = json_sid(&file, uri.path())?;
    // A parent updates its subaccount whatever its status: that is how it reactivates it.
    let mut account = caller.owned(&state, sid, uri.path()).await?;
    if params.get("Status").is_some() {
        may_change_status(&caller, &account)?;
    }
    apply_update(&mut account, &params)?;
    account.date_updated = now_ms();
    state.store.update(&account.record()).await?;
    // No credential verified under the old status may be served from the cache.
    state.auth_cache.forget_all();
    Ok(Json(render(&account)))
}

/// Only a subaccount's parent changes its `Status` (403 with 20403 for the subaccount's own
/// credentials, whatever the value, even its current one). A main account has no parent, so
/// its status is the operator's (the database), never the API's: a main account suspending
/// itself would lock out itself and every subaccount, with nobody left to reactivate them.
fn may_change_status(caller: &Caller, account: &Account) -> ApiResult<()> {
    if account.is_main() {
        return Err(ApiError::forbidden(
            "Forbidden: a main account's Status cannot be changed through the API (it has no \
             parent to reactivate it, and its subaccounts would stop with it)",
        ));
    }
    if caller.account.sid != account.owner_account_sid {
        return Err(ApiError::forbidden(
            "Forbidden: only the parent account can change a subaccount's Status",
        ));
    }
    Ok(())
}

pub(crate) fn apply_update(account: &mut Account, params: &Params) -> ApiResult<()> {
    if let Some(name) = params.get("FriendlyName") {
        account.friendly_name = validate::friendly_name(name)?;
    }
    if let Some(url) = params.get("DebuggerWebhookUrl") {
        account.debugger_webhook_url =
            validate::webhook_url("DebuggerWebhookUrl", url, error_code::INVALID_URL)?;
    }
    if let Some(status) = params.get("Status") {
        let invalid =
            |message: String| ApiError::bad_request(error_code::INVALID_PARAMETER, message);
        if !matches!(status, "active" | "suspended" | "closed") {
            return Err(invalid(format!(
                "Status must be active, suspended or closed, not {status:?}"
            )));
        }
        if account.status == "closed" && status != "closed" {
            return Err(invalid("A closed account cannot be reopened".into()));
        }
        account.status = status.to_owned();
    }
    Ok(())
}

/// Twilio's standard API keys cannot manage accounts or keys.
pub(crate) fn forbid_keys(caller: &Caller) -> ApiResult<()> {
    match caller.key_sid {
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::FORBIDDEN,
            "API keys cannot manage accounts or keys; use the account's auth token",
        )),
        None => Ok(()),
    }
}

/// Loads an account by SID (for the CLI's `switchboard account`).
pub async fn find(state: &AppState, sid: &str) -> ApiResult<Option<Account>> {
    load_account(state, sid).await
}
