//! One media stream's WebSocket client task (tokio-tungstenite over the webhooks' rustls
//! configuration): it opens the socket with the signed request, speaks Twilio's frames, moves
//! audio between the socket and the call's media task, and reports to the call's driver.
//!
//! The task never blocks the call: the media task hands it frames through a bounded channel
//! (`try_send`, dropped when full), and a socket that is slow to take them only slows this
//! task. What the application sends is bounded here before it reaches the media task:
//! - audio: at most [`MAX_QUEUED_AUDIO`] bytes (20 s) queued and not played; audio past that is
//!   dropped (the newest) with one WARNING alert 31924 until the queue has drained to half;
//! - marks: at most [`MAX_PENDING_MARKS`] not echoed yet; more are dropped with a 31924 warning;
//! - a text frame over [`MAX_APPLICATION_FRAME`] (64 KiB), a binary frame, JSON that is not one
//!   of `media`/`mark`/`clear`, or a payload that is not base64: 31924 WARNING, and the stream
//!   goes on. Warnings are recorded for the first [`MAX_WARNINGS`] problems of a stream only,
//!   so a flood of garbage cannot flood the alert store either.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_core::ErrorCode;
use switchboard_core::error_code::{
    STREAM_CONNECTION_REFUSED, STREAM_CONNECTION_TIMEOUT, STREAM_HANDSHAKE_FAILED,
    STREAM_PROTOCOL_ERROR, STREAM_TLS_FAILED, STREAM_URL_MALFORMED, STREAM_URL_SCHEME,
};
use switchboard_media::session::{MediaHandle, StreamTap, TapFrame};
use switchboard_rtp::Law;
use switchboard_twiml::verb::{StreamTrack, UrlProblem, url_problem};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long opening the socket (TCP, TLS and the upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Application audio queued and not played yet, at most (20 s of 8 kHz µ-law).
pub(crate) const MAX_QUEUED_AUDIO: usize = 20 * 8000;
/// Marks sent by the application and not echoed yet, at most.
pub(crate) const MAX_PENDING_MARKS: usize = 1024;
/// Largest text frame the application may send (Twilio documents 64 KiB).
pub(crate) const MAX_APPLICATION_FRAME: usize = 64 * 1024;
/// Largest message read at all (bigger ones end the socket; up to this they are a warning).
const MAX_READ_MESSAGE: usize = 1024 * 1024;
/// Frames to the application waiting in the channel from the media task (1 s of audio).
const FRAME_QUEUE: usize = 50;
/// Protocol warnings recorded per stream.
const MAX_WARNINGS: u32 = 10;

/// Everything the task needs to open one stream.
pub(crate) struct Opening {
    pub(crate) stream_sid: String,
    pub(crate) account_sid: String,
    pub(crate) call_sid: String,
    pub(crate) auth_token: String,
    /// As the TwiML wrote it (what is signed).
    pub(crate) url: String,
    pub(crate) track: StreamTrack,
    pub(crate) two_way: bool,
    pub(crate) parameters: Vec<(String, String)>,
    /// Beyond Twilio (`SwitchboardStreamFailover`, two-way streams): how long a socket that
    /// cannot be opened or drops without a normal close is opened again, with backoff.
    pub(crate) retry_for: Option<Duration>,
    /// A sandbox call (no media task): the transcript whose heard audio the stream's audio
    /// goes into, played by this task on its own 20 ms clock.
    pub(crate) sandbox: Option<Arc<crate::sandbox::Log>>,
}

/// Caller audio of a sandbox call waiting to be "said" to the stream, at most (60 s).
const MAX_CALLER_SAMPLES: usize = 60 * 8000;

/// Waits between attempts to reopen a failed-over stream (then the last one, repeated).
const BACKOFF_MS: [u64; 4] = [500, 1000, 2000, 4000];

/// What the driver asks of a running stream.
#[derive(Debug)]
pub(crate) enum Control {
    /// A key the caller pressed (two-way streams forward it as `dtmf`).
    Dtmf(char),
    /// Send `stop` and close the socket normally.
    Stop,
    /// Sandbox calls: what the caller says (8 kHz), sent on as the inbound track.
    CallerAudio(Arc<Vec<i16>>),
}

/// What a stream reports to its call's driver.
#[derive(Debug)]
pub(crate) enum Report {
    /// The socket opened and `connected` + `start` were sent.
    Started,
    /// The socket could not be opened (the stream is over).
    Failed { code: ErrorCode, message: String },
    /// A failed-over stream failed (`code`) and is opened again after a pause.
    Retrying { code: ErrorCode, message: String },
    /// A failed-over stream could not be kept up within `--stream-retry-for`: the last
    /// failure (the stream is over).
    GaveUp { code: ErrorCode, message: String },
    /// A protocol problem of the application's; the stream goes on.
    Warning { code: ErrorCode, message: String },
    /// A mark was echoed to the application.
    Mark(String),
    /// Sandbox calls: `ms` of the application's audio played to the caller (once per mark,
    /// or per second).
    Audio(u64),
    /// The socket closed after it opened: `normal` when by a close frame with code 1000 or
    /// because the engine stopped it.
    Ended { normal: bool, by_engine: bool },
}

/// Opens, runs and closes one stream; `report` reaches the call's driver.
pub(crate) async fn run(
    opening: Opening,
    connector: tokio_tungstenite::Connector,
    media: Option<MediaHandle>,
    mut control: mpsc::UnboundedReceiver<Control>,
    report: impl Fn(Report) + Send + 'static,
) {
    // Since when the stream has been failing (the budget counts from there).
    let mut failing_since: Option<Instant> = None;
    let mut attempt = 0;
    loop {
        let socket = tokio::select! {
            socket = open(&opening, connector.clone()) => socket,
            // The call ended (or stopped the stream) while it was opening.
            _ = wait_stop(&mut control) => return report(Report::Ended { normal: true, by_engine: true }),
        };
        let failure = match socket {
            Ok(socket) => {
                let mut session = Session::new(&opening, media.clone(), &report);
                let (normal, by_engine) = session.run(socket, &mut control).await;
                if normal || by_engine || opening.retry_for.is_none() {
                    return report(Report::Ended { normal, by_engine });
                }
                // A drop: the backoff and the budget start again from here.
                attempt = 0;
                failing_since = None;
                let message = "the application's WebSocket closed without a normal close (1000)";
                (STREAM_PROTOCOL_ERROR, message.to_owned())
            }
            Err(failure) => failure,
        };
        let (code, message) = failure;
        let Some(budget) = opening.retry_for else {
            return report(Report::Failed { code, message });
        };
        let deadline = *failing_since.get_or_insert_with(Instant::now) + budget;
        let pause = Duration::from_millis(BACKOFF_MS[attempt.min(BACKOFF_MS.len() - 1)]);
        attempt += 1;
        if Instant::now() + pause > deadline {
            return report(Report::GaveUp { code, message });
        }
        report(Report::Retrying { code, message });
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = wait_stop(&mut control) => return report(Report::Ended { normal: true, by_engine: true }),
        }
    }
}

