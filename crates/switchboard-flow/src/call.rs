//! [`Call`]: one call leg's state machine. This file holds the state, the public sans-IO surface
//! and the dispatch of inputs; the verbs live under `verb/`, the lifecycle (answer, status,
//! hang-up) in `lifecycle.rs` and document handling in `program.rs`.
//!
//! The state is one [`Step`] (what the leg is waiting for) plus the rest of the current document
//! ([`Program`]). A verb that finishes sets the step to `Idle`, and [`Call::advance`] runs verbs
//! until one waits again; every verb consumes itself, so the loop is bounded by the document.

use std::collections::VecDeque;

use crate::action::{Action, HangupBy};
use crate::input::{ApiEnd, Input, Progress};
use crate::params::{Params, base_params, push};
use crate::program::Program;
use crate::setup::{CallSetup, CallStatus, Direction, Initial};
use crate::verb::dial::DialRun;
use crate::verb::gather::GatherRun;
use crate::verb::hold::Hold;
use crate::verb::queue::EnqueueRun;
use crate::verb::record::RecordRun;
use crate::verb::sms::SmsRun;
use crate::verb::stream::ConnectRun;

/// How long to wait for `RecordingFinished`/`DialEnded` after asking to stop, before moving on.
pub(crate) const STOP_GRACE_MS: u64 = 5_000;

/// What the leg is waiting for.
#[derive(Debug)]
pub(crate) enum Step {
    /// Between verbs: [`Call::advance`] runs the next one.
    Idle,
    /// Outbound leg not answered yet.
    WaitingForAnswer,
    /// Answered, with synchronous machine detection: the first document waits for its result.
    Detecting,
    /// A `Fetch` or `ExecutionFailed` is outstanding.
    AwaitingDocument,
    /// A top-level `Say`/`Play` is playing.
    Playing,
    Pausing {
        until_ms: u64,
    },
    Gather(Box<GatherRun>),
    Record(Box<RecordRun>),
    Dial(Box<DialRun>),
    /// `<Enqueue>`: in the queue (holding), bridged, or waiting for `QueueEnded`.
    Enqueue(Box<EnqueueRun>),
    /// Holding with nothing to play (no `waitUrl`, or it gave nothing usable): silence.
    Held,
    Sms(Box<SmsRun>),
    /// A `<Connect><Stream>` holds the call until `StreamEnded`.
    Connected(Box<ConnectRun>),
    /// A last prompt (text/audio answer, platform prompt) plays; then hang up `by`.
    Closing {
        by: HangupBy,
    },
    /// Whisper legs: the whisper ended and the legs are bridged.
    Bridged,
    /// A terminal status was emitted.
    Finished,
}

/// One call leg: feed it inputs, drain its actions, wake it at `poll_timeout`.
#[derive(Debug)]
pub struct Call {
    pub(crate) setup: CallSetup,
    pub(crate) status: CallStatus,
    /// The latest `now` seen; inputs never move time backwards.
    pub(crate) now_ms: u64,
    pub(crate) answered_at_ms: Option<u64>,
    pub(crate) ended_at_ms: Option<u64>,
    pub(crate) program: Program,
    pub(crate) step: Step,
    pub(crate) actions: VecDeque<Action>,
    /// Documents requested since the last caller input (Decision 11).
    pub(crate) documents_without_input: u32,
    /// Outbound legs: the TwiML to run once answered.
    pub(crate) pending_initial: Option<Initial>,
    /// What machine detection decided (`AnsweredBy`, `MachineDetectionDuration` in ms).
    pub(crate) answered_by: Option<(String, u32)>,
    /// While a conference or queue holds the leg: the outer step and document set aside.
    pub(crate) hold: Option<Box<Hold>>,
}

impl Call {
    /// A new leg at time 0. Inbound legs start `ringing` and immediately ask for their first
    /// document (or run the inline one); outbound legs wait for `Progress::Answered`.
    pub fn new(setup: CallSetup) -> Call {
        let status = match setup.direction {
            Direction::Inbound => CallStatus::Ringing,
            Direction::OutboundApi => CallStatus::Queued,
            Direction::OutboundDial => CallStatus::Initiated,
        };
        let initial = setup.initial.clone();
        let mut call = Call {
            setup,
            status,
            now_ms: 0,
            answered_at_ms: None,
            ended_at_ms: None,
            program: Program::default(),
            step: Step::WaitingForAnswer,
            actions: VecDeque::new(),
            documents_without_input: 0,
            pending_initial: None,
            answered_by: None,
            hold: None,
        };
        call.emit(Action::StatusChanged(status));
        if call.setup.direction == Direction::Inbound {
            call.start(initial, crate::action::FetchPurpose::Initial);
            call.advance();
        } else {
            call.pending_initial = Some(initial);
        }
        call
    }

