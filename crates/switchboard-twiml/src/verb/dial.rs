//! `<Dial>` (§7.7): connect the caller to a number given as text, or to `<Dial>` nouns.
//!
//! Up to 10 ringing nouns (`<Number>`, `<Client>`, `<Sip>`, `<Application>`, `<Sim>`,
//! `<WhatsApp>`) may be mixed; `<Conference>` and `<Queue>` must stand alone (13215 [I]).

use switchboard_core::error_code::{
    DIAL_INVALID_CALLER_ID, DIAL_INVALID_HANGUP_ON_STAR, DIAL_INVALID_IF_MACHINE,
    DIAL_INVALID_METHOD, DIAL_INVALID_NESTED_ELEMENT, DIAL_INVALID_RECORD, DIAL_INVALID_TIME_LIMIT,
    DIAL_INVALID_TIMEOUT,
};

use crate::attributes::{Attributes, WARN};
use crate::keyword::{Method, RecordingEvent, SpaceList, Trim, keyword};
use crate::limits::MAX_DIAL_TARGETS;
use crate::noun::{self, NOUNS, Noun, Number};
use crate::tree::{Element, Node};
use crate::validate::{VOICE_VERBS, Validator};
use crate::writer::{WriteXml, XmlWriter};

keyword! {
    /// `record` on `<Dial>`; legacy `true`/`false` map to `record-from-answer`/`do-not-record`.
    pub enum DialRecord {
        DoNotRecord = "do-not-record",
        RecordFromAnswer = "record-from-answer",
        RecordFromRinging = "record-from-ringing",
        RecordFromAnswerDual = "record-from-answer-dual",
        RecordFromRingingDual = "record-from-ringing-dual",
    }
}

keyword! {
    /// `recordingTrack`.
    pub enum RecordingTrack { Inbound = "inbound", Outbound = "outbound", Both = "both" }
}

keyword! {
    /// Legacy `ifMachine`.
    pub enum IfMachine { Continue = "Continue", Hangup = "Hangup" }
}

keyword! {
    /// `ringTone`: the country whose ringback is played.
    pub enum RingTone {
        At = "at", Au = "au", Bg = "bg", Br = "br", Be = "be", Ch = "ch", Cl = "cl", Cn = "cn", Cz = "cz",
        De = "de", Dk = "dk", Ee = "ee", Es = "es", Fi = "fi", Fr = "fr", Gr = "gr", Hu = "hu", Il = "il",
        In = "in", It = "it", Lt = "lt", Jp = "jp", Mx = "mx", My = "my", Nl = "nl", No = "no", Nz = "nz",
        Ph = "ph", Pl = "pl", Pt = "pt", Ru = "ru", Se = "se", Sg = "sg", Th = "th", Uk = "uk", Us = "us",
        UsOld = "us-old", Tw = "tw", Ve = "ve", Za = "za",
    }
}

/// Connect the caller to another party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// `None`: continue with the next verb when the dialled leg ends.
    pub action: Option<String>,
    pub method: Method,
    /// Ring seconds 5–600 (out-of-range values are clamped), default 30.
    pub timeout: u32,
    pub hangup_on_star: bool,
    /// Seconds, default 14400.
    pub time_limit: u32,
    pub caller_id: Option<String>,
    pub record: DialRecord,
    pub recording_track: RecordingTrack,
    /// Default `do-not-trim` (§10 question 7).
    pub trim: Trim,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Method,
    pub recording_status_callback_event: Vec<RecordingEvent>,
    pub recording_configuration_id: Option<String>,
    pub answer_on_bridge: bool,
    pub ring_tone: Option<RingTone>,
    pub call_reason: Option<String>,
    pub sequential: bool,
    pub refer_url: Option<String>,
    pub refer_method: Method,
    pub events: Option<String>,
    pub passports: Option<String>,
    pub if_machine: Option<IfMachine>,
    /// What to ring; a plain-text body becomes one [`Noun::Number`].
    pub nouns: Vec<Noun>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Dial {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let mut dial = attributes_of(&mut a);
    a.finish();
    dial.nouns = nouns(validator, element);
    check_mix(validator, element, &dial.nouns);
    dial
}

fn attributes_of(a: &mut Attributes<'_, '_>) -> Dial {
    Dial {
        action: a.string("action"),
        method: a.method("method", DIAL_INVALID_METHOD),
        timeout: a
            .integer("timeout", 30, 1..=86_400, DIAL_INVALID_TIMEOUT)
            .clamp(5, 600),
        hangup_on_star: a.boolean("hangupOnStar", false, DIAL_INVALID_HANGUP_ON_STAR),
        time_limit: a.integer("timeLimit", 14_400, 1..=86_400, DIAL_INVALID_TIME_LIMIT),
        caller_id: a.checked(
            "callerId",
            DIAL_INVALID_CALLER_ID,
            "a phone number, client identity or SIP URI",
            |id| !id.is_empty() && !noun::has_space_or_control(id),
        ),
        record: record(a),
        recording_track: a.keyword("recordingTrack", RecordingTrack::Both, DIAL_INVALID_RECORD),
        trim: a.keyword("trim", Trim::DoNotTrim, DIAL_INVALID_RECORD),
        recording_status_callback: a.string("recordingStatusCallback"),
        recording_status_callback_method: a
            .method("recordingStatusCallbackMethod", DIAL_INVALID_RECORD),
        recording_status_callback_event: a.keyword_list(
            "recordingStatusCallbackEvent",
            &[RecordingEvent::Completed],
            DIAL_INVALID_RECORD,
        ),
        recording_configuration_id: a.string("recordingConfigurationId"),
        answer_on_bridge: a.boolean("answerOnBridge", false, WARN),
        ring_tone: a.optional_keyword("ringTone", WARN),
        call_reason: a.checked("callReason", WARN, "at most 50 characters", |r| {
            r.chars().count() <= 50
        }),
        sequential: a.boolean("sequential", false, WARN),
        refer_url: a.string("referUrl"),
        refer_method: a.method("referMethod", WARN),
        events: a.string("events"),
        passports: a.string("passports"),
        if_machine: a.optional_keyword("ifMachine", DIAL_INVALID_IF_MACHINE),
        nouns: Vec::new(),
    }
}

