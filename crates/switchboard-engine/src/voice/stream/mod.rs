//! Media streams of a call (`<Start><Stream>`, `<Connect><Stream>`): the driver's side. Each
//! stream is one task (`socket.rs`) holding its WebSocket; the driver keeps the list of the
//! call's running streams, tells them the caller's keys and when to stop, and hears back
//! through the call's inbox (`CallInput::Stream`) that a stream started, failed, warned, echoed
//! a mark or ended. Those become transcript events (`stream`, `mark`), alerts (319xx),
//! stream status callbacks (through the outbox, like the call's own) and, for the two-way
//! stream of a `<Connect>`, `Input::StreamEnded`, after which the TwiML goes on.
//!
//! The audio itself never passes through the driver: the stream task attaches to the call's
//! media task (`switchboard_media::session::StreamTap`), which sends the caller's frames to it
//! and plays what the application sends. The sandbox has no media task: a sandbox stream
//! carries the protocol (`connected`, `start`, `dtmf`, `mark`, `stop`) without audio.

mod rest;
mod socket;

pub use rest::{NewStream, StreamCommand, StreamRefusal, StreamReply, StreamRequest};

use std::sync::Arc;

use serde_json::json;
use switchboard_core::{ErrorCode, Method, Sid, SidKind, date};
use switchboard_flow::{Input, StreamOpen};
use switchboard_twiml::Level;
use switchboard_webhook::{Channel, CookieJar, WebhookRequest};
use tokio::sync::mpsc;

pub(crate) use socket::Report;
use socket::{Control, Opening};

use crate::voice::driver::Driver;
use crate::voice::live::CallInput;
use crate::voice::media::MediaEnd;
use crate::voice::perform::flow_alert;
use crate::{alerts, now_ms};

/// One running stream of the call.
#[derive(Debug)]
struct Running {
    sid: String,
    name: Option<String>,
    url: String,
    two_way: bool,
    control: mpsc::UnboundedSender<Control>,
    status_callback: Option<(String, Method)>,
}

/// The call's running streams.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    running: Vec<Running>,
    /// The stream the `<Connect>` that runs now waits for.
    connect: Option<String>,
}

/// What a stream reported, as the call's input.
#[derive(Debug)]
pub struct StreamReport {
    stream_sid: String,
    report: Report,
}

impl Driver {
    /// `<Start><Stream>`, `<Connect><Stream>` or REST: the stream's task starts opening the
    /// socket; returns the stream's SID.
    pub(crate) fn open_stream(&mut self, open: StreamOpen) -> String {
        let sid = Sid::generate(SidKind::Stream).into_string();
        let (control, commands) = mpsc::unbounded_channel();
        let opening = Opening {
            stream_sid: sid.clone(),
            account_sid: self.account.sid.clone(),
            call_sid: self.call_sid().to_owned(),
            auth_token: self.account.auth_token.clone(),
            url: open.url.clone(),
            track: open.track,
            two_way: open.two_way,
            parameters: open.parameters,
            retry_for: self
                .resilience
                .as_ref()
                .filter(|number| number.stream_failover && open.two_way)
                .map(|_| self.state.stream_retry_for),
            sandbox: match &self.media {
                MediaEnd::Sandbox(_) => Some(self.log.clone()),
                MediaEnd::Sip(_) => None,
            },
        };
        let media = match &self.media {
            MediaEnd::Sip(leg) => leg.media_handle(),
            MediaEnd::Sandbox(_) => None,
        };
        let connector =
            tokio_tungstenite::Connector::Rustls(Arc::new(self.state.webhooks.tls_client_config()));
        let engine = self.state.clone();
        let call_sid = self.call_sid().to_owned();
        let stream_sid = sid.clone();
        let report = move |report: Report| {
            let input = CallInput::Stream(Box::new(StreamReport {
                stream_sid: stream_sid.clone(),
                report,
            }));
            engine.live.send(&call_sid, input);
        };
        self.state
            .spawn(socket::run(opening, connector, media, commands, report));
        if open.two_way {
            self.streams.connect = Some(sid.clone());
        }
        self.streams.running.push(Running {
            sid: sid.clone(),
            name: open.name,
            url: open.url,
            two_way: open.two_way,
            control,
            status_callback: open
                .status_callback
                .map(|url| (url, open.status_callback_method)),
        });
        sid
    }