async fn wait_stop(control: &mut mpsc::UnboundedReceiver<Control>) {
    loop {
        match control.recv().await {
            Some(Control::Stop) | None => return,
            Some(Control::Dtmf(_) | Control::CallerAudio(_)) => {}
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the socket: the URL checked as `twiml check` does, the request signed over the URL
/// exactly as written (no parameters, as for a GET webhook).
async fn open(
    opening: &Opening,
    connector: tokio_tungstenite::Connector,
) -> Result<Socket, (ErrorCode, String)> {
    let url = &opening.url;
    match url_problem(url) {
        Some(UrlProblem::Scheme) => {
            return Err((
                STREAM_URL_SCHEME,
                format!("stream URL {url} is not ws:// or wss://"),
            ));
        }
        Some(UrlProblem::Malformed) => {
            return Err((
                STREAM_URL_MALFORMED,
                format!("stream URL \"{url}\" is malformed"),
            ));
        }
        Some(UrlProblem::Insecure) | None => {}
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| (STREAM_URL_MALFORMED, format!("stream URL {url}: {error}")))?;
    let signature = switchboard_webhook::signature::sign(&opening.auth_token, url, &[]);
    if let Ok(value) = HeaderValue::from_str(&signature) {
        request.headers_mut().insert("X-Twilio-Signature", value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_READ_MESSAGE))
        .max_frame_size(Some(MAX_READ_MESSAGE));
    let opened = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        ),
    )
    .await;
    match opened {
        Err(_) => Err((
            STREAM_CONNECTION_TIMEOUT,
            format!("stream URL {url} did not open within {CONNECT_TIMEOUT:?}"),
        )),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(error)) => Err(open_error(url, error)),
    }
}