fn record(a: &mut Attributes<'_, '_>) -> DialRecord {
    let legacy = |value: &str| {
        matches!(value, "true" | "false")
            || <DialRecord as crate::keyword::Keyword>::from_keyword(value).is_some()
    };
    match a.checked_str(
        "record",
        DIAL_INVALID_RECORD,
        "do-not-record or record-from-answer/ringing[-dual]",
        legacy,
    ) {
        None => DialRecord::DoNotRecord,
        Some("true") => DialRecord::RecordFromAnswer,
        Some(value) => <DialRecord as crate::keyword::Keyword>::from_keyword(value)
            .unwrap_or(DialRecord::DoNotRecord),
    }
}

fn nouns<'t, 'a>(validator: &mut Validator<'t, 'a>, element: Element<'t, 'a>) -> Vec<Noun> {
    // Every noun is a child, and the text (at most one `Number`) is too.
    let mut nouns = Vec::with_capacity(element.child_count());
    let mut text = String::new();
    for child in element.children() {
        match child {
            Node::Text { text: part, .. } => text.push_str(part),
            Node::Element(index) => {
                if let Some(noun) = noun::parse(validator, index) {
                    let child = validator.element(index);
                    if !crate::support::dial_noun_runs(child.name) {
                        let (code, message) = crate::support::unsupported_dial_noun(child.name);
                        validator.unsupported.error(code, child.offset, message);
                    }
                    nouns.push(noun);
                } else {
                    misplaced(validator, element, index);
                }
            }
        }
    }
    let text = text.trim_ascii();
    if !text.is_empty() {
        if !nouns.is_empty() {
            validator.findings.error(
                DIAL_INVALID_NESTED_ELEMENT,
                element.offset,
                "<Dial> mixes a number as text with nouns",
            );
        }
        crate::noun::check_number(validator, text, element.offset);
        nouns.insert(0, Noun::Number(Number::plain(text.to_owned())));
    }
    nouns
}

fn misplaced(validator: &mut Validator<'_, '_>, parent: Element<'_, '_>, index: usize) {
    let child = validator.element(index);
    if VOICE_VERBS.contains(&child.name) || NOUNS.contains(&child.name) {
        let message = format!("<{}> cannot be nested in <Dial>", child.name);
        validator
            .findings
            .error(DIAL_INVALID_NESTED_ELEMENT, child.offset, message);
    } else {
        validator.unexpected(parent, index);
    }
}

fn check_mix(validator: &mut Validator<'_, '_>, element: Element<'_, '_>, nouns: &[Noun]) {
    let alone = nouns
        .iter()
        .any(|noun| matches!(noun, Noun::Conference(_) | Noun::Queue(_)));
    let message = if nouns.is_empty() {
        "<Dial> needs a number or a noun to dial"
    } else if alone && nouns.len() > 1 {
        "<Conference> and <Queue> must be the only noun in their <Dial>"
    } else if nouns.len() > MAX_DIAL_TARGETS {
        "<Dial> can ring at most 10 nouns at once"
    } else {
        return;
    };
    validator
        .findings
        .error(DIAL_INVALID_NESTED_ELEMENT, element.offset, message);
}

impl WriteXml for Dial {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Dial");
        e.opt("action", self.action.as_deref())
            .attr("method", self.method)
            .attr("timeout", self.timeout);
        e.attr("hangupOnStar", self.hangup_on_star)
            .attr("timeLimit", self.time_limit);
        e.opt("callerId", self.caller_id.as_deref())
            .attr("record", self.record);
        e.attr("recordingTrack", self.recording_track)
            .attr("trim", self.trim);
        e.opt(
            "recordingStatusCallback",
            self.recording_status_callback.as_deref(),
        );
        e.attr(
            "recordingStatusCallbackMethod",
            self.recording_status_callback_method,
        );
        e.attr(
            "recordingStatusCallbackEvent",
            SpaceList(&self.recording_status_callback_event),
        );
        e.opt(
            "recordingConfigurationId",
            self.recording_configuration_id.as_deref(),
        );
        e.attr("answerOnBridge", self.answer_on_bridge)
            .opt("ringTone", self.ring_tone);
        e.opt("callReason", self.call_reason.as_deref())
            .attr("sequential", self.sequential);
        e.opt("referUrl", self.refer_url.as_deref())
            .attr("referMethod", self.refer_method);
        e.opt("events", self.events.as_deref())
            .opt("passports", self.passports.as_deref());
        e.opt("ifMachine", self.if_machine);
        e.children(|writer| self.nouns.iter().for_each(|noun| noun.write_xml(writer)));
    }
}
