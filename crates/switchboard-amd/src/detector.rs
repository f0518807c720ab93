//! The timing rules of detection, over frame classes (one per 20 ms, from the answer on).
//!
//! Three phases:
//! - **Waiting** (nobody spoke yet). A steady tone within [`FAX_TOLERANCE_HZ`] of 1100 Hz for
//!   [`FAX_MIN_MS`] is a fax's calling tone (CNG): `fax`. Initial silence reaching the silence
//!   timeout is `unknown`. Any other sound starts an utterance.
//! - **Speaking** (an utterance runs; gaps shorter than the speech-end threshold belong to it).
//!   Silence reaching the speech-end threshold ends it: a short utterance ("Hello?") is a
//!   `human`. The utterance reaching the speech threshold, or a steady tone of
//!   [`BEEP_MIN_MS`] after speech (a short greeting and its beep), is a machine: with `Enable`
//!   that is the answer (`machine_start`; a beep already heard gives `machine_end_beep`).
//! - **Machine** (`DetectMessageEnd` only: the greeting's end is awaited). A steady tone of
//!   [`BEEP_MIN_MS`] is `machine_end_beep`; silence reaching the speech-end threshold is
//!   `machine_end_silence`.
//!
//! The overall timeout ends every phase: `unknown` before a machine was told, and
//! `machine_end_other` once it was (the greeting's end was not heard).
//! `duration_ms` is the time from the answer to the decision, on the audio's own clock.

use crate::frame::{FrameClass, classify};
use crate::{AnsweredBy, FRAME_MS, FRAME_SAMPLES, Mode, Settings, Verdict};

/// A fax's calling tone (CNG) is 1100 Hz; accepted this far off.
pub const FAX_TOLERANCE_HZ: u32 = 40;
/// How long a 1100 Hz tone must last to be a fax (CNG bursts last 500 ms).
pub const FAX_MIN_MS: u32 = 300;
/// How long a steady tone must last to be a beep.
pub const BEEP_MIN_MS: u32 = 200;
/// Frames of one tone may drift this much and still be one tone.
const TONE_DRIFT_HZ: u32 = 40;
const FAX_HZ: u32 = 1_100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting { silence_ms: u32 },
    Speaking { started_ms: u32, silence_ms: u32 },
    Machine { silence_ms: u32 },
}

/// A run of frames holding one tone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ToneRun {
    hz: u32,
    ms: u32,
}

impl ToneRun {
    fn push(&mut self, class: FrameClass) {
        match class {
            FrameClass::Tone { hz } if self.ms > 0 && self.hz.abs_diff(hz) <= TONE_DRIFT_HZ => {
                self.ms += FRAME_MS;
            }
            FrameClass::Tone { hz } => *self = ToneRun { hz, ms: FRAME_MS },
            _ => *self = ToneRun::default(),
        }
    }
}

/// One call's detection: feed audio (or frame classes) until it returns a [`Verdict`].
#[derive(Clone, Debug)]
pub struct Detector {
    settings: Settings,
    elapsed_ms: u32,
    phase: Phase,
    tone: ToneRun,
    /// Samples of a frame not complete yet.
    partial: Vec<i16>,
    verdict: Option<Verdict>,
}

impl Detector {
    pub fn new(settings: Settings) -> Detector {
        Detector {
            settings,
            elapsed_ms: 0,
            phase: Phase::Waiting { silence_ms: 0 },
            tone: ToneRun::default(),
            partial: Vec::with_capacity(FRAME_SAMPLES),
            verdict: None,
        }
    }

    /// The decision, once made (it never changes after).
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Milliseconds of audio judged so far.
    pub fn elapsed_ms(&self) -> u32 {
        self.elapsed_ms
    }

    /// Feeds received audio (8 kHz, any amount); returns the verdict once there is one.
    pub fn push_samples(&mut self, samples: &[i16]) -> Option<Verdict> {
        for &sample in samples {
            if self.verdict.is_some() {
                break;
            }
            self.partial.push(sample);
            if self.partial.len() == FRAME_SAMPLES {
                let class = classify(&self.partial);
                self.partial.clear();
                self.push_class(class);
            }
        }
        self.verdict
    }

