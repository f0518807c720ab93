//! Media streams (§7.12): `<Start><Stream>` opens a one-way stream and the next verb runs at
//! once; `<Stop><Stream name>` closes one; `<Connect><Stream>` opens a two-way stream and holds
//! the call until the driver reports `StreamEnded` (the application closed the WebSocket, or it
//! could not be opened, or it dropped): then the `<Connect action>` is requested (its answer
//! replaces the document) or, without one, the verbs after `<Connect>` run.
//!
//! The stream URL is kept as written: it is what the opening request signs, and the driver
//! checks it (31922/31923) when it opens the socket. A `<Connect>` stream whose track is not
//! `inbound_track` is not opened: an ERROR alert 31941 and the next verb, as when a stream
//! cannot be opened.

use switchboard_core::ErrorCode;
use switchboard_core::error_code::STREAM_INVALID_TRACK;
use switchboard_twiml::Level;
use switchboard_twiml::Method;
use switchboard_twiml::verb::{ConnectStream, StopStream, Stream, StreamTrack};

use crate::action::{Action, ExecutionFailure, FetchPurpose, StreamOpen};
use crate::call::{Call, Step};
use crate::program::Program;

/// A `<Connect><Stream>` that holds the call.
#[derive(Debug)]
pub(crate) struct ConnectRun {
    action: Option<String>,
    method: Method,
}

impl Call {
    fn stream_open(&mut self, stream: Stream, two_way: bool) -> StreamOpen {
        let status_callback = self.resolve_callback(stream.status_callback.as_deref());
        StreamOpen {
            url: stream.url,
            name: stream.name,
            track: stream.track,
            two_way,
            status_callback,
            status_callback_method: stream.status_callback_method,
            parameters: stream
                .parameters
                .into_iter()
                .map(|parameter| (parameter.name, parameter.value))
                .collect(),
        }
    }

    pub(crate) fn start_stream(&mut self, stream: Stream) {
        self.ensure_answered();
        let open = self.stream_open(stream, false);
        self.emit(Action::StartStream(open));
    }

    pub(crate) fn stop_stream(&mut self, stop: StopStream) {
        self.emit(Action::StopStream { name: stop.name });
    }

    pub(crate) fn connect_stream(&mut self, connect: ConnectStream) {
        self.ensure_answered();
        if connect.stream.track != StreamTrack::InboundTrack {
            let message = format!(
                "<Connect><Stream> carries only inbound_track, not {}; the stream was not opened",
                connect.stream.track
            );
            let url = self.program.url().map(str::to_owned);
            self.alert(STREAM_INVALID_TRACK, Level::Error, message, url);
            return self.connect_ended(connect.action, connect.method);
        }
        let open = self.stream_open(connect.stream, true);
        self.emit(Action::ConnectStream(open));
        self.step = Step::Connected(Box::new(ConnectRun {
            action: connect.action,
            method: connect.method,
        }));
    }

    /// The two-way stream closed (or never opened).
    pub(crate) fn on_stream_ended(&mut self) {
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Connected(run) => self.connect_ended(run.action, run.method),
            other => self.step = other,
        }
    }

    /// The two-way stream failed over and gave up: the fallback URL runs instead.
    pub(crate) fn on_stream_failed(&mut self, code: ErrorCode, message: String, url: String) {
        if !matches!(self.step, Step::Connected(_)) {
            return;
        }
        self.step = Step::Idle;
        let params = self.params();
        if !self.count_document(Some(&url)) {
            return;
        }
        self.program = Program::default();
        self.emit(Action::ExecutionFailed(ExecutionFailure {
            code,
            message,
            error_url: Some(url),
            params,
        }));
        self.step = Step::AwaitingDocument;
    }

    fn connect_ended(&mut self, action: Option<String>, method: Method) {
        let Some(action) = action else {
            return;
        };
        let params = self.params();
        let purpose = FetchPurpose::ConnectAction;
        self.request_action(Some(&action), method, params, purpose, "Connect");
    }
}
