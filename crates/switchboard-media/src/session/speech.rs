//! Listening for one utterance (a speech `<Gather>` on a real call), as a pure state machine:
//! voice activity by frame energy (the recorder's talk threshold), a start once three frames in
//! a row are talk (60 ms, so a click does not start it), 300 ms of audio before the start kept
//! (soft onsets), and an end after `end_silence_ms` without talk or `max_ms` after the start;
//! what it hands on ends 300 ms after the last talk.
//!
//! It runs inside the session's media task because it only sums squares per 20 ms frame; the
//! recognition of what it captured runs elsewhere (the engine hands it to the recogniser's
//! processes), so the RTP task is never held up by it.

use std::collections::VecDeque;

use super::{MediaEvent, SpeechOptions};
use crate::session::playback::FRAME;
use crate::session::recorder::is_talk;

/// Talk frames in a row that start an utterance.
const START_FRAMES: u32 = 3;
/// Audio kept from before the start: 300 ms.
const PRE_ROLL_SAMPLES: usize = 2_400;
/// Audio kept after the last talk frame: 300 ms. The silence that ended the utterance is not
/// handed on: a grammar search given a second of trailing silence ends early on some voices
/// ("change my" for "change my address"), measured with espeak-ng's voices.
const TAIL_SAMPLES: usize = 2_400;

#[derive(Debug)]
pub(crate) struct SpeechListener {
    options: SpeechOptions,
    /// Samples not yet judged (less than one frame).
    pending: Vec<i16>,
    /// Recent audio before the start.
    pre_roll: VecDeque<i16>,
    talk_run: u32,
    /// Set once the utterance started: its audio so far.
    captured: Option<Vec<i16>>,
    started_ms: u64,
    last_talk_ms: u64,
    /// How much of `captured` there was at the end of the last talk frame.
    talked_len: usize,
    /// When the audio so far was last handed on (`progress`).
    progress_ms: u64,
}

impl SpeechListener {
    pub(crate) fn new(options: SpeechOptions) -> SpeechListener {
        SpeechListener {
            options,
            pending: Vec::with_capacity(FRAME),
            pre_roll: VecDeque::with_capacity(PRE_ROLL_SAMPLES + FRAME),
            talk_run: 0,
            captured: None,
            started_ms: 0,
            last_talk_ms: 0,
            talked_len: 0,
            progress_ms: 0,
        }
    }

    fn max_samples(&self) -> usize {
        usize::try_from(self.options.max_ms.saturating_mul(8))
            .unwrap_or(usize::MAX)
            .saturating_add(PRE_ROLL_SAMPLES)
    }

    /// Received audio; `Some(SpeechStarted)` once, when the utterance starts.
    pub(crate) fn push_samples(&mut self, now_ms: u64, samples: &[i16]) -> Option<MediaEvent> {
        let mut started = None;
        for chunk in samples.chunks(FRAME) {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() >= FRAME {
                let frame: Vec<i16> = self.pending.drain(..FRAME).collect();
                started = started.or(self.push_frame(now_ms, &frame));
            }
        }
        started
    }

    fn push_frame(&mut self, now_ms: u64, frame: &[i16]) -> Option<MediaEvent> {
        let talk = is_talk(frame);
        let max = self.max_samples();
        if let Some(captured) = self.captured.as_mut() {
            if captured.len() + frame.len() <= max {
                captured.extend_from_slice(frame);
            }
            if talk {
                self.last_talk_ms = now_ms;
                self.talked_len = captured.len();
            }
            return None;
        }
        self.pre_roll.extend(frame);
        while self.pre_roll.len() > PRE_ROLL_SAMPLES {
            self.pre_roll.pop_front();
        }
        self.talk_run = if talk { self.talk_run + 1 } else { 0 };
        if self.talk_run < START_FRAMES {
            return None;
        }
        let captured: Vec<i16> = self.pre_roll.drain(..).collect();
        self.talked_len = captured.len();
        self.captured = Some(captured);
        self.started_ms = now_ms;
        self.last_talk_ms = now_ms;
        self.progress_ms = now_ms;
        Some(MediaEvent::SpeechStarted)
    }

