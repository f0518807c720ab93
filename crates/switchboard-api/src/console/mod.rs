//! The web console (the Account Portal, product.md "Web console"): server-rendered pages under
//! `/console` where operators sign in, configure numbers and their fallback URLs, watch calls
//! and messages, and read the debugger.
//!
//! The console is another face of the REST API, not a second implementation: forms post the
//! REST parameter names and run the REST logic (`resources::phone_number::provision`, the
//! lists' `Listing` descriptions), so a value the API refuses is refused here with the same code
//! and message. It reads transcripts from the engine's sandbox log and alerts from the same
//! cursor as `/switchboard/v1/Alerts/Stream`.
//!
//! Files: `session` (sign-in, sessions, CSRF, the sign-in limiter), `page` (the frame and shared
//! pieces), `numbers`, `activity` (calls and messages, transcripts, live call pages),
//! `debugger` (alerts, deliveries, settings).

mod activity;
mod debugger;
mod numbers;
mod page;
mod session;

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use maud::html;

use crate::AppState;
use crate::form::FormBody;
use page::{bare, html_response};
use session::{
    Console, SESSION_COOKIE, SIGNIN_COOKIE, Session, cookie, random_token, same, set_cookie,
};

pub(crate) use session::SignInLimiter;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/numbers") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/numbers") }),
        )
        .route("/console/signin", get(signin_form).post(signin))
        .route("/console/signout", post(signout))
        .route("/console/assets/console.css", get(page::assets_css))
        .route("/console/assets/console.js", get(page::assets_js))
        .route(
            "/console/numbers",
            get(numbers::list).post(numbers::provision),
        )
        .route(
            "/console/numbers/{sid}",
            get(numbers::show).post(numbers::update),
        )
        .route("/console/numbers/{sid}/release", post(numbers::release))
        .route("/console/numbers/{sid}/call", post(numbers::test_call))
        .route("/console/calls", get(activity::calls))
        .route("/console/calls/{sid}", get(activity::call))
        .route("/console/calls/{sid}/live", get(activity::call_live))
        .route("/console/messages", get(activity::messages))
        .route("/console/messages/{sid}", get(activity::message))
        .route("/console/alerts", get(debugger::alerts))
        .route("/console/alerts/live", get(debugger::alerts_live))
        .route("/console/alerts/{sid}", get(debugger::alert))
        .route("/console/deliveries", get(debugger::deliveries))
        .route("/console/deliveries/{sid}/replay", post(debugger::replay))
        .route(
            "/console/settings",
            get(debugger::settings).post(debugger::save_settings),
        )
        .route("/console/account", post(debugger::switch_account))
}

/// The sign-in form, with its double-submit token in a cookie.
async fn signin_form(State(state): State<AppState>) -> Response {
    signin_page(&state, StatusCode::OK, None, "")
}

fn signin_page(state: &AppState, status: StatusCode, problem: Option<&str>, sid: &str) -> Response {
    let token = random_token();
    let body = html! {
        p { "Sign in with your Account SID and Auth Token, or an API key SID and its secret." }
        @if let Some(problem) = problem {
            p.problem role="alert" #signin-problem { (problem) }
        }
        form method="post" novalidate action="/console/signin" {
            input type="hidden" name="csrf" value=(token);
            div.field {
                label for="AccountSid" { "Account SID or API key SID" }
                input #AccountSid type="text" name="AccountSid" value=(sid) required autocomplete="username" spellcheck="false";
            }
            div.field {
                label for="AuthToken" { "Auth Token or API key secret" }
                input #AuthToken type="password" name="AuthToken" required autocomplete="current-password";
            }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = html_response(status, bare("Sign in", body));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SIGNIN_COOKIE, &token, 3600),
    );
    response
}

/// `POST /console/signin`: a session for the right credentials; the same answer for a wrong
/// SID and a wrong secret; 429 for a source with too many recent failures.
async fn signin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    FormBody(params): FormBody,
) -> Response {
    let source = peer.ip();
    let now = Instant::now();
    let sid = params
        .get("AccountSid")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if let Some(wait) = state.console_limiter.wait(source, now) {
        let text = format!(
            "Too many failed sign-ins from your address. Try again in {} seconds.",
            wait.as_secs().max(1)
        );
        return signin_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(&text), &sid);
    }
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if !same(params.get("csrf").unwrap_or_default(), &expected) {
        return session::csrf_refused();
    }
    let secret = params.get("AuthToken").unwrap_or_default();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{secret}"));
    let mut auth = HeaderMap::new();
    if let Ok(value) = format!("Basic {basic}").parse() {
        auth.insert(header::AUTHORIZATION, value);
    }
    match crate::auth::authenticate(&state, &auth).await {
        Ok(caller) => {
            state.console_limiter.succeeded(source);
            match Session::start(&state, &caller, secret).await {
                Ok((token, _)) => {
                    let mut response = Redirect::to("/console/numbers").into_response();
                    let headers = response.headers_mut();
                    headers.append(
                        header::SET_COOKIE,
                        set_cookie(&state, SESSION_COOKIE, &token, 12 * 3600),
                    );
                    headers.append(header::SET_COOKIE, set_cookie(&state, SIGNIN_COOKIE, "", 0));
                    response
                }
                Err(error) => page::error_response(&error),
            }
        }
        Err(error) if error.code == switchboard_core::error_code::ACCOUNT_NOT_ACTIVE => {
            // Only who holds the right secret learns the account's status, as on the API.
            signin_page(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("This account is suspended or closed."),
                &sid,
            )
        }
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            state.console_limiter.failed(source, now);
            signin_page(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("That SID and secret do not match an account or key here."),
                &sid,
            )
        }
        Err(error) => page::error_response(&error),
    }
}

/// `POST /console/signout`: ends the session (with its CSRF token, so another site cannot sign
/// an operator out).
async fn signout(console: Console, FormBody(params): FormBody) -> Response {
    if !console.csrf_ok(&params) {
        return session::csrf_refused();
    }
    if let Err(error) = console.session.end(&console.state).await {
        return page::error_response(&error);
    }
    let mut response = Redirect::to("/console/signin").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&console.state, SESSION_COOKIE, "", 0),
    );
    response
}
