//! `<Record>` (§7.6): record the caller, then request `action` with the recording.

use switchboard_core::error_code::{
    RECORD_INVALID_ATTRIBUTE, RECORD_INVALID_FINISH_ON_KEY, RECORD_INVALID_MAX_LENGTH,
    RECORD_INVALID_METHOD, RECORD_INVALID_PLAY_BEEP, RECORD_INVALID_STATUS_CALLBACK_EVENT,
    RECORD_INVALID_TIMEOUT, RECORD_INVALID_TRANSCRIBE, RECORD_INVALID_TRANSCRIBE_CALLBACK,
};

use crate::attributes::Attributes;
use crate::keyword::{Method, RecordingEvent, SpaceList, Trim};
use crate::noun::plausible_url;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Record the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `None` = the current document's URL.
    pub action: Option<String>,
    pub method: Method,
    /// Seconds of silence that end the recording (0 disables); default 5.
    pub timeout: u32,
    /// Keys that end the recording; default `1234567890*#`.
    pub finish_on_key: String,
    /// Seconds, default 3600, at most 14400.
    pub max_length: u32,
    /// Default true.
    pub play_beep: bool,
    /// Default `trim-silence`.
    pub trim: Trim,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Method,
    /// Default `[Completed]`.
    pub recording_status_callback_event: Vec<RecordingEvent>,
    /// True when written or implied by `transcribeCallback`.
    pub transcribe: bool,
    pub transcribe_callback: Option<String>,
    pub recording_configuration_id: Option<String>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Record {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let record = attributes_of(&mut attributes);
    attributes.finish();
    validator.no_content(element);
    record
}

fn attributes_of(a: &mut Attributes<'_, '_>) -> Record {
    let transcribe = a.boolean("transcribe", false, RECORD_INVALID_TRANSCRIBE);
    let transcribe_callback = a.checked(
        "transcribeCallback",
        RECORD_INVALID_TRANSCRIBE_CALLBACK,
        "a URL",
        plausible_url,
    );
    Record {
        action: a.string("action"),
        method: a.method("method", RECORD_INVALID_METHOD),
        timeout: a.integer("timeout", 5, 0..=3600, RECORD_INVALID_TIMEOUT),
        finish_on_key: a
            .checked(
                "finishOnKey",
                RECORD_INVALID_FINISH_ON_KEY,
                "keys from 0-9, # and *",
                valid_keys,
            )
            .unwrap_or_else(|| "1234567890*#".to_owned()),
        max_length: a.integer("maxLength", 3600, 1..=14_400, RECORD_INVALID_MAX_LENGTH),
        play_beep: a.boolean("playBeep", true, RECORD_INVALID_PLAY_BEEP),
        trim: a.keyword("trim", Trim::TrimSilence, RECORD_INVALID_ATTRIBUTE),
        recording_status_callback: a.string("recordingStatusCallback"),
        recording_status_callback_method: a
            .method("recordingStatusCallbackMethod", RECORD_INVALID_ATTRIBUTE),
        recording_status_callback_event: a.keyword_list(
            "recordingStatusCallbackEvent",
            &[RecordingEvent::Completed],
            RECORD_INVALID_STATUS_CALLBACK_EVENT,
        ),
        transcribe: transcribe || transcribe_callback.is_some(),
        transcribe_callback,
        recording_configuration_id: a.string("recordingConfigurationId"),
    }
}

fn valid_keys(keys: &str) -> bool {
    keys.bytes()
        .all(|key| key.is_ascii_digit() || key == b'#' || key == b'*')
}

impl WriteXml for Record {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Record");
        e.opt("action", self.action.as_deref())
            .attr("method", self.method)
            .attr("timeout", self.timeout);
        e.attr("finishOnKey", &self.finish_on_key)
            .attr("maxLength", self.max_length);
        e.attr("playBeep", self.play_beep).attr("trim", self.trim);
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
        e.attr("transcribe", self.transcribe)
            .opt("transcribeCallback", self.transcribe_callback.as_deref());
        e.opt(
            "recordingConfigurationId",
            self.recording_configuration_id.as_deref(),
        );
        e.empty();
    }
}