    /// Lost or missing audio.
    pub(crate) fn push_silence(&mut self, now_ms: u64, count: usize) {
        let silence = vec![0i16; count.min(self.max_samples())];
        self.push_samples(now_ms, &silence);
    }

    /// The utterance so far, every `progress_every_ms` while it goes on.
    pub(crate) fn progress(&mut self, now_ms: u64) -> Option<Vec<i16>> {
        let every = self.options.progress_every_ms?;
        let captured = self.captured.as_ref()?;
        if now_ms.saturating_sub(self.progress_ms) < every {
            return None;
        }
        self.progress_ms = now_ms;
        Some(captured.clone())
    }

    /// The utterance, once it ended (silence after it, or its length); `None` while it goes on
    /// or has not started.
    pub(crate) fn check(&mut self, now_ms: u64) -> Option<Vec<i16>> {
        self.captured.as_ref()?;
        let quiet = now_ms.saturating_sub(self.last_talk_ms) >= self.options.end_silence_ms;
        let long = now_ms.saturating_sub(self.started_ms) >= self.options.max_ms;
        if quiet || long {
            let mut pcm = self.captured.take()?;
            pcm.truncate(self.talked_len.saturating_add(TAIL_SAMPLES));
            return Some(pcm);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(level: i16, count: usize) -> Vec<i16> {
        (0..count * FRAME)
            .map(|i| if i % 2 == 0 { level } else { -level })
            .collect()
    }

    #[test]
    fn an_utterance_starts_after_three_talk_frames_and_ends_after_the_silence() {
        let mut listener = SpeechListener::new(SpeechOptions {
            end_silence_ms: 1000,
            max_ms: 60_000,
            progress_every_ms: Some(500),
        });
        // Two loud frames (a click) do not start it.
        assert!(listener.push_samples(0, &frames(3000, 2)).is_none());
        assert!(listener.push_samples(40, &frames(0, 10)).is_none());
        assert_eq!(listener.check(240), None);
        // Three do.
        let started = listener.push_samples(260, &frames(3000, 3));
        assert!(matches!(started, Some(MediaEvent::SpeechStarted)));
        assert_eq!(listener.progress(500), None, "not yet 500 ms into it");
        assert!(listener.push_samples(320, &frames(3000, 50)).is_none());
        let so_far = listener.progress(760).expect("the audio so far");
        assert_eq!(so_far.len(), PRE_ROLL_SAMPLES + 50 * FRAME);
        assert_eq!(listener.progress(800), None, "every 500 ms");
        assert_eq!(listener.check(1300), None, "one second after the last talk");
        listener.push_silence(1400, 8000);
        let pcm = listener.check(1400).expect("ended by silence");
        // The pre-roll (300 ms), the speech, then 300 ms of the silence after it.
        assert_eq!(pcm.len(), PRE_ROLL_SAMPLES + 50 * FRAME + TAIL_SAMPLES);
        assert_eq!(listener.check(5000), None, "it ends once");
    }

    #[test]
    fn an_utterance_ends_at_its_maximum_length() {
        let mut listener = SpeechListener::new(SpeechOptions {
            end_silence_ms: 1000,
            max_ms: 2000,
            progress_every_ms: None,
        });
        listener.push_samples(0, &frames(3000, 3));
        for step in 1..200u64 {
            listener.push_samples(step * 20, &frames(3000, 1));
            if let Some(pcm) = listener.check(step * 20) {
                assert_eq!(step * 20, 2000);
                assert!(pcm.len() <= PRE_ROLL_SAMPLES + 16_000 + FRAME);
                return;
            }
        }
        panic!("the utterance did not end");
    }
}
