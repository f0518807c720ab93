//! The sandbox media model: what a call "hears" and "says" without audio.
//!
//! Rules (documented here because tests and transcripts depend on them):
//! - `<Say>` takes 60 ms per character of its text (about 170 words a minute), at least 300 ms,
//!   per loop; `<Play>` of a URL takes 2 s per loop (the sandbox does not download audio);
//!   `<Play digits>` takes 250 ms per key and 500 ms per `w`. `loop="0"` plays 1000 loops.
//! - Keys the caller presses are paced: each `w` delays the keys after it by 500 ms.
//! - Keys (and speech) arriving while nothing listens (no `<Gather>`, `<Record>` or `<Dial>`)
//!   are kept and handed to the next one that listens ("type-ahead"). A real line would lose
//!   them; the sandbox keeps them so a test can send input right after placing the call, which
//!   is also what makes `Clock=fast` usable with input.
//! - `Audio Seconds=N`: the caller talks for N seconds, from now or, before a `<Record>`, from
//!   the moment recording starts. A recording ends after `timeout` seconds of silence (never,
//!   with `timeout="0"`), on a finish key, at `maxLength` or when the caller hangs up; its
//!   duration is the talking it captured (with `trim="do-not-trim"`, everything it captured).

use std::collections::VecDeque;

use switchboard_core::{Sid, SidKind};
use switchboard_flow::{Input, PlayMedia};
use switchboard_twiml::keyword::Trim;

use crate::voice::driver::Driver;
use crate::voice::recording::{self, Clip};
use crate::voice::timers::Due;

/// What is collecting the caller's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listening {
    Nothing,
    Gather { speech: bool },
    Record,
    Dial,
}

/// A recording in progress.
#[derive(Debug)]
pub(crate) struct Recording {
    sid: Sid,
    started_ms: u64,
    /// The caller's talking, `[from, until)`, if any.
    talk: Option<(u64, u64)>,
    silence_ms: u64,
    trim: Trim,
    timer: Option<u64>,
    status_callback: Option<switchboard_flow::Callback>,
    /// What the caller said into it, in order.
    clips: Vec<Clip>,
}

/// The media state of one leg.
#[derive(Debug)]
pub(crate) struct Media {
    pub(crate) playing: Option<u64>,
    pub(crate) listening: Listening,
    pub(crate) typeahead: String,
    pub(crate) speech_ahead: Option<(String, f64)>,
    /// Seconds of talking the caller sent before a recording started.
    pub(crate) audio_ahead: VecDeque<Clip>,
    pub(crate) recording: Option<Recording>,
}

impl Default for Media {
    fn default() -> Media {
        Media {
            playing: None,
            listening: Listening::Nothing,
            typeahead: String::new(),
            speech_ahead: None,
            audio_ahead: VecDeque::new(),
            recording: None,
        }
    }
}

/// How long one loop of a `<Say>` of `text` takes.
pub(crate) fn say_ms(text: &str) -> u64 {
    (text.chars().count() as u64 * 60).max(300)
}

/// How long one loop of a `<Play>` takes.
pub(crate) fn play_ms(media: &PlayMedia) -> u64 {
    match media {
        PlayMedia::Url(_) => 2000,
        PlayMedia::Digits(digits) => digits
            .chars()
            .map(|key| if key == 'w' { 500 } else { 250 })
            .sum::<u64>()
            .max(250),
    }
}

impl Driver {
    /// The caller presses `digits`, paced by its `w`s.
    pub(crate) fn press(&mut self, digits: &str) {
        let now = self.clock.now_ms();
        for (index, chunk) in digits.split('w').enumerate() {
            if chunk.is_empty() {
                continue;
            }
            let chunk: String = chunk.chars().filter(|c| !c.is_whitespace()).collect();
            if index == 0 {
                self.deliver_digits(chunk);
            } else {
                let at = now + index as u64 * 500;
                self.timers.add(at, Due::Input(Input::Digits(chunk)));
            }
        }
    }

    /// Keys reach whatever listens, or wait for it; a bridged engine leg hears them too.
    pub(crate) fn deliver_digits(&mut self, digits: String) {
        if let Some(dial) = &self.dial {
            dial.forward_digits(&self.state.live, &digits);
        }
        if self.media.listening == Listening::Nothing {
            self.media.typeahead.push_str(&digits);
        } else {
            self.feed(Input::Digits(digits));
        }
    }

