//! TwiML fetches of a call: the flow's `Fetch`/`ExecutionFailed` run through the webhook crate's
//! failover path as a future the driver polls in its `select!`, and what came back becomes the
//! flow's input.
//!
//! The future owns what it needs (client, token, cookie jar), so a live update or the end of
//! the call can drop it; the jar is then restored from the copy kept by the driver.

use std::future::Future;
use std::pin::Pin;

use switchboard_flow::{ExecutionFailure, FetchRequest, Input};
use switchboard_twiml::Parsed;
use switchboard_webhook::{
    AlertRecord, Channel, CookieJar, Endpoint, Failover, Reply, TwimlFetchResult, TwimlOutcome,
};

use crate::Engine;
use crate::session;

/// What a finished fetch hands back.
pub(crate) struct FetchDone {
    pub result: TwimlFetchResult<Parsed>,
    pub cookies: CookieJar,
    /// The URL the answer came from when it is used (primary or fallback).
    pub primary_url: String,
    pub fallback_url: Option<String>,
    /// Whether this was the session's first fetch (the Voice URL's answer to the initial
    /// request), not an `action`, a `<Redirect>`, a live update or a fallback after a document
    /// failed to run: only its documents become the number's last-known-good one.
    pub first: bool,
}

pub(crate) type PendingFetch = Pin<Box<dyn Future<Output = FetchDone> + Send>>;

/// A flow `Fetch`, with the session's fallback.
pub(crate) fn start(
    state: &Engine,
    auth_token: &str,
    cookies: CookieJar,
    request: FetchRequest,
    fallback: Option<Endpoint>,
    initial: bool,
    breaker: bool,
) -> PendingFetch {
    let primary_url = request.url.clone();
    let fallback_url = fallback.as_ref().map(|endpoint| endpoint.url.clone());
    let plan = session::plan(
        state,
        Endpoint::new(request.url, request.method),
        fallback,
        request.params,
        initial,
        breaker,
    );
    let engine = state.clone();
    let token = auth_token.to_owned();
    Box::pin(async move {
        let mut cookies = cookies;
        let result = session::fetch(&engine, &token, &mut cookies, plan, Channel::Voice).await;
        FetchDone {
            result,
            cookies,
            primary_url,
            fallback_url,
            first: initial,
        }
    })
}

/// A flow `ExecutionFailed` of a document that was the session's first (`initial`) or not: the
/// ERROR alert to record at once, and the fallback request the policy asks for, if any
/// (`None`: the answer is `NoUsableTwiml`).
pub(crate) fn after_failure(
    state: &Engine,
    auth_token: &str,
    cookies: CookieJar,
    failure: ExecutionFailure,
    alert: AlertRecord,
    fallback: Option<Endpoint>,
    initial: bool,
) -> (AlertRecord, Option<PendingFetch>) {
    let error_url = failure.error_url.unwrap_or_default();
    let fallback_url = fallback.as_ref().map(|endpoint| endpoint.url.clone());
    let plan = session::plan(
        state,
        Endpoint::new(error_url.clone(), Default::default()),
        fallback,
        failure.params,
        initial,
        // The failed document is not requested again: the plan goes to the fallback.
        false,
    );
    let session::ExecutionFallback { alert, failover } =
        session::after_execution_failure(plan, failure.code, alert);
    let pending = failover.map(|failover| {
        run_fallback(
            state,
            auth_token,
            cookies,
            failover,
            error_url,
            fallback_url,
        )
    });
    (alert, pending)
}

fn run_fallback(
    state: &Engine,
    auth_token: &str,
    cookies: CookieJar,
    failover: Failover,
    primary_url: String,
    fallback_url: Option<String>,
) -> PendingFetch {
    let engine = state.clone();
    let token = auth_token.to_owned();
    Box::pin(async move {
        let mut cookies = cookies;
        let result =
            session::fetch_fallback(&engine, &token, &mut cookies, failover, Channel::Voice).await;
        FetchDone {
            result,
            cookies,
            primary_url,
            fallback_url,
            first: false,
        }
    })
}

/// The flow input for a finished fetch.
pub(crate) fn into_input(
    outcome: TwimlOutcome<Parsed>,
    primary_url: String,
    fallback_url: Option<String>,
) -> Input {
    match outcome {
        TwimlOutcome::Answer {
            reply: Reply::Document(parsed),
            from_fallback,
        } => {
            let url = if from_fallback {
                fallback_url
            } else {
                Some(primary_url)
            };
            Input::Document {
                document: parsed.document,
                url,
                from_fallback,
                warnings: parsed.warnings,
            }
        }
        TwimlOutcome::Answer {
            reply: Reply::Text(text),
            ..
        } => Input::TextResponse(text),
        TwimlOutcome::Answer {
            reply: Reply::Audio { .. },
            from_fallback,
        } => {
            let url = match (from_fallback, fallback_url) {
                (true, Some(url)) => url,
                _ => primary_url,
            };
            Input::AudioResponse { url }
        }
        TwimlOutcome::GiveUp { .. } => Input::NoUsableTwiml,
    }
}
