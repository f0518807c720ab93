//! Recordings: the stored resource (`Kind::Recording`, parent = the call) and its audio.
//!
//! The sandbox's audio is synthetic (a 440 Hz tone while the caller "talks", silence around
//! it), so the document keeps only its shape (`engine_audio`) and the WAV (PCM16, 8 kHz, mono)
//! is rendered on request: no audio bytes in the database, and the file is still a real WAV
//! any player or library opens.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_store::{Kind, Record};
use switchboard_webhook::{Channel, CookieJar, WebhookRequest};

use crate::error::EngineResult;
use crate::voice::callbacks::AlertTarget;
pub use crate::voice::pieces::{Piece, mix, pieces_of, render, trim};
use crate::{Engine, alerts, now_ms};

/// The shape of a synthetic recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audio {
    /// Silence before the tone.
    pub lead_ms: u64,
    pub tone_ms: u64,
    /// The whole recording (at least `lead_ms + tone_ms`).
    pub total_ms: u64,
}

const SAMPLE_RATE: u32 = 8000;

/// Something the caller says: a tone of `ms`, or real samples (8 kHz mono) from a WAV it played;
/// a sandbox caller's `Text` is a tone that carries the words it stands for.
#[derive(Clone, Debug)]
pub struct Clip {
    pub ms: u64,
    pub pcm: Option<std::sync::Arc<Vec<i16>>>,
    /// The sandbox's `Text`: what a speech `<Gather>` hears and a transcription writes.
    pub said: Option<Said>,
}

/// Words a sandbox caller says (`Text` on `/Audio`), with the confidence a gather reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Said {
    pub text: std::sync::Arc<str>,
    pub confidence: f64,
}

/// How fast a sandbox caller speaks `Text`: 150 words a minute.
const SAID_MS_PER_WORD: u64 = 400;
/// The shortest `Text` a sandbox caller says.
const SAID_MIN_MS: u64 = 1000;

impl Clip {
    pub fn tone(seconds: u32) -> Clip {
        Clip {
            ms: u64::from(seconds) * 1000,
            pcm: None,
            said: None,
        }
    }

    pub fn samples(pcm: Vec<i16>) -> Clip {
        Clip {
            ms: pcm.len() as u64 * 1000 / u64::from(SAMPLE_RATE),
            pcm: Some(std::sync::Arc::new(pcm)),
            said: None,
        }
    }

    /// `text` said at 150 words a minute, at least one second (ten words: four seconds).
    pub fn said(text: &str, confidence: f64) -> Clip {
        let words = text.split_whitespace().count() as u64;
        Clip {
            ms: (words * SAID_MS_PER_WORD).max(SAID_MIN_MS),
            pcm: None,
            said: Some(Said {
                text: text.into(),
                confidence,
            }),
        }
    }
}

/// What `clips` said, in order, one space between them (`None` when none said anything).
pub fn said_text(clips: &[Clip]) -> Option<String> {
    let texts: Vec<&str> = clips
        .iter()
        .filter_map(|clip| clip.said.as_ref().map(|said| &*said.text))
        .collect();
    (!texts.is_empty()).then(|| texts.join(" "))
}

pub(crate) fn tone_sample(index: usize) -> i16 {
    let phase = 2.0 * std::f64::consts::PI * 440.0 * index as f64 / f64::from(SAMPLE_RATE);
    (phase.sin() * 8000.0) as i16
}

/// Why a sandbox caller's audio could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerAudioError {
    /// The URL did not answer with a 2xx.
    Unreachable,
    /// What it served is not audio this engine decodes.
    NotAudio,
}

/// Fetches and decodes the audio a sandbox caller plays into a call.
pub(crate) async fn fetch_caller_audio(
    state: &Engine,
    url: &str,
    auth_token: &str,
) -> Result<Clip, CallerAudioError> {
    let request =
        WebhookRequest::form(url.to_owned(), switchboard_webhook::Method::Get, Vec::new());
    let exchange = state
        .webhooks
        .send(request, auth_token, &mut CookieJar::default())
        .await;
    let body = match &exchange.result {
        Ok(answer) if (200..300).contains(&answer.status) => &answer.body,
        _ => return Err(CallerAudioError::Unreachable),
    };
    // The same decoder `<Play>` uses on real calls: any rate and channel count, to 8 kHz mono.
    switchboard_media::decode::decode_to_8k(body)
        .ok()
        .filter(|pcm| !pcm.is_empty())
        .map(Clip::samples)
        .ok_or(CallerAudioError::NotAudio)
}

