//! Console sign-in: server-side sessions, the `Console` extractor every signed-in page starts
//! with, CSRF tokens and the limit on failed sign-ins.
//!
//! A session is a store row (`Kind::ConsoleSession`), so every node of a cluster knows it. The
//! cookie holds a random secret; the row's SID is that secret's SHA-256, so reading the table
//! does not let anyone in. A row remembers who signed in (the account, or the API key) and a
//! digest of the auth token used: rotating the token, deleting the key, suspending or closing
//! the account ends the session at its next request. Sessions last `LIFETIME` from sign-in.
//!
//! CSRF: every form carries the session's token in a hidden `csrf` input and every POST is
//! refused (403) unless it matches. The sign-in form, before any session exists, uses a double
//! submit: the token is in a cookie and in the form, and the two must agree.
//!
//! Failed sign-ins are counted per source address (`SignInLimiter`); past `MAX_FAILURES` within
//! `FAILURE_WINDOW` the source gets 429 until the window moves on. A wrong SID and a wrong
//! secret get the same answer, so the form does not tell which SIDs exist.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use switchboard_store::{Kind, Record};

use crate::AppState;
use crate::auth::{Caller, secret_digest};
use crate::error::ApiResult;
use crate::form::Params;
use crate::resources::account::Account;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "sb_session";
/// The sign-in form's double-submit cookie.
pub(crate) const SIGNIN_COOKIE: &str = "sb_signin";
/// How long a session lasts from sign-in.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins a source may make within `FAILURE_WINDOW`.
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Sources the limiter remembers at most (the oldest are forgotten past this).
const MAX_SOURCES: usize = 10_000;

/// A session as its row stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The SHA-256 of the cookie's secret (the row's SID).
    pub sid: String,
    /// The account that signed in.
    pub account_sid: String,
    /// The API key used instead of the auth token.
    pub key_sid: Option<String>,
    /// The SHA-256 of the auth token used (empty for a key).
    pub token_digest: String,
    /// The account the pages act on: the signed-in one or one of its subaccounts.
    pub acting_sid: String,
    /// The token every form carries.
    pub csrf: String,
    pub expires_ms: i64,
}

/// A signed-in request: the session, who signed in, and the account the pages act on.
pub(crate) struct Console {
    pub state: AppState,
    pub session: Session,
    pub caller: Caller,
    pub account: Account,
    /// The request's URI (REST logic run for the console needs one).
    pub uri: Uri,
}

/// A random secret: 32 bytes as hex.
pub(crate) fn random_token() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value for the console's paths: `HttpOnly`, `SameSite=Strict`, `Secure` when
/// the engine's public URL is https; `max_age` 0 deletes it.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.public_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `auth::same_secret`, where an empty expected token (a missing cookie) never matches.
pub(crate) fn same(given: &str, expected: &str) -> bool {
    !expected.is_empty() && crate::auth::same_secret(given, expected)
}

impl Session {
    fn record(&self) -> ApiResult<Record> {
        let doc = serde_json::to_value(self).map_err(switchboard_store::StoreError::from)?;
        let mut record = Record::new(
            Kind::ConsoleSession,
            self.sid.clone(),
            self.account_sid.clone(),
            crate::now_ms(),
            doc,
        );
        record.date_key = Some(self.expires_ms);
        Ok(record)
    }

    /// Starts a session for `caller`, signed in with `secret`: its cookie secret and row.
    pub(crate) async fn start(
        state: &AppState,
        caller: &Caller,
        secret: &str,
    ) -> ApiResult<(String, Session)> {
        let token = random_token();
        let session = Session {
            sid: secret_digest(&token),
            account_sid: caller.account.sid.clone(),
            key_sid: caller.key_sid.clone(),
            token_digest: if caller.key_sid.is_some() {
                String::new()
            } else {
                secret_digest(secret)
            },
            acting_sid: caller.account.sid.clone(),
            csrf: random_token(),
            expires_ms: crate::now_ms() + LIFETIME.as_millis() as i64,
        };
        state.store.insert(&session.record()?).await?;
        Ok((token, session))
    }

    /// Stores a change (the acting account).
    pub(crate) async fn save(&self, state: &AppState) -> ApiResult<()> {
        state.store.update(&self.record()?).await?;
        Ok(())
    }