    /// Feeds one frame's class directly (the sandbox's modelled handsets).
    pub fn push_class(&mut self, class: FrameClass) -> Option<Verdict> {
        if self.verdict.is_some() {
            return self.verdict;
        }
        self.elapsed_ms += FRAME_MS;
        self.tone.push(class);
        if let Some(answered_by) = self.step(class) {
            return self.decide(answered_by);
        }
        if self.elapsed_ms >= self.settings.timeout_ms {
            return Some(self.time_out());
        }
        None
    }

    /// The verdict when the overall timeout ran out first (the driver's timer, when audio
    /// stopped arriving): `unknown`, or `machine_end_other` once a machine was told.
    pub fn time_out(&mut self) -> Verdict {
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        let answered_by = match self.phase {
            Phase::Machine { .. } => AnsweredBy::MachineEndOther,
            _ => AnsweredBy::Unknown,
        };
        self.decide(answered_by).unwrap_or(Verdict {
            answered_by,
            duration_ms: self.elapsed_ms,
        })
    }

    fn decide(&mut self, answered_by: AnsweredBy) -> Option<Verdict> {
        self.verdict = Some(Verdict {
            answered_by,
            duration_ms: self.elapsed_ms,
        });
        self.verdict
    }

    /// Applies one frame to the phase; `Some` when it decides.
    fn step(&mut self, class: FrameClass) -> Option<AnsweredBy> {
        let settings = self.settings;
        let now = self.elapsed_ms;
        let silent = class == FrameClass::Silence;
        let beep = self.tone.ms >= BEEP_MIN_MS;
        match &mut self.phase {
            Phase::Waiting { silence_ms } => {
                if self.tone.hz.abs_diff(FAX_HZ) <= FAX_TOLERANCE_HZ && self.tone.ms >= FAX_MIN_MS {
                    return Some(AnsweredBy::Fax);
                }
                if matches!(class, FrameClass::Tone { .. }) && self.tone.ms < FAX_MIN_MS {
                    // Maybe a fax tone starting: judged once it is long enough.
                    return None;
                }
                if silent {
                    *silence_ms += FRAME_MS;
                    return (*silence_ms >= settings.silence_timeout_ms)
                        .then_some(AnsweredBy::Unknown);
                }
                self.phase = Phase::Speaking {
                    started_ms: now - FRAME_MS,
                    silence_ms: 0,
                };
                None
            }
            Phase::Speaking {
                started_ms,
                silence_ms,
            } => {
                if beep {
                    return Some(AnsweredBy::MachineEndBeep);
                }
                if silent {
                    *silence_ms += FRAME_MS;
                    return (*silence_ms >= settings.speech_end_threshold_ms)
                        .then_some(AnsweredBy::Human);
                }
                *silence_ms = 0;
                if now - *started_ms < settings.speech_threshold_ms {
                    return None;
                }
                match settings.mode {
                    Mode::Enable => Some(AnsweredBy::MachineStart),
                    Mode::DetectMessageEnd => {
                        self.phase = Phase::Machine { silence_ms: 0 };
                        None
                    }
                }
            }
            Phase::Machine { silence_ms } => {
                if beep {
                    return Some(AnsweredBy::MachineEndBeep);
                }
                if silent {
                    *silence_ms += FRAME_MS;
                    return (*silence_ms >= settings.speech_end_threshold_ms)
                        .then_some(AnsweredBy::MachineEndSilence);
                }
                *silence_ms = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(class, ms)` runs; the verdict, if any.
    fn run(settings: Settings, runs: &[(FrameClass, u32)]) -> Option<Verdict> {
        let mut detector = Detector::new(settings);
        for &(class, ms) in runs {
            for _ in 0..ms / FRAME_MS {
                if let Some(verdict) = detector.push_class(class) {
                    return Some(verdict);
                }
            }
        }
        None
    }

    const S: FrameClass = FrameClass::Silence;
    const T: FrameClass = FrameClass::Sound;
    const BEEP: FrameClass = FrameClass::Tone { hz: 1000 };
    const CNG: FrameClass = FrameClass::Tone { hz: 1100 };

    fn check(mode: Mode, runs: &[(FrameClass, u32)], answered_by: AnsweredBy, duration_ms: u32) {
        let verdict = run(Settings::new(mode), runs).expect("a verdict");
        assert_eq!(
            verdict,
            Verdict {
                answered_by,
                duration_ms
            },
            "{runs:?}"
        );
    }

    #[test]
    fn the_rules_table() {
        use AnsweredBy::*;
        use Mode::*;
        // "Hello?" then silence: a human once the speech-end threshold passes.
        check(Enable, &[(S, 400), (T, 800), (S, 5000)], Human, 2400);
        check(DetectMessageEnd, &[(T, 800), (S, 5000)], Human, 2000);
        // Long speech: a machine at the speech threshold with Enable…
        check(Enable, &[(T, 10_000)], MachineStart, 2400);
        // …short gaps inside a greeting do not end it…
        check(
            Enable,
            &[(T, 1000), (S, 400), (T, 1000), (S, 400), (T, 5000)],
            MachineStart,
            2400,
        );
        // …and with DetectMessageEnd the greeting's end decides.
        let greeting = [(T, 1400), (S, 300), (T, 1600), (S, 300), (T, 1400)];
        let mut beep = greeting.to_vec();
        beep.extend([(S, 400), (BEEP, 500), (S, 3000)]);
        check(DetectMessageEnd, &beep, MachineEndBeep, 5600);
        check(Enable, &beep, MachineStart, 2400);
        let mut silence = greeting.to_vec();
        silence.push((S, 3000));
        check(DetectMessageEnd, &silence, MachineEndSilence, 6200);
        // A short greeting then a beep is a machine in either mode.
        let short = [(T, 1000), (S, 200), (BEEP, 600), (S, 3000)];
        check(Enable, &short, MachineEndBeep, 1400);
        check(DetectMessageEnd, &short, MachineEndBeep, 1400);
        // A fax's calling tone, before anyone speaks.
        check(Enable, &[(S, 200), (CNG, 500), (S, 3000)], Fax, 500);
        // Initial silence: unknown at the silence timeout.
        check(Enable, &[(S, 60_000)], Unknown, 5000);
        // Endless speech with DetectMessageEnd: the timeout, after a machine was told.
        check(DetectMessageEnd, &[(T, 60_000)], MachineEndOther, 30_000);
    }

    #[test]
    fn thresholds_are_the_callers() {
        let mut settings = Settings::new(Mode::Enable);
        settings.speech_threshold_ms = 6000;
        settings.speech_end_threshold_ms = 500;
        // Four seconds of speech is a human when the threshold is six.
        let verdict = run(settings, &[(T, 4000), (S, 2000)]).expect("verdict");
        assert_eq!(verdict.answered_by, AnsweredBy::Human);
        assert_eq!(verdict.duration_ms, 4500);
        settings.silence_timeout_ms = 2000;
        settings.timeout_ms = 3000;
        let verdict = run(settings, &[(S, 10_000)]).expect("verdict");
        assert_eq!(verdict.duration_ms, 2000);
        settings.silence_timeout_ms = 10_000;
        let verdict = run(settings, &[(S, 10_000)]).expect("verdict");
        assert_eq!(
            (verdict.answered_by, verdict.duration_ms),
            (AnsweredBy::Unknown, 3000)
        );
    }

    #[test]
    fn audio_samples_go_through_the_frame_classifier() {
        let mut detector = Detector::new(Settings::new(Mode::Enable));
        let tone = crate::frame::sine_frame(1100.0, 8000.0, 0);
        let mut verdict = None;
        // Fed in odd-sized pieces: frames are assembled across calls.
        for _ in 0..25 {
            for piece in tone.chunks(70) {
                verdict = verdict.or(detector.push_samples(piece));
            }
        }
        assert_eq!(verdict.map(|v| v.answered_by), Some(AnsweredBy::Fax));
        // Decided: more audio changes nothing.
        assert_eq!(detector.push_samples(&[0; 1600]), verdict);
        assert_eq!(detector.time_out(), verdict.expect("verdict"));
    }

    #[test]
    fn a_timeout_without_audio_is_unknown() {
        let mut detector = Detector::new(Settings::new(Mode::DetectMessageEnd));
        assert_eq!(detector.time_out().answered_by, AnsweredBy::Unknown);
    }
}
