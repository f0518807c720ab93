//! The console's page frame and the pieces its pages share: the layout (landmarks, navigation,
//! sign-out), tables that scroll on a narrow screen, paging links, error pages and the assets.
//!
//! Pages are written with maud: templates compiled into the binary, with every interpolated
//! value escaped. Pages work without JavaScript; `console.js` only adds live updates.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use switchboard_core::ErrorCode;

use super::session::Console;
use crate::error::ApiError;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The navigation's sections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Numbers,
    Calls,
    Messages,
    Alerts,
    Deliveries,
    Settings,
}

const SECTIONS: [(Section, &str, &str); 6] = [
    (Section::Numbers, "/console/numbers", "Numbers"),
    (Section::Calls, "/console/calls", "Calls"),
    (Section::Messages, "/console/messages", "Messages"),
    (Section::Alerts, "/console/alerts", "Debugger"),
    (Section::Deliveries, "/console/deliveries", "Deliveries"),
    (Section::Settings, "/console/settings", "Settings"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Switchboard console" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A signed-in page: navigation, the acting account, sign-out, and `body` under an `h1`.
pub(crate) fn layout(console: &Console, section: Section, title: &str, body: Markup) -> Response {
    let account = &console.account;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    p.brand { a href="/console/numbers" { "Switchboard" } }
                    nav aria-label="Console sections" {
                        ul {
                            @for (entry, href, label) in SECTIONS {
                                li {
                                    a href=(href) aria-current=[(entry == section).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    div.who {
                        span { "Account " code { (account.sid) } }
                        form method="post" novalidate action="/console/signout" {
                            input type="hidden" name="csrf" value=(console.session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(StatusCode::OK, page)
}

/// A page outside the signed-in frame (sign-in, errors before a session).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { p.brand { "Switchboard" } }
                main #main.narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// `markup` as an HTML response with `status`, never cached (pages show account data).
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page saying one thing, with a way back.
pub(crate) fn message_page(title: &str, text: &str) -> Response {
    html_response(
        StatusCode::OK,
        bare(
            title,
            html! {
                p { (text) }
                p { a href="/console/numbers" { "Back to the console" } }
            },
        ),
    )
}

/// An error as a page with its HTTP status: the Twilio code and message.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let title = if error.status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Something went wrong"
    };
    let page = bare(
        title,
        html! {
            p { (error.message) }
            p { "Error " (error.code.code) ": " (error.code.message) }
            p { a href="/console/numbers" { "Back to the console" } }
        },
    );
    html_response(error.status, page)
}

/// A table in a region that scrolls sideways on a narrow screen (focusable, so a keyboard can
/// scroll it too).
pub(crate) fn scroll(label: &str, table: Markup) -> Markup {
    html! {
        div.scroll role="region" aria-label=(label) tabindex="0" { (table) }
    }
}

/// "Newer" and "older" links from a list envelope's page URIs, kept on `base`.
pub(crate) fn pager(envelope: &Value, base: &str) -> Markup {
    let link = |key: &str| {
        envelope[key]
            .as_str()
            .and_then(|uri| uri.split_once('?'))
            .map(|(_, query)| format!("{base}?{query}"))
    };
    let previous = link("previous_page_uri");
    let next = link("next_page_uri");
    html! {
        @if previous.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(href) = previous { a href=(href) rel="prev" { "← Previous page" } }
                @if let Some(href) = next { a href=(href) rel="next" { "Next page →" } }
            }
        }
    }
}

/// An error code with its meaning: `11200 HTTP retrieval failure`.
pub(crate) fn error_meaning(code: u64) -> String {
    let known = u32::try_from(code).ok().and_then(ErrorCode::lookup);
    match known {
        Some(known) => format!("{} {}", known.code, known.message),
        None => code.to_string(),
    }
}

/// A JSON value as page text: strings bare, null as a dash, the rest as JSON.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".to_owned(),
        Value::String(text) if text.is_empty() => "—".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The stylesheet (and, below, the script): compiled into the binary, no CDN.
pub(crate) async fn assets_css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub(crate) async fn assets_js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// A hidden CSRF input for a form.
pub(crate) fn csrf(console: &Console) -> Markup {
    html! { input type="hidden" name="csrf" value=(console.session.csrf); }
}
