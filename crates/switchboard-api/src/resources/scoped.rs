//! `Scoped`: the extractor the `/2010-04-01/Accounts/{AccountSid}/…` handlers start with (all
//! but the recording audio, which is served without credentials). It authenticates the caller,
//! reads the path and scopes `{AccountSid}` to an account the caller may act on; `ScopedForm`
//! does the same around a form body.
//!
//! The checks run in the order the handlers ran them when each wrote them out (`Caller`, then
//! `Path`, then the body, then `Caller::scope`), so every request gets the answer it got before:
//! bad credentials are 401 before a path's bad UTF-8 is 400, a malformed or oversized body is
//! 400 or 413 before an unknown account is 404, and another's account is 401. Rejections are
//! answered as the extractors they replace answered them (axum's `Path` rejection included),
//! which is why `Rejection` is a `Response` rather than an `ApiError`.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use switchboard_store::{Kind, Record};

use super::account::{Account, forbid_keys};
use super::{json_sid, load_owned, load_record};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::{FormBody, Params};

/// A request on an account the caller may act on: `…/Accounts/{AccountSid}/…`.
///
/// `P` holds the path parameters after `{AccountSid}` (see `PathRest`); `C` says which
/// credentials the route accepts (see `Credential`).
pub(crate) struct Scoped<P = (), C = AnyCredential> {
    pub state: AppState,
    pub caller: Caller,
    /// The account `{AccountSid}` names.
    pub account: Account,
    /// The request's URI as the client wrote it (404 messages and some page URIs use its path).
    pub uri: Uri,
    /// The path parameters after `{AccountSid}`.
    pub rest: P,
    credential: PhantomData<C>,
}

/// `Scoped` and the request's form body, read before the account is scoped.
pub(crate) struct ScopedForm<P = (), C = AnyCredential>(pub Scoped<P, C>, pub Params);

/// Which credentials a route accepts, checked after the path (and body) are read and before the
/// account is scoped.
pub(crate) trait Credential: Send + Sync {
    fn admit(caller: &Caller) -> ApiResult<()>;
}

/// The account's auth token or one of its API keys.
pub(crate) struct AnyCredential;

impl Credential for AnyCredential {
    fn admit(_caller: &Caller) -> ApiResult<()> {
        Ok(())
    }
}

/// The account's auth token only: API keys cannot manage keys (403).
pub(crate) struct AuthTokenOnly;

impl Credential for AuthTokenOnly {
    fn admit(caller: &Caller) -> ApiResult<()> {
        forbid_keys(caller)
    }
}

/// The path parameters a route has after `{account}`, in order.
pub(crate) trait PathRest: Sized + Send {
    /// `None` when the route has a different number of parameters (a routing bug).
    fn from_values(values: Vec<String>) -> Option<Self>;
}

/// A collection (`…/Calls.json`): nothing after `{account}`.
impl PathRest for () {
    fn from_values(values: Vec<String>) -> Option<()> {
        values.is_empty().then_some(())
    }
}

/// One parameter: `{file}` (`…/Calls/{file}`) or a sub-list's parent
/// (`…/Calls/{call}/Recordings.json`).
impl PathRest for String {
    fn from_values(values: Vec<String>) -> Option<String> {
        let [value] = <[String; 1]>::try_from(values).ok()?;
        Some(value)
    }
}

/// A parent and `{file}`: `…/Calls/{call}/Notifications/{file}`.
impl PathRest for (String, String) {
    fn from_values(values: Vec<String>) -> Option<(String, String)> {
        let [parent, file] = <[String; 2]>::try_from(values).ok()?;
        Some((parent, file))
    }
}

/// What is known before the account is scoped.
struct Unscoped<P> {
    caller: Caller,
    account_sid: String,
    uri: Uri,
    rest: P,
}

impl<P: PathRest> Unscoped<P> {
    /// Authenticates (401) and reads the path (axum's 400 for bad UTF-8), in that order.
    async fn read(parts: &mut Parts, state: &AppState) -> Result<Unscoped<P>, Response> {
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        let mut values = params.into_iter();
        // Every route this extractor serves has `{account}` first; any other route is a bug
        // in the route table, answered as a path that does not exist.
        let (account_sid, rest) = match values.next() {
            Some((name, account_sid)) if name == "account" => {
                let rest = P::from_values(values.map(|(_, value)| value).collect());
                (account_sid, rest)
            }
            _ => (String::new(), None),
        };
        let Some(rest) = rest else {
            return Err(ApiError::not_found(uri.path()).into_response());
        };
        Ok(Unscoped {
            caller,
            account_sid,
            uri,
            rest,
        })
    }

