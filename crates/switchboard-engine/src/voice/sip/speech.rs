//! A speech `<Gather>` on a real call. The leg's RTP session listens for one utterance (voice
//! activity in the media task: `SpeechStarted`, then `SpeechCaptured` after `speechTimeout` of
//! silence or `maxSpeechTime`); the utterance goes to the recogniser in a task of its own, so
//! neither the media task nor the driver waits for it, and its answer comes back through the
//! call's inbox (`SipInput::Recognised`).
//!
//! - `hints` (or `speechModel="numbers_and_commands"` without hints: digits and short
//!   commands) become the recogniser's grammar, which is what makes short answers reliable;
//!   otherwise the open model listens.
//! - `speechTimeout="auto"` ends the utterance after a second of silence.
//! - `SpeechStarted` is the flow's barge-in (`Input::SpeechStarted`): nested prompts stop.
//! - An utterance heard as no words (noise) is `Input::SpeechUnrecognised`, and the session
//!   listens again.
//! - A language other than English is a WARNING 13331 and the gather listens for keys only;
//!   with `--asr off` a WARNING 99023 says it hears no speech (it then times out as if nothing
//!   was said).
//! - `partialResultCallback`: every second while the caller speaks, the audio so far is
//!   recognised (off the call's tasks, like the end) and, when it holds words, requested with
//!   `UnstableSpeechResult`, `Stability` (the recogniser's confidence) and `SequenceNumber`
//!   (from 0 per gather) plus the call's parameters; the answer is ignored, and a partial may
//!   arrive after the final result (they run in parallel).

use std::sync::Arc;

use serde_json::json;
use switchboard_core::ErrorCode;
use switchboard_core::error_code::{GATHER_INVALID_LANGUAGE, TRANSCRIPTION_FAILED};
use switchboard_flow::Input;
use switchboard_media::session::SpeechOptions;
use switchboard_twiml::verb::SpeechTimeout;
use switchboard_webhook::{AlertLevel, Channel};

use crate::voice::driver::Driver;
use crate::voice::live::CallInput;
use crate::voice::media::MediaEnd;
use crate::voice::sip::SipInput;

/// `speechTimeout="auto"`: the silence that ends an utterance.
const AUTO_END_SILENCE_MS: u64 = 1_000;
/// The longest utterance, whatever `maxSpeechTime` says (Twilio's limit).
const MAX_SPEECH_MS: u64 = 60_000;
/// How often a partial result is made while the caller speaks (`partialResultCallback`).
const PARTIAL_EVERY_MS: u64 = 1_000;

/// What `speechModel="numbers_and_commands"` listens for when no hints are given.
const NUMBERS_AND_COMMANDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "yes",
    "no",
    "stop",
    "cancel",
    "repeat",
    "help",
    "agent",
    "operator",
    "menu",
    "back",
    "next",
    "start",
    "continue",
    "main menu",
    "speak to an agent",
];

/// A speech `<Gather>` listening on this leg.
#[derive(Debug)]
pub(crate) struct SpeechGather {
    options: SpeechOptions,
    phrases: Option<Arc<Vec<String>>>,
    /// Which listening a recognition answers (a stale answer is dropped).
    generation: u64,
    /// `partialResultCallback` and its method.
    partial: Option<(String, switchboard_webhook::Method)>,
    /// The next partial result's `SequenceNumber`.
    sequence: u32,
}

impl Driver {
    /// `Gather` with speech: the session listens, unless the language or `--asr off` rule it
    /// out (a WARNING alert each).
    pub(crate) async fn sip_listen_for_speech(&mut self, gather: &switchboard_flow::Gather) {
        let MediaEnd::Sip(leg) = &mut self.media else {
            return;
        };
        let language = gather.language.to_ascii_lowercase();
        if !matches!(language.as_str(), "en-us" | "en-gb" | "en") {
            let message = format!(
                "the speech recogniser has no model for language {:?} (it has en-US and en-GB): \
                 this <Gather> listens for keys only",
                gather.language
            );
            return self.speech_warning(GATHER_INVALID_LANGUAGE, message).await;
        }
        if leg.telephony.asr.is_none() {
            let message =
                "speech recognition is off (--asr off): this <Gather> hears no speech".to_owned();
            return self.speech_warning(TRANSCRIPTION_FAILED, message).await;
        }
        let phrases = if !gather.hints.is_empty() {
            Some(Arc::new(gather.hints.clone()))
        } else if gather.speech_model == "numbers_and_commands" {
            Some(Arc::new(
                NUMBERS_AND_COMMANDS
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect(),
            ))
        } else {
            None
        };
        let end_silence_ms = match gather.speech_timeout {
            SpeechTimeout::Seconds(seconds) if seconds > 0 => u64::from(seconds) * 1000,
            _ => AUTO_END_SILENCE_MS,
        };
        let partial = gather.partial_result_callback.clone();
        let options = SpeechOptions {
            end_silence_ms,
            max_ms: (u64::from(gather.max_speech_time_s) * 1000).clamp(1000, MAX_SPEECH_MS),
            progress_every_ms: partial.is_some().then_some(PARTIAL_EVERY_MS),
        };
        let generation = leg.speech.as_ref().map_or(0, |s| s.generation) + 1;
        leg.speech = Some(SpeechGather {
            options,
            phrases,
            generation,
            partial,
            sequence: 0,
        });
        if let Some(media) = &leg.media {
            media.listen_for_speech(options);
        }
    }

