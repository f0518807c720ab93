//! `GET /switchboard/v1/Alerts/Stream`: the caller's alerts as server-sent events, as they are
//! stored. Each event is `id: <AlertSid>` and `data: <the alert as /v1/Alerts lists it>`; a
//! comment (`: keep-alive`) every 15 s keeps proxies from closing a quiet stream.
//!
//! The stream is a cursor over the store, not a relay of the engine's alert feed: the feed
//! (`Engine::subscribe_alerts`) only says when to read, and what is sent is read from the store
//! by `seq` (oldest first, in pages) after the last alert sent. That one read serves the backlog
//! after a reconnect (`Last-Event-ID`), a stream that lagged behind the feed
//! (`RecvError::Lagged`), and two alerts whose broadcasts raced each other out of `seq` order,
//! and the cursor (`Cursor`, which only moves forward) is why nothing is sent twice. The
//! feed is subscribed to before the starting point is read, so an alert stored while the stream
//! opens is either before that point or wakes the stream. Relaying the broadcast records
//! directly would have saved a read per alert, but sends them in the order their tasks woke up,
//! which a resume by `Last-Event-ID` (everything after that `seq`) could then skip or repeat.
//!
//! Scope: the caller's own account, as `/v1/Alerts` lists it (a parent account does not see its
//! subaccounts' alerts there, nor here). `LogLevel` (`error` or `warning`, any case, as on
//! `/v1/Alerts`) keeps one level.
//!
//! `Last-Event-ID` that is not an alert SID is refused (400, 20422). An alert SID that is not
//! one of the caller's alerts (unknown, or another account's: the two are not told apart)
//! cannot be resumed from: the stream starts from now and says so in its opening comment.
//!
//! With a database shared by several nodes (PostgreSQL), alerts stored by the other nodes are
//! not on this node's feed: the stream then also reads the store every second.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use switchboard_core::{Sid, SidKind, error_code};
use switchboard_engine::alerts;
use switchboard_store::Record;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::alert::render;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::query_params;

/// How often a quiet stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the store is read for other nodes' alerts when the database is shared.
const SHARED_STORE_POLL: Duration = Duration::from_secs(1);
/// Alerts read from the store at a time.
const PAGE: i64 = 100;
/// Chunks written but not yet taken by the connection.
const BUFFERED_CHUNKS: usize = 16;

/// One server-sent event: `id:` and one `data:` line per line of `data` (a JSON document
/// rendered compactly has one).
pub(crate) fn event(id: &str, data: &str) -> String {
    named_event(None, id, data)
}

/// `event` with an `event:` name first when one is given (the console's streams name theirs).
pub(crate) fn named_event(name: Option<&str>, id: &str, data: &str) -> String {
    let mut text = match name {
        Some(name) => format!("event: {name}\nid: {id}\n"),
        None => format!("id: {id}\n"),
    };
    for line in data.split('\n') {
        text.push_str("data: ");
        text.push_str(line.strip_suffix('\r').unwrap_or(line));
        text.push('\n');
    }
    text.push('\n');
    text
}

/// A comment line (ignored by clients; it keeps the connection busy), on one line.
pub(crate) fn comment(text: &str) -> String {
    format!(": {}\n\n", text.replace(['\r', '\n'], " "))
}

/// Where a stream is: the account and level it sends, and the `seq` of the last alert sent (or
/// of the point it started from). It only moves forward.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cursor {
    account_sid: String,
    level: Option<&'static str>,
    last_seq: i64,
}

impl Cursor {
    pub(crate) fn new(account_sid: String, level: Option<&'static str>, after_seq: i64) -> Self {
        Cursor {
            account_sid,
            level,
            last_seq: after_seq,
        }
    }

    /// Whether `record` is an alert this stream has yet to send.
    pub(crate) fn wants(&self, record: &Record) -> bool {
        record.account_sid == self.account_sid
            && self
                .level
                .is_none_or(|level| record.status.as_deref() == Some(level))
            && record.seq > self.last_seq
    }

    /// Marks `seq` sent; an older `seq` leaves the cursor where it is.
    pub(crate) fn advance(&mut self, seq: i64) {
        self.last_seq = self.last_seq.max(seq);
    }
}