    pub(crate) fn deliver_speech(&mut self, result: String, confidence: f64) {
        if self.media.listening == (Listening::Gather { speech: true }) {
            self.feed(Input::Speech { result, confidence });
        } else {
            self.media.speech_ahead = Some((result, confidence));
        }
    }

    /// The caller talks (a tone, or a WAV it plays).
    pub(crate) fn caller_talks(&mut self, clip: Clip) {
        let now = self.clock.now_ms();
        let Some(recording) = &mut self.media.recording else {
            self.media.audio_ahead.push_back(clip);
            return;
        };
        let length = clip.ms;
        recording.clips.push(clip);
        recording.talk = Some(match recording.talk {
            Some((from, until)) if until >= now => (from, until + length),
            Some((from, _)) => (from, now + length),
            None => (now, now + length),
        });
        self.arm_silence_timer();
    }

    pub(crate) fn start_recording(&mut self, record: switchboard_flow::Record) {
        let now = self.clock.now_ms();
        let clips: Vec<Clip> = self.media.audio_ahead.drain(..).collect();
        let ahead: u64 = clips.iter().map(|clip| clip.ms).sum();
        self.media.recording = Some(Recording {
            sid: Sid::generate(SidKind::Recording),
            started_ms: now,
            talk: (ahead > 0).then(|| (now, now + ahead)),
            silence_ms: u64::from(record.timeout_s) * 1000,
            trim: record.trim,
            timer: None,
            status_callback: record.recording_status_callback,
            clips,
        });
        self.arm_silence_timer();
    }

    fn arm_silence_timer(&mut self) {
        let Some(recording) = &mut self.media.recording else {
            return;
        };
        if let Some(id) = recording.timer.take() {
            self.timers.cancel(id);
        }
        if recording.silence_ms > 0 {
            let quiet_from = recording
                .talk
                .map_or(recording.started_ms, |(_, until)| until);
            let at = quiet_from + recording.silence_ms;
            recording.timer = Some(self.timers.add(at, Due::RecordingDone));
        }
    }

    /// Ends the recording now: stores it (with its WAV) and answers `RecordingFinished`.
    pub(crate) async fn finish_recording(&mut self) {
        let Some(recording) = self.media.recording.take() else {
            return;
        };
        if let Some(id) = recording.timer {
            self.timers.cancel(id);
        }
        let now = self.clock.now_ms();
        let talked_ms = recording.talk.map_or(0, |(from, until)| {
            until
                .min(now)
                .saturating_sub(from.max(recording.started_ms))
        });
        let (lead_ms, total_ms) = match recording.trim {
            Trim::TrimSilence => (0, talked_ms),
            Trim::DoNotTrim => {
                let lead = recording
                    .talk
                    .map_or(0, |(from, _)| from.saturating_sub(recording.started_ms));
                (lead, now.saturating_sub(recording.started_ms))
            }
        };
        let duration_s = if talked_ms == 0 {
            0
        } else {
            u32::try_from(total_ms.div_ceil(1000)).unwrap_or(u32::MAX)
        };
        let audio = recording::Audio {
            lead_ms,
            tone_ms: talked_ms,
            total_ms,
        };
        let url = recording::url(&self.state, &self.account.sid, recording.sid.as_str());
        if duration_s > 0 {
            let call_sid = self.call_sid().to_owned();
            let pcm = recording
                .clips
                .iter()
                .any(|clip| clip.pcm.is_some())
                .then(|| recording::clips_pcm(&recording.clips, talked_ms));
            let new = recording::NewRecording {
                account_sid: &self.account.sid,
                call_sid: &call_sid,
                sid: recording.sid.as_str(),
                duration_s,
                audio,
                pcm,
                source: "RecordVerb",
            };
            let stored = recording::store(&self.state, new).await;
            if let Err(error) = stored {
                tracing::error!(?error, "storing a recording failed");
            }
            if let Some(callback) = &recording.status_callback {
                let target = self.alert_target();
                recording::status_callback(
                    target,
                    callback,
                    recording.sid.as_str(),
                    &url,
                    duration_s,
                );
            }
        }
        self.feed(Input::RecordingFinished {
            recording_sid: recording.sid,
            recording_url: url,
            duration_s,
            digits: String::new(),
        });
    }
}
