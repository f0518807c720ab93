//! Answering-machine detection (AMD), pure: what answered an outbound call, decided from the
//! first seconds of the audio it sent back, as Twilio's `AnsweredBy`.
//!
//! Two layers, so that real audio and the sandbox's modelled handsets go through the same rules:
//! - [`frame`] turns each 20 ms frame of 8 kHz audio into a [`FrameClass`]: silence, sound
//!   (speech, noise, music), or a steady single tone with its frequency (Goertzel filters over a
//!   20 Hz grid). Energy, not a spectral voice detector: a greeting only has to be told from
//!   silence, and tones are the one thing that must be told from speech (beeps, fax CNG).
//! - [`Detector`] runs the timing rules over those classes (see its doc): a short utterance
//!   followed by silence is a human, speech longer than the speech threshold a machine, a
//!   1100 Hz tone before anyone speaks a fax, silence until the silence timeout `unknown`; with
//!   `DetectMessageEnd` a machine's result waits for the greeting's end (a beep, silence, or the
//!   overall timeout).
//!
//! [`script`] models the sandbox's handsets (`AnsweredBy=human|machine_start|…`) as sequences of
//! frame classes, so a sandbox call's detection takes the time the same rules would take.
//!
//! No IO, no clock: time is counted in frames (20 ms each), so a detector driven by a virtual
//! clock or by a file decides exactly as one driven by a live call.

pub mod detector;
pub mod frame;
pub mod script;

pub use detector::Detector;
pub use frame::{FrameClass, classify};

/// Samples in one analysis frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Milliseconds in one analysis frame.
pub const FRAME_MS: u32 = 20;

/// `MachineDetection`: return as soon as a human or machine is told (`Enable`), or wait for a
/// machine's greeting to end (`DetectMessageEnd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enable,
    DetectMessageEnd,
}

impl Mode {
    /// Twilio's spelling of the parameter value.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "Enable" => Some(Mode::Enable),
            "DetectMessageEnd" => Some(Mode::DetectMessageEnd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enable => "Enable",
            Mode::DetectMessageEnd => "DetectMessageEnd",
        }
    }
}

/// The detection settings of one call (Twilio's `MachineDetection*` parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// `MachineDetectionTimeout`, in milliseconds (Twilio takes seconds: 3–60, default 30).
    pub timeout_ms: u32,
    /// `MachineDetectionSpeechThreshold`: speech longer than this is a machine (1000–6000,
    /// default 2400).
    pub speech_threshold_ms: u32,
    /// `MachineDetectionSpeechEndThreshold`: silence this long ends an utterance (500–5000,
    /// default 1200).
    pub speech_end_threshold_ms: u32,
    /// `MachineDetectionSilenceTimeout`: initial silence this long is `unknown` (2000–10000,
    /// default 5000).
    pub silence_timeout_ms: u32,
}

impl Settings {
    /// Twilio's defaults for `mode`.
    pub fn new(mode: Mode) -> Settings {
        Settings {
            mode,
            timeout_ms: 30_000,
            speech_threshold_ms: 2_400,
            speech_end_threshold_ms: 1_200,
            silence_timeout_ms: 5_000,
        }
    }
}

/// Twilio's `AnsweredBy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnsweredBy {
    Human,
    MachineStart,
    MachineEndBeep,
    MachineEndSilence,
    MachineEndOther,
    Fax,
    Unknown,
}

impl AnsweredBy {
    pub const ALL: [AnsweredBy; 7] = [
        AnsweredBy::Human,
        AnsweredBy::MachineStart,
        AnsweredBy::MachineEndBeep,
        AnsweredBy::MachineEndSilence,
        AnsweredBy::MachineEndOther,
        AnsweredBy::Fax,
        AnsweredBy::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::MachineStart => "machine_start",
            AnsweredBy::MachineEndBeep => "machine_end_beep",
            AnsweredBy::MachineEndSilence => "machine_end_silence",
            AnsweredBy::MachineEndOther => "machine_end_other",
            AnsweredBy::Fax => "fax",
            AnsweredBy::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<AnsweredBy> {
        AnsweredBy::ALL
            .into_iter()
            .find(|value| value.as_str() == text)
    }
}

/// What detection concluded, and how long after the answer (`MachineDetectionDuration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub answered_by: AnsweredBy,
    pub duration_ms: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_by_round_trips_its_spelling() {
        for value in AnsweredBy::ALL {
            assert_eq!(AnsweredBy::parse(value.as_str()), Some(value));
        }
        assert_eq!(AnsweredBy::parse("machine"), None);
        assert_eq!(Mode::parse("Enable"), Some(Mode::Enable));
        assert_eq!(Mode::parse("enable"), None);
    }
}
