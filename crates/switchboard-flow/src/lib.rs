//! The call interpreter: one [`Call`] per call leg runs TwiML documents, pure and sans-IO.
//!
//! The interpreter never does IO, never reads a clock and draws no randomness: documents, SIDs,
//! media events and the time (`now_ms`, milliseconds since the leg was created) all come in as
//! [`Input`]s, and everything it wants done comes out as [`Action`]s. A virtual clock drives it
//! exactly like a real one. It does not speak HTTP either: it asks for a document with
//! [`Action::Fetch`], and the driver runs the webhook crate's failover path (primary, then
//! fallback with `ErrorCode`/`ErrorUrl`) and feeds back what came of it.
//!
//! # The drive loop
//!
//! ```text
//! let mut call = Call::new(setup);                    // time 0
//! loop {
//!     while let Some(action) = call.poll_action() {   // drain completely, in order
//!         perform(action);                            // see the contract below
//!     }
//!     if call.is_finished() { break; }
//!     let input = select! {                           // the only select! of a call
//!         media/SIP/sandbox/API event => that input,
//!         fetch answered              => Document / TextResponse / AudioResponse / NoUsableTwiml,
//!         sleep_until(call.poll_timeout()) => Input::Timer,
//!     };
//!     call.handle_input(now_ms(), input);
//! }
//! ```
//!
//! The contract, action by action:
//! - `Fetch` with `reply_ignored == false` and `ExecutionFailed` are answered by exactly one
//!   of `Document`, `TextResponse`, `AudioResponse`, `LastResort` or `NoUsableTwiml`. At most
//!   one is outstanding; a `LiveUpdate` or the end of the call supersedes it (drop the request's answer).
//!   `Fetch { reply_ignored: true }` is sent and forgotten. The fetch counts as one document
//!   whatever the failover did; the alerts the webhook crate produced are the driver's to store.
//! - `Say`/`Play` are answered by `PlaybackFinished` (once, after all loops), unless a
//!   `StopMedia` came first. `Pause` needs nothing: the interpreter times it.
//! - `Record` is answered by `RecordingFinished` (also after `StopRecording` or a hang-up).
//! - `Dial` is answered by `DialEnded` (also after `EndDial`); the driver owns ring timeout,
//!   `timeLimit`, whisper legs (a second `Call` with `whisper: true`) and child SIDs.
//! - `SendSms { wants_result: true }` is answered by `SmsSent`.
//! - Outbound legs are fed `Progress` until answered; their TwiML starts on `Answered`.
//!   With `CallSetup::machine_detection` (synchronous AMD) it starts on `MachineDetected`
//!   instead, which the driver owes once `StatusChanged(InProgress)` was emitted; from then on
//!   every request carries `AnsweredBy` and `MachineDetectionDuration` (`Call::params_at`).
//! - The leg ends with `Hangup` or `Reject` (or, for outbound legs never answered, nothing)
//!   followed by a terminal `StatusChanged`; nothing is emitted after it and later inputs are
//!   ignored. `StatusChanged` drives status callbacks ([`Call::status_callback_params`]).
//!
//! # Decisions
//! - The platform prompt (Decision 2) is a `Say` with [`Source::Platform`], after answering.
//!   A number's last-resort document (beyond Twilio) is fed instead as `Input::LastResort`:
//!   inline TwiML whose says are [`Source::LastResort`]; the fetches it makes run as usual.
//! - The document limit (Decision 11) counts `Fetch`/`ExecutionFailed` since the last caller
//!   input (digits, speech, a non-empty recording, a bridged `<Dial>`) or live update; past it, an ERROR alert
//!   (14106, the messaging code of the same rule) and the platform prompt end the call: a
//!   fallback request would itself be one document too many.
//! - Runtime failures of a document (11100: a relative or default `action` URL with no document
//!   URL) are [`Action::ExecutionFailed`]: "cannot execute" means fallback (Decision 3).
//! - `<Reject>` ends `busy` (`busy`) or `no-answer` (`rejected`), never answered (Decision 13).
//! - Dial nouns other than `<Number>`, `<Sip>`, `<Conference>` and `<Queue>`, and unmodelled
//!   verbs, draw an ERROR alert and the next verb runs (issue 5).
//! - A conference participant or a queued caller waits in a hold loop (`verb/hold.rs`): the
//!   `waitUrl` document runs as the current document, with the `<Dial>`/`<Enqueue>` and the rest
//!   of the outer document set aside, and is requested again when it runs out (at most once a
//!   second); its fetches go through the same failover path as any other. The driver says when
//!   the wait starts and ends (`Input::Waiting`).
//! - The caller hanging up during `<Gather>` (with partial input), `<Record>` (with audio) or
//!   `<Dial action>` still requests the action, with `CallStatus=completed` and
//!   `reply_ignored` (§7.6, §7.7 [O], §10 question 14); the interpreter waits up to 5 s for
//!   `RecordingFinished`/`DialEnded` to have the parameters.
//!
//! # Departures from the first sketch, and why
//! - Time is "milliseconds since the leg was created", so `Call::new` needs no `now` and the
//!   transcript's `at_ms` is the same number.
//! - `Input::Document` carries the parse `warnings` (each becomes a warning `Alert`), so the
//!   driver has one place that turns findings into alerts.
//! - Inputs `Progress` (outbound legs), `ApiEnd` (REST `Status`), `SmsSent` (`<Sms action>`) and
//!   `DialConnected` (`answerOnBridge`), and actions `ExecutionFailed`, `StopMedia`,
//!   `StopRecording`, `EndDial`, `Bridge` and the `*Result`/`Redirect` transcript events were
//!   added: each is a state change the driver or the transcript needs and could not infer.
//! - `CallStatus` has `Initiated`: status callbacks and child legs report it.

mod action;
mod call;
mod input;
mod lifecycle;
mod params;
mod program;
mod setup;
mod verb;

pub use action::{
    Action, Alert, Callback, DequeueCall, Dial, DialResult, DialTarget, Enqueue, ExecutionFailure,
    FetchPurpose, FetchRequest, Gather, GatherResult, HangupBy, JoinConference, Play, PlayMedia,
    Record, Say, SendSms, Source, StreamOpen, WaitUrl,
};
pub use call::Call;
pub use input::{ApiEnd, DialCallStatus, DialOutcome, DialRecording, Input, Progress};
pub use params::{Params, base_params};
pub use program::{WrittenUrl, url_finding, written_urls};
pub use setup::{
    API_VERSION, CallSetup, CallStatus, DEFAULT_ERROR_PROMPT, DEFAULT_MAX_DOCUMENTS, Direction,
    Geo, GeoOverrides, Initial,
};