/// The Twilio code of a socket that did not open.
fn open_error(url: &str, error: tungstenite::Error) -> (ErrorCode, String) {
    use tungstenite::Error;
    let code = match &error {
        Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => STREAM_CONNECTION_TIMEOUT,
        Error::Io(_) => STREAM_CONNECTION_REFUSED,
        Error::Tls(_) => STREAM_TLS_FAILED,
        Error::Url(tungstenite::error::UrlError::UnsupportedUrlScheme) => STREAM_URL_SCHEME,
        Error::Url(_) => STREAM_URL_MALFORMED,
        _ => STREAM_HANDSHAKE_FAILED,
    };
    let detail = match &error {
        Error::Http(response) => format!("answered {} instead of 101", response.status()),
        other => other.to_string(),
    };
    (
        code,
        format!("stream URL {url} could not be opened: {detail}"),
    )
}

/// A stream whose socket is open.
struct Session<'r, R> {
    stream_sid: String,
    account_sid: String,
    call_sid: String,
    track: StreamTrack,
    two_way: bool,
    parameters: Vec<(String, String)>,
    media: Option<MediaHandle>,
    sandbox_log: Option<Arc<crate::sandbox::Log>>,
    /// The id the media task knows this stream by, once attached.
    tap: u64,
    report: &'r R,
    started: Instant,
    sequence: u64,
    inbound_chunk: u64,
    outbound_chunk: u64,
    warnings: u32,
    queued: Arc<AtomicUsize>,
    /// Audio is being dropped because the queue was full (until it drains to half).
    overflowing: bool,
    pending_marks: usize,
    /// Sandbox calls: the stream's audio played here (there is no media task).
    sandbox: Option<Box<SandboxAudio>>,
}

/// What a sandbox call's stream plays and hears on its own clock.
struct SandboxAudio {
    log: Arc<crate::sandbox::Log>,
    playout: switchboard_media::session::AttachedStream,
    caller: std::collections::VecDeque<i16>,
    /// Application audio heard since the last `Report::Audio`.
    played_ms: u64,
    /// Where (in samples of the session) the next frame of a run of audio goes.
    heard_at: Option<u64>,
}