/// `LogLevel`, as `/v1/Alerts` spells it; other values are refused (a stream filtered on a typo
/// would stay silent forever).
fn level(uri: &axum::http::Uri) -> ApiResult<Option<&'static str>> {
    let params = query_params(uri.query())?;
    let Some(value) = params.get("LogLevel") else {
        return Ok(None);
    };
    match value.to_ascii_lowercase().as_str() {
        "error" => Ok(Some("error")),
        "warning" => Ok(Some("warning")),
        _ => Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("LogLevel must be error or warning, not {value:?}"),
        )),
    }
}

/// The `Last-Event-ID` header, if present and not empty: an alert SID, else a 400.
fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    Sid::parse(SidKind::Notification, text)
        .map(|sid| Some(sid.into_string()))
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Last-Event-ID must be an alert SID (NO…), not {text:?}"),
            )
        })
}

/// How a stream writes one alert: the whole server-sent event.
pub(crate) type Render = fn(&AppState, &Record) -> String;

pub(crate) async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let level = level(&uri)?;
    let resume = last_event_id(&headers)?;
    open(
        state,
        caller.account.sid.clone(),
        level,
        resume,
        |state, record| event(&record.sid, &render(state, &record.doc, false).to_string()),
    )
    .await
}

/// A stream of `account_sid`'s alerts (of `level` only, when given) after the alert `resume`
/// (or from now), each written by `render`: the API's JSON events, the console's rows.
pub(crate) async fn open(
    state: AppState,
    account_sid: String,
    level: Option<&'static str>,
    resume: Option<String>,
    render: Render,
) -> ApiResult<Response> {
    // Subscribed before the starting point is read: see the module documentation.
    let feed = state.engine.subscribe_alerts();
    let store = state.store.as_ref();
    let (after_seq, opening) = match resume {
        Some(sid) => match alerts::seq_of(store, &account_sid, &sid).await? {
            Some(seq) => (seq, format!("resuming after {sid}")),
            None => (
                alerts::newest_seq(store, &account_sid).await?,
                format!("{sid} is not an alert of this account: streaming new alerts only"),
            ),
        },
        None => (
            alerts::newest_seq(store, &account_sid).await?,
            "streaming new alerts".to_owned(),
        ),
    };
    let (sink, chunks) = mpsc::channel(BUFFERED_CHUNKS);
    let cursor = Cursor::new(account_sid, level, after_seq);
    tokio::spawn(run(state, feed, cursor, sink, opening, render));
    Ok(event_stream(chunks))
}

/// A `text/event-stream` response whose body is the chunks sent on `chunks`'s sender.
pub(crate) fn event_stream(chunks: mpsc::Receiver<Bytes>) -> Response {
    let mut response = Body::new(EventBody(chunks)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Asks nginx-style proxies not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Writes the stream until the client goes, the feed closes or the engine shuts down.
async fn run(
    state: AppState,
    mut feed: broadcast::Receiver<Arc<Record>>,
    mut cursor: Cursor,
    sink: mpsc::Sender<Bytes>,
    opening: String,
    render: Render,
) {
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let mut poll = tokio::time::interval(SHARED_STORE_POLL);
    let shared = !state.store.is_single_node();
    if !deliver(&state, &sink, comment(&opening)).await
        || !catch_up(&state, &mut cursor, &sink, render).await
    {
        return;
    }
    loop {
        let read = tokio::select! {
            biased;
            () = state.engine.closing() => false,
            () = sink.closed() => return,
            received = feed.recv() => match received {
                Ok(record) => cursor.wants(&record),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an alert stream lagged behind the feed");
                    true
                }
                Err(RecvError::Closed) => false,
            },
            _ = keep_alive.tick() => {
                if !deliver(&state, &sink, comment("keep-alive")).await {
                    return;
                }
                false
            }
            _ = poll.tick(), if shared => true,
        };
        if state.engine.is_closing() {
            deliver(&state, &sink, comment("the engine is shutting down")).await;
            return;
        }
        if read && !catch_up(&state, &mut cursor, &sink, render).await {
            return;
        }
    }
}

/// Sends every alert after the cursor, page by page; `false` when the stream must end (the
/// client went, the engine is closing, or the store failed).
async fn catch_up(
    state: &AppState,
    cursor: &mut Cursor,
    sink: &mpsc::Sender<Bytes>,
    render: Render,
) -> bool {
    loop {
        let page = match alerts::after(
            state.store.as_ref(),
            &cursor.account_sid,
            cursor.level,
            cursor.last_seq,
            PAGE,
        )
        .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading alerts for a stream failed");
                // The client reconnects with the last id it got and loses nothing.
                deliver(state, sink, comment("reading alerts failed")).await;
                return false;
            }
        };
        for record in &page {
            if !deliver(state, sink, render(state, record)).await {
                return false;
            }
            cursor.advance(record.seq);
        }
        if (page.len() as i64) < PAGE {
            return true;
        }
    }
}

