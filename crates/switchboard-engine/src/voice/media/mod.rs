//! The far end of a call's audio: one interface, `MediaEnd`, whatever carries the audio. The
//! sandbox's media model (`sandbox.rs`) and a real call's SIP leg with its RTP session
//! (`voice::sip`) implement it; a WebSocket media stream (voice bots, conference mixing) is
//! meant to be the third. The caller's keys are the same for every far end (`keys.rs`).
//!
//! The interface is an enum, not a trait object: the set of far ends is closed, each needs
//! different parts of the driver (the sandbox its clock and timers, SIP the engine's
//! telephony), and a parked call's driver stays free of another allocation. Each operation is
//! one `Driver::media_*` method below with the one `match` on the far end; `perform.rs` calls
//! it and never asks which far end it has.
//!
//! What each operation owes the driver: the `Input`s the flow waits for, fed through
//! `Driver::feed` (so they reach the flow after the current batch of actions), at once or when
//! the far end reports back: the sandbox through the driver's timers (`Due::PlaybackDone`,
//! `Due::RecordingDone`), SIP through the call's inbox (`CallInput::Sip`).
//! - `media_answer`: nothing. SIP sends `200 OK` with its SDP answer and starts RTP; the
//!   sandbox does nothing.
//! - `media_say`, `media_play`: one `Input::PlaybackFinished` once every loop has played,
//!   unless `media_stop_playback` or the next `media_say`/`media_play` comes first: nothing is
//!   owed for replaced or stopped media. Media that cannot be produced (the TTS program failed,
//!   a URL without decodable audio) records an ERROR alert and feeds `PlaybackFinished` at
//!   once: the call goes on.
//! - `media_send_digits` (`SendDigits`, once answered): nothing; SIP plays RFC 4733 events.
//! - `media_start_recording`: one `Input::RecordingFinished` when the recording ends (silence,
//!   `maxLength`, `media_stop_recording`), after the recording is stored and its status
//!   callback queued (`Driver::recording_finished`, shared by every far end); a recording that
//!   captured nothing is not stored and reports `duration_s` 0.
//! - `media_stop_recording`: the `RecordingFinished` owed comes now (sandbox) or once the RTP
//!   task has closed the recording (SIP).
//! - `media_bridge_to_parent` (`Bridge`, on a dialled leg whose whisper ended): nothing to this
//!   leg. SIP hands this leg's session to the parent leg (`SipInput::ChildAnswered`), which
//!   bridges to it (`media_bridge_to_child`: what plays to it, the ringback, stops) and feeds
//!   itself `DialConnected`.
//! - `media_ringback` while a dialled leg rings, `media_unbridge` when the `<Dial>` ended:
//!   nothing.
//! - `media_caller_talks` (the sandbox's `Audio` input): nothing, unless a recording hears it;
//!   `Text` that a speech `<Gather>` listens for becomes `Input::Speech` when its words end
//!   (`keys.rs`). A real call's audio arrives on its own media.
//! - `media_hang_up` (the terminal status, and again when the driver finishes): nothing; the
//!   far end learns the call is over (SIP: `BYE`, the final response of an unanswered call or
//!   `CANCEL`) and the media stops. It acts once.
//!
//! Besides answers, a far end reports the caller: hanging up becomes `Input::CallerHungUp`
//! (the sandbox's `Hangup`, a SIP `BYE` or `CANCEL`), keys arrive as `CallInput::Digits`, and
//! an outbound SIP leg's progress (`SipInput::Outgoing`) becomes `Input::Progress` (a sandbox
//! handset's progress is scheduled by `start_far_end`).

mod keys;
mod sandbox;

use switchboard_core::{ErrorCode, Sid};
use switchboard_flow::{CallStatus, Input, Play, Say};
use switchboard_media::session::MediaHandle;
use switchboard_twiml::Level;

pub(crate) use keys::{Keys, Listening};
pub(crate) use sandbox::SandboxMedia;

use crate::voice::driver::Driver;
use crate::voice::perform::flow_alert;
use crate::voice::recording::{self, Clip};
use crate::voice::sip::SipLeg;

/// The far end of a call's audio.
pub(crate) enum MediaEnd {
    /// The sandbox's media model: durations, type-ahead audio, synthetic recordings.
    Sandbox(SandboxMedia),
    /// A real call: its SIP dialog and RTP session. An outbound SIP leg has the sandbox's model
    /// until its INVITE is sent.
    Sip(SipLeg),
}

