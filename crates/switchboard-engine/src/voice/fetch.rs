//! TwiML fetches of a call: the flow's `Fetch`/`ExecutionFailed` run through the webhook crate's
//! failover path as a future the driver polls in its `select!`, and what came back becomes the
//! flow's input.
//!
//! The future owns what it needs (client, token, cookie jar), so a live update or the end of
//! the call can drop it; the jar is then restored from the copy kept by the driver.

use std::future::Future;
use std::pin::Pin;

use switchboard_core::ErrorCode;
use switchboard_flow::{ExecutionFailure, FetchRequest, Input};
use switchboard_twiml::{Context, Parsed};
use switchboard_webhook::failover::fallback_params;
use switchboard_webhook::{
    Channel, CookieJar, Endpoint, FallbackScope, FetchPlan, Reply, TwimlFetchResult, TwimlOutcome,
    fetch_twiml,
};

use crate::AppState;

/// What a finished fetch hands back.
pub(crate) struct FetchDone {
    pub result: TwimlFetchResult<Parsed>,
    pub cookies: CookieJar,
    /// The URL the answer came from when it is used (primary or fallback).
    pub primary_url: String,
    pub fallback_url: Option<String>,
    /// The fetch was an execution-failure fallback: its one request is a fallback request.
    pub is_fallback_only: bool,
}

pub(crate) type PendingFetch = Pin<Box<dyn Future<Output = FetchDone> + Send>>;

fn parse_voice(bytes: &[u8]) -> Result<Parsed, ErrorCode> {
    switchboard_twiml::parse(bytes, Context::Voice).map_err(|rejected| rejected.error.code)
}

/// A flow `Fetch`, with the session's fallback.
pub(crate) fn start(
    state: &AppState,
    auth_token: &str,
    cookies: CookieJar,
    request: FetchRequest,
    fallback: Option<Endpoint>,
    initial: bool,
) -> PendingFetch {
    let plan = FetchPlan {
        primary: Endpoint::new(request.url.clone(), webhook_method(request.method)),
        fallback: fallback.clone(),
        params: request.params,
        initial,
        scope: state.fallback_scope,
    };
    run(
        state,
        auth_token,
        cookies,
        plan,
        request.url,
        fallback,
        false,
    )
}

/// A flow `ExecutionFailed`: the ERROR alert is recorded by the caller; this requests the
/// session's fallback (when there is one and the scope allows it) with `ErrorCode`/`ErrorUrl`.
/// `None`: nothing to request, the answer is `NoUsableTwiml`.
pub(crate) fn after_failure(
    state: &AppState,
    auth_token: &str,
    cookies: CookieJar,
    failure: &ExecutionFailure,
    fallback: Option<Endpoint>,
) -> Option<PendingFetch> {
    let fallback = fallback.filter(|_| state.fallback_scope == FallbackScope::All)?;
    let params = fallback_params(
        &failure.params,
        failure.code,
        failure.error_url.clone().unwrap_or_default(),
    );
    let plan = FetchPlan {
        primary: fallback.clone(),
        fallback: None,
        params,
        initial: false,
        scope: state.fallback_scope,
    };
    let url = fallback.url.clone();
    Some(run(state, auth_token, cookies, plan, url, None, true))
}

fn run(
    state: &AppState,
    auth_token: &str,
    mut cookies: CookieJar,
    plan: FetchPlan,
    primary_url: String,
    fallback: Option<Endpoint>,
    is_fallback_only: bool,
) -> PendingFetch {
    let client = state.webhooks.clone();
    let token = auth_token.to_owned();
    Box::pin(async move {
        let mut result = fetch_twiml(
            &client,
            &token,
            &mut cookies,
            plan,
            Channel::Voice,
            parse_voice,
        )
        .await;
        if is_fallback_only {
            for event in &mut result.events {
                event.fallback = true;
            }
            for alert in &mut result.alerts {
                alert.fallback = true;
            }
        }
        FetchDone {
            result,
            cookies,
            primary_url,
            fallback_url: fallback.map(|endpoint| endpoint.url),
            is_fallback_only,
        }
    })
}

/// The flow input for a finished fetch.
pub(crate) fn into_input(
    outcome: TwimlOutcome<Parsed>,
    primary_url: String,
    fallback_url: Option<String>,
    is_fallback_only: bool,
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
                from_fallback: from_fallback || is_fallback_only,
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

pub(crate) fn webhook_method(method: switchboard_twiml::Method) -> switchboard_webhook::Method {
    match method {
        switchboard_twiml::Method::Get => switchboard_webhook::Method::Get,
        switchboard_twiml::Method::Post => switchboard_webhook::Method::Post,
    }
}
