//! What a SIP leg's RTP session does for the call, the `MediaEnd::Sip` implementation of the
//! call's media interface (`voice::media`): `<Say>` through the TTS program, `<Play>` of a URL's
//! audio or of RFC 4733 digits, `<Record>` of the caller's audio, ringback while a dialled leg
//! rings, and bridging two legs' sessions.
//!
//! The RTP session runs on a task of its own (`switchboard_media`), started when the call is
//! answered; until then the operations here do nothing. What it reports comes back through the
//! call's inbox: a playback played out (`PlaybackFinished` when it is the one the flow waits
//! for), a recording finished (stored, then `RecordingFinished`), a key (`CallInput::Digits`).

use switchboard_core::error_code;
use switchboard_flow::{Input, Play, PlayMedia, Say};
use switchboard_media::session::{CallAudio, MediaEvent, MediaHandle, Pause, RecordOptions};

use crate::Engine;
use crate::voice::driver::Driver;
use crate::voice::live::{CallInput, LiveCalls};
use crate::voice::media::{FinishedRecording, MediaEnd, MediaFailure};
use crate::voice::recording;
use crate::voice::sip::{SipInput, SipLeg, forward};

impl SipLeg {
    /// RTP starts flowing (once): the socket moves into its media task.
    pub(super) fn start_media(&mut self, state: &Engine, call_sid: String) {
        if let (Some(socket), Some(config)) = (self.socket.take(), self.rtp.clone()) {
            let (handle, events) = socket.start(config);
            forward(state, call_sid, events, media_input);
            self.media = Some(handle);
        }
    }

    /// The RTP session's handle, once the call is answered (media streams attach to it).
    pub(crate) fn media_handle(&self) -> Option<MediaHandle> {
        self.media.clone()
    }

    /// Answering-machine detection over the callee's audio (`MediaEvent::MachineDetected`).
    pub(crate) fn detect_machine(&self, settings: switchboard_amd::Settings) {
        if let Some(media) = &self.media {
            media.detect_machine(settings);
        }
    }

    /// `<Say>`: the TTS program's audio (cached), played `loop_count` times.
    pub(crate) async fn say(&mut self, say: &Say) -> Result<(), MediaFailure> {
        let voice = say.voice.as_deref().unwrap_or("woman");
        match self
            .telephony
            .tts
            .speak(&say.text, voice, &say.language)
            .await
        {
            Ok(pcm) => {
                self.play_pcm(pcm, say.loop_count);
                Ok(())
            }
            Err(error) => Err(MediaFailure {
                code: error_code::INTERNAL_FAILURE,
                message: format!("Text-to-speech failed for <Say>: {error}"),
            }),
        }
    }

    /// `<Play>`: a URL's audio (fetched once, cached) or RFC 4733 digits.
    pub(crate) async fn play(&mut self, play: &Play) -> Result<(), MediaFailure> {
        match &play.media {
            PlayMedia::Digits(digits) => {
                if let Some(media) = &self.media {
                    self.playing = Some(media.play_digits(digits));
                }
                Ok(())
            }
            PlayMedia::Url(url) => match self.telephony.audio.fetch(url).await {
                Ok(pcm) => {
                    self.play_pcm(pcm, play.loop_count);
                    Ok(())
                }
                Err(error) => Err(MediaFailure {
                    code: error_code::HTTP_RETRIEVAL_FAILURE,
                    message: format!("<Play> could not play {url}: {error}"),
                }),
            },
        }
    }

    fn play_pcm(&mut self, pcm: switchboard_media::Pcm, loops: u32) {
        if let Some(media) = &self.media {
            self.playing = Some(media.play(pcm, loops));
        }
    }

    /// `SendDigits`: RFC 4733 events, not waited for.
    pub(crate) fn send_digits(&self, digits: &str) {
        if let Some(media) = &self.media {
            media.play_digits(digits);
        }
    }

    pub(crate) fn stop_playback(&mut self) {
        self.playing = None;
        if let Some(media) = &self.media {
            media.stop_playback();
        }
    }

    /// `<Record>`: the beep, then the caller's audio until silence, a key or `maxLength`.
    pub(crate) fn start_recording(&mut self, record: &switchboard_flow::Record) {
        let Some(media) = &self.media else {
            return;
        };
        if record.play_beep {
            media.play_tone(1000, 500);
        }
        self.recording = Some((
            switchboard_core::Sid::generate(switchboard_core::SidKind::Recording),
            record.recording_status_callback.clone(),
        ));
        media.start_recording(RecordOptions {
            silence_timeout_ms: (record.timeout_s > 0).then(|| u64::from(record.timeout_s) * 1000),
            max_ms: u64::from(record.max_length_s.max(1)) * 1000,
            trim_silence: record.trim == switchboard_twiml::keyword::Trim::TrimSilence,
        });
    }

    /// Starts recording the whole call in the RTP session (both directions); `None` before
    /// the media runs.
    pub(crate) fn start_call_recording(&self) -> Option<u64> {
        self.media.as_ref().map(MediaHandle::start_call_recording)
    }

    /// Pauses (`Some`) or resumes (`None`) the call recording `id`.
    pub(crate) fn pause_call_recording(&self, id: u64, pause: Option<Pause>) {
        if let Some(media) = &self.media {
            media.pause_call_recording(id, pause);
        }
    }

