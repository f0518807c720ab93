//! The call lifecycle (§8): answering when the first media verb runs, status changes, and every
//! way a leg ends (hang-up, reject, the closing prompts of §3.10 and Decision 2).
//!
//! The one rule that keeps the output well-formed lives in [`Call::emit`]: once a terminal
//! status is emitted, nothing else ever is.

use switchboard_twiml::verb::RejectReason;

use crate::action::{Action, HangupBy, Play, PlayMedia, Say, Source};
use crate::call::{Call, Step};
use crate::setup::CallStatus;

/// Language of the platform prompt and of spoken text answers.
pub(crate) const DEFAULT_LANGUAGE: &str = "en-US";

impl Call {
    /// Queues an action, unless the leg already ended.
    pub(crate) fn emit(&mut self, action: Action) {
        if !self.is_finished() {
            self.actions.push_back(action);
        }
    }

    /// Moves to `status` (emitting `StatusChanged`); a terminal status ends the leg.
    pub(crate) fn set_status(&mut self, status: CallStatus) {
        if self.is_finished() || self.status == status {
            return;
        }
        self.status = status;
        self.emit(Action::StatusChanged(status));
        if status.is_terminal() {
            self.ended_at_ms = Some(self.now_ms);
            self.program = crate::program::Program::default();
            self.step = Step::Finished;
        }
    }

    /// Outbound progress only moves forward: `queued` → `initiated` → `ringing`.
    pub(crate) fn advance_status(&mut self, status: CallStatus) {
        let rank = |status: CallStatus| match status {
            CallStatus::Queued => 0,
            CallStatus::Initiated => 1,
            CallStatus::Ringing => 2,
            _ => 3,
        };
        if rank(status) > rank(self.status) {
            self.set_status(status);
        }
    }

    /// Answers the call if it is not answered yet: the first verb needing media does this.
    pub(crate) fn ensure_answered(&mut self) {
        if self.answered_at_ms.is_none() {
            self.answered_at_ms = Some(self.now_ms);
            self.emit(Action::Answer);
            self.set_status(CallStatus::InProgress);
        }
    }

    /// Ends the leg. Unanswered legs the caller or the API drop are `canceled`; TwiML and the
    /// engine answer first (a `<Hangup>` answers then hangs up), so theirs end `completed`.
    pub(crate) fn hang_up(&mut self, by: HangupBy) {
        let status = match (self.answered_at_ms, by) {
            (Some(_), _) => CallStatus::Completed,
            (None, HangupBy::Caller | HangupBy::Api) => CallStatus::Canceled,
            (None, HangupBy::Twiml | HangupBy::Engine) => {
                self.ensure_answered();
                CallStatus::Completed
            }
        };
        self.emit(Action::Hangup { by });
        self.set_status(status);
    }

    /// `<Reject>`: never answered; `busy` for `busy`, `no-answer` for `rejected` (Decision 13,
    /// §10 question 13). Once answered, rejecting is just hanging up.
    pub(crate) fn reject(&mut self, reason: RejectReason) {
        if self.answered_at_ms.is_some() {
            return self.hang_up(HangupBy::Twiml);
        }
        self.emit(Action::Reject { reason });
        let status = match reason {
            RejectReason::Busy => CallStatus::Busy,
            RejectReason::Rejected => CallStatus::NoAnswer,
        };
        self.set_status(status);
    }

    /// The document ran out of verbs: hang up, bridge a whisper leg, or (holding) request the
    /// wait document again.
    pub(crate) fn run_out(&mut self) {
        if self.hold.is_some() {
            return self.hold_ran_out();
        }
        if self.setup.whisper {
            self.ensure_answered();
            self.emit(Action::Bridge);
            self.step = Step::Bridged;
        } else {
            self.hang_up(HangupBy::Twiml);
        }
    }

    /// Speaks `text` as the last thing on the call, then hangs up `by`.
    pub(crate) fn closing_say(&mut self, text: String, source: Source, by: HangupBy) {
        self.program = crate::program::Program::default();
        if text.trim().is_empty() {
            return self.hang_up(by);
        }
        self.ensure_answered();
        self.emit(Action::Say(Say {
            text,
            voice: None,
            language: DEFAULT_LANGUAGE.to_owned(),
            loop_count: 1,
            source,
        }));
        self.step = Step::Closing { by };
    }

    /// Plays an audio answer, then hangs up.
    pub(crate) fn closing_play(&mut self, url: String) {
        self.program = crate::program::Program::default();
        self.ensure_answered();
        self.emit(Action::Play(Play {
            media: PlayMedia::Url(url),
            loop_count: 1,
        }));
        self.step = Step::Closing {
            by: HangupBy::Twiml,
        };
    }

    /// Decision 2: nothing usable came back; the platform prompt, then hang up (`completed`).
    pub(crate) fn platform_prompt(&mut self) {
        let prompt = self.setup.error_prompt.clone();
        self.closing_say(prompt, Source::Platform, HangupBy::Engine);
    }
}
