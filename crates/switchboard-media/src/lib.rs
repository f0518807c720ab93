//! Call media IO for real SIP calls: speech recognition by PocketSphinx worker processes (`asr`), text-to-speech through an external program (`tts`), audio
//! decoding and resampling to 8 kHz (`decode`), WAV writing (`wav`), `<Play>` audio over HTTP
//! (`fetch`), MP3 encoding of recordings by the `lame` program (`mp3`), and RTP sessions that pace, send, receive, record and bridge G.711 audio
//! (`session`) around the pure `switchboard-rtp` core.
//!
//! All audio crossing this crate's API is 8 kHz mono signed 16-bit PCM, the rate of G.711. Audio
//! that is played many times (prompts, hold music) is shared as [`Pcm`], an `Arc<[i16]>`, so a
//! cached prompt played on a thousand calls is one allocation.

pub mod asr;
pub mod decode;
pub mod fetch;
pub mod mp3;
pub mod session;
pub mod tts;
pub mod wav;

/// 8 kHz mono signed 16-bit PCM, shared.
pub type Pcm = std::sync::Arc<[i16]>;

/// Largest media body (fetched file or TTS output) this crate reads: 50 MB.
pub const MAX_MEDIA_BYTES: usize = 50 * 1024 * 1024;

/// Why media could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The text-to-speech program could not be run, failed, timed out or wrote no audio.
    #[error("text-to-speech failed: {0}")]
    Tts(String),
    /// The bytes are not audio this crate can decode.
    #[error("audio could not be decoded: {0}")]
    Decode(String),
    /// The audio could not be fetched (connection failure or a non-2xx answer).
    #[error("audio could not be fetched: {0}")]
    Fetch(String),
    /// The input or the decoded audio is larger than the caps of this crate.
    #[error("media larger than the limit")]
    TooLarge,
    /// An IO error from the operating system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