    /// Ends the call recording `id`; its audio comes back on the receiver (nothing when the
    /// session is gone).
    pub(crate) async fn stop_call_recording(&self, id: u64) -> Option<CallAudio> {
        let media = self.media.as_ref()?;
        let answer = media.stop_call_recording(id);
        tokio::time::timeout(std::time::Duration::from_secs(5), answer)
            .await
            .ok()?
            .ok()
    }

    /// The media task ends the recording and reports it (`RecordingFinished`).
    pub(crate) fn stop_recording(&self) {
        if let Some(media) = &self.media {
            media.stop_recording();
        }
    }

    /// The caller hears ringback while a dialled leg rings.
    pub(crate) fn ringback(&self) {
        if let Some(media) = &self.media {
            media.play(ringback(), 0);
        }
    }

    /// A dialled SIP leg's whisper ended: its parent bridges to this leg's media.
    pub(crate) fn bridge_to_parent(&self, live: &LiveCalls, parent_sid: &str) {
        if let Some(media) = self.media.clone() {
            let answered = SipInput::ChildAnswered(media);
            live.send(parent_sid, CallInput::Sip(Box::new(answered)));
        }
    }

    /// The dialled leg answered: ringback stops and the two sessions are bridged.
    pub(crate) fn bridge_to_child(&self, child: &MediaHandle) {
        if let Some(own) = &self.media {
            own.stop_playback();
            own.bridge(child);
        }
    }

    /// The conference started (or this leg joined a started one): it hears the others' mix.
    pub(crate) fn join_mixer(&self, mixer: &switchboard_media::session::MixerHandle) {
        if let Some(media) = &self.media {
            media.join_mixer(mixer);
        }
    }

    /// A muted participant is not heard by the others.
    pub(crate) fn set_muted(&self, muted: bool) {
        if let Some(media) = &self.media {
            media.set_muted(muted);
        }
    }

    /// The `<Dial>` ended: this leg's media is its own again.
    pub(crate) fn unbridge(&self) {
        if let Some(media) = &self.media {
            media.stop_playback();
            media.unbridge();
        }
    }
}

impl Driver {
    /// What the RTP session reported.
    pub(super) async fn on_media_event(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::PlaybackFinished(id) => {
                if let MediaEnd::Sip(leg) = &mut self.media
                    && leg.playing == Some(id)
                {
                    leg.playing = None;
                    self.feed(Input::PlaybackFinished);
                }
            }
            MediaEvent::RecordingFinished { pcm, talked_ms, .. } => {
                Box::pin(self.sip_recording_finished(pcm, talked_ms)).await;
            }
            MediaEvent::Digit(key) => self.deliver_digits(key.to_string()),
            MediaEvent::RemoteLatched(_) => {}
            MediaEvent::SpeechStarted => self.sip_speech_started(),
            MediaEvent::SpeechCaptured { pcm } => self.sip_speech_captured(pcm),
            MediaEvent::SpeechProgress { pcm } => self.sip_speech_progress(pcm),
            MediaEvent::MachineDetected(verdict) => {
                Box::pin(self.machine_detected(verdict)).await;
            }
        }
    }

    /// The recording the flow waits for ended: `pcm` is what it captured (8 kHz), `talked_ms`
    /// how much of it was talk (none: nothing is stored, the duration is 0).
    async fn sip_recording_finished(&mut self, pcm: Vec<i16>, talked_ms: u64) {
        let MediaEnd::Sip(leg) = &mut self.media else {
            return;
        };
        let Some((sid, status_callback)) = leg.recording.take() else {
            return;
        };
        let total_ms = pcm.len() as u64 * 1000 / 8000;
        let duration_s = if talked_ms == 0 {
            0
        } else {
            u32::try_from(total_ms.div_ceil(1000)).unwrap_or(u32::MAX)
        };
        let finished = FinishedRecording {
            sid,
            status_callback,
            duration_s,
            audio: recording::Audio {
                lead_ms: 0,
                tone_ms: total_ms,
                total_ms,
            },
            pcm: Some(pcm),
            said: None,
        };
        self.recording_finished(finished).await;
    }
}

/// What the RTP session reports, as the call's input: keys directly, the rest for
/// `on_media_event`.
fn media_input(event: MediaEvent) -> Option<CallInput> {
    Some(match event {
        MediaEvent::Digit(key) => CallInput::Digits(key.to_string()),
        other => CallInput::Sip(Box::new(SipInput::Media(other))),
    })
}

/// US ringback (440 + 480 Hz, 2 s on, 4 s off), one cycle, made once.
fn ringback() -> switchboard_media::Pcm {
    static TONE: std::sync::OnceLock<switchboard_media::Pcm> = std::sync::OnceLock::new();
    TONE.get_or_init(|| {
        let on = 2 * 8000;
        (0..6 * 8000)
            .map(|index| {
                if index >= on {
                    return 0;
                }
                let t = f64::from(index) / 8000.0;
                let two_pi = 2.0 * std::f64::consts::PI;
                let sample = (two_pi * 440.0 * t).sin() + (two_pi * 480.0 * t).sin();
                (sample * 4000.0) as i16
            })
            .collect()
    })
    .clone()
}
