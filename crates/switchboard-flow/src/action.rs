//! The closed set of things the interpreter asks the driver to do, drained with
//! [`Call::poll_action`](crate::Call::poll_action).
//!
//! Actions that are also transcript events (product.md "event transcript") map one to one:
//! `Say`→`say`, `Play`→`play`, `Pause`→`pause`, `Gather`→`gather`, `GatherResult`→
//! `gather_result`, `Record`→`record`, `RecordResult`→`record_result`, `Dial`→`dial`,
//! `DialResult`→`dial_result`, `SendSms`→`message`, `Redirect`→`redirect`, `Reject`→`reject`,
//! `Hangup`→`hangup`, `StatusChanged`→`status`, `Alert`→`alert` (after the driver stores it).
//! `Fetch` and `ExecutionFailed` become `webhook` events through the webhook crate. `Answer`,
//! `StopMedia`, `StopRecording`, `EndDial` and `Bridge` are media control only.

use switchboard_core::{ErrorCode, Sid};
use switchboard_twiml::Level;
use switchboard_twiml::Method;
use switchboard_twiml::keyword::Trim;
use switchboard_twiml::verb::{
    DialRecord, GatherInput, RejectReason, RingTone, SpeechTimeout, StreamTrack,
};

use crate::input::DialCallStatus;
use crate::setup::CallStatus;

/// One thing to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Fetch TwiML through the webhook failover path; answer with `Document`, `TextResponse`,
    /// `AudioResponse` or `NoUsableTwiml` (unless `reply_ignored`).
    Fetch(FetchRequest),
    /// The running document cannot execute (e.g. 11100): record an ERROR alert, then request the
    /// session's fallback URL (if any, and in scope) with `params` + `ErrorCode` + `ErrorUrl`
    /// (`Failover::after_execution_failure`); answer as for `Fetch`.
    ExecutionFailed(ExecutionFailure),
    /// Answer the call (SIP `200 OK`); `StatusChanged(InProgress)` follows.
    Answer,
    Say(Say),
    Play(Play),
    /// Silence; the interpreter times it itself (`poll_timeout`), nothing to feed back.
    Pause {
        length_s: u32,
    },
    /// Stop the `Say`/`Play` now playing (barge-in, live update); no `PlaybackFinished` follows.
    StopMedia,
    /// Start collecting input; nested prompts follow as `Say`/`Play`/`Pause`.
    Gather(Gather),
    /// Input collection ended.
    GatherResult(GatherResult),
    /// Beep (if asked) and record the caller; answer with `RecordingFinished`.
    Record(Record),
    /// End the recording now; `RecordingFinished` follows.
    StopRecording,
    RecordResult {
        recording_sid: Sid,
        duration_s: u32,
    },
    /// Ring the targets; answer with `DialEnded`.
    Dial(Dial),
    /// Drop the child leg (`hangupOnStar`, caller hang-up, live update); `DialEnded` follows.
    /// In a conference: leave it (`DialEnded` with `answered` follows).
    EndDial,
    /// `<Dial><Conference>`: join the named conference. The driver answers `Waiting(true)` while
    /// the conference has not started (the `wait` loop runs), `Waiting(false)` when it starts,
    /// and `DialEnded` (`answered`) when the participant leaves, is removed or the conference
    /// ends. `EndDial` makes it leave.
    JoinConference(JoinConference),
    /// `<Dial><Queue>`: bridge with the caller at the front of a queue; answered by
    /// `DialEnded` (at once when the queue is empty). `EndDial` drops the bridge.
    DequeueCall(DequeueCall),
    /// `<Enqueue>`: put the caller in a queue. The driver answers `Waiting(true)` once it waits
    /// (the `wait` loop runs), `Waiting(false)` when it is bridged, and `QueueEnded` when it
    /// left the queue (or the bridge ended), or at once (`queue-full`, `error`).
    Enqueue(Enqueue),
    /// Take the caller out of its queue (`<Leave>`, hang-up, live update); `QueueEnded` follows.
    LeaveQueue,
    /// The `<Enqueue>` ended (transcript `enqueue_result`).
    EnqueueResult {
        result: String,
        queue_time_s: u32,
    },
    DialResult(DialResult),
    /// Send a text message from the call (`<Sms>`); with `wants_result`, answer `SmsSent`.
    SendSms(SendSms),
    /// `<Start><Stream>`: open a one-way media stream; nothing is owed.
    StartStream(StreamOpen),
    /// `<Stop><Stream name>`: close the one-way stream of that name (`None`: every one-way
    /// stream); nothing is owed.
    StopStream {
        name: Option<String>,
    },
    /// `<Connect><Stream>`: open a two-way media stream; answer with `StreamEnded` once it
    /// closes, fails to open or drops.
    ConnectStream(StreamOpen),
    /// The call leaves the `<Connect>` (live update, REST end): close the two-way stream;
    /// nothing is owed.
    EndConnect,
    /// A `<Redirect>` is followed (a `Fetch` follows).
    Redirect {
        url: String,
    },
    /// Whisper legs only: the whisper ended, bridge the child leg to the caller.
    Bridge,
    Hangup {
        by: HangupBy,
    },
    /// Refuse the call without answering it.
    Reject {
        reason: RejectReason,
    },
    /// Record an alert (Notifications / Monitor Alerts) and push it.
    Alert(Alert),
    StatusChanged(CallStatus),
}