    /// `<Stop><Stream name>`: the one-way streams of that name (every one-way stream without
    /// one) send `stop` and close.
    pub(crate) fn stop_streams(&mut self, name: Option<&str>) {
        for stream in &self.streams.running {
            if !stream.two_way && (name.is_none() || stream.name.as_deref() == name) {
                let _ = stream.control.send(Control::Stop);
            }
        }
    }

    /// The flow left the `<Connect>` (a live update, a REST end): its stream closes.
    pub(crate) fn end_connect(&mut self) {
        let Some(sid) = self.streams.connect.take() else {
            return;
        };
        if let Some(stream) = self.streams.running.iter().find(|s| s.sid == sid) {
            let _ = stream.control.send(Control::Stop);
        }
    }

    /// The caller pressed keys: two-way streams hear them as `dtmf`.
    pub(crate) fn streams_hear_digits(&self, digits: &str) {
        for stream in self.streams.running.iter().filter(|s| s.two_way) {
            for digit in digits
                .chars()
                .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
            {
                let _ = stream.control.send(Control::Dtmf(digit));
            }
        }
    }

    /// The sandbox caller talks: its streams hear it (a real call's audio reaches them from
    /// its media task).
    pub(crate) fn streams_hear_caller(&self, clip: &crate::voice::recording::Clip) {
        if self.streams.running.is_empty() || !matches!(self.media, MediaEnd::Sandbox(_)) {
            return;
        }
        let samples = Arc::new(match &clip.pcm {
            Some(pcm) => pcm.as_ref().clone(),
            None => (0..usize::try_from(clip.ms * 8).unwrap_or(0))
                .map(crate::voice::recording::tone_sample)
                .collect(),
        });
        for stream in &self.streams.running {
            let _ = stream.control.send(Control::CallerAudio(samples.clone()));
        }
    }

    /// The call ends: every stream sends `stop` and closes; the driver will not hear back, so
    /// their `stop` events and `stream-stopped` callbacks are written now.
    pub(crate) async fn close_streams(&mut self) {
        self.streams.connect = None;
        while !self.streams.running.is_empty() {
            let _ = self.streams.running[0].control.send(Control::Stop);
            let stream = &self.streams.running[0];
            self.log.push(
                "stream",
                json!({"action": "stop", "stream_sid": stream.sid, "name": stream.name,
                       "url": stream.url, "error_code": null, "normal": true, "by": "engine"}),
            );
            self.stream_callback(0, "stream-stopped", None).await;
            self.streams.running.remove(0);
        }
    }

