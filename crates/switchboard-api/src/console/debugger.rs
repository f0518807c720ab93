//! The debugger (alerts, live as they arrive, each with the request and response that caused
//! it), failed callback deliveries, and the account settings (debugger webhook URL, the
//! subaccount the console acts on).
//!
//! The live list is the cursor of `/switchboard/v1/Alerts/Stream` (`alert_stream::open`), so a
//! page never misses or repeats an alert; it sends each new row's HTML.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde_json::Value;
use switchboard_core::date;
use switchboard_engine::alerts::alert_of;
use switchboard_store::{Column, Kind, ListQuery, Order, Record};

use super::activity::{list_uri, named};
use super::page::{Section, csrf, error_meaning, error_response, layout, pager, scroll, text};
use super::session::Console;
use crate::AppState;
use crate::error::ApiError;
use crate::form::{FormBody, Params, query_params};
use crate::resources::listing::{ListPath, Listing, Param};
use crate::resources::{account, alert, alert_stream, deliveries};

/// The debugger's list: the account's alerts, newest first, by level, code and number.
const ALERTS: Listing = Listing {
    kind: Kind::Alert,
    key: "alerts",
    order: Order::Descending,
    params: &[
        Param::Custom("LogLevel", alert::log_level),
        Param::Equals("ErrorCode", Column::FriendlyName),
        Param::Equals("Number", Column::PhoneNumber),
    ],
    // Rows are rendered while listed (the page only places them).
    render: |_, record| Ok(Value::from(alert_row(record).into_string())),
    path: ListPath::Fixed("/console/alerts"),
};

fn filter_value(console: &Console, name: &str) -> String {
    query_params(console.uri.query())
        .ok()
        .and_then(|params| params.get(name).map(str::to_owned))
        .unwrap_or_default()
}

/// One alert as a list row.
fn alert_row(record: &Record) -> Markup {
    let doc = &record.doc;
    let level = doc["level"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| record.status.clone())
        .unwrap_or_default();
    let code = doc["error_code"].as_u64().unwrap_or_default();
    html! {
        tr.alert data-level=(level) {
            td { a href={"/console/alerts/" (record.sid)} { (record.sid) } }
            td { (date::iso8601(record.created_ms)) }
            td { span.level { (level) } }
            td { (error_meaning(code)) }
            td { (record.phone_number.clone().unwrap_or_default()) }
            td.url { (text(&doc["request_url"])) }
        }
    }
}

/// `GET /console/alerts`: filters `LogLevel`, `ErrorCode`, `Number`; new alerts are added at
/// the top as they are stored.
pub(crate) async fn alerts(console: Console) -> Response {
    let state = &console.state;
    let uri = list_uri("/console/alerts", &console.uri);
    let kept = query_params(uri.query())
        .map(|params| params.0)
        .unwrap_or_default();
    let envelope = match ALERTS
        .answer(state, ALERTS.query(&console.account.sid), &uri)
        .await
    {
        Ok(envelope) => envelope,
        Err(error) => return error_response(&error),
    };
    let rows: Vec<String> = envelope["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row.as_str().map(str::to_owned))
        .collect();
    // Only the first page of an unfiltered list takes live rows: a filtered or older page
    // would show alerts that do not belong on it.
    let first_page = !kept
        .iter()
        .any(|(name, _)| matches!(name.as_str(), "Page" | "PageToken"));
    let level = filter_value(&console, "LogLevel");
    let live = (first_page && kept.is_empty()).then_some("/console/alerts/live");
    let body = html! {
        form.filters method="get" action="/console/alerts" role="search" aria-label="Filter alerts" {
            div.field {
                label for="filter-LogLevel" { "Level" }
                select #filter-LogLevel name="LogLevel" {
                    option value="" selected[level.is_empty()] { "Any" }
                    option value="error" selected[level == "error"] { "error" }
                    option value="warning" selected[level == "warning"] { "warning" }
                }
            }
            div.field {
                label for="filter-ErrorCode" { "Error code" }
                input #filter-ErrorCode type="text" inputmode="numeric" name="ErrorCode" value=(filter_value(&console, "ErrorCode"));
            }
            div.field {
                label for="filter-Number" { "Number" }
                input #filter-Number type="tel" name="Number" value=(filter_value(&console, "Number"));
            }
            button type="submit" { "Filter" }
        }
        @if live.is_some() { p.live { "New alerts appear at the top as they happen." } }
        (scroll("Alerts", html! {
            table {
                thead { tr {
                    th scope="col" { "Alert" } th scope="col" { "When" } th scope="col" { "Level" }
                    th scope="col" { "Error" } th scope="col" { "Number" } th scope="col" { "Request URL" }
                } }
                tbody #alerts data-live=[live] data-live-at="afterbegin" aria-live="polite" {
                    @for row in rows.iter() { (PreEscaped(row)) }
                }
            }
        }))
        @if rows.is_empty() { p #no-alerts { "No alerts." } }
        (pager(&envelope, "/console/alerts"))
    };
    layout(&console, Section::Alerts, "Debugger", body)
}