impl MediaEnd {
    /// The sandbox's media model, with nothing playing.
    pub(crate) fn sandbox() -> MediaEnd {
        MediaEnd::Sandbox(SandboxMedia::default())
    }
}

/// A `<Say>` or `<Play>` whose audio could not be produced.
pub(crate) struct MediaFailure {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

/// A `<Record>` that ended: what `recording_finished` stores and reports.
pub(crate) struct FinishedRecording {
    pub(crate) sid: Sid,
    pub(crate) status_callback: Option<switchboard_flow::Callback>,
    /// 0 when nothing was captured (then nothing is stored).
    pub(crate) duration_s: u32,
    pub(crate) audio: recording::Audio,
    /// The captured samples, 8 kHz; `None` for a purely synthetic recording.
    pub(crate) pcm: Option<Vec<i16>>,
    /// What a sandbox caller said into it (`Text`): its transcription, when one is asked for.
    /// `None` on a real call, whose transcription is the recogniser's.
    pub(crate) said: Option<String>,
}

impl Driver {
    /// The leg's final SIP response (`SipResponseCode` on its terminal status callback), for
    /// a leg ending with `status`; `None` where there is no SIP (the sandbox).
    pub(crate) fn media_response_code(&self, status: CallStatus) -> Option<u16> {
        match &self.media {
            MediaEnd::Sandbox(_) => None,
            MediaEnd::Sip(leg) => leg.response_code(status),
        }
    }

    /// The flow answers the call.
    pub(crate) fn media_answer(&mut self) {
        let call_sid = self.call_sid().to_owned();
        match &mut self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.answer(&self.state, call_sid),
        }
    }

    /// `<Say>`: owes `PlaybackFinished`.
    pub(crate) async fn media_say(&mut self, say: &Say) {
        let now = self.clock.now_ms();
        let played = match &mut self.media {
            MediaEnd::Sandbox(model) => {
                model.say(&mut self.timers, now, say);
                Ok(())
            }
            MediaEnd::Sip(leg) => Box::pin(leg.say(say)).await,
        };
        if let Err(failure) = played {
            Box::pin(self.media_failed(failure)).await;
        }
    }

    /// `<Play>` of a URL or of digits: owes `PlaybackFinished`.
    pub(crate) async fn media_play(&mut self, play: &Play) {
        let now = self.clock.now_ms();
        let played = match &mut self.media {
            MediaEnd::Sandbox(model) => {
                model.play(&mut self.timers, now, play);
                Ok(())
            }
            MediaEnd::Sip(leg) => Box::pin(leg.play(play)).await,
        };
        if let Err(failure) = played {
            Box::pin(self.media_failed(failure)).await;
        }
    }

    /// Media that could not be produced: an ERROR alert, and it counts as played.
    async fn media_failed(&mut self, failure: MediaFailure) {
        let alert = switchboard_flow::Alert {
            code: failure.code,
            level: Level::Error,
            message: failure.message,
            url: None,
        };
        self.record_alert(&flow_alert(&alert)).await;
        self.feed(Input::PlaybackFinished);
    }

