//! Phone numbers: the list and provisioning form, one number's settings form, its recent
//! calls and messages, its fallback probe, a test call or drill, and release.
//!
//! The forms post the REST parameter names and run the REST logic, so a refused value shows
//! the API's code and message next to the input it names.

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::Value;
use switchboard_core::error_code;
use switchboard_engine::voice;
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record};

use super::page::{Section, csrf, error_meaning, error_response, layout, scroll, text};
use super::session::Console;
use crate::error::ApiError;
use crate::form::{FormBody, Params};
use crate::resources::phone_number;

/// The caller a console test call comes from (the sandbox's default).
const TEST_CALLER: &str = "+15005550006";

/// URL settings with their method selects, in the form's order.
const URL_FIELDS: [(&str, &str, &str, &str); 5] = [
    ("VoiceUrl", "voice_url", "VoiceMethod", "voice_method"),
    (
        "VoiceFallbackUrl",
        "voice_fallback_url",
        "VoiceFallbackMethod",
        "voice_fallback_method",
    ),
    (
        "StatusCallback",
        "status_callback",
        "StatusCallbackMethod",
        "status_callback_method",
    ),
    ("SmsUrl", "sms_url", "SmsMethod", "sms_method"),
    (
        "SmsFallbackUrl",
        "sms_fallback_url",
        "SmsFallbackMethod",
        "sms_fallback_method",
    ),
];

/// Beyond-Twilio switches (checkboxes: absent means `false`).
const SWITCHES: [(&str, &str, &str); 2] = [
    (
        "SwitchboardBreaker",
        "switchboard_breaker",
        "Circuit breaker: skip a primary that keeps failing and go straight to the fallback",
    ),
    (
        "SwitchboardLastKnownGood",
        "switchboard_last_known_good",
        "Last known good: replay the primary's last good document when both URLs fail",
    ),
];

/// Labels for the settings' inputs.
fn label_of(param: &str) -> &'static str {
    match param {
        "FriendlyName" => "Friendly name",
        "VoiceUrl" => "Voice URL",
        "VoiceMethod" => "Voice method",
        "VoiceFallbackUrl" => "Voice fallback URL",
        "VoiceFallbackMethod" => "Voice fallback method",
        "StatusCallback" => "Status callback URL",
        "StatusCallbackMethod" => "Status callback method",
        "SmsUrl" => "SMS URL",
        "SmsMethod" => "SMS method",
        "SmsFallbackUrl" => "SMS fallback URL",
        "SmsFallbackMethod" => "SMS fallback method",
        "PhoneNumber" => "Phone number (E.164)",
        "AreaCode" => "or an area code",
        "SwitchboardLastResortTwiml" => "Last-resort TwiML (run when both URLs fail)",
        _ => "",
    }
}

/// A refused form: the error, and the input it belongs to (the first parameter its message
/// names, longest names first so `VoiceFallbackUrl` is not taken for `VoiceUrl`).
struct Problem {
    field: Option<&'static str>,
    error: ApiError,
}

impl Problem {
    fn of(error: ApiError, fields: &[&'static str]) -> Problem {
        let mut names = fields.to_vec();
        names.sort_by_key(|name| std::cmp::Reverse(name.len()));
        let field = names.into_iter().find(|name| error.message.contains(name));
        Problem { field, error }
    }

    fn at(&self, field: &str) -> Option<String> {
        (self.field == Some(field)).then(|| self.line())
    }

    fn line(&self) -> String {
        format!("Error {}: {}", self.error.code.code, self.error.message)
    }
}

/// One text input with its label and, when refused, its error.
fn input(param: &'static str, value: &str, problem: Option<&Problem>, kind: &str) -> Markup {
    let error = problem.and_then(|problem| problem.at(param));
    let error_id = format!("{param}-error");
    html! {
        div.field {
            label for=(param) { (label_of(param)) }
            input #(param) type=(kind) name=(param) value=(value)
                aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby=[error.as_ref().map(|_| error_id.as_str())];
            @if let Some(error) = &error {
                p.error #(error_id) { (error) }
            }
        }
    }
}

fn method_select(param: &'static str, value: &str, problem: Option<&Problem>) -> Markup {
    let error = problem.and_then(|problem| problem.at(param));
    html! {
        div.field.method {
            label for=(param) { (label_of(param)) }
            select #(param) name=(param) {
                @for method in ["POST", "GET"] {
                    option value=(method) selected[value.eq_ignore_ascii_case(method)] { (method) }
                }
            }
            @if let Some(error) = &error { p.error { (error) } }
        }
    }
}

