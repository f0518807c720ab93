//! Requests about a call that another node runs (product.md "Several nodes"): a live-call
//! request sent to any node "reaches the owner and answers exactly as the owner would". The
//! simplest way to answer exactly as the owner would is to let the owner answer: the request is
//! forwarded over HTTP to the owning node's base URL (`nodes.address`, its `--public-url`) with
//! its method, path, query, credentials and body, and the owner's answer is returned as it is.
//! A forwarded request carries `X-Switchboard-Forwarded-By` and is never forwarded again.
//!
//! Which requests: the sandbox's `GET /sandbox/Calls/{Sid}` (transcripts and `WaitFor`), its
//! `POST /sandbox/Calls/{Sid}/{Digits|Speech|Audio|Hangup}`, and the REST live-call update
//! `POST …/Calls/{Sid}.json`, and the live call's recordings (`POST …/Calls/{Sid}/Recordings.json`
//! and `…/Recordings/{Sid}.json`). Everything else reads or writes the shared database and is
//! answered where it arrives.
//!
//! The owner is found by `Engine::call_owner` (the call's `engine_node`, or whoever took it
//! over). When the owner does not answer (it has just died, its lease not yet expired), the
//! request waits and asks again until the lease plus 5 s have passed: by then a survivor has
//! taken the call over and the request is answered with its final state. Only then, with no
//! node left to ask, does it answer 503 (20503).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchboard_core::error_code;
use switchboard_engine::CallOwner;

use crate::AppState;
use crate::error::ApiError;

/// Marks a request one node forwarded to another (its value: the forwarding node's id).
pub const FORWARDED_BY: &str = "x-switchboard-forwarded-by";

/// A forwarded request's body is read whole first; live-call requests are small forms.
const BODY_LIMIT: usize = 1024 * 1024;

/// How long a request waits between two attempts to reach a call's owner.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// The call a request is about, when it is one that the owning node must answer.
pub(crate) fn live_call_of<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["sandbox", "Calls", sid]) => Some(*sid),
        (&Method::POST, ["sandbox", "Calls", sid, _input]) => Some(*sid),
        (&Method::POST, ["2010-04-01", "Accounts", _, "Calls", file]) => file.strip_suffix(".json"),
        (&Method::POST, ["2010-04-01", "Accounts", _, "Calls", sid, "Recordings.json"]) => {
            Some(*sid)
        }
        (&Method::POST, ["2010-04-01", "Accounts", _, "Calls", sid, "Recordings", _]) => Some(*sid),
        _ => None,
    }
    .filter(|sid| sid.starts_with("CA"))
}

/// The middleware: forwards a live-call request to the node that runs the call.
pub(crate) async fn live_calls(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // With one node there is nowhere to forward to: nothing is read or buffered.
    if state.engine.is_sole_node() {
        return next.run(request).await;
    }
    let sid = match live_call_of(request.method(), request.uri().path()) {
        Some(sid) if !request.headers().contains_key(FORWARDED_BY) => sid.to_owned(),
        _ => return next.run(request).await,
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                "The request body is too large",
            )
            .into_response();
        }
    };
    let deadline =
        tokio::time::Instant::now() + state.engine.node_lease() + std::time::Duration::from_secs(5);
    loop {
        let owner = match state.engine.call_owner(&sid).await {
            Ok(owner) => owner,
            Err(error) => return ApiError::from(error).into_response(),
        };
        let CallOwner::Node { id, url } = owner else {
            let request = Request::from_parts(parts, Body::from(body));
            return next.run(request).await;
        };
        match forward(&state, &parts, body.clone(), &url).await {
            Ok(response) => return response,
            Err(error) => {
                tracing::warn!(%error, owner = %id, call = %sid, "forwarding a live-call request failed");
                if tokio::time::Instant::now() >= deadline {
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        error_code::SERVICE_UNAVAILABLE,
                        format!("The node {id} that runs this call does not answer; try again"),
                    )
                    .into_response();
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Sends the request to the node at `base` and turns its answer into ours.
async fn forward(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Bytes,
    base: &str,
) -> Result<Response, reqwest::Error> {
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut request = state.peers.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    let answer = request
        .header(FORWARDED_BY, state.engine.node_id())
        .send()
        .await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

/// Headers that belong to one connection, not to the request or answer passed on.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_call_requests_go_to_the_owner() {
        let sid = "CA0123456789abcdef0123456789abcdef";
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            live_call_of(&get, &format!("/sandbox/Calls/{sid}")),
            Some(sid)
        );
        assert_eq!(
            live_call_of(&post, &format!("/sandbox/Calls/{sid}/Digits")),
            Some(sid)
        );
        assert_eq!(
            live_call_of(&post, &format!("/2010-04-01/Accounts/AC1/Calls/{sid}.json")),
            Some(sid)
        );
        let recordings = format!("/2010-04-01/Accounts/AC1/Calls/{sid}/Recordings");
        assert_eq!(
            live_call_of(&post, &format!("{recordings}.json")),
            Some(sid)
        );
        assert_eq!(
            live_call_of(&post, &format!("{recordings}/Twilio.CURRENT.json")),
            Some(sid)
        );
        assert_eq!(
            live_call_of(&get, &format!("{recordings}.json")),
            None,
            "a list reads the database"
        );
        assert_eq!(live_call_of(&post, "/sandbox/Calls"), None, "a new call");
        assert_eq!(
            live_call_of(&get, &format!("/2010-04-01/Accounts/AC1/Calls/{sid}.json")),
            None,
            "a fetch reads the database"
        );
        assert_eq!(
            live_call_of(&post, "/2010-04-01/Accounts/AC1/Calls.json"),
            None
        );
        assert_eq!(live_call_of(&get, "/sandbox/Messages/SM1"), None);
        assert_eq!(live_call_of(&get, "/sandbox/Calls/nonsense"), None);
    }
}