    /// Feeds one input that happened at `now_ms` (milliseconds since the leg was created).
    pub fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.now_ms = self.now_ms.max(now_ms);
        if self.is_finished() {
            return;
        }
        match input {
            Input::Document {
                document,
                url,
                warnings,
                from_fallback: _,
            } => self.on_document(document, url, warnings),
            Input::TextResponse(text) => self.on_text_response(text),
            Input::AudioResponse { url } => self.on_audio_response(url),
            Input::NoUsableTwiml => self.on_no_usable_twiml(),
            Input::LastResort(document) => self.on_last_resort(document),
            Input::Progress(progress) => self.on_progress(progress),
            Input::Digits(digits) => self.on_digits(&digits),
            Input::Speech { result, confidence } => self.on_speech(result, confidence),
            Input::SpeechStarted => self.on_speech_started(),
            Input::SpeechUnrecognised => self.on_speech_unrecognised(),
            Input::PlaybackFinished => self.on_playback_finished(),
            Input::RecordingFinished {
                recording_sid,
                recording_url,
                duration_s,
                digits,
            } => self.on_recording_finished(recording_sid, recording_url, duration_s, digits),
            Input::DialConnected => self.on_dial_connected(),
            Input::DialEnded(outcome) => self.on_dial_ended(outcome),
            Input::SmsSent { sms_sid, status } => self.on_sms_sent(sms_sid, status),
            Input::Waiting(waiting) => self.on_waiting(waiting),
            Input::QueueEnded {
                result,
                queue_sid,
                queue_time_s,
            } => self.on_queue_ended(result, queue_sid, queue_time_s),
            Input::StreamEnded => self.on_stream_ended(),
            Input::StreamFailed { code, message, url } => self.on_stream_failed(code, message, url),
            Input::CallerHungUp => self.on_caller_hung_up(),
            Input::ApiEnd(end) => self.on_api_end(end),
            Input::Timer => self.on_timer(),
            Input::LiveUpdate(initial) => self.on_live_update(initial),
            Input::MachineDetected {
                answered_by,
                duration_ms,
            } => self.on_machine_detected(answered_by, duration_ms),
        }
        self.advance();
    }

    /// The next action to perform, in order; `None` when there is nothing to do until the next
    /// input. Drain it completely after every `new`/`handle_input`.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed `Input::Timer` (same clock as `now_ms`); `None` = no timer armed.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.step {
            Step::Pausing { until_ms } => Some(*until_ms),
            Step::Gather(run) => run.deadline(),
            Step::Record(run) => Some(run.deadline()),
            Step::Dial(run) => run.deadline(),
            Step::Enqueue(run) => run.deadline(),
            _ => None,
        }
    }

    /// The current status.
    pub fn status(&self) -> CallStatus {
        self.status
    }

    /// Whether a terminal status was reached (nothing more will be emitted).
    pub fn is_finished(&self) -> bool {
        matches!(self.step, Step::Finished)
    }

    /// The setup the leg was created with.
    pub fn setup(&self) -> &CallSetup {
        &self.setup
    }

    /// When the leg was answered (ms since creation).
    pub fn answered_at_ms(&self) -> Option<u64> {
        self.answered_at_ms
    }

    /// Whole seconds between answer and end (`CallDuration`); 0 when never answered.
    pub fn call_duration_s(&self) -> Option<u64> {
        let ended = self.ended_at_ms?;
        let answered = self.answered_at_ms.unwrap_or(ended);
        Some(ended.saturating_sub(answered) / 1000)
    }

    /// The parameters of a status callback for the current status (§3.3) minus what needs a
    /// wall clock or a counter (`Timestamp`, `SequenceNumber`, `CallbackSource`): §3.2 fields,
    /// plus `CallDuration` once the call ended.
    pub fn status_callback_params(&self) -> Params {
        let mut params = self.params();
        if let Some(duration) = self.call_duration_s().filter(|_| self.status.is_terminal()) {
            push(&mut params, "CallDuration", duration.to_string());
        }
        params
    }

    /// Runs verbs while nothing is awaited.
    pub(crate) fn advance(&mut self) {
        while matches!(self.step, Step::Idle) {
            match self.program.next_verb() {
                Some(verb) => self.run_verb(verb),
                None => self.run_out(),
            }
        }
    }

    /// The §3.2 parameters at the current status.
    pub(crate) fn params(&self) -> Params {
        self.params_at(self.status)
    }

    /// The parameters of a request made at `status` (a status callback reports the status it
    /// is about, which the leg may have left since): §3.2's, plus `AnsweredBy` and
    /// `MachineDetectionDuration` once machine detection decided.
    pub fn params_at(&self, status: CallStatus) -> Params {
        let mut params = base_params(&self.setup, status);
        if let Some((answered_by, duration_ms)) = &self.answered_by {
            push(&mut params, "AnsweredBy", answered_by.clone());
            push(
                &mut params,
                "MachineDetectionDuration",
                duration_ms.to_string(),
            );
        }
        params
    }

    /// What machine detection decided, once it did.
    pub fn answered_by(&self) -> Option<&str> {
        self.answered_by.as_ref().map(|(value, _)| value.as_str())
    }

    fn on_progress(&mut self, progress: Progress) {
        if !matches!(self.step, Step::WaitingForAnswer) {
            return;
        }
        match progress {
            Progress::Initiated => self.advance_status(CallStatus::Initiated),
            Progress::Ringing => self.advance_status(CallStatus::Ringing),
            Progress::Busy => self.set_status(CallStatus::Busy),
            Progress::NoAnswer => self.set_status(CallStatus::NoAnswer),
            Progress::Failed => self.set_status(CallStatus::Failed),
            Progress::Answered => {
                self.answered_at_ms = Some(self.now_ms);
                self.set_status(CallStatus::InProgress);
                if self.setup.machine_detection && self.answered_by.is_none() {
                    self.step = Step::Detecting;
                    return;
                }
                self.step = Step::Idle;
                self.start_pending();
            }
        }
    }

    fn start_pending(&mut self) {
        if let Some(initial) = self.pending_initial.take() {
            self.start(initial, crate::action::FetchPurpose::Initial);
        }
    }

    /// Detection's result: kept for every later request; a leg waiting for it starts its TwiML.
    fn on_machine_detected(&mut self, answered_by: String, duration_ms: u32) {
        if self.answered_by.is_some() {
            return;
        }
        self.answered_by = Some((answered_by, duration_ms));
        if matches!(self.step, Step::Detecting) {
            self.step = Step::Idle;
            self.start_pending();
        }
    }

    fn on_digits(&mut self, digits: &str) {
        if !digits.is_empty() {
            self.documents_without_input = 0;
        }
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Gather(run) => self.gather_digits(run, digits),
            Step::Record(run) => self.record_digits(run, digits),
            Step::Dial(run) => self.dial_digits(run, digits),
            other => self.step = other,
        }
    }

    fn on_speech(&mut self, result: String, confidence: f64) {
        self.documents_without_input = 0;
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Gather(run) => self.gather_speech(run, result, confidence),
            other => self.step = other,
        }
    }

    fn on_speech_started(&mut self) {
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Gather(run) => self.gather_speech_started(run),
            other => self.step = other,
        }
    }

    fn on_speech_unrecognised(&mut self) {
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Gather(run) => self.gather_speech_unrecognised(run),
            other => self.step = other,
        }
    }

    fn on_playback_finished(&mut self) {
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Playing => {}
            Step::Gather(run) => self.gather_playback_finished(run),
            Step::Closing { by } => self.hang_up(by),
            other => self.step = other,
        }
    }

    fn on_timer(&mut self) {
        let now = self.now_ms;
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Pausing { until_ms } if now < until_ms => self.step = Step::Pausing { until_ms },
            Step::Pausing { .. } => {}
            Step::Gather(run) => self.gather_timer(run),
            Step::Record(run) => self.record_timer(run),
            Step::Dial(run) => self.dial_timer(run),
            Step::Enqueue(run) => self.enqueue_timer(run),
            other => self.step = other,
        }
    }

    fn on_caller_hung_up(&mut self) {
        self.end_hold();
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Enqueue(run) => self.enqueue_caller_hung_up(run),
            Step::Gather(run) => self.gather_caller_hung_up(run),
            Step::Record(run) => self.record_caller_hung_up(run),
            Step::Dial(run) => self.dial_caller_hung_up(run),
            _ => self.hang_up(HangupBy::Caller),
        }
    }

    fn on_api_end(&mut self, end: ApiEnd) {
        let answered = self.answered_at_ms.is_some();
        if end == ApiEnd::Canceled && answered {
            return;
        }
        self.abandon_step();
        self.hang_up(HangupBy::Api);
    }

    fn on_live_update(&mut self, initial: Initial) {
        self.documents_without_input = 0;
        match self.step {
            Step::WaitingForAnswer | Step::Detecting => self.pending_initial = Some(initial),
            Step::Bridged | Step::Finished => {}
            _ => {
                self.abandon_step();
                self.start(initial, crate::action::FetchPurpose::LiveUpdate);
            }
        }
    }

    /// Stops whatever media the current step runs; the step becomes `Idle`.
    fn abandon_step(&mut self) {
        self.end_hold();
        self.program = Program::default();
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Playing | Step::Closing { .. } => self.emit(Action::StopMedia),
            Step::Gather(run) if run.is_playing() => self.emit(Action::StopMedia),
            Step::Record(run) if !run.is_stopping() => self.emit(Action::StopRecording),
            Step::Dial(run) if !run.is_ending() => self.emit(Action::EndDial),
            Step::Enqueue(run) if !run.is_leaving() => self.emit(Action::LeaveQueue),
            Step::Connected(_) => self.emit(Action::EndConnect),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 5 parks 20,000 calls in `<Pause>` within 400 MB: the state machine itself must
    /// stay small (its heap parts are the setup's strings and the rest of the document).
    #[test]
    fn a_call_is_small() {
        let size = std::mem::size_of::<Call>();
        assert!(size <= 1024, "{size} bytes");
    }

    /// The driver runs each call in its own task.
    #[test]
    fn calls_inputs_and_actions_can_move_between_threads() {
        fn send<T: Send + 'static>() {}
        send::<Call>();
        send::<Input>();
        send::<Action>();
    }
}