/// The samples of `clips` played one after another, cut to `ms`.
pub fn clips_pcm(clips: &[Clip], ms: u64) -> Vec<i16> {
    let wanted = (ms * u64::from(SAMPLE_RATE) / 1000) as usize;
    let mut out = Vec::with_capacity(wanted);
    for clip in clips {
        match &clip.pcm {
            Some(pcm) => out.extend_from_slice(pcm),
            None => {
                let count = (clip.ms * u64::from(SAMPLE_RATE) / 1000) as usize;
                out.extend((0..count).map(tone_sample));
            }
        }
        if out.len() >= wanted {
            break;
        }
    }
    out.truncate(wanted);
    out
}

/// The WAV file (RIFF, PCM16 little-endian, 8 kHz, mono) of `audio`: silence, then the
/// caller's samples (`pcm`) or a tone, then silence.
pub fn wav(audio: Audio, pcm: Option<&[i16]>) -> Vec<u8> {
    let total_ms = audio.total_ms.max(audio.lead_ms + audio.tone_ms);
    let samples = (total_ms * u64::from(SAMPLE_RATE) / 1000) as usize;
    let tone_from = (audio.lead_ms * u64::from(SAMPLE_RATE) / 1000) as usize;
    let tone_until = tone_from + (audio.tone_ms * u64::from(SAMPLE_RATE) / 1000) as usize;
    let rendered: Vec<i16> = (0..samples)
        .map(|index| match pcm {
            _ if !(tone_from..tone_until).contains(&index) => 0,
            Some(pcm) => pcm.get(index - tone_from).copied().unwrap_or(0),
            None => tone_sample(index),
        })
        .collect();
    wav_of_channels(&[rendered])
}

/// The WAV file (RIFF, PCM16 little-endian, 8 kHz) of one or two channels (the shorter is
/// padded with silence).
pub fn wav_of_channels(channels: &[Vec<i16>]) -> Vec<u8> {
    let frames = channels.iter().map(Vec::len).max().unwrap_or(0);
    let count = u16::try_from(channels.len().max(1)).unwrap_or(1);
    let data_len = u32::try_from(frames * usize::from(count) * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len)).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2 * u32::from(count)).to_le_bytes()); // byte rate
    out.extend_from_slice(&(2 * count).to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for index in 0..frames {
        for channel in channels {
            let sample = channel.get(index).copied().unwrap_or(0);
            out.extend_from_slice(&sample.to_le_bytes());
        }
    }
    out
}

/// The samples of a stored recording per channel: its tracks (`engine_tracks`, a call
/// recording), or `None` for the shape of a `<Record>` (`engine_audio`, `engine_pcm`).
fn channels_of(doc: &Value) -> Option<Vec<Vec<i16>>> {
    match serde_json::from_value::<Vec<Vec<Piece>>>(doc["engine_tracks"].clone()) {
        Ok(tracks) if !tracks.is_empty() => {
            Some(tracks.iter().map(|pieces| render(pieces)).collect())
        }
        _ => None,
    }
}

/// The WAV file of a stored recording.
pub fn wav_of(doc: &Value) -> Vec<u8> {
    match channels_of(doc) {
        Some(channels) => wav_of_channels(&channels),
        None => wav(audio_of(doc), pcm_of(doc).as_deref()),
    }
}

/// The MP3 file of a stored recording, encoded by `lame` on each request: nothing is cached,
/// because a recording is usually fetched once (by the application its callback told), an
/// 8 kHz recording encodes at hundreds of times real time, and a cache would either grow the
/// shared database or be per node.
pub async fn mp3_of(doc: &Value) -> Result<Vec<u8>, switchboard_media::mp3::Mp3Error> {
    let (channels, count) = match channels_of(doc) {
        Some(channels) => {
            let count = channels.len().max(1);
            (channels, count)
        }
        None => {
            let wav = wav(audio_of(doc), pcm_of(doc).as_deref());
            let samples = wav[44..]
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            (vec![samples], 1)
        }
    };
    let frames = channels.iter().map(Vec::len).max().unwrap_or(0);
    let mut interleaved = Vec::with_capacity(frames * count);
    for index in 0..frames {
        for channel in &channels {
            interleaved.push(channel.get(index).copied().unwrap_or(0));
        }
    }
    let count = u16::try_from(count).unwrap_or(2);
    switchboard_media::mp3::encode(&interleaved, count).await
}

/// `RecordingUrl`: the recording's address without extension (§3.5).
pub fn url(state: &Engine, account_sid: &str, sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Recordings/{sid}",
        state.public_url.trim_end_matches('/')
    )
}

/// A finished recording to store.
pub struct NewRecording<'a> {
    pub account_sid: &'a str,
    pub call_sid: &'a str,
    pub sid: &'a str,
    pub duration_s: u32,
    pub audio: Audio,
    /// The caller's real samples, when it played a WAV (else the audio is a tone).
    pub pcm: Option<Vec<i16>>,
    /// `RecordVerb`, `OutboundAPI`, …
    pub source: &'a str,
}