    /// The session the request's cookie names, if it is still good.
    async fn of_request(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Session>> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(record) = state
            .store
            .get(Kind::ConsoleSession, &secret_digest(&token))
            .await?
        else {
            return Ok(None);
        };
        let session: Session =
            serde_json::from_value(record.doc).map_err(switchboard_store::StoreError::from)?;
        if session.expires_ms <= crate::now_ms() {
            state
                .store
                .delete(Kind::ConsoleSession, &session.sid)
                .await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Who signed in, if the credential used is still good (token unchanged, key not deleted,
    /// account active).
    async fn caller(&self, state: &AppState) -> ApiResult<Option<Caller>> {
        let Some(account) = crate::auth::load_account(state, &self.account_sid).await? else {
            return Ok(None);
        };
        match &self.key_sid {
            None => {
                if !same(&secret_digest(&account.auth_token), &self.token_digest) {
                    return Ok(None);
                }
            }
            Some(key) => match state.store.get(Kind::ApiKey, key).await? {
                Some(row) if row.account_sid == account.sid => {}
                _ => return Ok(None),
            },
        }
        if !switchboard_engine::account::is_active(state.store.as_ref(), &account).await? {
            return Ok(None);
        }
        Ok(Some(Caller {
            account,
            key_sid: self.key_sid.clone(),
        }))
    }

    /// Ends the session.
    pub(crate) async fn end(&self, state: &AppState) -> ApiResult<()> {
        state.store.delete(Kind::ConsoleSession, &self.sid).await?;
        Ok(())
    }
}

impl Console {
    /// Whether a form carries the session's CSRF token (if not, answer `csrf_refused`).
    pub(crate) fn csrf_ok(&self, params: &Params) -> bool {
        same(params.get("csrf").unwrap_or_default(), &self.session.csrf)
    }

    /// The REST scope of the acting account, for logic shared with the API.
    pub(crate) fn scoped(&self) -> crate::resources::scoped::Scoped {
        crate::resources::scoped::Scoped::admitted(
            self.state.clone(),
            self.caller.clone(),
            self.account.clone(),
            self.uri.clone(),
            (),
        )
    }
}

/// The answer to a form posted without its CSRF token (or with another session's).
pub(crate) fn csrf_refused() -> Response {
    let page = super::page::message_page(
        "Form refused",
        "The form was sent without its security token, or with a stale one. Reload the page and \
         send it again.",
    );
    (StatusCode::FORBIDDEN, page).into_response()
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Console, Response> {
        let to_signin = || Redirect::to("/console/signin").into_response();
        let failed = |error: crate::error::ApiError| super::page::error_response(&error);
        let session = Session::of_request(state, &parts.headers)
            .await
            .map_err(failed)?
            .ok_or_else(to_signin)?;
        let Some(caller) = session.caller(state).await.map_err(failed)? else {
            // The credential is no longer good: the session ends with it.
            let _ = session.end(state).await;
            return Err(to_signin());
        };
        // The acting account is scoped as a REST path would be (a subaccount that was
        // suspended since it was chosen falls back to the signed-in account).
        let account = match caller.scope(state, &session.acting_sid, "/console").await {
            Ok(account) => account,
            Err(_) => caller.account.clone(),
        };
        Ok(Console {
            state: state.clone(),
            session,
            caller,
            account,
            uri: parts.uri.clone(),
        })
    }
}

/// Failed sign-ins per source address.
#[derive(Debug, Default)]
pub(crate) struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl SignInLimiter {
    /// How long `source` must wait before it may try again (`None`: it may try now).
    pub(crate) fn wait(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.get_mut(&source)?;
        while times
            .front()
            .is_some_and(|at| now.duration_since(*at) >= FAILURE_WINDOW)
        {
            times.pop_front();
        }
        if times.len() < MAX_FAILURES {
            return None;
        }
        let oldest = *times.front()?;
        Some(FAILURE_WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    /// Counts a failed sign-in from `source`.
    pub(crate) fn failed(&self, source: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_SOURCES && !failures.contains_key(&source) {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|at| now.duration_since(*at) < FAILURE_WINDOW)
            });
            if failures.len() >= MAX_SOURCES {
                failures.clear();
            }
        }
        let times = failures.entry(source).or_default();
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// Forgets `source`'s failures (after it signs in).
    pub(crate) fn succeeded(&self, source: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sb_session_x=2; sb_session=abc"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn a_source_is_held_back_after_five_failures_for_the_rest_of_the_minute() {
        let limiter = SignInLimiter::default();
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let start = Instant::now();
        for i in 0..5 {
            assert_eq!(limiter.wait(source, start), None, "failure {i}");
            limiter.failed(source, start + Duration::from_secs(i));
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(limiter.wait(source, later), Some(Duration::from_secs(50)));
        assert_eq!(limiter.wait(other, later), None);
        // The window moves on: the first failure is a minute old.
        assert_eq!(limiter.wait(source, start + FAILURE_WINDOW), None);
        limiter.failed(source, later);
        limiter.succeeded(source);
        assert_eq!(limiter.wait(source, later), None);
    }

    #[test]
    fn empty_expected_tokens_never_match() {
        assert!(!same("", ""));
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
    }
}
