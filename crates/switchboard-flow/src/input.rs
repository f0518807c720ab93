//! The closed set of things that can happen to a call leg, fed through
//! [`Call::handle_input`](crate::Call::handle_input).
//!
//! An input that does not fit the current state (digits while nothing listens, a document nobody
//! asked for, anything after the call ended) is ignored, never an error: the interpreter is
//! driven by the network and by customer servers, and must stay total.

use switchboard_core::Sid;
use switchboard_twiml::{Document, Finding};

use crate::setup::Initial;

/// One event for the interpreter.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The answer to the outstanding `Fetch` (or `ExecutionFailed`) was a TwiML document.
    Document {
        document: Document,
        /// The URL the document came from (the fallback URL when `from_fallback`; the final URL
        /// after HTTP redirects, as a browser would): the base for relative URLs and the
        /// default `action`. `None` for inline TwiML.
        url: Option<String>,
        from_fallback: bool,
        /// WARNING findings (12200, 13223) of the parse; each becomes a warning alert.
        warnings: Vec<Finding>,
    },
    /// The answer was `text/plain` that is not TwiML: speak it, then hang up (§3.10).
    TextResponse(String),
    /// The answer was audio: play it, then hang up (§3.10). `url` is where it was fetched; the
    /// driver already holds the body and plays that.
    AudioResponse { url: String },
    /// Neither the primary nor the fallback gave anything usable (the driver recorded the
    /// alerts): the platform prompt is spoken and the call ends `completed` (Decision 2).
    NoUsableTwiml,
    /// Neither URL gave anything usable and the number has a last-resort document (beyond
    /// Twilio, product.md): it runs instead of the platform prompt, as inline TwiML (no
    /// document URL) whose says are `Source::LastResort`; the fetches its verbs make run as
    /// usual. The driver sends it at most once per leg, so a last resort whose own fetches
    /// fail ends with the platform prompt.
    LastResort(Document),
    /// Progress of an outbound leg (`outbound-api`, `outbound-dial`) before it is answered.
    Progress(Progress),
    /// The caller pressed keys (`0-9 * #`; `w` is ignored here, the driver paces digits).
    Digits(String),
    /// The caller's speech was recognised during a speech `<Gather>`.
    Speech { result: String, confidence: f64 },
    /// A real caller started speaking during a speech `<Gather>` (voice activity): nested
    /// prompts stop (`bargeIn`) and the gather waits for the result for up to its
    /// `maxSpeechTime` instead of its `timeout`.
    SpeechStarted,
    /// The speech that started was not recognised as words (noise, a cough): the gather listens
    /// again, its `timeout` running from now.
    SpeechUnrecognised,
    /// The last `Say`/`Play` action finished playing (all its loops). Not sent after
    /// `StopMedia` for the stopped media.
    PlaybackFinished,
    /// The `Record` action ended (after silence, a finish key, `maxLength`, `StopRecording` or
    /// the caller hanging up).
    RecordingFinished {
        recording_sid: Sid,
        /// Without extension (§3.5).
        recording_url: String,
        /// 0 means nothing was captured: the action is skipped (Decision 8).
        duration_s: u32,
        /// The finish key pressed, or empty; the interpreter fills in keys it saw itself.
        digits: String,
    },
    /// The `Dial` action's child leg answered and the legs are bridged. Only needed with
    /// `answer_on_bridge` (the caller is answered then, not before); harmless otherwise.
    DialConnected,
    /// The `Dial` action's child leg ended (or never connected).
    DialEnded(DialOutcome),
    /// The `SendSms` action of an `<Sms action>` was handed over (or failed): `status` is the
    /// `SmsStatus` to report (`sending`, `sent`, `failed`); the action is then requested.
    SmsSent { sms_sid: Sid, status: String },
    /// After `JoinConference` or `Enqueue`: `true` while the leg waits (the conference has not
    /// started, the caller is in the queue): the hold loop of the `waitUrl` runs; `false` when
    /// the wait is over (the conference started, the caller was bridged).
    Waiting(bool),
    /// After `Enqueue`: the caller left the queue (or its bridge ended). `result` is the
    /// `QueueResult` (`bridged`, `queue-full`, `error`, `redirected`, …; the interpreter
    /// reports `leave` and `hangup` itself when it asked to leave).
    QueueEnded {
        result: String,
        queue_sid: String,
        queue_time_s: u32,
    },
    /// The two-way stream of `ConnectStream` closed, could not be opened, or dropped (the
    /// driver recorded why): the `<Connect>` ends.
    StreamEnded,
    /// Beyond Twilio (`SwitchboardStreamFailover`): the two-way stream could not be kept up
    /// even after reopening it; the session's fallback URL is requested with `ErrorCode` =
    /// `code` and `ErrorUrl` = the stream URL (an `ExecutionFailed`), instead of the TwiML
    /// after `<Connect>`.
    StreamFailed {
        code: switchboard_core::ErrorCode,
        message: String,
        url: String,
    },
    /// The caller hung up.
    CallerHungUp,
    /// REST `Calls/{Sid}` update with `Status=completed|canceled`.
    ApiEnd(ApiEnd),
    /// `poll_timeout` was reached (early or spurious timers are ignored).
    Timer,
    /// REST `Calls/{Sid}` update with `Url` or `Twiml`: abandon what runs, continue there.
    LiveUpdate(Initial),
    /// Answering-machine detection decided (`AnsweredBy`, e.g. `human`, `machine_start`) after
    /// `duration_ms`: a leg with `machine_detection` waiting for it fetches its first document
    /// now; from here on every request carries both.
    MachineDetected {
        answered_by: String,
        duration_ms: u32,
    },
}

/// What happened to an outbound leg while it was being placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Progress {
    Initiated,
    Ringing,
    /// The callee answered: TwiML starts (fetched with `CallStatus=in-progress`).
    Answered,
    Busy,
    NoAnswer,
    Failed,
}

/// The `Status` of a REST update that ends a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiEnd {
    /// Hang up: `completed` when answered, `canceled` before.
    Completed,
    /// Cancel a call that is not answered yet; ignored once it is.
    Canceled,
}

/// How a `<Dial>` ended (§3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialOutcome {
    pub status: DialCallStatus,
    pub dial_call_sid: Sid,
    /// Seconds the child leg was connected.
    pub duration_s: u32,
    /// Whether the two legs were bridged.
    pub bridged: bool,
    /// When `record` was used.
    pub recording: Option<DialRecording>,
    /// A `<Sip>` leg's final SIP response (`200` when answered), sent as `SipResponseCode`.
    pub sip_response_code: Option<u16>,
}

/// The recording of a recorded `<Dial>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRecording {
    pub sid: Sid,
    pub url: String,
    pub duration_s: u32,
}

/// `DialCallStatus` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialCallStatus {
    Completed,
    /// Only for `<Conference>`.
    Answered,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

impl DialCallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DialCallStatus::Completed => "completed",
            DialCallStatus::Answered => "answered",
            DialCallStatus::Busy => "busy",
            DialCallStatus::NoAnswer => "no-answer",
            DialCallStatus::Failed => "failed",
            DialCallStatus::Canceled => "canceled",
        }
    }
}
