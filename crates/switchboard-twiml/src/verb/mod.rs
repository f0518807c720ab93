//! The closed set of verbs, one module per verb, and the dispatch from element name to parser.

mod dial;
mod enqueue;
mod gather;
mod hangup;
mod leave;
mod message;
mod pause;
mod play;
mod record;
mod redirect;
mod reject;
mod say;
mod sms;
mod stream;
mod unmodelled;

pub use dial::{Dial, DialRecord, IfMachine, RecordingTrack, RingTone};
pub use enqueue::{Enqueue, Task};
pub use gather::{Gather, GatherInput, GatherPrompt, SpeechTimeout};
pub use hangup::Hangup;
pub use leave::Leave;
pub use message::Message;
pub use pause::Pause;
pub use play::Play;
pub use record::Record;
pub use redirect::Redirect;
pub use reject::{Reject, RejectReason};
pub use say::Say;
pub use sms::Sms;
pub use stream::{
    ConnectStream, MAX_PARAMETER_CHARS, StopStream, Stream, StreamTrack, UrlProblem, url_problem,
};
pub use unmodelled::{UnmodelledKind, UnmodelledVerb};

use crate::Context;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// One verb of a `<Response>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    Say(Say),
    Play(Play),
    Pause(Pause),
    Gather(Gather),
    Record(Record),
    Dial(Dial),
    Hangup(Hangup),
    Redirect(Redirect),
    Reject(Reject),
    Enqueue(Enqueue),
    Leave(Leave),
    /// Legacy SMS during a call, or in a messaging response.
    Sms(Sms),
    /// Messaging only.
    Message(Message),
    /// `<Start><Stream>`: a one-way media stream opens and the next verb runs.
    StartStream(Stream),
    /// `<Stop><Stream name>`.
    StopStream(StopStream),
    /// `<Connect><Stream>`: a two-way media stream holds the call until it closes.
    ConnectStream(ConnectStream),
    /// A valid voice verb this engine does not model (`<Connect>`, `<Pay>`, …), kept as written.
    Unmodelled(UnmodelledVerb),
}

/// Parses element `index` as a top-level verb of the validator's context and appends it to
/// `verbs`; `false` when the name is not a verb there (the caller decides which finding that
/// is). Each arm pushes its verb directly: a `Verb` is a few hundred bytes, and returning it
/// through `Option`s copied it three times (memmove showed in profiles of large documents).
#[inline]
pub(crate) fn parse(
    validator: &mut Validator<'_, '_>,
    index: usize,
    verbs: &mut Vec<Verb>,
) -> bool {
    let name = validator.element(index).name;
    match (validator.context, name) {
        (_, "Redirect") => verbs.push(Verb::Redirect(redirect::parse(validator, index))),
        (_, "Sms") => verbs.push(Verb::Sms(sms::parse(validator, index))),
        (Context::Messaging, "Message") => {
            verbs.push(Verb::Message(message::parse(validator, index)))
        }
        (Context::Messaging, _) => return false,
        (Context::Voice, "Say") => {
            verbs.push(Verb::Say(say::parse(
                validator,
                index,
                say::Place::Response,
            )));
        }
        (Context::Voice, "Play") => verbs.push(Verb::Play(play::parse(validator, index))),
        (Context::Voice, "Pause") => verbs.push(Verb::Pause(pause::parse(validator, index))),
        (Context::Voice, "Gather") => verbs.push(Verb::Gather(gather::parse(validator, index))),
        (Context::Voice, "Record") => verbs.push(Verb::Record(record::parse(validator, index))),
        (Context::Voice, "Dial") => verbs.push(Verb::Dial(dial::parse(validator, index))),
        (Context::Voice, "Hangup") => verbs.push(Verb::Hangup(hangup::parse(validator, index))),
        (Context::Voice, "Reject") => verbs.push(Verb::Reject(reject::parse(validator, index))),
        (Context::Voice, "Enqueue") => verbs.push(Verb::Enqueue(enqueue::parse(validator, index))),
        (Context::Voice, "Leave") => verbs.push(Verb::Leave(leave::parse(validator, index))),
        (Context::Voice, "Start" | "Stop" | "Connect") if stream_verb(validator, index, verbs) => {
            return true;
        }
        (Context::Voice, _) => match unmodelled::parse(validator, index) {
            Some(verb) => verbs.push(Verb::Unmodelled(verb)),
            None => return false,
        },
    }
    if !crate::support::verb_runs(validator.context, name) {
        let (code, message) = crate::support::unsupported_verb(name);
        let offset = validator.element(index).offset;
        validator.unsupported.error(code, offset, message);
    }
    true
}