    /// What a stream's task reported.
    pub(crate) async fn on_stream_report(&mut self, report: StreamReport) {
        let StreamReport { stream_sid, report } = report;
        let Some(index) = self
            .streams
            .running
            .iter()
            .position(|stream| stream.sid == stream_sid)
        else {
            return;
        };
        match report {
            Report::Started => {
                self.log_stream(index, "start", None);
                self.stream_callback(index, "stream-started", None).await;
            }
            Report::Warning { code, message } => {
                let url = self.streams.running[index].url.clone();
                self.stream_alert(code, Level::Warning, message, url).await;
            }
            Report::Mark(name) => self.log.push("mark", json!({"name": name})),
            Report::Audio(ms) => self.log.push("stream_audio", json!({"ms": ms})),
            Report::Failed { code, message } => {
                let url = self.streams.running[index].url.clone();
                self.stream_alert(code, Level::Error, message.clone(), url)
                    .await;
                self.log_stream(index, "error", Some(code));
                self.stream_callback(index, "stream-error", Some(&message))
                    .await;
                self.stream_over(index);
            }
            Report::Retrying { code, message } => {
                let url = self.streams.running[index].url.clone();
                self.stream_alert(code, Level::Warning, message, url).await;
                self.log_stream(index, "reconnect", Some(code));
            }
            Report::GaveUp { code, message } => {
                self.log_stream(index, "error", Some(code));
                self.stream_callback(index, "stream-error", Some(&message))
                    .await;
                let stream = self.streams.running.remove(index);
                if self.streams.connect.as_deref() == Some(stream.sid.as_str()) {
                    // The fallback request records the ERROR alert (`ExecutionFailed`).
                    self.streams.connect = None;
                    let url = stream.url;
                    self.feed(Input::StreamFailed { code, message, url });
                } else {
                    self.stream_alert(code, Level::Error, message, stream.url)
                        .await;
                }
            }
            Report::Ended { normal, by_engine } => {
                let stream = &self.streams.running[index];
                self.log.push(
                    "stream",
                    json!({"action": "stop", "stream_sid": stream.sid, "name": stream.name,
                           "url": stream.url, "error_code": null, "normal": normal,
                           "by": if by_engine { "engine" } else { "application" }}),
                );
                self.stream_callback(index, "stream-stopped", None).await;
                self.stream_over(index);
            }
        }
    }

    /// The stream at `index` is over; the `<Connect>` waiting for it goes on.
    fn stream_over(&mut self, index: usize) {
        let stream = self.streams.running.remove(index);
        if self.streams.connect.as_deref() == Some(stream.sid.as_str()) {
            self.streams.connect = None;
            self.feed(Input::StreamEnded);
        }
    }

    fn log_stream(&self, index: usize, action: &str, code: Option<ErrorCode>) {
        let stream = &self.streams.running[index];
        self.log.push(
            "stream",
            json!({"action": action, "stream_sid": stream.sid, "name": stream.name,
                   "url": stream.url, "error_code": code.map(|code| code.code)}),
        );
    }

    async fn stream_alert(&mut self, code: ErrorCode, level: Level, message: String, url: String) {
        let alert = switchboard_flow::Alert {
            code,
            level,
            message,
            url: Some(url),
        };
        self.record_alert(&flow_alert(&alert)).await;
    }

    /// A stream status callback (`statusCallback` of `<Stream>`), through the outbox.
    async fn stream_callback(&mut self, index: usize, event: &str, error: Option<&str>) {
        let stream = &self.streams.running[index];
        let Some((url, method)) = stream.status_callback.clone() else {
            return;
        };
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), self.account.sid.clone()),
            ("CallSid".into(), self.call_sid().to_owned()),
            ("StreamSid".into(), stream.sid.clone()),
            (
                "StreamName".into(),
                stream.name.clone().unwrap_or_else(|| stream.sid.clone()),
            ),
            ("StreamEvent".into(), event.to_owned()),
        ];
        if let Some(error) = error {
            params.push(("StreamError".into(), error.to_owned()));
        }
        params.push(("Timestamp".into(), date::iso8601(now_ms())));
        let request = WebhookRequest::form(url, method, params);
        let target = self.alert_target();
        let pending = crate::outbox::enqueue(
            &target.state,
            &target.account_sid,
            Some(&target.call_sid),
            crate::outbox::Kind::StreamStatus,
            Channel::Voice,
            request,
        )
        .await;
        target.state.clone().spawn(async move {
            let mut cookies = CookieJar::default();
            let result =
                crate::outbox::attempt(&target.state, pending, &target.auth_token, &mut cookies)
                    .await;
            for alert in &result.alerts {
                let call_sid = Some(target.call_sid.as_str());
                if let Err(error) =
                    alerts::record(&target.state, &target.account_sid, call_sid, alert).await
                {
                    tracing::error!(?error, "recording a stream-callback alert failed");
                }
            }
        });
    }
}
