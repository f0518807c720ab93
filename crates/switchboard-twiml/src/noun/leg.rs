//! Attribute groups shared by the nouns that ring a new call leg: callbacks and answering
//! machine detection.

use switchboard_core::ErrorCode;

use crate::attributes::{Attributes, WARN};
use crate::keyword::{CallProgressEvent, MachineDetection, Method, SpaceList};
use crate::writer::ElementWriter;

/// `url`, `method`, `statusCallbackEvent`, `statusCallback`, `statusCallbackMethod`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegCallbacks {
    /// TwiML run on the called party before bridging (whisper).
    pub url: Option<String>,
    pub method: Method,
    /// Default `[Completed]`.
    pub status_callback_event: Vec<CallProgressEvent>,
    pub status_callback: Option<String>,
    pub status_callback_method: Method,
}

impl LegCallbacks {
    pub(crate) fn parse(a: &mut Attributes<'_, '_>, method_code: ErrorCode) -> Self {
        LegCallbacks {
            url: a.string("url"),
            method: a.method("method", method_code),
            status_callback_event: a.keyword_list(
                "statusCallbackEvent",
                &[CallProgressEvent::Completed],
                WARN,
            ),
            status_callback: a.string("statusCallback"),
            status_callback_method: a.method("statusCallbackMethod", method_code),
        }
    }

    pub(crate) fn write(&self, e: &mut ElementWriter<'_>) {
        e.opt("url", self.url.as_deref())
            .attr("method", self.method);
        e.attr(
            "statusCallbackEvent",
            SpaceList(&self.status_callback_event),
        );
        e.opt("statusCallback", self.status_callback.as_deref())
            .attr("statusCallbackMethod", self.status_callback_method);
    }
}

/// Answering machine detection on `<Number>` and `<Sip>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsweringMachineDetection {
    pub machine_detection: Option<MachineDetection>,
    /// Seconds 3–60, default 30.
    pub timeout: u32,
    /// Milliseconds 1000–6000, default 2400.
    pub speech_threshold: u32,
    /// Milliseconds 500–5000, default 1200.
    pub speech_end_threshold: u32,
    /// Milliseconds 2000–10000, default 5000.
    pub silence_timeout: u32,
    pub amd_status_callback: Option<String>,
    pub amd_status_callback_method: Method,
}

impl AnsweringMachineDetection {
    pub(crate) fn parse(a: &mut Attributes<'_, '_>, code: ErrorCode) -> Self {
        AnsweringMachineDetection {
            machine_detection: a.optional_keyword("machineDetection", code),
            timeout: a.integer("machineDetectionTimeout", 30, 3..=60, code),
            speech_threshold: a.integer("machineDetectionSpeechThreshold", 2400, 1000..=6000, code),
            speech_end_threshold: a.integer(
                "machineDetectionSpeechEndThreshold",
                1200,
                500..=5000,
                code,
            ),
            silence_timeout: a.integer("machineDetectionSilenceTimeout", 5000, 2000..=10_000, code),
            amd_status_callback: a.string("amdStatusCallback"),
            amd_status_callback_method: a.method("amdStatusCallbackMethod", code),
        }
    }

    pub(crate) fn write(&self, e: &mut ElementWriter<'_>) {
        e.opt("machineDetection", self.machine_detection)
            .attr("machineDetectionTimeout", self.timeout);
        e.attr("machineDetectionSpeechThreshold", self.speech_threshold);
        e.attr(
            "machineDetectionSpeechEndThreshold",
            self.speech_end_threshold,
        );
        e.attr("machineDetectionSilenceTimeout", self.silence_timeout);
        e.opt("amdStatusCallback", self.amd_status_callback.as_deref());
        e.attr("amdStatusCallbackMethod", self.amd_status_callback_method);
    }
}
