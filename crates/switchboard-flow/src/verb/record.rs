//! `<Record>` (§7.6): beep, record the caller, then request `action` with the recording.
//!
//! The media driver detects silence and enforces `maxLength`; the interpreter also ends the
//! recording on a finish key it sees and at `maxLength` (so a virtual clock needs no media
//! timer). An empty recording skips the action and runs the next verb (Decision 8). When the
//! caller hangs up, the recording is stopped and, if it holds audio, the action is still
//! requested with `Digits=hangup`, its answer unused.

use switchboard_core::Sid;
use switchboard_core::error_code::INTERNAL_FAILURE;
use switchboard_twiml::keyword::Keyword;
use switchboard_twiml::verb::Record;
use switchboard_twiml::{Level, Method};

use crate::action::{self, Action, Callback, FetchPurpose, HangupBy};
use crate::call::{Call, STOP_GRACE_MS, Step};
use crate::params::{Params, push};
use crate::verb::media::SECOND_MS;

/// A running `<Record>`.
#[derive(Debug)]
pub(crate) struct RecordRun {
    action: Option<String>,
    method: Method,
    finish_on_key: String,
    /// Recording until `max_length` ends, or (once stopping) waiting for the result until then.
    stopping: bool,
    deadline_ms: u64,
    /// The finish key the interpreter saw.
    key: Option<char>,
    caller_hung_up: bool,
}

impl RecordRun {
    pub(crate) fn deadline(&self) -> u64 {
        self.deadline_ms
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping
    }
}

impl Call {
    pub(crate) fn start_record(&mut self, record: Record) {
        self.ensure_answered();
        let status_callback = self
            .resolve_callback(record.recording_status_callback.as_deref())
            .map(|url| Callback {
                url,
                method: record.recording_status_callback_method,
                events: words(&record.recording_status_callback_event),
            });
        let transcribe_callback = self.resolve_callback(record.transcribe_callback.as_deref());
        self.emit(Action::Record(action::Record {
            max_length_s: record.max_length,
            timeout_s: record.timeout,
            finish_on_key: record.finish_on_key.clone(),
            play_beep: record.play_beep,
            trim: record.trim,
            recording_status_callback: status_callback,
            transcribe: record.transcribe,
            transcribe_callback,
        }));
        let max_length_ms = u64::from(record.max_length).saturating_mul(SECOND_MS);
        self.step = Step::Record(Box::new(RecordRun {
            action: record.action,
            method: record.method,
            finish_on_key: record.finish_on_key,
            stopping: false,
            deadline_ms: self.now_ms.saturating_add(max_length_ms),
            key: None,
            caller_hung_up: false,
        }));
    }

    fn stop_recording(&mut self, run: &mut RecordRun) {
        if !run.stopping {
            self.emit(Action::StopRecording);
            run.stopping = true;
            run.deadline_ms = self.now_ms.saturating_add(STOP_GRACE_MS);
        }
    }

    pub(crate) fn record_digits(&mut self, mut run: Box<RecordRun>, digits: &str) {
        let key = digits.chars().find(|key| run.finish_on_key.contains(*key));
        if let Some(key) = key.filter(|_| !run.stopping) {
            run.key = Some(key);
            self.stop_recording(&mut run);
        }
        self.step = Step::Record(run);
    }

    pub(crate) fn record_caller_hung_up(&mut self, mut run: Box<RecordRun>) {
        run.caller_hung_up = true;
        self.stop_recording(&mut run);
        self.step = Step::Record(run);
    }

    pub(crate) fn record_timer(&mut self, mut run: Box<RecordRun>) {
        if self.now_ms < run.deadline_ms {
            self.step = Step::Record(run);
        } else if !run.stopping {
            self.stop_recording(&mut run);
            self.step = Step::Record(run);
        } else {
            let message = "the recording did not finish after it was stopped; it is treated as \
                           empty"
                .to_owned();
            let url = self.program.url().map(str::to_owned);
            self.alert(INTERNAL_FAILURE, Level::Warning, message, url);
            self.after_empty_recording(&run);
        }
    }

    fn after_empty_recording(&mut self, run: &RecordRun) {
        if run.caller_hung_up {
            self.hang_up(HangupBy::Caller);
        } else {
            self.step = Step::Idle;
        }
    }

    pub(crate) fn on_recording_finished(
        &mut self,
        recording_sid: Sid,
        recording_url: String,
        duration_s: u32,
        digits: String,
    ) {
        let run = match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Record(run) => run,
            other => return self.step = other,
        };
        self.emit(Action::RecordResult {
            recording_sid: recording_sid.clone(),
            duration_s,
        });
        if duration_s == 0 {
            return self.after_empty_recording(&run);
        }
        self.documents_without_input = 0;
        let digits = match (run.caller_hung_up, run.key) {
            (true, _) => "hangup".to_owned(),
            (false, Some(key)) if digits.is_empty() => key.to_string(),
            (false, _) => digits,
        };
        let mut extra = Params::new();
        push(&mut extra, "RecordingUrl", recording_url);
        push(&mut extra, "RecordingDuration", duration_s.to_string());
        push(&mut extra, "RecordingSid", recording_sid.into_string());
        push(&mut extra, "Digits", digits);
        let (action, purpose) = (run.action.as_deref(), FetchPurpose::RecordAction);
        if run.caller_hung_up {
            self.request_action_after_hangup(action, run.method, extra, purpose, "Record");
            return self.hang_up(HangupBy::Caller);
        }
        let mut params = self.params();
        params.extend(extra);
        self.request_action(action, run.method, params, purpose, "Record");
    }
}

/// Keyword lists as TwiML spells them.
pub(crate) fn words<T: Keyword>(values: &[T]) -> Vec<String> {
    values
        .iter()
        .map(|value| value.keyword().to_owned())
        .collect()
}
