//! Calls and messages: lists with the REST filters and keyset paging, one call's page with its
//! transcript as a timeline (live while the call runs, over server-sent events) and its
//! recordings, and one message's page.
//!
//! The lists are the REST lists (`call::LIST`, `message::LIST`) read through the console's
//! query string, so the filters, their validation and the paging (keyset on `seq`, which stays
//! fast deep into a large table) are the API's own. Transcripts live in the memory of the node
//! that ran the session (`Engine::sandbox`); a call run by another node, or forgotten after a
//! restart, shows its stored resource without one.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::Uri;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;
use switchboard_store::{Kind, ListQuery, Order, Record};
use tokio::sync::mpsc;

use super::page::{Section, error_meaning, error_response, layout, pager, scroll, text};
use super::session::Console;
use crate::form::query_params;
use crate::resources::alert_stream::{comment, deliver, event_stream, named_event};
use crate::resources::listing::Listing;
use crate::resources::{call, message};

/// A quiet live page gets a comment this often, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The console's query string without empty values (an empty filter input means "any").
pub(crate) fn list_uri(path: &str, uri: &Uri) -> Uri {
    let kept: Vec<(String, String)> = query_params(uri.query())
        .map(|params| params.0)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let query = crate::form::Params(kept).encode();
    let text = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    text.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

/// The page of `listing` the console's query asks for, as the REST envelope.
async fn listed(console: &Console, listing: &Listing, path: &str) -> Result<Value, Response> {
    let uri = list_uri(path, &console.uri);
    listing
        .answer(&console.state, listing.query(&console.account.sid), &uri)
        .await
        .map_err(|error| error_response(&error))
}

fn filter_value(console: &Console, name: &str) -> String {
    query_params(console.uri.query())
        .ok()
        .and_then(|params| params.get(name).map(str::to_owned))
        .unwrap_or_default()
}

fn filter_input(console: &Console, name: &str, label: &str, kind: &str) -> Markup {
    let id = format!("filter-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input #(id) type=(kind) name=(name) value=(filter_value(console, name));
        }
    }
}

/// A table of calls (stored rows, as a number's page lists them).
pub(crate) fn call_table(rows: &[Record], label: &str) -> Markup {
    let docs: Vec<Value> = rows.iter().map(|row| call::render(&row.doc)).collect();
    call_rows(&docs, label)
}

fn call_rows(calls: &[Value], label: &str) -> Markup {
    html! {
        @if calls.is_empty() {
            p { "No calls." }
        } @else {
            (scroll(label, html! {
                table {
                    thead { tr {
                        th scope="col" { "Call" } th scope="col" { "From" } th scope="col" { "To" }
                        th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "Duration (s)" }
                    } }
                    tbody {
                        @for call in calls {
                            tr {
                                td { a href={"/console/calls/" (text(&call["sid"]))} { (text(&call["sid"])) } }
                                td { (text(&call["from"])) }
                                td { (text(&call["to"])) }
                                td { span.status { (text(&call["status"])) } }
                                td { (text(&call["start_time"])) }
                                td { (text(&call["duration"])) }
                            }
                        }
                    }
                }
            }))
        }
    }
}

/// A table of messages (stored rows).
pub(crate) fn message_table(rows: &[Record], label: &str) -> Markup {
    let docs: Vec<Value> = rows.iter().map(|row| message::render(&row.doc)).collect();
    message_rows(&docs, label)
}

fn message_rows(messages: &[Value], label: &str) -> Markup {
    html! {
        @if messages.is_empty() {
            p { "No messages." }
        } @else {
            (scroll(label, html! {
                table {
                    thead { tr {
                        th scope="col" { "Message" } th scope="col" { "From" } th scope="col" { "To" }
                        th scope="col" { "Status" } th scope="col" { "Sent" } th scope="col" { "Body" }
                    } }
                    tbody {
                        @for message in messages {
                            tr {
                                td { a href={"/console/messages/" (text(&message["sid"]))} { (text(&message["sid"])) } }
                                td { (text(&message["from"])) }
                                td { (text(&message["to"])) }
                                td { span.status { (text(&message["status"])) } }
                                td { (text(&message["date_created"])) }
                                td.body { (text(&message["body"])) }
                            }
                        }
                    }
                }
            }))
        }
    }
}

