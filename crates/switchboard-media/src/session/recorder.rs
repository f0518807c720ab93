//! A recording in progress, as a pure state machine: captured samples, talk detection by frame
//! energy, and the silence and length limits.
//!
//! Talk detection compares the RMS energy of each 20 ms frame with [`TALK_RMS_THRESHOLD`]. An
//! energy threshold was chosen over a spectral voice detector because the callers of `<Record>`
//! only need "somebody is making sound": speech, a tone or music must keep a recording open,
//! while digital silence, G.711 idle codes and line noise must not. The limits run on the
//! caller's clock, not on the amount of audio received, so a peer that stops sending packets
//! altogether still ends the recording when its silence timeout passes.

use super::{MediaEvent, RecordEnd, RecordOptions};
use crate::session::playback::FRAME;

/// RMS level (in 16-bit sample units) above which a 20 ms frame counts as talk: 300, about
/// −41 dBFS. Speech on a telephone line sits around −20 to −30 dBFS (RMS 1,000–3,000) and a
/// 1 kHz test tone far above; A-law idle code decodes to ±8 and a quiet line's noise floor is
/// below −50 dBFS (RMS ≈ 100), so both stay under the threshold.
pub const TALK_RMS_THRESHOLD: u32 = 300;

/// Frames of silence kept around the talk when trimming, so soft onsets are not clipped.
const TRIM_MARGIN_FRAMES: usize = 5;

/// One recording.
#[derive(Debug)]
pub(crate) struct Recorder {
    options: RecordOptions,
    started_ms: u64,
    last_talk_ms: Option<u64>,
    samples: Vec<i16>,
    /// Samples at the end of `samples` not yet judged (less than one frame).
    evaluated: usize,
    talk_frames: u64,
    first_talk_frame: Option<usize>,
    last_talk_frame: usize,
}

impl Recorder {
    /// A recording that starts at `now_ms`.
    pub(crate) fn new(now_ms: u64, options: RecordOptions) -> Self {
        Recorder {
            options,
            started_ms: now_ms,
            last_talk_ms: None,
            samples: Vec::new(),
            evaluated: 0,
            talk_frames: 0,
            first_talk_frame: None,
            last_talk_frame: 0,
        }
    }

    /// Most samples a recording keeps: its maximum length.
    fn max_samples(&self) -> usize {
        usize::try_from(self.options.max_ms.saturating_mul(8)).unwrap_or(usize::MAX)
    }

    /// Appends received audio.
    pub(crate) fn push_samples(&mut self, now_ms: u64, samples: &[i16]) {
        let room = self.max_samples().saturating_sub(self.samples.len());
        self.samples
            .extend_from_slice(&samples[..samples.len().min(room)]);
        self.evaluate(now_ms);
    }

    /// Appends `count` samples of silence (lost packets, suppressed silence).
    pub(crate) fn push_silence(&mut self, now_ms: u64, count: usize) {
        let room = self.max_samples().saturating_sub(self.samples.len());
        self.samples.resize(self.samples.len() + count.min(room), 0);
        self.evaluate(now_ms);
    }

    fn evaluate(&mut self, now_ms: u64) {
        while self.samples.len() - self.evaluated >= FRAME {
            let frame = &self.samples[self.evaluated..self.evaluated + FRAME];
            if is_talk(frame) {
                let index = self.evaluated / FRAME;
                self.talk_frames += 1;
                self.first_talk_frame.get_or_insert(index);
                self.last_talk_frame = index;
                self.last_talk_ms = Some(now_ms);
            }
            self.evaluated += FRAME;
        }
    }

    /// Whether the recording must end now, and why.
    pub(crate) fn check(&self, now_ms: u64) -> Option<RecordEnd> {
        if self.samples.len() >= self.max_samples()
            || now_ms.saturating_sub(self.started_ms) >= self.options.max_ms
        {
            return Some(RecordEnd::MaxLength);
        }
        let timeout = self.options.silence_timeout_ms?;
        let since = self.last_talk_ms.unwrap_or(self.started_ms);
        (now_ms.saturating_sub(since) >= timeout).then_some(RecordEnd::Silence)
    }

