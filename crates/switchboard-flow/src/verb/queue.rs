//! `<Enqueue>` (§7.9) and `<Leave>` (§7.8).
//!
//! `<Enqueue>` answers the caller and asks the driver to put it in the named queue
//! (`Action::Enqueue`); the driver says when it waits (`Waiting(true)`: the hold loop of
//! `verb/hold.rs` runs the `waitUrl`), when it is bridged (`Waiting(false)`) and when it is out
//! of the queue or its bridge ended (`QueueEnded`). Then the `action` is requested with
//! `QueueResult`, `QueueSid` and `QueueTime` (§3.7), or, without one, the next verb runs.
//! `leave` and `hangup` are the interpreter's own results: it asked to leave (`LeaveQueue`) and
//! knows why. A caller who hangs up still has the action requested, its answer ignored, as for
//! `<Dial action>`.

use switchboard_core::error_code::{PARAMETER_IGNORED, VERB_NOT_SUPPORTED_IN_API_VERSION};
use switchboard_twiml::verb::Enqueue;
use switchboard_twiml::{Level, Method};

use crate::action::{self, Action, FetchPurpose, HangupBy, WaitUrl};
use crate::call::{Call, STOP_GRACE_MS, Step};
use crate::params::{Params, push};

/// A running `<Enqueue>`.
#[derive(Debug)]
pub(crate) struct EnqueueRun {
    action: Option<String>,
    method: Method,
    wait: Option<WaitUrl>,
    /// `LeaveQueue` was sent, and the `QueueResult` it means (`leave`, `hangup`, …).
    leaving: Option<&'static str>,
    caller_hung_up: bool,
    /// After the caller hung up: give up waiting for `QueueEnded` then.
    grace_until_ms: Option<u64>,
}

impl EnqueueRun {
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.grace_until_ms
    }

    pub(crate) fn is_leaving(&self) -> bool {
        self.leaving.is_some()
    }

    pub(crate) fn wait(&self) -> Option<&WaitUrl> {
        self.wait.as_ref()
    }
}

impl Call {
    pub(crate) fn start_enqueue(&mut self, enqueue: Enqueue) {
        let wait = match self.wait_url(enqueue.wait_url.as_deref(), enqueue.wait_url_method) {
            Ok(wait) => wait,
            Err(error) => {
                let params = self.params();
                return self.execution_failure(error, params);
            }
        };
        if enqueue.workflow_sid.is_some() {
            let url = self.program.url().map(str::to_owned);
            let message = "<Enqueue workflowSid> (TaskRouter) is not supported by this engine and was ignored";
            self.alert(PARAMETER_IGNORED, Level::Warning, message.to_owned(), url);
        }
        self.ensure_answered();
        self.emit(Action::Enqueue(action::Enqueue {
            name: enqueue.name,
            wait: wait.clone(),
            max_size: enqueue.max_queue_size,
        }));
        self.step = Step::Enqueue(Box::new(EnqueueRun {
            action: enqueue.action,
            method: enqueue.method,
            wait,
            leaving: None,
            caller_hung_up: false,
            grace_until_ms: None,
        }));
    }

    /// `<Leave>` in a queue's wait document.
    pub(crate) fn leave_queue(&mut self) {
        self.end_hold();
        if let Step::Enqueue(run) = &mut self.step
            && run.leaving.is_none()
        {
            run.leaving = Some("leave");
            self.actions.push_back(Action::LeaveQueue);
        }
    }

    /// `<Leave>` anywhere else means nothing: a warning, and the next verb runs.
    pub(crate) fn leave_outside_queue(&mut self) {
        let url = self.program.url().map(str::to_owned);
        let message = "<Leave> only runs in the waitUrl document of an <Enqueue>; it was skipped";
        self.alert(
            VERB_NOT_SUPPORTED_IN_API_VERSION,
            Level::Warning,
            message.to_owned(),
            url,
        );
    }

    pub(crate) fn enqueue_caller_hung_up(&mut self, mut run: Box<EnqueueRun>) {
        if run.leaving.is_none() {
            run.leaving = Some("hangup");
            self.emit(Action::LeaveQueue);
        }
        if run.action.is_none() {
            return self.hang_up(HangupBy::Caller);
        }
        run.caller_hung_up = true;
        run.grace_until_ms = Some(self.now_ms.saturating_add(STOP_GRACE_MS));
        self.step = Step::Enqueue(run);
    }

    pub(crate) fn enqueue_timer(&mut self, run: Box<EnqueueRun>) {
        match run.grace_until_ms {
            Some(until) if self.now_ms >= until => self.hang_up(HangupBy::Caller),
            _ => self.step = Step::Enqueue(run),
        }
    }

    pub(crate) fn on_queue_ended(&mut self, result: String, queue_sid: String, queue_time_s: u32) {
        self.end_hold();
        let run = match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Enqueue(run) => run,
            other => return self.step = other,
        };
        // The interpreter knows why it asked to leave; a bridge that ended is still `bridged`.
        let result = match run.leaving {
            Some(reason) if result != "bridged" => reason.to_owned(),
            _ => result,
        };
        self.emit(Action::EnqueueResult {
            result: result.clone(),
            queue_time_s,
        });
        if result == "bridged" {
            // The caller talked to someone: that is caller input for the document limit.
            self.documents_without_input = 0;
        }
        let mut extra = Params::new();
        push(&mut extra, "QueueResult", result);
        push(&mut extra, "QueueSid", queue_sid);
        push(&mut extra, "QueueTime", queue_time_s.to_string());
        let (action, purpose) = (run.action.as_deref(), FetchPurpose::EnqueueAction);
        if run.caller_hung_up {
            if action.is_some() {
                self.request_action_after_hangup(action, run.method, extra, purpose, "Enqueue");
            }
            return self.hang_up(HangupBy::Caller);
        }
        if action.is_some() {
            let mut params = self.params();
            params.extend(extra);
            self.request_action(action, run.method, params, purpose, "Enqueue");
        }
    }
}