/// `GET /console/calls`: filters `Status`, `To`, `From`, `StartTime` (a day), paged.
pub(crate) async fn calls(console: Console) -> Response {
    let envelope = match listed(&console, &call::LIST, "/console/calls").await {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    let calls = envelope["calls"].as_array().cloned().unwrap_or_default();
    let status = filter_value(&console, "Status");
    let body = html! {
        form.filters method="get" action="/console/calls" role="search" aria-label="Filter calls" {
            div.field {
                label for="filter-Status" { "Status" }
                select #filter-Status name="Status" {
                    option value="" selected[status.is_empty()] { "Any" }
                    @for option in call::STATUSES {
                        option value=(option) selected[status == option] { (option) }
                    }
                }
            }
            (filter_input(&console, "To", "To number", "tel"))
            (filter_input(&console, "From", "From number", "tel"))
            (filter_input(&console, "StartTime", "Started on", "date"))
            button type="submit" { "Filter" }
        }
        (call_rows(&calls, "Calls"))
        (pager(&envelope, "/console/calls"))
    };
    layout(&console, Section::Calls, "Calls", body)
}

/// `GET /console/messages`: filters `To`, `From`, `DateSent` (a day), paged.
pub(crate) async fn messages(console: Console) -> Response {
    let envelope = match listed(&console, &message::LIST, "/console/messages").await {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    let messages = envelope["messages"].as_array().cloned().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/console/messages" role="search" aria-label="Filter messages" {
            (filter_input(&console, "To", "To number", "tel"))
            (filter_input(&console, "From", "From number", "tel"))
            (filter_input(&console, "DateSent", "Sent on", "date"))
            button type="submit" { "Filter" }
        }
        (message_rows(&messages, "Messages"))
        (pager(&envelope, "/console/messages"))
    };
    layout(&console, Section::Messages, "Messages", body)
}

/// One transcript event as a timeline item.
pub(crate) fn event_item(event: &Value) -> Markup {
    let kind = event["type"].as_str().unwrap_or("event");
    let at = event["at_ms"].as_u64().unwrap_or_default();
    html! {
        li.event data-type=(kind) {
            span.at { (format!("{:.1} s", at as f64 / 1000.0)) }
            span.kind { (kind) }
            div.what { (event_detail(kind, event)) }
        }
    }
}

fn event_detail(kind: &str, event: &Value) -> Markup {
    match kind {
        "webhook" => webhook_detail(event),
        "status" => html! { "Status: " strong { (text(&event["status"])) } },
        "say" => {
            html! { "Say " q { (text(&event["text"])) } @if event["source"] != "twiml" { " (" (text(&event["source"])) ")" } }
        }
        "alert" => {
            let sid = text(&event["sid"]);
            html! {
                a href={"/console/alerts/" (sid)} { "Alert " (sid) }
                " · " (text(&event["level"])) " · "
                (event["error_code"].as_u64().map(error_meaning).unwrap_or_default())
            }
        }
        "hangup" => html! { "Hung up by " (text(&event["by"])) },
        _ => {
            let mut fields = event.as_object().cloned().unwrap_or_default();
            for stamp in ["seq", "at_ms", "type"] {
                fields.remove(stamp);
            }
            html! { code { (Value::Object(fields).to_string()) } }
        }
    }
}

fn webhook_detail(event: &Value) -> Markup {
    let fallback = event["fallback"].as_bool() == Some(true);
    let status = match event["http_status"].as_u64() {
        Some(status) => format!("HTTP {status}"),
        None if event["breaker"] == "open" => "not sent (circuit breaker open)".to_owned(),
        None => "no answer".to_owned(),
    };
    let params = event["params"].as_object();
    html! {
        div.request {
            @if fallback { span.badge.fallback { "fallback" } " " }
            strong { (text(&event["method"])) } " " span.url { (text(&event["url"])) }
        }
        div.outcome {
            (status) " · " (text(&event["duration_ms"])) " ms"
            @if let Some(code) = event["error_code"].as_u64() {
                " · " span.bad { "error " (error_meaning(code)) }
            }
        }
        @if let Some(params) = params {
            details {
                summary { "Parameters sent (" (params.len()) ")" }
                dl.params {
                    @for (name, value) in params {
                        dt { (name) } dd { (text(value)) }
                    }
                }
            }
        }
        @if let Some(body) = event["body_excerpt"].as_str().filter(|body| !body.is_empty()) {
            details {
                summary { "Response body" }
                pre { (body) }
            }
        }
    }
}