/// Hands `text` to the connection; `false` when the client is gone or the engine began closing
/// while a slow client held the write up.
pub(crate) async fn deliver(state: &AppState, sink: &mpsc::Sender<Bytes>, text: String) -> bool {
    tokio::select! {
        biased;
        sent = sink.send(Bytes::from(text)) => sent.is_ok(),
        () = state.engine.closing() => false,
    }
}

/// The response body: the chunks `run` writes, as they come.
struct EventBody(mpsc::Receiver<Bytes>);

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(context)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_store::Kind;

    #[test]
    fn events_are_an_id_and_one_data_line_per_line() {
        let check = |id: &str, data: &str, expect: &str| assert_eq!(event(id, data), expect);
        check("NO1", r#"{"a":1}"#, "id: NO1\ndata: {\"a\":1}\n\n");
        check("NO2", "one\ntwo", "id: NO2\ndata: one\ndata: two\n\n");
        check("NO3", "crlf\r\nend", "id: NO3\ndata: crlf\ndata: end\n\n");
        check("NO4", "", "id: NO4\ndata: \n\n");
        // A rendered alert is one line even when its texts hold line breaks.
        let data = json!({"alert_text": "line one\nline two"}).to_string();
        assert_eq!(event("NO5", &data).matches("data: ").count(), 1);
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("keep-alive"), ": keep-alive\n\n");
        assert_eq!(comment("a\nb\rc"), ": a b c\n\n");
    }

    fn alert(account: &str, level: &str, seq: i64) -> Record {
        let mut record = Record::new(
            Kind::Alert,
            format!("NO{seq}"),
            account.to_owned(),
            0,
            json!({}),
        );
        record.status = Some(level.to_owned());
        record.seq = seq;
        record
    }

    #[test]
    fn the_cursor_wants_only_newer_alerts_of_its_account_and_level() {
        let cursor = Cursor::new("AC1".into(), None, 10);
        for (record, wanted) in [
            (alert("AC1", "error", 11), true),
            (alert("AC1", "warning", 11), true),
            (alert("AC1", "error", 10), false),
            (alert("AC1", "error", 3), false),
            (alert("AC2", "error", 11), false),
        ] {
            assert_eq!(cursor.wants(&record), wanted, "{record:?}");
        }
        let errors = Cursor::new("AC1".into(), Some("error"), 10);
        assert!(errors.wants(&alert("AC1", "error", 12)));
        assert!(!errors.wants(&alert("AC1", "warning", 12)));
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let mut cursor = Cursor::new("AC1".into(), None, 10);
        cursor.advance(12);
        assert!(!cursor.wants(&alert("AC1", "error", 11)));
        assert!(!cursor.wants(&alert("AC1", "error", 12)));
        cursor.advance(5);
        assert!(!cursor.wants(&alert("AC1", "error", 12)));
        assert!(cursor.wants(&alert("AC1", "error", 13)));
    }

    #[test]
    fn log_level_and_last_event_id_are_checked() {
        let uri = |text: &str| text.parse::<axum::http::Uri>().unwrap();
        assert_eq!(level(&uri("/s")).unwrap(), None);
        assert_eq!(level(&uri("/s?LogLevel=Error")).unwrap(), Some("error"));
        assert_eq!(level(&uri("/s?LogLevel=warning")).unwrap(), Some("warning"));
        let refused = level(&uri("/s?LogLevel=notice")).unwrap_err();
        assert_eq!(refused.code, error_code::INVALID_PARAMETER);

        let headers = |value: &str| {
            let mut map = HeaderMap::new();
            map.insert("last-event-id", HeaderValue::from_str(value).unwrap());
            map
        };
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(last_event_id(&headers("")).unwrap(), None);
        let sid = format!("NO{}", "a".repeat(32));
        assert_eq!(last_event_id(&headers(&sid)).unwrap(), Some(sid));
        for bad in ["42", "CA0123456789abcdef0123456789abcdef", "NOxyz"] {
            let refused = last_event_id(&headers(bad)).unwrap_err();
            assert_eq!(refused.code, error_code::INVALID_PARAMETER, "{bad}");
        }
    }
}