/// Stores a finished recording of `call_sid`.
pub async fn store(state: &Engine, new: NewRecording<'_>) -> EngineResult<()> {
    let NewRecording {
        account_sid,
        call_sid,
        sid,
        duration_s,
        audio,
        pcm,
        source,
    } = new;
    let now = now_ms();
    let mut doc = json!({
        "sid": sid, "account_sid": account_sid, "call_sid": call_sid, "conference_sid": null,
        "date_created": now, "date_updated": now, "start_time": now - i64::try_from(audio.total_ms).unwrap_or(0),
        "duration": duration_s.to_string(), "price": null, "price_unit": "USD", "status": "completed",
        "channels": 1, "source": source, "error_code": null, "track": "both",
        "api_version": "2010-04-01", "encryption_details": null, "engine_audio": audio,
    });
    if let Some(pcm) = pcm {
        let bytes: Vec<u8> = pcm.iter().flat_map(|sample| sample.to_le_bytes()).collect();
        doc["engine_pcm"] = json!(BASE64.encode(bytes));
    }
    let mut record = Record::new(
        Kind::Recording,
        sid.to_owned(),
        account_sid.to_owned(),
        now,
        doc,
    );
    record.parent_sid = Some(call_sid.to_owned());
    record.status = Some("completed".into());
    record.date_key = Some(now);
    state.store.insert(&record).await?;
    Ok(())
}

/// The caller's real samples of a recording document, when it played a WAV.
pub fn pcm_of(doc: &Value) -> Option<Vec<i16>> {
    let bytes = BASE64.decode(doc["engine_pcm"].as_str()?).ok()?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
    )
}

/// The stored audio shape of a recording document.
pub fn audio_of(doc: &Value) -> Audio {
    serde_json::from_value(doc["engine_audio"].clone()).unwrap_or_default()
}

/// Writes `recordingStatusCallback` (`completed`) for a finished recording to the outbox, and
/// posts it off the call's path.
pub(crate) async fn status_callback(
    target: AlertTarget,
    callback: &switchboard_flow::Callback,
    sid: &str,
    url: &str,
    duration_s: u32,
) {
    if !callback.events.is_empty() && !callback.events.iter().any(|e| e == "completed") {
        return;
    }
    let params: Vec<(String, String)> = [
        ("AccountSid", target.account_sid.as_str()),
        ("CallSid", target.call_sid.as_str()),
        ("RecordingSid", sid),
        ("RecordingUrl", url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", &duration_s.to_string()),
        ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    let request = WebhookRequest::form(callback.url.clone(), callback.method, params);
    let pending = crate::outbox::enqueue(
        &target.state,
        &target.account_sid,
        Some(&target.call_sid),
        crate::outbox::Kind::RecordingStatus,
        Channel::Voice,
        request,
    )
    .await;
    target.state.clone().spawn(async move {
        let mut cookies = CookieJar::default();
        let result =
            crate::outbox::attempt(&target.state, pending, &target.auth_token, &mut cookies).await;
        for alert in &result.alerts {
            if let Err(error) = alerts::record(
                &target.state,
                &target.account_sid,
                Some(&target.call_sid),
                alert,
            )
            .await
            {
                tracing::error!(?error, "recording a recording-callback alert failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_text_lasts_at_150_words_a_minute_and_at_least_a_second() {
        let cases = [
            ("", 1000),
            ("yes", 1000),
            ("one two", 1000),
            ("one two three", 1200),
        ];
        for (text, ms) in cases {
            assert_eq!(Clip::said(text, 0.9).ms, ms, "{text:?}");
        }
        let ten = "a b c d e f g h i j";
        assert_eq!(Clip::said(ten, 0.9).ms, 4000);
        let clips = [
            Clip::said("hello", 0.9),
            Clip::tone(1),
            Clip::said("there", 0.5),
        ];
        assert_eq!(said_text(&clips).as_deref(), Some("hello there"));
        assert_eq!(said_text(&[Clip::tone(2)]), None);
    }

    #[test]
    fn wav_header_and_length() {
        let bytes = wav(
            Audio {
                lead_ms: 0,
                tone_ms: 1000,
                total_ms: 1500,
            },
            None,
        );
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..16], b"WAVEfmt ");
        assert_eq!(bytes.len(), 44 + 12_000 * 2);
        assert!(bytes[44..44 + 16_000].iter().any(|b| *b != 0));
        assert!(bytes[44 + 16_000..].iter().all(|b| *b == 0));
        // What the engine writes, it reads back (a caller may play a recording into a call).
        let decoded = switchboard_media::decode::decode_to_8k(&bytes).expect("decodes");
        assert_eq!(decoded.len(), 12_000);
        assert_eq!(decoded[..8000], clips_pcm(&[Clip::tone(1)], 1000)[..]);
    }
}