/// Why a document is fetched (the driver picks the fallback scope and transcript labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchPurpose {
    /// The leg's first document (the only one eligible under `--fallback-scope initial`).
    Initial,
    GatherAction,
    RecordAction,
    DialAction,
    SmsAction,
    /// `<Connect action>` once its stream closed.
    ConnectAction,
    Redirect,
    /// A REST live-call update `Url` (its own `FallbackUrl` applies).
    LiveUpdate,
    /// The `waitUrl` of a conference or queue (hold TwiML, requested again each time it runs
    /// out); the driver adds the queue's or conference's parameters.
    WaitUrl,
    /// The `action` of an `<Enqueue>`.
    EnqueueAction,
}

/// A TwiML fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// Absolute, resolved against the document URL; may carry an override fragment.
    pub url: String,
    pub method: Method,
    /// §3.2 parameters, then the verb's (§3.4–3.6), in that order.
    pub params: Vec<(String, String)>,
    pub purpose: FetchPurpose,
    /// The caller already hung up: send the request, ignore its answer, feed nothing back.
    pub reply_ignored: bool,
}

/// A runtime failure of the running document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionFailure {
    pub code: ErrorCode,
    pub message: String,
    /// The document being executed (`ErrorUrl`); `None` for inline TwiML.
    pub error_url: Option<String>,
    /// The request the failed step would have made (standard and verb parameters).
    pub params: Vec<(String, String)>,
}

/// Who is speaking: the customer's TwiML, the number's last-resort document (beyond Twilio:
/// run instead of the platform prompt when no usable TwiML came back) or the platform's error
/// prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Source {
    #[default]
    Twiml,
    LastResort,
    Platform,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Twiml => "twiml",
            Source::LastResort => "last-resort",
            Source::Platform => "platform",
        }
    }
}

/// Speak text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Say {
    /// SSML markup removed, whitespace collapsed.
    pub text: String,
    /// `None` = the account's default voice.
    pub voice: Option<String>,
    pub language: String,
    /// 0 = until the call ends or is interrupted (cap it at 1000).
    pub loop_count: u32,
    pub source: Source,
}

/// What `Play` plays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlayMedia {
    /// An absolute audio URL (fetched with GET, no call parameters).
    Url(String),
    /// DTMF tones; `w` is half a second of pause.
    Digits(String),
}

/// Play audio or tones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Play {
    pub media: PlayMedia,
    /// 0 = until the call ends or is interrupted (cap it at 1000).
    pub loop_count: u32,
}

/// Start collecting input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gather {
    pub input: Vec<GatherInput>,
    pub timeout_s: u32,
    pub num_digits: Option<u32>,
    pub finish_on_key: Option<char>,
    pub speech_timeout: SpeechTimeout,
    pub max_speech_time_s: u32,
    pub language: String,
    pub hints: Vec<String>,
    pub speech_model: String,
    pub profanity_filter: bool,
    pub barge_in: bool,
    /// `partialResultCallback` (absolute) and its method: interim results while the caller
    /// speaks.
    pub partial_result_callback: Option<(String, Method)>,
}

/// What a `<Gather>` collected.
#[derive(Clone, Debug, PartialEq)]
pub struct GatherResult {
    /// Without the finish key.
    pub digits: String,
    pub speech: Option<String>,
    pub confidence: Option<f64>,
    pub finished_on_key: Option<char>,
}