/// A problem that names no input, above the form.
fn form_problem(problem: Option<&Problem>) -> Markup {
    html! {
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem.line()) }
        }
    }
}

/// The form's parameters without the CSRF token.
fn without_csrf(params: &Params) -> Params {
    Params(
        params
            .0
            .iter()
            .filter(|(name, _)| name != "csrf")
            .cloned()
            .collect(),
    )
}

pub(crate) async fn list(console: Console) -> Response {
    list_page(&console, &Params(Vec::new()), None).await
}

async fn list_page(console: &Console, posted: &Params, problem: Option<Problem>) -> Response {
    let state = &console.state;
    let uri: Uri = match console.uri.query() {
        Some(query) => format!("/console/numbers?{query}")
            .parse()
            .unwrap_or_default(),
        None => Uri::from_static("/console/numbers"),
    };
    let envelope = match phone_number::LIST
        .answer(state, phone_number::LIST.query(&console.account.sid), &uri)
        .await
    {
        Ok(envelope) => envelope,
        Err(error) => return error_response(&error),
    };
    let numbers = envelope["incoming_phone_numbers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let problem = problem.as_ref();
    let value = |name: &str| posted.get(name).unwrap_or_default().to_owned();
    let body = html! {
        @if numbers.is_empty() {
            p { "No numbers yet: provision one below." }
        } @else {
            (scroll("Phone numbers", html! {
                table {
                    thead { tr { th scope="col" { "Number" } th scope="col" { "Name" } th scope="col" { "Voice URL" } th scope="col" { "Voice fallback URL" } } }
                    tbody {
                        @for number in &numbers {
                            tr {
                                td { a href={"/console/numbers/" (text(&number["sid"]))} { (text(&number["phone_number"])) } }
                                td { (text(&number["friendly_name"])) }
                                td.url { (text(&number["voice_url"])) }
                                td.url { (text(&number["voice_fallback_url"])) }
                            }
                        }
                    }
                }
            }))
            (super::page::pager(&envelope, "/console/numbers"))
        }
        section aria-labelledby="provision-heading" {
            h2 #provision-heading { "Provision a number" }
            (form_problem(problem.filter(|problem| problem.field.is_none())))
            form method="post" novalidate action="/console/numbers" {
                (csrf(console))
                (input("PhoneNumber", &value("PhoneNumber"), problem, "tel"))
                (input("AreaCode", &value("AreaCode"), problem, "text"))
                (input("FriendlyName", &value("FriendlyName"), problem, "text"))
                (input("VoiceUrl", &value("VoiceUrl"), problem, "url"))
                (input("VoiceFallbackUrl", &value("VoiceFallbackUrl"), problem, "url"))
                button type="submit" { "Provision" }
            }
        }
    };
    let mut response = layout(console, Section::Numbers, "Phone numbers", body);
    if problem.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `POST /console/numbers`: provisions with the REST create's rules.
pub(crate) async fn provision(console: Console, FormBody(params): FormBody) -> Response {
    if !console.csrf_ok(&params) {
        return super::session::csrf_refused();
    }
    let params = Params(
        without_csrf(&params)
            .0
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect(),
    );
    match phone_number::provision(&console.scoped(), &params, None).await {
        Ok(record) => Redirect::to(&format!("/console/numbers/{}", record.sid)).into_response(),
        Err(error) => {
            let fields = [
                "PhoneNumber",
                "AreaCode",
                "FriendlyName",
                "VoiceUrl",
                "VoiceFallbackUrl",
            ];
            list_page(&console, &params, Some(Problem::of(error, &fields))).await
        }
    }
}

/// The scoped account's number `sid`, or the 404 page (another account's number included).
async fn owned_number(console: &Console, sid: &str) -> Result<Record, Response> {
    match console.scoped().record(Kind::PhoneNumber, sid).await {
        Ok(record) => Ok(record),
        Err(error) => Err(error_response(&error)),
    }
}

/// A form posted about the number `sid`: its CSRF token checked (403), then the number loaded
/// (404 for another account's).
async fn posted_number(console: &Console, sid: &str, params: &Params) -> Result<Record, Response> {
    if !console.csrf_ok(params) {
        return Err(super::session::csrf_refused());
    }
    owned_number(console, sid).await
}

pub(crate) async fn show(console: Console, Path(sid): Path<String>) -> Response {
    match owned_number(&console, &sid).await {
        Ok(record) => number_page(&console, &record.doc, None).await,
        Err(response) => response,
    }
}

/// The last calls or messages to or from `number`, newest first.
async fn recent(console: &Console, kind: Kind, number: &str) -> Vec<Record> {
    let mut rows = Vec::new();
    for column in [Column::PhoneNumber, Column::FromNumber] {
        let mut query = ListQuery::new(kind, &console.account.sid);
        query.order = Order::Descending;
        query.limit = 10;
        query
            .filters
            .push(Filter::Equals(column, number.to_owned()));
        if let Ok(found) = console.state.store.list(&query).await {
            rows.extend(found);
        }
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.seq));
    rows.dedup_by(|a, b| a.sid == b.sid);
    rows.truncate(10);
    rows
}

async fn number_page(console: &Console, doc: &Value, problem: Option<Problem>) -> Response {
    let sid = text(&doc["sid"]);
    let number = doc["phone_number"].as_str().unwrap_or_default().to_owned();
    let calls = recent(console, Kind::Call, &number).await;
    let messages = recent(console, Kind::Message, &number).await;
    let problem = problem.as_ref();
    let field = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
    let probe = &doc["switchboard_fallback_probe"];
    let action = format!("/console/numbers/{sid}");
    let body = html! {
        p.lead { (text(&doc["friendly_name"])) " · " (sid) }
        section aria-labelledby="settings-heading" {
            h2 #settings-heading { "Settings" }
            (form_problem(problem.filter(|problem| problem.field.is_none())))
            form method="post" novalidate action=(action) {
                (csrf(console))
                (input("FriendlyName", &field("friendly_name"), problem, "text"))
                @for (url, url_field, method, method_field) in URL_FIELDS {
                    div.pair {
                        (input(url, &field(url_field), problem, "url"))
                        (method_select(method, &field(method_field), problem))
                    }
                }
                fieldset {
                    legend { "Beyond Twilio" }
                    @for (param, name, label) in SWITCHES {
                        div.check {
                            input #(param) type="checkbox" name=(param) value="true" checked[doc[name].as_bool() == Some(true)];
                            label for=(param) { (label) }
                        }
                    }
                    @let twiml_error = problem.and_then(|problem| problem.at("SwitchboardLastResortTwiml"));
                    div.field {
                        label for="SwitchboardLastResortTwiml" { (label_of("SwitchboardLastResortTwiml")) }
                        textarea #SwitchboardLastResortTwiml name="SwitchboardLastResortTwiml" rows="3"
                            aria-invalid=[twiml_error.as_ref().map(|_| "true")] { (field("switchboard_last_resort_twiml")) }
                        @if let Some(error) = &twiml_error { p.error { (error) } }
                    }
                }
                button type="submit" { "Save" }
            }
        }
        section aria-labelledby="probe-heading" {
            h2 #probe-heading { "Fallback probe" }
            @if probe.is_object() {
                @if probe["ok"].as_bool() == Some(true) {
                    p.ok { "The fallback URL answered the last probe (" (text(&probe["at"])) ")." }
                } @else {
                    p.bad { "The fallback URL failed the last probe (" (text(&probe["at"])) "): "
                        (probe["error_code"].as_u64().map(error_meaning).unwrap_or_default()) }
                }
            } @else {
                p { "Not probed yet (probes run when the engine is started with --probe-interval)." }
            }
        }
        section aria-labelledby="test-heading" {
            h2 #test-heading { "Test call" }
            form.inline method="post" novalidate action={(action) "/call"} {
                (csrf(console))
                div.field {
                    label for="Digits" { "Keys to press (0-9, *, #, w for a pause)" }
                    input #Digits type="text" name="Digits" inputmode="tel";
                }
                button type="submit" { "Place a test call" }
            }
            form.inline method="post" novalidate action={(action) "/call"} {
                (csrf(console))
                input type="hidden" name="Drill" value="true";
                button type="submit" { "Run a drill (primary treated as failed)" }
            }
        }
        section aria-labelledby="recent-calls" {
            h2 #recent-calls { "Recent calls" }
            (super::activity::call_table(&calls, "Recent calls"))
        }
        section aria-labelledby="recent-messages" {
            h2 #recent-messages { "Recent messages" }
            (super::activity::message_table(&messages, "Recent messages"))
        }
        section aria-labelledby="release-heading" {
            h2 #release-heading { "Release" }
            form method="post" novalidate action={(action) "/release"} {
                (csrf(console))
                button.danger type="submit" { "Release " (number) }
            }
        }
    };
    let mut response = layout(console, Section::Numbers, &number, body);
    if problem.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `POST /console/numbers/{sid}`: the REST update's rules; unchecked switches are `false`.
pub(crate) async fn update(
    console: Console,
    Path(sid): Path<String>,
    FormBody(params): FormBody,
) -> Response {
    let record = match posted_number(&console, &sid, &params).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let mut params = without_csrf(&params);
    for (param, _, _) in SWITCHES {
        let on = params.get(param) == Some("true");
        params.0.retain(|(name, _)| name != param);
        params.0.push((param.to_owned(), on.to_string()));
    }
    match phone_number::update(&console.scoped(), &record.sid, &params).await {
        Ok(_) => Redirect::to(&format!("/console/numbers/{sid}")).into_response(),
        Err(error) => {
            // The form is shown again with what was posted, so nothing typed is lost.
            let mut shown = record.doc.clone();
            let mut fields: Vec<&'static str> = vec!["FriendlyName", "SwitchboardLastResortTwiml"];
            for (url, url_field, method, method_field) in URL_FIELDS {
                fields.extend([url, method]);
                for (param, name) in [(url, url_field), (method, method_field)] {
                    if let Some(value) = params.get(param) {
                        shown[name] = Value::from(value);
                    }
                }
            }
            if let Some(value) = params.get("FriendlyName") {
                shown["friendly_name"] = Value::from(value);
            }
            if let Some(value) = params.get("SwitchboardLastResortTwiml") {
                shown["switchboard_last_resort_twiml"] = Value::from(value);
            }
            for (param, name, _) in SWITCHES {
                shown[name] = Value::from(params.get(param) == Some("true"));
            }
            number_page(&console, &shown, Some(Problem::of(error, &fields))).await
        }
    }
}

/// `POST /console/numbers/{sid}/release`.
pub(crate) async fn release(
    console: Console,
    Path(sid): Path<String>,
    FormBody(params): FormBody,
) -> Response {
    let record = match posted_number(&console, &sid, &params).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    match console
        .state
        .store
        .delete(Kind::PhoneNumber, &record.sid)
        .await
    {
        Ok(_) => Redirect::to("/console/numbers").into_response(),
        Err(error) => error_response(&error.into()),
    }
}

/// `POST /console/numbers/{sid}/call`: a sandbox call to the number (`Digits` pressed after
/// answering; `Drill=true` treats the primary as failed), then its live page.
pub(crate) async fn test_call(
    console: Console,
    Path(sid): Path<String>,
    FormBody(params): FormBody,
) -> Response {
    let record = match posted_number(&console, &sid, &params).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let digits = params
        .get("Digits")
        .map(str::trim)
        .filter(|digits| !digits.is_empty())
        .map(str::to_owned);
    if let Some(digits) = &digits
        && !digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'w'))
    {
        let error = ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            "Digits may only contain 0-9, *, # and w",
        );
        return number_page(&console, &record.doc, Some(Problem::of(error, &[]))).await;
    }
    let call = voice::InboundCall {
        from: TEST_CALLER.to_owned(),
        to: record.phone_number.clone().unwrap_or_default(),
        caller_name: None,
        forwarded_from: None,
        fast: false,
        digits,
        drill: params.get("Drill") == Some("true"),
        geo: Default::default(),
    };
    match console
        .state
        .engine
        .inbound_call(&console.account, &record, call)
        .await
    {
        Ok(started) => Redirect::to(&format!("/console/calls/{}", started.sid)).into_response(),
        Err(error) => error_response(&error.into()),
    }
}
