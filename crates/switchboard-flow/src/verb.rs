//! One module per verb family, each adding the `impl Call` methods that start the verb and
//! react to the inputs it waits for; this file dispatches a verb to its module.

pub(crate) mod control;
pub(crate) mod dial;
pub(crate) mod gather;
pub(crate) mod hold;
pub(crate) mod media;
pub(crate) mod queue;
pub(crate) mod record;
pub(crate) mod sms;
pub(crate) mod stream;

use switchboard_twiml::{Context, Verb};

use crate::action::HangupBy;
use crate::call::Call;

impl Call {
    /// Runs one verb; it either finishes at once (the step stays `Idle`) or sets what it awaits.
    pub(crate) fn run_verb(&mut self, verb: Verb) {
        // What the engine runs is `switchboard_twiml::support`'s table, which `twiml check`
        // reports from too; the arms below for those verbs are never reached.
        if !verb.runs(Context::Voice) {
            return self.unsupported_verb(verb.name());
        }
        if self.hold.is_some() && !self.hold_allows(&verb) {
            return;
        }
        match verb {
            Verb::Say(say) => self.start_say(&say),
            Verb::Play(play) => self.start_play(&play),
            Verb::Pause(pause) => self.start_pause(&pause),
            Verb::Gather(gather) => self.start_gather(gather),
            Verb::Record(record) => self.start_record(record),
            Verb::Dial(dial) => self.start_dial(dial),
            Verb::Hangup(_) => self.hang_up(HangupBy::Twiml),
            Verb::Reject(reject) => self.reject(reject.reason),
            Verb::Redirect(redirect) => self.redirect(&redirect),
            Verb::Sms(sms) => self.send_sms(sms),
            Verb::StartStream(stream) => self.start_stream(stream),
            Verb::StopStream(stop) => self.stop_stream(stop),
            Verb::ConnectStream(connect) => self.connect_stream(connect),
            Verb::Enqueue(enqueue) => self.start_enqueue(enqueue),
            Verb::Leave(_) => self.leave_outside_queue(),
            Verb::Message(_) => self.unsupported_verb("Message"),
            Verb::Unmodelled(verb) => self.unsupported_verb(&verb.kind.to_string()),
        }
    }
}