/// A notification-only callback (recording status, child-leg status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    /// Absolute.
    pub url: String,
    pub method: Method,
    /// Event names as TwiML spells them (`completed`, `in-progress`, `answered`, …).
    pub events: Vec<String>,
}

/// Record the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub max_length_s: u32,
    /// Seconds of silence that end it; 0 disables.
    pub timeout_s: u32,
    /// Keys that end it (the interpreter also sends `StopRecording` when it sees one).
    pub finish_on_key: String,
    pub play_beep: bool,
    pub trim: Trim,
    pub recording_status_callback: Option<Callback>,
    pub transcribe: bool,
    pub transcribe_callback: Option<String>,
}

/// One party to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialTarget {
    /// An E.164 number, or a `sip:` URI for `<Sip>`.
    pub number: String,
    /// `<Sip username password>`: digest credentials for the INVITE.
    pub sip_auth: Option<(String, String)>,
    pub send_digits: Option<String>,
    /// Whisper TwiML run on the child leg before bridging (absolute).
    pub url: Option<String>,
    pub method: Method,
    pub status_callback: Option<Callback>,
}

/// Ring one or more numbers and bridge the first that answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    pub targets: Vec<DialTarget>,
    /// Ring seconds (5–600).
    pub timeout_s: u32,
    /// Maximum bridged seconds.
    pub time_limit_s: u32,
    /// Defaults to the leg's `From`.
    pub caller_id: String,
    /// The interpreter sends `EndDial` when it sees `*`.
    pub hangup_on_star: bool,
    pub record: DialRecord,
    pub recording_status_callback: Option<Callback>,
    pub answer_on_bridge: bool,
    pub ring_tone: Option<RingTone>,
    pub sequential: bool,
}

/// A hold document: requested, run, and requested again while the leg waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitUrl {
    /// Absolute.
    pub url: String,
    pub method: Method,
}

/// Join a conference (`<Dial><Conference>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinConference {
    pub name: String,
    pub muted: bool,
    /// `true`, `false`, `onEnter`, `onExit`.
    pub beep: String,
    pub start_conference_on_enter: bool,
    pub end_conference_on_exit: bool,
    /// `None`: silence while waiting (Twilio's default hold music is not ours to play).
    pub wait: Option<WaitUrl>,
    pub max_participants: u32,
    pub record: bool,
    /// Conference events as TwiML spells them (`start`, `end`, `join`, …).
    pub status_callback: Option<Callback>,
    pub label: Option<String>,
}

/// Dequeue the front caller of a queue (`<Dial><Queue>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DequeueCall {
    pub name: String,
    /// TwiML for the dequeued caller before the bridge (absolute).
    pub url: Option<WaitUrl>,
    /// How long to wait for a caller when the queue is empty (the `<Dial>`'s `timeout`).
    pub timeout_s: u32,
}

/// Wait in a queue (`<Enqueue>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueue {
    pub name: String,
    pub wait: Option<WaitUrl>,
    pub max_size: Option<u32>,
}

/// How a `<Dial>` ended, for the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialResult {
    pub status: DialCallStatus,
    pub dial_call_sid: Sid,
    pub duration_s: u32,
    pub bridged: bool,
}

/// A media stream to open (`<Start><Stream>` or `<Connect><Stream>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOpen {
    /// The WebSocket URL exactly as written (what the opening request signs).
    pub url: String,
    pub name: Option<String>,
    pub track: StreamTrack,
    /// `<Connect>` (the application may send audio back) rather than `<Start>`.
    pub two_way: bool,
    /// Absolute.
    pub status_callback: Option<String>,
    pub status_callback_method: Method,
    /// `<Parameter>`s, for `start.customParameters`.
    pub parameters: Vec<(String, String)>,
}

/// A text message sent from the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendSms {
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<Callback>,
    /// The `<Sms action>` is pending: feed `SmsSent` when the message is handed over.
    pub wants_result: bool,
}

/// Who ended the call (transcript `hangup.by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HangupBy {
    /// `<Hangup>`, the end of the document, or a text/audio answer played out.
    Twiml,
    Caller,
    Api,
    /// The platform error prompt, the document limit.
    Engine,
}

impl HangupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Twiml => "twiml",
            HangupBy::Caller => "caller",
            HangupBy::Api => "api",
            HangupBy::Engine => "engine",
        }
    }
}

/// An alert to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub code: ErrorCode,
    pub level: Level,
    pub message: String,
    /// The document concerned, when there is one.
    pub url: Option<String>,
}
