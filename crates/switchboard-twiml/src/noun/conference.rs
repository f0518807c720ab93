//! `<Conference>` inside `<Dial>` (§7.7): join a named conference room.
//! Attribute problems are 13230, except the name (13237), `trim` (13239) and `coach` (13240).

use switchboard_core::error_code::{
    CONFERENCE_INVALID_ATTRIBUTE as INVALID, CONFERENCE_INVALID_COACH, CONFERENCE_INVALID_NAME,
    CONFERENCE_INVALID_TRIM,
};

use crate::attributes::Attributes;
use crate::keyword::{Method, RecordingEvent, SpaceList, Trim, keyword};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

keyword! {
    /// `beep`: when participants hear a beep.
    pub enum Beep { True = "true", False = "false", OnEnter = "onEnter", OnExit = "onExit" }
}

keyword! {
    /// `jitterBufferSize`.
    pub enum JitterBufferSize { Off = "off", Small = "small", Medium = "medium", Large = "large" }
}

keyword! {
    /// `record` on `<Conference>`.
    pub enum ConferenceRecord { DoNotRecord = "do-not-record", RecordFromStart = "record-from-start" }
}

keyword! {
    /// Events of `statusCallbackEvent` on `<Conference>`.
    pub enum ConferenceEvent {
        Start = "start", End = "end", Join = "join", Leave = "leave", Mute = "mute", Hold = "hold",
        Modify = "modify", Speaker = "speaker", Announcement = "announcement",
    }
}

/// Join a conference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conference {
    /// 1 to 128 characters.
    pub name: String,
    pub muted: bool,
    /// Default `true`.
    pub beep: Beep,
    /// Default true.
    pub start_conference_on_enter: bool,
    pub end_conference_on_exit: bool,
    pub participant_label: Option<String>,
    /// Default `large`.
    pub jitter_buffer_size: JitterBufferSize,
    pub wait_url: Option<String>,
    pub wait_method: Method,
    /// 2 to 250, default 250.
    pub max_participants: u32,
    pub record: ConferenceRecord,
    pub region: Option<String>,
    /// Default `trim-silence`.
    pub trim: Trim,
    /// A call SID (`CA…`).
    pub coach: Option<String>,
    pub status_callback_event: Vec<ConferenceEvent>,
    pub status_callback: Option<String>,
    pub status_callback_method: Method,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Method,
    /// Default `[Completed]`.
    pub recording_status_callback_event: Vec<RecordingEvent>,
    pub recording_configuration_id: Option<String>,
    pub event_callback_url: Option<String>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Conference {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let conference = attributes_of(&mut a);
    a.finish();
    let name = validator.text(element);
    if name.is_empty() || name.chars().count() > 128 {
        validator.findings.error(
            CONFERENCE_INVALID_NAME,
            element.offset,
            "<Conference> name must be 1 to 128 characters",
        );
    }
    Conference { name, ..conference }
}

fn attributes_of(a: &mut Attributes<'_, '_>) -> Conference {
    Conference {
        name: String::new(),
        muted: a.boolean("muted", false, INVALID),
        beep: a.keyword("beep", Beep::True, INVALID),
        start_conference_on_enter: a.boolean("startConferenceOnEnter", true, INVALID),
        end_conference_on_exit: a.boolean("endConferenceOnExit", false, INVALID),
        participant_label: a.string("participantLabel"),
        jitter_buffer_size: a.keyword("jitterBufferSize", JitterBufferSize::Large, INVALID),
        wait_url: a.string("waitUrl"),
        wait_method: a.method("waitMethod", INVALID),
        max_participants: a.integer("maxParticipants", 250, 2..=250, INVALID),
        record: a.keyword("record", ConferenceRecord::DoNotRecord, INVALID),
        region: a.string("region"),
        trim: a.keyword("trim", Trim::TrimSilence, CONFERENCE_INVALID_TRIM),
        coach: a.checked(
            "coach",
            CONFERENCE_INVALID_COACH,
            "a call SID (CA followed by 32 hex digits)",
            valid_call_sid,
        ),
        status_callback_event: a.keyword_list("statusCallbackEvent", &[], INVALID),
        status_callback: a.string("statusCallback"),
        status_callback_method: a.method("statusCallbackMethod", INVALID),
        recording_status_callback: a.string("recordingStatusCallback"),
        recording_status_callback_method: a.method("recordingStatusCallbackMethod", INVALID),
        recording_status_callback_event: a.keyword_list(
            "recordingStatusCallbackEvent",
            &[RecordingEvent::Completed],
            INVALID,
        ),
        recording_configuration_id: a.string("recordingConfigurationId"),
        event_callback_url: a.string("eventCallbackUrl"),
    }
}

fn valid_call_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("CA") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl WriteXml for Conference {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Conference");
        e.attr("muted", self.muted).attr("beep", self.beep);
        e.attr("startConferenceOnEnter", self.start_conference_on_enter);
        e.attr("endConferenceOnExit", self.end_conference_on_exit);
        e.opt("participantLabel", self.participant_label.as_deref())
            .attr("jitterBufferSize", self.jitter_buffer_size);
        e.opt("waitUrl", self.wait_url.as_deref())
            .attr("waitMethod", self.wait_method);
        e.attr("maxParticipants", self.max_participants)
            .attr("record", self.record);
        e.opt("region", self.region.as_deref())
            .attr("trim", self.trim)
            .opt("coach", self.coach.as_deref());
        if !self.status_callback_event.is_empty() {
            e.attr(
                "statusCallbackEvent",
                SpaceList(&self.status_callback_event),
            );
        }
        e.opt("statusCallback", self.status_callback.as_deref())
            .attr("statusCallbackMethod", self.status_callback_method);
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
        e.opt("eventCallbackUrl", self.event_callback_url.as_deref());
        e.text(&self.name);
    }
}