    /// The gather ended: the session stops listening and late answers are dropped.
    pub(crate) fn sip_stop_listening_for_speech(&mut self) {
        if let MediaEnd::Sip(leg) = &mut self.media
            && let Some(speech) = leg.speech.as_mut()
        {
            speech.generation += 1;
            speech.phrases = None;
            speech.partial = None;
            if let Some(media) = &leg.media {
                media.stop_listening();
            }
        }
    }

    async fn speech_warning(&mut self, code: ErrorCode, message: String) {
        let alert = crate::session::session_alert(
            Channel::Voice,
            code,
            AlertLevel::Warning,
            message,
            String::new(),
        );
        self.record_alert(&alert).await;
    }

    /// The caller started speaking (`MediaEvent::SpeechStarted`).
    pub(super) fn sip_speech_started(&mut self) {
        if let MediaEnd::Sip(leg) = &self.media
            && leg.speech.is_some()
        {
            self.feed(Input::SpeechStarted);
        }
    }

    /// An utterance ended (`MediaEvent::SpeechCaptured`): off to the recogniser.
    pub(super) fn sip_speech_captured(&mut self, pcm: Vec<i16>) {
        let MediaEnd::Sip(leg) = &self.media else {
            return;
        };
        let (Some(speech), Some(asr)) = (&leg.speech, leg.telephony.asr.clone()) else {
            return;
        };
        let (generation, phrases) = (speech.generation, speech.phrases.clone());
        let engine = self.state.clone();
        let call_sid = self.call_sid().to_owned();
        let captured_ms = pcm.len() as u64 / 8;
        self.state.spawn(async move {
            let started = std::time::Instant::now();
            let heard = asr
                .recognise(&pcm, phrases.as_deref().map(Vec::as_slice))
                .await;
            let heard = match heard {
                Ok(heard) => Some(heard),
                Err(error) => {
                    tracing::warn!(%error, "recognising a speech gather's utterance failed");
                    None
                }
            };
            let recognised = SipInput::Recognised {
                generation,
                heard,
                audio_ms: captured_ms,
                took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
            engine
                .live
                .send(&call_sid, CallInput::Sip(Box::new(recognised)));
        });
    }

    /// The utterance so far (`MediaEvent::SpeechProgress`): a partial result for
    /// `partialResultCallback`, recognised and requested off the call's tasks.
    pub(super) fn sip_speech_progress(&mut self, pcm: Vec<i16>) {
        let params = self.call.params_at(self.call.status());
        let MediaEnd::Sip(leg) = &mut self.media else {
            return;
        };
        let Some(asr) = leg.telephony.asr.clone() else {
            return;
        };
        let Some(speech) = leg.speech.as_mut() else {
            return;
        };
        let Some((url, method)) = speech.partial.clone() else {
            return;
        };
        let sequence = speech.sequence;
        speech.sequence += 1;
        let phrases = speech.phrases.clone();
        let target = self.alert_target();
        self.state.spawn(async move {
            let Ok(heard) = asr
                .recognise(&pcm, phrases.as_deref().map(Vec::as_slice))
                .await
            else {
                return;
            };
            if heard.text.trim().is_empty() {
                return;
            }
            let mut params = params;
            for (name, value) in [
                ("UnstableSpeechResult", heard.text.trim().to_owned()),
                ("Stability", heard.confidence.to_string()),
                ("SequenceNumber", sequence.to_string()),
            ] {
                params.push((name.to_owned(), value));
            }
            let plan = switchboard_webhook::FetchPlan {
                primary: switchboard_webhook::Endpoint::new(url, method),
                fallback: None,
                params,
                initial: false,
                scope: target.state.fallback_scope,
                breaker: false,
            };
            let result = switchboard_webhook::fetch_twiml(
                &target.state.webhooks,
                &target.auth_token,
                &mut switchboard_webhook::CookieJar::default(),
                plan,
                Channel::Voice,
                |_| Ok(()),
            )
            .await;
            for event in &result.events {
                target
                    .log
                    .push("webhook", serde_json::to_value(event).unwrap_or_default());
            }
        });
    }

    /// The recogniser's answer: the gather's result, or listening again.
    pub(super) fn sip_speech_recognised(
        &mut self,
        generation: u64,
        heard: Option<switchboard_media::asr::Heard>,
        audio_ms: u64,
        took_ms: u64,
    ) {
        let MediaEnd::Sip(leg) = &self.media else {
            return;
        };
        let Some(speech) = leg.speech.as_ref().filter(|s| s.generation == generation) else {
            return;
        };
        let text = heard.as_ref().map(|h| h.text.trim()).unwrap_or_default();
        self.log.push(
            "speech",
            json!({"text": text, "confidence": heard.as_ref().map(|h| h.confidence),
                   "grammar": heard.as_ref().is_some_and(|h| h.grammar),
                   "audio_ms": audio_ms, "recognition_ms": took_ms}),
        );
        match heard.filter(|h| !h.text.trim().is_empty()) {
            Some(heard) => self.feed(Input::Speech {
                result: heard.text.trim().to_owned(),
                confidence: heard.confidence,
            }),
            None => {
                if let Some(media) = &leg.media {
                    media.listen_for_speech(speech.options);
                }
                self.feed(Input::SpeechUnrecognised);
            }
        }
    }
}