    /// `SendDigits`, once the callee answered.
    pub(crate) fn media_send_digits(&mut self, digits: &str) {
        match &self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.send_digits(digits),
        }
    }

    /// A speech `<Gather>` starts: a real call's session listens for an utterance (owes
    /// `SpeechStarted`, then `Speech` or `SpeechUnrecognised`); the sandbox hears `Text` and
    /// `Speech` instead (`keys.rs`).
    pub(crate) async fn media_listen_for_speech(&mut self, gather: &switchboard_flow::Gather) {
        if let MediaEnd::Sip(_) = &self.media {
            Box::pin(self.sip_listen_for_speech(gather)).await;
        }
    }

    /// The gather ended: nothing more is listened for.
    pub(crate) fn media_stop_listening_for_speech(&mut self) {
        if let MediaEnd::Sip(_) = &self.media {
            self.sip_stop_listening_for_speech();
        }
    }

    /// `StopMedia`: what plays stops, and owes nothing.
    pub(crate) fn media_stop_playback(&mut self) {
        match &mut self.media {
            MediaEnd::Sandbox(model) => model.stop_playback(&mut self.timers),
            MediaEnd::Sip(leg) => leg.stop_playback(),
        }
    }

    /// `<Record>`: owes `RecordingFinished`.
    pub(crate) fn media_start_recording(&mut self, record: &switchboard_flow::Record) {
        let now = self.clock.now_ms();
        match &mut self.media {
            MediaEnd::Sandbox(model) => model.start_recording(&mut self.timers, now, record),
            MediaEnd::Sip(leg) => leg.start_recording(record),
        }
    }

    /// `StopRecording` (a finish key, the caller hanging up): the recording ends now.
    pub(crate) async fn media_stop_recording(&mut self) {
        match &self.media {
            MediaEnd::Sandbox(_) => Box::pin(self.finish_sandbox_recording()).await,
            MediaEnd::Sip(leg) => leg.stop_recording(),
        }
    }

    /// `Bridge`: a dialled leg's whisper ended; its parent joins this leg's audio.
    pub(crate) fn media_bridge_to_parent(&mut self) {
        let Some(parent) = self.call.setup().parent_call_sid.clone() else {
            return;
        };
        match &self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.bridge_to_parent(&self.state.live, parent.as_str()),
        }
    }

    /// A dialled leg answered with `child`'s audio: this leg's audio joins it.
    pub(crate) fn media_bridge_to_child(&mut self, child: &MediaHandle) {
        match &self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.bridge_to_child(child),
        }
    }

    /// The caller hears ringback while a dialled leg rings.
    pub(crate) fn media_ringback(&mut self) {
        match &self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.ringback(),
        }
    }

    /// The `<Dial>` ended: this leg's audio is its own again.
    pub(crate) fn media_unbridge(&mut self) {
        match &self.media {
            MediaEnd::Sandbox(_) => {}
            MediaEnd::Sip(leg) => leg.unbridge(),
        }
    }

    /// The sandbox caller talks. A real call's audio arrives on its own media, so only the
    /// sandbox model hears this.
    pub(crate) fn media_caller_talks(&mut self, clip: Clip) {
        let now = self.clock.now_ms();
        self.streams_hear_caller(&clip);
        self.recordings.caller_talks(now, &clip);
        if self.hear_said(&clip) {
            return;
        }
        match &mut self.media {
            MediaEnd::Sandbox(model) => model.caller_talks(&mut self.timers, now, clip),
            MediaEnd::Sip(_) => {}
        }
    }

    /// The leg reached its terminal status: the far end learns, and the media stops (once).
    pub(crate) fn media_hang_up(&mut self) {
        let status: CallStatus = self.call.status();
        let ended = match &mut self.media {
            MediaEnd::Sandbox(_) => None,
            MediaEnd::Sip(leg) => leg.hang_up(status),
        };
        if let Some(answered) = ended {
            self.log
                .push("sip_end", serde_json::json!({"answered": answered}));
        }
    }

    /// A `<Record>` ended on any far end: stored with its status callback when it captured
    /// something, then `RecordingFinished`.
    pub(crate) async fn recording_finished(&mut self, finished: FinishedRecording) {
        let FinishedRecording {
            sid,
            status_callback,
            duration_s,
            audio,
            pcm,
            said,
        } = finished;
        let transcribe = self.transcribe.take();
        let url = recording::url(&self.state, &self.account.sid, sid.as_str());
        if duration_s > 0 {
            let call_sid = self.call_sid().to_owned();
            // The recogniser needs the samples after they are stored.
            let samples = transcribe.as_ref().and(pcm.clone());
            let new = recording::NewRecording {
                account_sid: &self.account.sid,
                call_sid: &call_sid,
                sid: sid.as_str(),
                duration_s,
                audio,
                pcm,
                source: "RecordVerb",
            };
            if let Err(error) = recording::store(&self.state, new).await {
                tracing::error!(?error, "storing a recording failed");
            }
            if let Some(callback) = &status_callback {
                let target = self.alert_target();
                recording::status_callback(target, callback, sid.as_str(), &url, duration_s).await;
            }
            if let Some(wanted) = transcribe {
                let source = crate::voice::transcription::Source {
                    recording_sid: sid.as_str().to_owned(),
                    recording_url: url.clone(),
                    duration_s,
                    said,
                    pcm: samples,
                };
                Box::pin(self.transcribe(wanted, source)).await;
            }
        }
        self.feed(Input::RecordingFinished {
            recording_sid: sid,
            recording_url: url,
            duration_s,
            digits: String::new(),
        });
    }
}
