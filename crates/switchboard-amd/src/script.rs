//! The sandbox's modelled handsets: what each `AnsweredBy` setting of a virtual handset sounds
//! like once it answers, as a timeline of frame classes, and what detection makes of it.
//!
//! Because the timeline goes through the same [`Detector`] as real audio, a sandbox call's
//! result and `MachineDetectionDuration` follow the call's settings: the thresholds, the mode
//! and the timeouts move them exactly as they would on a real line.
//!
//! - `human`: "Hello?" (800 ms of speech), then silence.
//! - `machine_end_beep`: a 5-second greeting (three phrases with short pauses), 400 ms of
//!   silence, a 500 ms beep at 1000 Hz, then silence.
//! - `machine_end_silence`: the same greeting, then silence.
//! - `machine_start`: a greeting that goes on past any timeout (no end is heard, so
//!   `DetectMessageEnd` ends at the timeout with `machine_end_other`).
//! - `fax`: the calling tone, 500 ms of 1100 Hz every 3.5 s.
//! - `unknown`: silence.

use crate::frame::FrameClass;
use crate::{AnsweredBy, Detector, FRAME_MS, Settings, Verdict};

/// How a modelled handset sounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handset {
    Human,
    MachineStart,
    MachineEndBeep,
    MachineEndSilence,
    Fax,
    Silent,
}

impl Handset {
    /// The handset for a sandbox `AnsweredBy` setting (`machine_end_other` has no model: it is
    /// what `machine_start` gives with `DetectMessageEnd`).
    pub fn of(answered_by: AnsweredBy) -> Option<Handset> {
        match answered_by {
            AnsweredBy::Human => Some(Handset::Human),
            AnsweredBy::MachineStart => Some(Handset::MachineStart),
            AnsweredBy::MachineEndBeep => Some(Handset::MachineEndBeep),
            AnsweredBy::MachineEndSilence => Some(Handset::MachineEndSilence),
            AnsweredBy::Fax => Some(Handset::Fax),
            AnsweredBy::Unknown => Some(Handset::Silent),
            AnsweredBy::MachineEndOther => None,
        }
    }

    /// The class of the frame that ends at `at_ms` after the answer.
    pub fn frame_at(self, at_ms: u32) -> FrameClass {
        const SPEECH: FrameClass = FrameClass::Sound;
        const SILENCE: FrameClass = FrameClass::Silence;
        let t = at_ms.saturating_sub(FRAME_MS);
        let greeting = |t: u32| match t {
            0..1400 | 1700..3300 | 3600..5000 => SPEECH,
            _ => SILENCE,
        };
        match self {
            Handset::Human if t < 800 => SPEECH,
            Handset::Human | Handset::Silent => SILENCE,
            Handset::MachineStart => greeting(t % 5000),
            Handset::MachineEndBeep if (5400..5900).contains(&t) => FrameClass::Tone { hz: 1000 },
            Handset::MachineEndBeep | Handset::MachineEndSilence => greeting(t),
            Handset::Fax if t % 3500 < 500 => FrameClass::Tone { hz: 1100 },
            Handset::Fax => SILENCE,
        }
    }

    /// What detection with `settings` concludes about this handset, and when.
    pub fn detect(self, settings: Settings) -> Verdict {
        let mut detector = Detector::new(settings);
        loop {
            let at = detector.elapsed_ms() + FRAME_MS;
            if let Some(verdict) = detector.push_class(self.frame_at(at)) {
                return verdict;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn detect(handset: Handset, mode: Mode) -> (AnsweredBy, u32) {
        let verdict = handset.detect(Settings::new(mode));
        (verdict.answered_by, verdict.duration_ms)
    }

    #[test]
    fn each_handset_is_detected_as_its_setting() {
        use AnsweredBy::*;
        use Mode::*;
        assert_eq!(detect(Handset::Human, Enable), (Human, 2000));
        assert_eq!(detect(Handset::Human, DetectMessageEnd), (Human, 2000));
        assert_eq!(
            detect(Handset::MachineEndBeep, Enable),
            (MachineStart, 2400)
        );
        assert_eq!(
            detect(Handset::MachineEndBeep, DetectMessageEnd),
            (MachineEndBeep, 5600)
        );
        assert_eq!(
            detect(Handset::MachineEndSilence, DetectMessageEnd),
            (MachineEndSilence, 6200)
        );
        assert_eq!(detect(Handset::MachineStart, Enable), (MachineStart, 2400));
        assert_eq!(
            detect(Handset::MachineStart, DetectMessageEnd),
            (MachineEndOther, 30_000)
        );
        assert_eq!(detect(Handset::Fax, DetectMessageEnd), (Fax, 300));
        assert_eq!(detect(Handset::Silent, Enable), (Unknown, 5000));
    }

    #[test]
    fn the_model_follows_the_settings() {
        let mut settings = Settings::new(Mode::Enable);
        settings.speech_threshold_ms = 6000;
        // A 5-second greeting under a 6-second threshold sounds like a person who stopped.
        let verdict = Handset::MachineEndSilence.detect(settings);
        assert_eq!(verdict.answered_by, AnsweredBy::Human);
        settings.timeout_ms = 3000;
        settings.silence_timeout_ms = 10_000;
        assert_eq!(Handset::Silent.detect(settings).duration_ms, 3000);
        assert_eq!(Handset::of(AnsweredBy::MachineEndOther), None);
    }
}