/// `GET /console/alerts/live`: new alerts as rows (`event: item`).
pub(crate) async fn alerts_live(console: Console) -> Response {
    let render: alert_stream::Render = |_: &AppState, record: &Record| {
        named("item", &record.sid, &alert_row(record).into_string())
    };
    match alert_stream::open(
        console.state.clone(),
        console.account.sid.clone(),
        None,
        None,
        render,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

/// `GET /console/alerts/{sid}`: the alert with the request and response that caused it.
pub(crate) async fn alert(console: Console, Path(sid): Path<String>) -> Response {
    let record = match console.scoped().record(Kind::Alert, &sid).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let Some(found) = alert_of(&record.doc) else {
        return error_response(&ApiError::not_found(console.uri.path()));
    };
    let view = alert::render(&console.state, &record.doc, true);
    let resource = record.parent_sid.clone().unwrap_or_default();
    let resource_link = if resource.starts_with("CA") {
        Some(format!("/console/calls/{resource}"))
    } else if resource.starts_with("SM") || resource.starts_with("MM") {
        Some(format!("/console/messages/{resource}"))
    } else {
        None
    };
    let body = html! {
        dl.facts {
            dt { "Level" } dd { (found.level.monitor_name()) }
            dt { "Error" } dd { a href=(text(&view["more_info"])) { (error_meaning(u64::from(found.error_code))) } }
            dt { "Message" } dd { (found.message) }
            dt { "When" } dd { (text(&view["date_created"])) }
            dt { "About" } dd {
                @match resource_link {
                    Some(href) => a href=(href) { (resource) },
                    None => (text(&record.doc["resource_sid"])),
                }
            }
            dt { "Fallback request" } dd { (if found.fallback { "yes" } else { "no" }) }
        }
        section aria-labelledby="request-heading" {
            h2 #request-heading { "Request" }
            p { strong { (found.request_method) } " " span.url { (found.request_url) } }
            @if !found.request_variables.is_empty() {
                (scroll("Request parameters", html! {
                    table {
                        thead { tr { th scope="col" { "Parameter" } th scope="col" { "Value" } } }
                        tbody { @for (name, value) in &found.request_variables { tr { td { (name) } td { (value) } } } }
                    }
                }))
            }
        }
        section aria-labelledby="response-heading" {
            h2 #response-heading { "Response" }
            p { "Status: " (found.response_status.map(|status| status.to_string()).unwrap_or_else(|| "no answer".into()))
                " · " (found.duration_ms) " ms · " (found.attempts) " attempt(s)" }
            @if !found.response_headers.is_empty() {
                details {
                    summary { "Headers" }
                    dl.params { @for (name, value) in &found.response_headers { dt { (name) } dd { (value) } } }
                }
            }
            @if !found.response_body.is_empty() {
                h3 { "Body" }
                pre { (found.response_body) }
            }
        }
    };
    layout(
        &console,
        Section::Alerts,
        &format!("Alert {}", record.sid),
        body,
    )
}

/// `GET /console/deliveries`: status callbacks and debugger webhooks, by status.
pub(crate) async fn deliveries(console: Console) -> Response {
    let uri = list_uri("/console/deliveries", &console.uri);
    let envelope = match deliveries::page(&console.state, &console.account.sid, &uri).await {
        Ok(envelope) => envelope,
        Err(error) => return error_response(&error),
    };
    let items = envelope["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let status = filter_value(&console, "Status");
    let body = html! {
        p { "Status callbacks and debugger webhooks, as the outbox holds them: retried on failure, and sent again on request." }
        form.filters method="get" action="/console/deliveries" role="search" aria-label="Filter deliveries" {
            div.field {
                label for="filter-Status" { "Status" }
                select #filter-Status name="Status" {
                    option value="" selected[status.is_empty()] { "Any" }
                    @for option in ["pending", "delivered", "failed"] {
                        option value=(option) selected[status == option] { (option) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if items.is_empty() {
            p { "No deliveries." }
        } @else {
            (scroll("Deliveries", html! {
                table {
                    thead { tr {
                        th scope="col" { "Kind" } th scope="col" { "URL" } th scope="col" { "Status" }
                        th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { "About" } th scope="col" { "Send again" }
                    } }
                    tbody {
                        @for item in &items {
                            tr {
                                td { (text(&item["kind"])) }
                                td.url { (text(&item["method"])) " " (text(&item["url"])) }
                                td { (text(&item["status"])) }
                                td { (text(&item["attempts"])) }
                                td { (item["last_error_code"].as_u64().map(error_meaning).unwrap_or_else(|| "—".into())) }
                                td { (text(&item["resource_sid"])) }
                                td {
                                    form method="post" novalidate action={"/console/deliveries/" (text(&item["sid"])) "/replay"} {
                                        (csrf(&console))
                                        button type="submit" aria-label={"Replay " (text(&item["sid"]))} { "Replay" }
                                    }
                                }
                            }
                        }
                    }
                }
            }))
        }
        (pager(&envelope, "/console/deliveries"))
    };
    layout(&console, Section::Deliveries, "Deliveries", body)
}

/// `POST /console/deliveries/{sid}/replay`.
pub(crate) async fn replay(
    console: Console,
    Path(sid): Path<String>,
    FormBody(params): FormBody,
) -> Response {
    if !console.csrf_ok(&params) {
        return super::session::csrf_refused();
    }
    match console
        .state
        .engine
        .replay_delivery(&console.account.sid, &sid)
        .await
    {
        Ok(Some(_)) => Redirect::to("/console/deliveries").into_response(),
        Ok(None) => error_response(&ApiError::not_found(console.uri.path())),
        Err(error) => error_response(&error.into()),
    }
}

/// The signed-in account's subaccounts (a parent may act on them).
async fn subaccounts(console: &Console) -> Vec<Record> {
    let parent = &console.caller.account;
    if !parent.is_main() {
        return Vec::new();
    }
    let mut query = ListQuery::new(Kind::Account, &parent.sid);
    query.limit = 1000;
    let mut rows = console.state.store.list(&query).await.unwrap_or_default();
    rows.retain(|row| row.sid != parent.sid);
    rows
}

pub(crate) async fn settings(console: Console) -> Response {
    settings_page(&console, None, None).await
}

async fn settings_page(
    console: &Console,
    posted: Option<&str>,
    problem: Option<&ApiError>,
) -> Response {
    let account = &console.account;
    let subaccounts = subaccounts(console).await;
    let hook = posted.unwrap_or(&account.debugger_webhook_url);
    let signed_in_with = match &console.caller.key_sid {
        Some(key) => format!("API key {key}"),
        None => "the account's auth token".to_owned(),
    };
    let body = html! {
        dl.facts {
            dt { "Account" } dd { (account.sid) }
            dt { "Name" } dd { (account.friendly_name) }
            dt { "Status" } dd { (account.status) }
            dt { "Signed in with" } dd { (signed_in_with) }
        }
        section aria-labelledby="debugger-heading" {
            h2 #debugger-heading { "Debugger webhook" }
            form method="post" novalidate action="/console/settings" {
                (csrf(console))
                div.field {
                    label for="DebuggerWebhookUrl" { "Debugger webhook URL (every alert is posted here)" }
                    input #DebuggerWebhookUrl type="url" name="DebuggerWebhookUrl" value=(hook)
                        aria-invalid=[problem.map(|_| "true")]
                        aria-describedby=[problem.map(|_| "DebuggerWebhookUrl-error")];
                    @if let Some(problem) = problem {
                        p.error #DebuggerWebhookUrl-error { "Error " (problem.code.code) ": " (problem.message) }
                    }
                }
                button type="submit" { "Save" }
            }
        }
        @if !subaccounts.is_empty() {
            section aria-labelledby="acting-heading" {
                h2 #acting-heading { "Account the console acts on" }
                form method="post" novalidate action="/console/account" {
                    (csrf(console))
                    div.field {
                        label for="ActingAccount" { "Account" }
                        select #ActingAccount name="AccountSid" {
                            option value=(console.caller.account.sid) selected[account.sid == console.caller.account.sid] {
                                (console.caller.account.friendly_name) " (" (console.caller.account.sid) ")"
                            }
                            @for sub in &subaccounts {
                                option value=(sub.sid) selected[account.sid == sub.sid] {
                                    (sub.friendly_name.clone().unwrap_or_default()) " (" (sub.sid) ")"
                                }
                            }
                        }
                    }
                    button type="submit" { "Switch" }
                }
            }
        }
    };
    let mut response = layout(console, Section::Settings, "Settings", body);
    if problem.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `POST /console/settings`: the REST account update's rule for `DebuggerWebhookUrl`.
pub(crate) async fn save_settings(console: Console, FormBody(params): FormBody) -> Response {
    if !console.csrf_ok(&params) {
        return super::session::csrf_refused();
    }
    let url = params
        .get("DebuggerWebhookUrl")
        .unwrap_or_default()
        .trim()
        .to_owned();
    // The REST account update's rules: an API key may not change it, the URL is validated, and
    // no credential verified before the change is served from the cache after it.
    let update = Params(vec![("DebuggerWebhookUrl".to_owned(), url.clone())]);
    let mut account = console.account.clone();
    let checked = account::forbid_keys(&console.caller)
        .and_then(|()| account::apply_update(&mut account, &update));
    if let Err(error) = checked {
        return settings_page(&console, Some(&url), Some(&error)).await;
    }
    account.date_updated = crate::now_ms();
    if let Err(error) = console.state.store.update(&account.record()).await {
        return error_response(&error.into());
    }
    console.state.auth_cache.forget_all();
    Redirect::to("/console/settings").into_response()
}

/// `POST /console/account`: act on the signed-in account or one of its subaccounts.
pub(crate) async fn switch_account(console: Console, FormBody(params): FormBody) -> Response {
    if !console.csrf_ok(&params) {
        return super::session::csrf_refused();
    }
    let wanted = params.get("AccountSid").unwrap_or_default();
    let account = match console
        .caller
        .scope(&console.state, wanted, console.uri.path())
        .await
    {
        Ok(account) => account,
        Err(error) => return error_response(&error),
    };
    let mut session = console.session.clone();
    session.acting_sid = account.sid;
    if let Err(error) = session.save(&console.state).await {
        return error_response(&error);
    }
    Redirect::to("/console/numbers").into_response()
}