/// The timeline of `events` (their JSON texts), and whether the list stays open for more.
fn timeline(events: &[Box<str>], live_from: Option<(String, usize)>) -> Markup {
    html! {
        ol.timeline #timeline
            data-live=[live_from.as_ref().map(|(sid, from)| format!("/console/calls/{sid}/live?from={from}"))]
            aria-live="polite" {
            @for event in events {
                @if let Ok(event) = serde_json::from_str::<Value>(event) { (event_item(&event)) }
            }
        }
    }
}

/// `GET /console/calls/{sid}`: the call, its recordings and its transcript.
pub(crate) async fn call(console: Console, Path(sid): Path<String>) -> Response {
    let record = match console.scoped().record(Kind::Call, &sid).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let call = call::render(&record.doc);
    let mut recordings_query = ListQuery::new(Kind::Recording, &console.account.sid);
    recordings_query.parent_sid = Some(record.sid.clone());
    recordings_query.order = Order::Ascending;
    let recordings = console
        .state
        .store
        .list(&recordings_query)
        .await
        .unwrap_or_default();
    let log = console.state.engine.sandbox().log(&record.sid);
    let details = [
        ("From", "from"),
        ("To", "to"),
        ("Direction", "direction"),
        ("Started", "start_time"),
        ("Ended", "end_time"),
        ("Duration (s)", "duration"),
        ("Parent call", "parent_call_sid"),
    ];
    let body = html! {
        dl.facts {
            dt { "Status" } dd { strong #call-status { (text(&call["status"])) } }
            @for (label, field) in details {
                dt { (label) } dd { (text(&call[field])) }
            }
        }
        section aria-labelledby="recordings-heading" {
            h2 #recordings-heading { "Recordings" }
            @if recordings.is_empty() {
                p { "No recordings." }
            } @else {
                ul.recordings {
                    @for recording in &recordings {
                        li {
                            span { (recording.sid) " · " (text(&recording.doc["duration"])) " s" }
                            audio controls preload="none"
                                src={"/2010-04-01/Accounts/" (recording.account_sid) "/Recordings/" (recording.sid) ".wav"}
                                aria-label={"Recording " (recording.sid)} {}
                        }
                    }
                }
            }
        }
        section aria-labelledby="transcript-heading" {
            h2 #transcript-heading { "Transcript" }
            @match &log {
                Some(log) => {
                    @let (events, done) = log.events_from(0);
                    @let live = (!done).then(|| (record.sid.clone(), events.len()));
                    @if !done { p.live #live-note { "The call is running: new events appear as they happen." } }
                    (timeline(&events, live))
                }
                None => p { "This node holds no transcript for the call (transcripts are kept in memory by the node that ran the call, and the oldest finished ones are forgotten)." }
            }
        }
    };
    layout(
        &console,
        Section::Calls,
        &format!("Call {}", record.sid),
        body,
    )
}

/// `GET /console/calls/{sid}/live?from=N`: the call's transcript events from index `N` as
/// server-sent events (`event: item`, the timeline item's HTML), then `event: end` when the call
/// is over.
pub(crate) async fn call_live(console: Console, Path(sid): Path<String>) -> Response {
    let record = match console.scoped().record(Kind::Call, &sid).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let Some(log) = console.state.engine.sandbox().log(&record.sid) else {
        return error_response(&crate::error::ApiError::not_found(console.uri.path()));
    };
    let from = query_params(console.uri.query())
        .ok()
        .and_then(|params| params.get("from").and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(0);
    let (sink, chunks) = mpsc::channel::<Bytes>(16);
    let state = console.state.clone();
    tokio::spawn(async move {
        let mut next = from;
        loop {
            let (events, done) = log.events_from(next);
            for text in &events {
                next += 1;
                let Ok(event) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if event["type"] == "status"
                    && let Some(status) = event["status"].as_str()
                    && !deliver(&state, &sink, named("status", &next.to_string(), status)).await
                {
                    return;
                }
                let item = event_item(&event).into_string();
                if !deliver(&state, &sink, named("item", &next.to_string(), &item)).await {
                    return;
                }
            }
            if done {
                deliver(&state, &sink, named("end", &next.to_string(), "")).await;
                return;
            }
            tokio::select! {
                () = log.wait_beyond(next, KEEP_ALIVE) => {}
                () = sink.closed() => return,
                () = state.engine.closing() => return,
            }
            if log.events_from(next).0.is_empty()
                && !log.is_done()
                && !deliver(&state, &sink, comment("keep-alive")).await
            {
                return;
            }
        }
    });
    event_stream(chunks)
}

/// A named server-sent event (`event:`, `id:` and one `data:` line per line).
pub(crate) fn named(name: &str, id: &str, data: &str) -> String {
    named_event(Some(name), id, data)
}

/// `GET /console/messages/{sid}`.
pub(crate) async fn message(console: Console, Path(sid): Path<String>) -> Response {
    let record = match console.scoped().record(Kind::Message, &sid).await {
        Ok(record) => record,
        Err(error) => return error_response(&error),
    };
    let message = message::render(&record.doc);
    let log = console.state.engine.sandbox().log(&record.sid);
    let details = [
        ("From", "from"),
        ("To", "to"),
        ("Direction", "direction"),
        ("Sent", "date_sent"),
        ("Segments", "num_segments"),
        ("Media", "num_media"),
        ("Error code", "error_code"),
    ];
    let body = html! {
        dl.facts {
            dt { "Status" } dd { strong { (text(&message["status"])) } }
            @for (label, field) in details {
                dt { (label) } dd { (text(&message[field])) }
            }
            dt { "Body" } dd.body { (text(&message["body"])) }
        }
        section aria-labelledby="transcript-heading" {
            h2 #transcript-heading { "Transcript" }
            @match &log {
                Some(log) => {
                    @let (events, _) = log.events_from(0);
                    (timeline(&events, None))
                }
                None => p { "This node holds no transcript for the message." }
            }
        }
    };
    layout(
        &console,
        Section::Messages,
        &format!("Message {}", record.sid),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_filters_are_dropped_from_the_list_query() {
        let uri: Uri = "/console/calls?Status=&To=%2B15551234567&StartTime="
            .parse()
            .unwrap();
        assert_eq!(
            list_uri("/console/calls", &uri).to_string(),
            "/console/calls?To=%2B15551234567"
        );
        let bare: Uri = "/console/calls".parse().unwrap();
        assert_eq!(
            list_uri("/console/calls", &bare).to_string(),
            "/console/calls"
        );
    }

    #[test]
    fn a_fallback_webhook_shows_its_code_parameters_and_body() {
        let event = json!({
            "seq": 3, "at_ms": 1500, "type": "webhook", "url": "http://app/fallback",
            "method": "POST", "http_status": 200, "error_code": null, "fallback": true,
            "duration_ms": 12, "attempts": 1,
            "params": {"ErrorCode": "11200", "ErrorUrl": "http://app/<down>"},
            "body_excerpt": "<Response><Say>hi</Say></Response>"
        });
        let html = event_item(&event).into_string();
        assert!(html.contains("fallback"), "{html}");
        assert!(html.contains("<dt>ErrorCode</dt><dd>11200</dd>"), "{html}");
        assert!(html.contains("http://app/&lt;down&gt;"), "{html}");
        assert!(html.contains("&lt;Response&gt;"), "{html}");
        let failed = json!({"type": "webhook", "at_ms": 0, "url": "http://down", "method": "POST",
            "http_status": null, "error_code": 11200, "fallback": false, "duration_ms": 3});
        let html = event_item(&failed).into_string();
        assert!(html.contains("11200 HTTP retrieval failure"), "{html}");
        assert!(html.contains("no answer"), "{html}");
    }

    #[test]
    fn named_events_put_each_line_in_its_own_data_field() {
        assert_eq!(
            named("item", "4", "<li>\nx</li>"),
            "event: item\nid: 4\ndata: <li>\ndata: x</li>\n\n"
        );
    }
}