    /// Ends the recording, trimming silence if asked.
    pub(crate) fn finish(self, reason: RecordEnd) -> MediaEvent {
        let talked_ms = self.talk_frames * 20;
        let mut pcm = self.samples;
        if self.options.trim_silence {
            match self.first_talk_frame {
                None => pcm.clear(),
                Some(first) => {
                    let start = first.saturating_sub(TRIM_MARGIN_FRAMES) * FRAME;
                    let end =
                        ((self.last_talk_frame + 1 + TRIM_MARGIN_FRAMES) * FRAME).min(pcm.len());
                    pcm.truncate(end);
                    pcm.drain(..start.min(end));
                }
            }
        }
        MediaEvent::RecordingFinished {
            pcm,
            talked_ms,
            reason,
        }
    }
}

/// True if the frame's RMS energy is above [`TALK_RMS_THRESHOLD`] (the recorder's talk test,
/// on 20 ms frames).
pub fn is_talk(frame: &[i16]) -> bool {
    if frame.is_empty() {
        return false;
    }
    let energy: u64 = frame
        .iter()
        .map(|&s| (i64::from(s) * i64::from(s)) as u64)
        .sum();
    let threshold = u64::from(TALK_RMS_THRESHOLD);
    energy > threshold * threshold * frame.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(silence: Option<u64>, max_ms: u64, trim: bool) -> RecordOptions {
        RecordOptions {
            silence_timeout_ms: silence,
            max_ms,
            trim_silence: trim,
        }
    }

    fn tone(frames: usize, amplitude: f32) -> Vec<i16> {
        (0..frames * FRAME)
            .map(|i| ((i as f32 * std::f32::consts::TAU / 8.0).sin() * amplitude) as i16)
            .collect()
    }

    #[test]
    fn talk_threshold_table() {
        let noise: Vec<i16> = (0..FRAME as i32)
            .map(|i| ((i * 7919) % 301 - 150) as i16)
            .collect();
        let cases: Vec<(&str, Vec<i16>, bool)> = vec![
            ("digital silence", vec![0; FRAME], false),
            ("A-law idle code", vec![8; FRAME], false),
            ("low noise, RMS about 87", noise, false),
            ("1 kHz tone at -20 dBFS", tone(1, 4_600.0), true),
            ("quiet tone at RMS 350", tone(1, 495.0), true),
        ];
        for (name, frame, expected) in cases {
            assert_eq!(is_talk(&frame), expected, "{name}");
        }
    }

    fn ended(event: MediaEvent) -> (Vec<i16>, u64, RecordEnd) {
        match event {
            MediaEvent::RecordingFinished {
                pcm,
                talked_ms,
                reason,
            } => (pcm, talked_ms, reason),
            other => panic!("not a recording: {other:?}"),
        }
    }

    #[test]
    fn silence_timeout_counts_from_the_last_talk_or_the_start() {
        let mut recorder = Recorder::new(1_000, options(Some(500), 60_000, false));
        assert_eq!(recorder.check(1_499), None);
        assert_eq!(recorder.check(1_500), Some(RecordEnd::Silence));
        recorder.push_samples(1_400, &tone(10, 4_000.0));
        assert_eq!(recorder.check(1_899), None);
        assert_eq!(recorder.check(1_900), Some(RecordEnd::Silence));
        let (pcm, talked_ms, _) = ended(recorder.finish(RecordEnd::Silence));
        assert_eq!((pcm.len(), talked_ms), (1_600, 200));
    }

    #[test]
    fn max_length_by_clock_or_samples_and_no_timeout_means_never() {
        let mut recorder = Recorder::new(0, options(None, 100, false));
        assert_eq!(recorder.check(99), None);
        assert_eq!(recorder.check(100), Some(RecordEnd::MaxLength));
        recorder.push_silence(10, 5_000);
        assert_eq!(recorder.check(10), Some(RecordEnd::MaxLength));
        let (pcm, _, _) = ended(recorder.finish(RecordEnd::MaxLength));
        assert_eq!(pcm.len(), 800, "capped at max_ms");
    }

    #[test]
    fn trimming_keeps_the_talk_and_a_margin() {
        let mut recorder = Recorder::new(0, options(Some(5_000), 60_000, true));
        recorder.push_silence(0, 20 * FRAME);
        recorder.push_samples(0, &tone(10, 4_000.0));
        recorder.push_silence(0, 20 * FRAME);
        let (pcm, talked_ms, _) = ended(recorder.finish(RecordEnd::Stopped));
        assert_eq!(talked_ms, 200);
        assert_eq!(pcm.len(), (10 + 2 * TRIM_MARGIN_FRAMES) * FRAME);
        let silent = Recorder::new(0, options(None, 1_000, true));
        assert!(ended(silent.finish(RecordEnd::Stopped)).0.is_empty());
    }
}
