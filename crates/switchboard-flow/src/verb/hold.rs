//! The hold loop of a conference participant waiting for the conference to start, or of a
//! caller waiting in a queue: the `waitUrl` document runs as the current document, and is
//! requested again whenever it runs out.
//!
//! While the leg holds, the `<Dial>`/`<Enqueue>` step and the rest of the outer document are set
//! aside in [`Hold`]; the wait document's verbs run through the ordinary steps (`Playing`,
//! `Pausing`, `AwaitingDocument` for its `<Redirect>`s), so its fetches take the same failover
//! path as any other. When the wait ends (`Input::Waiting(false)`, the participant leaves, the
//! caller hangs up, a live update), whatever the wait document was doing stops and the outer
//! step is back. Design choice: the engine, not the interpreter, knows when a conference starts
//! or a queue bridges, so it says when to hold; the interpreter only knows how to run TwiML.
//!
//! Only `<Say>`, `<Play>`, `<Pause>`, `<Redirect>` (and, in a queue, `<Leave>` and `<Hangup>`)
//! run in a wait document; other verbs are skipped with a WARNING (13238). A loop is requested at
//! most once a second, so a wait document that plays nothing cannot spin; each loop starts the
//! document count (Decision 11) afresh, since hold music legitimately loops for as long as the
//! caller waits.

use switchboard_core::error_code::CONFERENCE_INVALID_WAIT_URL_TWIML;
use switchboard_twiml::{Level, Verb};

use crate::action::{Action, FetchPurpose, Play, PlayMedia, Say, Source, WaitUrl};
use crate::call::{Call, Step};
use crate::lifecycle::DEFAULT_LANGUAGE;
use crate::program::Program;

/// The least time between two requests of a wait document.
const LOOP_MIN_MS: u64 = 1_000;

/// What a holding leg set aside.
#[derive(Debug)]
pub(crate) struct Hold {
    outer_step: Step,
    outer_program: Program,
    wait: Option<WaitUrl>,
    /// When the wait document was last requested.
    loop_started_ms: u64,
    /// Holding in a queue (`<Leave>` and `<Hangup>` are allowed) rather than a conference.
    queue: bool,
}

impl Call {
    pub(crate) fn on_waiting(&mut self, waiting: bool) {
        if waiting {
            self.start_hold();
        } else {
            self.end_hold();
        }
    }

    fn start_hold(&mut self) {
        if self.hold.is_some() {
            return;
        }
        let (wait, queue) = match &self.step {
            Step::Dial(run) => (run.wait().cloned(), false),
            Step::Enqueue(run) if !run.is_leaving() => (run.wait().cloned(), true),
            _ => return,
        };
        let outer_step = std::mem::replace(&mut self.step, Step::Idle);
        let outer_program = std::mem::take(&mut self.program);
        self.hold = Some(Box::new(Hold {
            outer_step,
            outer_program,
            wait,
            loop_started_ms: self.now_ms,
            queue,
        }));
        self.hold_loop();
    }

    /// Requests the wait document (again); without one the leg holds in silence.
    fn hold_loop(&mut self) {
        let Some(hold) = &mut self.hold else { return };
        hold.loop_started_ms = self.now_ms;
        let Some(wait) = hold.wait.clone() else {
            self.step = Step::Held;
            return;
        };
        self.documents_without_input = 0;
        let params = self.params();
        self.fetch(wait.url, wait.method, params, FetchPurpose::WaitUrl);
    }

    /// The wait document ran out: request it again, no sooner than a second after the last time.
    pub(crate) fn hold_ran_out(&mut self) {
        let Some(hold) = &self.hold else { return };
        let next = hold.loop_started_ms.saturating_add(LOOP_MIN_MS);
        if self.now_ms < next {
            self.step = Step::Pausing { until_ms: next };
        } else {
            self.hold_loop();
        }
    }

    /// Ends the hold, if the leg holds: what the wait document plays stops, and the outer step
    /// and document are back. An outstanding wait-document fetch is superseded (its answer is
    /// ignored: the step no longer awaits a document).
    pub(crate) fn end_hold(&mut self) {
        let Some(hold) = self.hold.take() else { return };
        match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Playing => self.emit(Action::StopMedia),
            Step::Gather(run) if run.is_playing() => self.emit(Action::StopMedia),
            _ => {}
        }
        let Hold {
            outer_step,
            outer_program,
            ..
        } = *hold;
        self.step = outer_step;
        self.program = outer_program;
    }

    /// Whether `verb` may run in a wait document; `<Leave>` is run here, the rest is skipped
    /// with a warning.
    pub(crate) fn hold_allows(&mut self, verb: &Verb) -> bool {
        let queue = self.hold.as_ref().is_some_and(|hold| hold.queue);
        match verb {
            Verb::Say(_) | Verb::Play(_) | Verb::Pause(_) | Verb::Redirect(_) => true,
            Verb::Hangup(_) if queue => true,
            Verb::Leave(_) if queue => {
                self.leave_queue();
                false
            }
            other => {
                let url = self.program.url().map(str::to_owned);
                let message = format!(
                    "<{}> cannot run in a waitUrl document (only Say, Play, Pause and Redirect{}); it was skipped",
                    other.name(),
                    if queue { ", Leave and Hangup" } else { "" }
                );
                self.alert(
                    CONFERENCE_INVALID_WAIT_URL_TWIML,
                    Level::Warning,
                    message,
                    url,
                );
                false
            }
        }
    }

    /// A wait document answered with something that is not TwiML, or nothing usable at all:
    /// text is spoken and audio played (then the loop goes on); nothing usable leaves the leg
    /// holding in silence rather than ending the call.
    pub(crate) fn hold_answer(&mut self, answer: HoldAnswer) {
        match answer {
            HoldAnswer::Text(text) => {
                self.emit(Action::Say(Say {
                    text,
                    voice: None,
                    language: DEFAULT_LANGUAGE.to_owned(),
                    loop_count: 1,
                    source: Source::Twiml,
                }));
                self.step = Step::Playing;
            }
            HoldAnswer::Audio(url) => {
                self.emit(Action::Play(Play {
                    media: PlayMedia::Url(url),
                    loop_count: 1,
                }));
                self.step = Step::Playing;
            }
            HoldAnswer::Nothing => self.step = Step::Held,
        }
    }
}

/// What a wait-document request brought that is not a document.
pub(crate) enum HoldAnswer {
    Text(String),
    Audio(String),
    Nothing,
}