    /// Checks the credential kind (403), then scopes the account (404, 401).
    async fn scope<C: Credential>(self, state: &AppState) -> Result<Scoped<P, C>, Response> {
        C::admit(&self.caller).map_err(IntoResponse::into_response)?;
        let account = self
            .caller
            .scope(state, &self.account_sid, self.uri.path())
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Scoped {
            state: state.clone(),
            caller: self.caller,
            account,
            uri: self.uri,
            rest: self.rest,
            credential: PhantomData,
        })
    }
}

impl<P: PathRest, C: Credential> FromRequestParts<AppState> for Scoped<P, C> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Scoped<P, C>, Response> {
        Unscoped::read(parts, state).await?.scope(state).await
    }
}

impl<P: PathRest, C: Credential> FromRequest<AppState> for ScopedForm<P, C> {
    type Rejection = Response;

    async fn from_request(
        request: Request,
        state: &AppState,
    ) -> Result<ScopedForm<P, C>, Response> {
        let (mut parts, body) = request.into_parts();
        let unscoped = Unscoped::read(&mut parts, state).await?;
        let FormBody(params) = FormBody::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ScopedForm(unscoped.scope(state).await?, params))
    }
}

impl<P> Scoped<P> {
    /// A scope the caller was already admitted to by other means (the console's session, which
    /// scoped the account when it was chosen): REST logic shared with the console runs on it.
    pub(crate) fn admitted(
        state: AppState,
        caller: Caller,
        account: Account,
        uri: Uri,
        rest: P,
    ) -> Scoped<P> {
        Scoped {
            state,
            caller,
            account,
            uri,
            rest,
            credential: PhantomData,
        }
    }
}

impl<P, C> Scoped<P, C> {
    /// Loads a resource of `kind` this account owns; anything else is a 404 for the path.
    pub(crate) async fn load<T: DeserializeOwned>(
        &self,
        kind: Kind,
        sid: &str,
    ) -> ApiResult<(Record, T)> {
        load_owned(&self.state, kind, sid, &self.account.sid, self.uri.path()).await
    }

    /// `load` without decoding the document.
    pub(crate) async fn record(&self, kind: Kind, sid: &str) -> ApiResult<Record> {
        load_record(&self.state, kind, sid, &self.account.sid, self.uri.path()).await
    }

    /// The SID in a `{Sid}.json` path segment; anything else is Twilio's 404 for the path.
    pub(crate) fn json_sid<'a>(&self, file: &'a str) -> ApiResult<&'a str> {
        json_sid(file, self.uri.path())
    }

    /// The resource of `kind` named by `file` (`{Sid}.json`) that this account owns.
    pub(crate) async fn file_record(&self, kind: Kind, file: &str) -> ApiResult<Record> {
        let sid = self.json_sid(file)?;
        self.record(kind, sid).await
    }
}

impl<C> Scoped<String, C> {
    /// The whole DELETE of the owned resource `{file}` names: 204, or Twilio's 404.
    pub(crate) async fn delete(&self, kind: Kind) -> ApiResult<Response> {
        let record = self.file_record(kind, &self.rest).await?;
        self.state.store.delete(kind, &record.sid).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::PathRest;

    #[test]
    fn path_rest_takes_exactly_its_routes_parameters() {
        let values = |texts: &[&str]| texts.iter().map(|text| (*text).to_owned()).collect();
        assert_eq!(<()>::from_values(values(&[])), Some(()));
        assert_eq!(<()>::from_values(values(&["x"])), None);
        assert_eq!(
            String::from_values(values(&["CA1.json"])).as_deref(),
            Some("CA1.json")
        );
        assert_eq!(String::from_values(values(&[])), None);
        assert_eq!(
            <(String, String)>::from_values(values(&["CA1", "NO1.json"])),
            Some(("CA1".to_owned(), "NO1.json".to_owned()))
        );
        assert_eq!(<(String, String)>::from_values(values(&["CA1"])), None);
    }
}