impl<'r, R: Fn(Report)> Session<'r, R> {
    fn new(opening: &Opening, media: Option<MediaHandle>, report: &'r R) -> Self {
        Session {
            stream_sid: opening.stream_sid.clone(),
            account_sid: opening.account_sid.clone(),
            call_sid: opening.call_sid.clone(),
            track: opening.track,
            two_way: opening.two_way,
            parameters: opening.parameters.clone(),
            sandbox_log: opening.sandbox.clone(),
            media,
            tap: 0,
            report,
            started: Instant::now(),
            sequence: 0,
            inbound_chunk: 0,
            outbound_chunk: 0,
            warnings: 0,
            queued: Arc::new(AtomicUsize::new(0)),
            overflowing: false,
            pending_marks: 0,
            sandbox: None,
        }
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    /// Runs the open socket until it closes: (closed by a 1000 close, closed by the engine).
    async fn run(
        &mut self,
        socket: Socket,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) -> (bool, bool) {
        let (mut sink, mut source) = socket.split();
        let (frames_tx, mut frames) = mpsc::channel(FRAME_QUEUE);
        let (marks_tx, mut marks) = mpsc::unbounded_channel();
        let tap = StreamTap {
            inbound: self.track != StreamTrack::OutboundTrack,
            outbound: self.track != StreamTrack::InboundTrack,
            frames: frames_tx,
            marks: marks_tx.clone(),
            queued: self.queued.clone(),
        };
        match (&self.media, &self.sandbox_log) {
            (Some(media), _) => self.tap = media.attach_stream(tap),
            (None, Some(log)) => {
                self.sandbox = Some(Box::new(SandboxAudio {
                    log: log.clone(),
                    playout: switchboard_media::session::AttachedStream::new(0, tap),
                    caller: std::collections::VecDeque::new(),
                    played_ms: 0,
                    heard_at: None,
                }));
            }
            (None, None) => {}
        }
        let mut clock = tokio::time::interval(Duration::from_millis(20));
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let opening = [self.connected(), self.start()];
        let mut ended = None;
        for frame in opening {
            if sink.send(Message::text(frame)).await.is_err() {
                ended = Some((false, false));
            }
        }
        if ended.is_none() {
            (self.report)(Report::Started);
        }
        while ended.is_none() {
            tokio::select! {
                biased;
                command = control.recv() => match command {
                    Some(Control::Dtmf(digit)) if self.two_way => {
                        let frame = self.dtmf(digit);
                        if sink.send(Message::text(frame)).await.is_err() {
                            ended = Some((false, false));
                        }
                    }
                    Some(Control::Dtmf(_)) => {}
                    Some(Control::CallerAudio(samples)) => {
                        if let Some(sandbox) = &mut self.sandbox {
                            let room = MAX_CALLER_SAMPLES.saturating_sub(sandbox.caller.len());
                            sandbox.caller.extend(samples.iter().take(room));
                        }
                    }
                    Some(Control::Stop) | None => {
                        let stop = self.stop();
                        let _ = sink.send(Message::text(stop)).await;
                        let _ = sink.close().await;
                        ended = Some((true, true));
                    }
                },
                _ = clock.tick(), if self.sandbox.is_some() => self.sandbox_tick(),
                Some(name) = marks.recv() => {
                    self.pending_marks = self.pending_marks.saturating_sub(1);
                    if let Some(sandbox) = &mut self.sandbox
                        && sandbox.played_ms > 0
                    {
                        (self.report)(Report::Audio(std::mem::take(&mut sandbox.played_ms)));
                    }
                    let frame = self.mark(&name);
                    (self.report)(Report::Mark(name));
                    if sink.send(Message::text(frame)).await.is_err() {
                        ended = Some((false, false));
                    }
                }
                Some(frame) = frames.recv() => {
                    let frame = self.media_frame(frame);
                    if sink.send(Message::text(frame)).await.is_err() {
                        ended = Some((false, false));
                    }
                }
                message = source.next() => match message {
                    None | Some(Err(_)) => ended = Some((false, false)),
                    Some(Ok(Message::Close(frame))) => {
                        let normal = frame.is_some_and(|frame| frame.code == CloseCode::Normal);
                        ended = Some((normal, false));
                    }
                    Some(Ok(Message::Text(text))) => self.application_frame(text.as_str(), &marks_tx),
                    Some(Ok(Message::Binary(_))) => {
                        self.warn("the application sent a binary frame; media streams take JSON text frames");
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
        if let Some(media) = &self.media {
            media.detach_stream(self.tap);
        }
        ended.unwrap_or((false, false))
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS {
            (self.report)(Report::Warning {
                code: STREAM_PROTOCOL_ERROR,
                message: message.into(),
            });
        }
    }

    /// One text frame from the application.
    fn application_frame(&mut self, text: &str, marks: &mpsc::UnboundedSender<String>) {
        if text.len() > MAX_APPLICATION_FRAME {
            let length = text.len();
            return self.warn(format!(
                "the application sent a frame of {length} bytes; at most {MAX_APPLICATION_FRAME} are allowed, it was ignored"
            ));
        }
        if !self.two_way {
            return self.warn("the application sent a frame on a one-way stream (<Start>); only <Connect> streams take audio back");
        }
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return self.warn("the application sent a frame that is not JSON");
        };
        match value.get("event").and_then(Value::as_str) {
            Some("media") => self.application_audio(&value),
            Some("mark") => match value.pointer("/mark/name").and_then(Value::as_str) {
                Some(name) => self.application_mark(name.to_owned(), marks),
                None => self.warn("a mark frame without mark.name"),
            },
            Some("clear") => {
                if let Some(media) = &self.media {
                    media.stream_clear(self.tap);
                }
                if let Some(sandbox) = &mut self.sandbox {
                    sandbox.playout.clear();
                }
            }
            Some(other) => {
                let other = other.chars().take(40).collect::<String>();
                self.warn(format!("the application sent an unknown event \"{other}\""));
            }
            None => self.warn("the application sent a frame without an event"),
        }
    }

    fn application_audio(&mut self, value: &Value) {
        let Some(payload) = value.pointer("/media/payload").and_then(Value::as_str) else {
            return self.warn("a media frame without media.payload");
        };
        let Ok(audio) = base64::engine::general_purpose::STANDARD.decode(payload) else {
            return self.warn("a media frame whose payload is not base64");
        };
        if self.media.is_none() && self.sandbox.is_none() {
            return;
        }
        let queued = self.queued.load(Ordering::Relaxed);
        if self.overflowing && queued <= MAX_QUEUED_AUDIO / 2 {
            self.overflowing = false;
        }
        if queued + audio.len() > MAX_QUEUED_AUDIO || self.overflowing {
            if !self.overflowing {
                self.overflowing = true;
                self.warn(format!(
                    "the application queued more than {} s of audio; the excess was dropped",
                    MAX_QUEUED_AUDIO / 8000
                ));
            }
            return;
        }
        self.queued.fetch_add(audio.len(), Ordering::Relaxed);
        match (&self.media, &mut self.sandbox) {
            (Some(media), _) => media.stream_audio(self.tap, audio),
            (None, Some(sandbox)) => sandbox.playout.push_audio(audio),
            (None, None) => {}
        }
    }

    fn application_mark(&mut self, name: String, marks: &mpsc::UnboundedSender<String>) {
        if self.pending_marks >= MAX_PENDING_MARKS {
            return self.warn(format!(
                "more than {MAX_PENDING_MARKS} marks are pending; this one was dropped"
            ));
        }
        self.pending_marks += 1;
        match (&self.media, &mut self.sandbox) {
            (Some(media), _) => media.stream_mark(self.tap, name),
            (None, Some(sandbox)) => sandbox.playout.push_mark(name),
            // No audio plays anywhere: the audio before it has played.
            (None, None) => {
                let _ = marks.send(name);
            }
        }
    }

    /// One 20 ms slot of a sandbox call: the caller's audio (or silence) goes to the
    /// application, and the application's next frame is heard by the caller.
    fn sandbox_tick(&mut self) {
        let Some(sandbox) = &mut self.sandbox else {
            return;
        };
        let said: Vec<u8> = (0..160)
            .map(|_| Law::Mu.encode(sandbox.caller.pop_front().unwrap_or(0)))
            .collect();
        sandbox.playout.inbound(Law::Mu, &said);
        let mut payload = Vec::with_capacity(160);
        if sandbox.playout.next_frame(Law::Mu, &mut payload) {
            let mut samples = Vec::with_capacity(160);
            Law::Mu.decode_into(&payload, &mut samples);
            // Frames follow each other sample for sample while the clock keeps up (a late
            // tick must not leave a gap in a tone); a drift past 100 ms resyncs to real time.
            let now = sandbox.log.now_ms() * 8;
            let at = match sandbox.heard_at {
                Some(at) if at.abs_diff(now) < 800 => at,
                _ => now,
            };
            sandbox.log.heard(at, &samples);
            sandbox.heard_at = Some(at + samples.len() as u64);
            sandbox.played_ms += 20;
            if sandbox.played_ms >= 1000 {
                (self.report)(Report::Audio(std::mem::take(&mut sandbox.played_ms)));
            }
        } else {
            sandbox.heard_at = None;
            sandbox.playout.echo_played_marks();
        }
    }

    fn connected(&self) -> String {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
    }

    fn start(&mut self) -> String {
        let sequence = self.next_sequence();
        let parameters: serde_json::Map<String, Value> = self
            .parameters
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        json!({
            "event": "start",
            "sequenceNumber": sequence,
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": self.track.tracks(),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": parameters,
            },
            "streamSid": self.stream_sid,
        })
        .to_string()
    }

    fn media_frame(&mut self, frame: TapFrame) -> String {
        let (track, payload, chunk) = match frame {
            TapFrame::Inbound(payload) => {
                self.inbound_chunk += 1;
                ("inbound", payload, self.inbound_chunk)
            }
            TapFrame::Outbound(payload) => {
                self.outbound_chunk += 1;
                ("outbound", payload, self.outbound_chunk)
            }
        };
        let sequence = self.next_sequence();
        let timestamp = self.started.elapsed().as_millis().to_string();
        json!({
            "event": "media",
            "sequenceNumber": sequence,
            "media": {
                "track": track,
                "chunk": chunk.to_string(),
                "timestamp": timestamp,
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            },
            "streamSid": self.stream_sid,
        })
        .to_string()
    }

    fn dtmf(&mut self, digit: char) -> String {
        let sequence = self.next_sequence();
        json!({
            "event": "dtmf",
            "streamSid": self.stream_sid,
            "sequenceNumber": sequence,
            "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
        })
        .to_string()
    }

    fn mark(&mut self, name: &str) -> String {
        let sequence = self.next_sequence();
        json!({
            "event": "mark",
            "sequenceNumber": sequence,
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        })
        .to_string()
    }

    fn stop(&mut self) -> String {
        let sequence = self.next_sequence();
        json!({
            "event": "stop",
            "sequenceNumber": sequence,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            "streamSid": self.stream_sid,
        })
        .to_string()
    }
}