/// `<Start>`, `<Stop>` or `<Connect>` holding a single `<Stream>`: parsed and pushed (and
/// `true`); anything else is left to the unmodelled verbs.
fn stream_verb(validator: &mut Validator<'_, '_>, index: usize, verbs: &mut Vec<Verb>) -> bool {
    let verb = match validator.element(index).name {
        "Start" => stream::parse_start(validator, index).map(Verb::StartStream),
        "Stop" => stream::parse_stop(validator, index).map(Verb::StopStream),
        _ => stream::parse_connect(validator, index).map(Verb::ConnectStream),
    };
    match verb {
        Some(verb) => {
            verbs.push(verb);
            true
        }
        None => false,
    }
}

impl Verb {
    /// Whether the engine runs this verb (`support`'s table, where `<Start>`, `<Stop>` and
    /// `<Connect>` run only with a `<Stream>`).
    pub fn runs(&self, context: Context) -> bool {
        match self {
            Verb::StartStream(_) | Verb::StopStream(_) | Verb::ConnectStream(_) => true,
            verb => crate::support::verb_runs(context, verb.name()),
        }
    }

    /// The verb's element name.
    pub fn name(&self) -> &'static str {
        use crate::keyword::Keyword;
        match self {
            Verb::Say(_) => "Say",
            Verb::Play(_) => "Play",
            Verb::Pause(_) => "Pause",
            Verb::Gather(_) => "Gather",
            Verb::Record(_) => "Record",
            Verb::Dial(_) => "Dial",
            Verb::Hangup(_) => "Hangup",
            Verb::Redirect(_) => "Redirect",
            Verb::Reject(_) => "Reject",
            Verb::Enqueue(_) => "Enqueue",
            Verb::Leave(_) => "Leave",
            Verb::Sms(_) => "Sms",
            Verb::Message(_) => "Message",
            Verb::StartStream(_) => "Start",
            Verb::StopStream(_) => "Stop",
            Verb::ConnectStream(_) => "Connect",
            Verb::Unmodelled(verb) => verb.kind.keyword(),
        }
    }
}

impl WriteXml for Verb {
    fn write_xml(&self, writer: &mut XmlWriter) {
        match self {
            Verb::Say(verb) => verb.write_xml(writer),
            Verb::Play(verb) => verb.write_xml(writer),
            Verb::Pause(verb) => verb.write_xml(writer),
            Verb::Gather(verb) => verb.write_xml(writer),
            Verb::Record(verb) => verb.write_xml(writer),
            Verb::Dial(verb) => verb.write_xml(writer),
            Verb::Hangup(verb) => verb.write_xml(writer),
            Verb::Redirect(verb) => verb.write_xml(writer),
            Verb::Reject(verb) => verb.write_xml(writer),
            Verb::Enqueue(verb) => verb.write_xml(writer),
            Verb::Leave(verb) => verb.write_xml(writer),
            Verb::Sms(verb) => verb.write_xml(writer),
            Verb::Message(verb) => verb.write_xml(writer),
            Verb::StartStream(stream) => stream::write_start(stream, writer),
            Verb::StopStream(verb) => verb.write_xml(writer),
            Verb::ConnectStream(verb) => verb.write_xml(writer),
            Verb::Unmodelled(verb) => verb.write_xml(writer),
        }
    }
}
