//! The sandbox's far end: a media model of what a call "hears" and "says" without audio, the
//! `MediaEnd::Sandbox` implementation.
//!
//! Rules (documented here because tests and transcripts depend on them):
//! - `<Say>` takes 60 ms per character of its text (about 170 words a minute), at least 300 ms,
//!   per loop; `<Play>` of a URL takes 2 s per loop (the sandbox does not download audio);
//!   `<Play digits>` takes 250 ms per key and 500 ms per `w`. `loop="0"` plays 1000 loops.
//! - `Audio Seconds=N`: the caller talks for N seconds, from now or, before a `<Record>`, from
//!   the moment recording starts. A recording ends after `timeout` seconds of silence (never,
//!   with `timeout="0"`), on a finish key, at `maxLength` or when the caller hangs up; its
//!   duration is the talking it captured (with `trim="do-not-trim"`, everything it captured).
//! - `Audio Text=…`: the caller says those words, a tone of 400 ms a word (at least a second)
//!   that carries them: a recording captures it and its transcription is the words; a speech
//!   `<Gather>` listening hears them instead (`keys.rs`).
//! - Recordings of the whole call (`Record=true`, REST `Calls/{Sid}/Recordings`) are
//!   `call_recording.rs`'s: the caller's talk inside the recorded stretches, silence elsewhere.
//!
//! Playback and a recording's silence run on the driver's timers (`Due::PlaybackDone`,
//! `Due::RecordingDone`), so they follow the call's clock and `Clock=fast` skips them; the
//! caller's keys are not the model's (`keys.rs`).

use std::collections::VecDeque;

use switchboard_core::{Sid, SidKind};
use switchboard_flow::{Input, Play, PlayMedia, Say};
use switchboard_twiml::keyword::Trim;

use crate::voice::driver::Driver;
use crate::voice::media::{FinishedRecording, MediaEnd};
use crate::voice::recording::{self, Clip};
use crate::voice::timers::{Due, Timers};

/// A recording in progress.
#[derive(Debug)]
struct Recording {
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

/// The sandbox media state of one leg.
#[derive(Debug, Default)]
pub(crate) struct SandboxMedia {
    /// The timer of the `<Say>` or `<Play>` now playing.
    playing: Option<u64>,
    /// Talking the caller sent before a recording started.
    audio_ahead: VecDeque<Clip>,
    recording: Option<Recording>,
}

/// How long one loop of a `<Say>` of `text` takes.
fn say_ms(text: &str) -> u64 {
    (text.chars().count() as u64 * 60).max(300)
}

/// How long one loop of a `<Play>` takes.
fn play_ms(media: &PlayMedia) -> u64 {
    match media {
        PlayMedia::Url(_) => 2000,
        PlayMedia::Digits(digits) => digits
            .chars()
            .map(|key| if key == 'w' { 500 } else { 250 })
            .sum::<u64>()
            .max(250),
    }
}

impl SandboxMedia {
    pub(super) fn say(&mut self, timers: &mut Timers, now: u64, say: &Say) {
        self.play_for(timers, now, say_ms(&say.text), say.loop_count);
    }

    pub(super) fn play(&mut self, timers: &mut Timers, now: u64, play: &Play) {
        self.play_for(timers, now, play_ms(&play.media), play.loop_count);
    }

    /// Replaces what plays with `loop_count` loops of `one_loop_ms` (0 loops: 1000).
    fn play_for(&mut self, timers: &mut Timers, now: u64, one_loop_ms: u64, loop_count: u32) {
        let loops = if loop_count == 0 { 1000 } else { loop_count };
        let at = now + one_loop_ms.saturating_mul(u64::from(loops));
        self.stop_playback(timers);
        self.playing = Some(timers.add(at, Due::PlaybackDone));
    }

    pub(super) fn stop_playback(&mut self, timers: &mut Timers) {
        if let Some(id) = self.playing.take() {
            timers.cancel(id);
        }
    }

    /// The caller talks (a tone, or a WAV it plays): into the recording, or kept for the next.
    pub(super) fn caller_talks(&mut self, timers: &mut Timers, now: u64, clip: Clip) {
        let Some(recording) = &mut self.recording else {
            self.audio_ahead.push_back(clip);
            return;
        };
        let length = clip.ms;
        recording.clips.push(clip);
        recording.talk = Some(match recording.talk {
            Some((from, until)) if until >= now => (from, until + length),
            Some((from, _)) => (from, now + length),
            None => (now, now + length),
        });
        arm_silence_timer(recording, timers);
    }

    pub(super) fn start_recording(
        &mut self,
        timers: &mut Timers,
        now: u64,
        record: &switchboard_flow::Record,
    ) {
        let clips: Vec<Clip> = self.audio_ahead.drain(..).collect();
        let ahead: u64 = clips.iter().map(|clip| clip.ms).sum();
        let recording = self.recording.insert(Recording {
            sid: Sid::generate(SidKind::Recording),
            started_ms: now,
            talk: (ahead > 0).then(|| (now, now + ahead)),
            silence_ms: u64::from(record.timeout_s) * 1000,
            trim: record.trim,
            timer: None,
            status_callback: record.recording_status_callback.clone(),
            clips,
        });
        arm_silence_timer(recording, timers);
    }

    /// Ends the recording in progress now: what it captured, with its synthetic audio.
    fn finish_recording(&mut self, timers: &mut Timers, now: u64) -> Option<FinishedRecording> {
        let recording = self.recording.take()?;
        if let Some(id) = recording.timer {
            timers.cancel(id);
        }
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
        let with_samples = recording.clips.iter().any(|clip| clip.pcm.is_some());
        Some(FinishedRecording {
            said: recording::said_text(&recording.clips).filter(|_| duration_s > 0),
            pcm: (duration_s > 0 && with_samples)
                .then(|| recording::clips_pcm(&recording.clips, talked_ms)),
            sid: recording.sid,
            status_callback: recording.status_callback,
            duration_s,
            audio: recording::Audio {
                lead_ms,
                tone_ms: talked_ms,
                total_ms,
            },
        })
    }
}

/// (Re)arms the recording's silence timeout from the end of the caller's talking.
fn arm_silence_timer(recording: &mut Recording, timers: &mut Timers) {
    if let Some(id) = recording.timer.take() {
        timers.cancel(id);
    }
    if recording.silence_ms > 0 {
        let quiet_from = recording
            .talk
            .map_or(recording.started_ms, |(_, until)| until);
        let at = quiet_from + recording.silence_ms;
        recording.timer = Some(timers.add(at, Due::RecordingDone));
    }
}

impl Driver {
    /// `Due::PlaybackDone`: the `<Say>` or `<Play>` played all its loops.
    pub(crate) fn sandbox_playback_done(&mut self) {
        if let MediaEnd::Sandbox(model) = &mut self.media {
            model.playing = None;
        }
        self.feed(Input::PlaybackFinished);
    }

    /// `Due::RecordingDone` (silence) or `StopRecording`: the recording is stored and the flow
    /// gets `RecordingFinished` now.
    pub(crate) async fn finish_sandbox_recording(&mut self) {
        let now = self.clock.now_ms();
        let MediaEnd::Sandbox(model) = &mut self.media else {
            return;
        };
        if let Some(finished) = model.finish_recording(&mut self.timers, now) {
            self.recording_finished(finished).await;
        }
    }
}
