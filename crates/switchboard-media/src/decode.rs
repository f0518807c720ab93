//! Audio files to 8 kHz mono PCM: WAV (PCM 8/16/24/32-bit, float, µ-law, A-law; any rate and
//! channel count, downmixed) and MP3, recognised by content with symphonia's probe (a
//! `Content-Type` header or file name is never trusted), then resampled with rubato's FFT
//! resampler, which low-passes (naive decimation would alias badly from 22.05/44.1/48 kHz).
//!
//! Decoding and resampling stream packet by packet, so memory is the 8 kHz output plus one chunk,
//! not the whole clip at its source rate. Input is capped at [`MAX_MEDIA_BYTES`] and output at
//! [`MAX_DECODED_SECONDS`]. WAV written by a streaming program (espeak-ng `--stdout`) carries
//! placeholder RIFF and data sizes (0x7FFFFFFF-style); those are corrected to the bytes actually
//! present before probing, so such audio decodes up to its end.

use std::io::Cursor;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::{MAX_MEDIA_BYTES, MediaError};

/// Longest audio decoded: one hour (57.6 MB of 8 kHz PCM).
pub const MAX_DECODED_SECONDS: usize = 3_600;
const MAX_OUTPUT_SAMPLES: usize = MAX_DECODED_SECONDS * 8_000;
/// Source rates accepted; anything outside is a hostile or broken header.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;
/// Input frames per resampler call.
const CHUNK: usize = 1_024;

/// Decodes a WAV or MP3 file to 8 kHz mono PCM.
pub fn decode_to_8k(bytes: &[u8]) -> Result<Vec<i16>, MediaError> {
    if bytes.len() > MAX_MEDIA_BYTES {
        return Err(MediaError::TooLarge);
    }
    let (mut format, mut decoder, track_id) = open_audio(bytes)?;
    let mut resampler: Option<To8k> = None;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A truncated file ends where the data ends.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(MediaError::Decode(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A corrupt packet (common in MP3 streams) is skipped, like players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(MediaError::Decode(e.to_string())),
        };
        let rate = decoded.spec().rate();
        let channels = decoded.spec().channels().count().max(1);
        decoded.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        mono.extend(
            interleaved
                .chunks(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        let resampler = match &mut resampler {
            Some(existing) => existing,
            None => resampler.insert(To8k::new(rate)?),
        };
        if resampler.rate != rate {
            return Err(MediaError::Decode("sample rate changes mid-stream".into()));
        }
        resampler.push(&mono)?;
    }
    match resampler {
        Some(resampler) => resampler.finish(),
        None => Ok(Vec::new()),
    }
}

/// A demuxer, the decoder of its audio track, and that track's id.
type OpenedAudio = (Box<dyn FormatReader>, Box<dyn AudioDecoder>, u32);

/// Probes the content and opens its default audio track.
fn open_audio(bytes: &[u8]) -> Result<OpenedAudio, MediaError> {
    let mut owned = bytes.to_vec();
    fix_streaming_wav_sizes(&mut owned);
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(owned)),
        MediaSourceStreamOptions::default(),
    );
    let format = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| MediaError::Decode(format!("unrecognised audio: {e}")))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| MediaError::Decode("no audio track".into()))?;
    let track_id = track.id;
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(MediaError::Decode("no audio codec parameters".into()));
    };
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| MediaError::Decode(format!("unsupported codec: {e}")))?;
    Ok((format, decoder, track_id))
}

/// Resamples mono f32 audio in [-1, 1] at `rate` to 8 kHz 16-bit PCM (low-passed).
pub fn resample_to_8k(samples: &[f32], rate: u32) -> Result<Vec<i16>, MediaError> {
    let mut resampler = To8k::new(rate)?;
    resampler.push(samples)?;
    resampler.finish()
}

/// Corrects the RIFF and data chunk sizes of a WAV whose sizes are larger than the bytes present
/// (a streaming writer's placeholders). Anything that is not RIFF/WAVE is left alone.
fn fix_streaming_wav_sizes(bytes: &mut [u8]) {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return;
    }
    let mut block_align = 1usize;
    let mut offset = 12usize;
    while let Some(header) = bytes.get(offset..offset + 8) {
        let id: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body = offset + 8;
        let available = bytes.len() - body;
        if &id == b"fmt " && size >= 16 && available >= 16 {
            block_align = usize::from(u16::from_le_bytes([bytes[body + 12], bytes[body + 13]]));
            block_align = block_align.max(1);
        }
        if &id == b"data" {
            if size > available {
                let fixed = available - available % block_align;
                // `fixed` <= bytes.len() <= MAX_MEDIA_BYTES, far below u32::MAX.
                bytes[offset + 4..offset + 8].copy_from_slice(&(fixed as u32).to_le_bytes());
                let riff = (bytes.len() - 8) as u32;
                bytes[4..8].copy_from_slice(&riff.to_le_bytes());
            }
            return;
        }
        offset = body.saturating_add(size).saturating_add(size % 2);
    }
}

/// A streaming resampler from one rate to 8 kHz with its start-up delay trimmed.
struct To8k {
    rate: u32,
    resampler: Option<Fft<f32>>,
    pending: Vec<f32>,
    chunk_out: Vec<f32>,
    out: Vec<i16>,
    to_trim: usize,
    input_total: usize,
}

impl To8k {
    fn new(rate: u32) -> Result<Self, MediaError> {
        if !RATES.contains(&rate) {
            return Err(MediaError::Decode(format!(
                "unsupported sample rate {rate}"
            )));
        }
        let resampler = if rate == 8_000 {
            None
        } else {
            let fft = Fft::<f32>::new(rate as usize, 8_000, CHUNK, 1, FixedSync::Input)
                .map_err(|e| MediaError::Decode(format!("resampler: {e}")))?;
            Some(fft)
        };
        let (to_trim, out_max) = resampler
            .as_ref()
            .map_or((0, 0), |r| (r.output_delay(), r.output_frames_max()));
        Ok(To8k {
            rate,
            resampler,
            pending: Vec::new(),
            chunk_out: vec![0.0; out_max],
            out: Vec::new(),
            to_trim,
            input_total: 0,
        })
    }

    fn expected_len(&self) -> usize {
        (self.input_total as u64 * 8_000).div_ceil(u64::from(self.rate)) as usize
    }

    fn push(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self.input_total += samples.len();
        if self.expected_len() > MAX_OUTPUT_SAMPLES {
            return Err(MediaError::TooLarge);
        }
        if self.resampler.is_none() {
            self.out.extend(samples.iter().map(|&s| to_i16(s)));
            return Ok(());
        }
        self.pending.extend_from_slice(samples);
        let mut consumed = 0;
        while let Some(needed) = self.resampler.as_ref().map(|r| r.input_frames_next())
            && self.pending.len() - consumed >= needed
        {
            consumed += self.process(consumed, None)?;
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Runs one resampler call from `offset` of the pending input; returns the frames consumed.
    fn process(&mut self, offset: usize, partial: Option<usize>) -> Result<usize, MediaError> {
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(0);
        };
        let error = |e: &dyn std::fmt::Display| MediaError::Decode(format!("resampler: {e}"));
        let frames_in = self.pending.len();
        let input =
            InterleavedSlice::new(&self.pending[..], 1, frames_in).map_err(|e| error(&e))?;
        let frames_out = self.chunk_out.len();
        let mut output = InterleavedSlice::new_mut(&mut self.chunk_out[..], 1, frames_out)
            .map_err(|e| error(&e))?;
        let indexing = Indexing {
            input_offset: offset,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (used, produced) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| error(&e))?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        self.out
            .extend(self.chunk_out[skip..produced].iter().map(|&s| to_i16(s)));
        Ok(used)
    }

    fn finish(mut self) -> Result<Vec<i16>, MediaError> {
        let expected = self.expected_len();
        if self.resampler.is_some() {
            let left = self.pending.len();
            if left > 0 {
                self.process(0, Some(left))?;
            }
            self.pending.clear();
            // Pump silence through until the delayed tail is out.
            let mut guard = 0;
            while self.out.len() < expected && guard < 64 {
                self.process(0, Some(0))?;
                guard += 1;
            }
        }
        self.out.truncate(expected);
        Ok(self.out)
    }
}

fn to_i16(sample: f32) -> i16 {
    // Symphonia maps i16 to f32 by dividing by 32768; the inverse keeps 16-bit input exact.
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn zero_crossings(samples: &[i16]) -> usize {
        samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count()
    }

    #[test]
    fn resampling_keeps_length_and_frequency() {
        for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 48_000] {
            let out = resample_to_8k(&sine(rate, 440.0, 1.0), rate).expect("resampled");
            assert!(
                (7_999..=8_001).contains(&out.len()),
                "{rate}: {}",
                out.len()
            );
            let crossings = zero_crossings(&out[400..7_600]) as f32 / 0.9;
            assert!((860.0..900.0).contains(&crossings), "{rate}: {crossings}/s");
        }
    }

    #[test]
    fn resampling_low_passes_above_4_khz() {
        let out = resample_to_8k(&sine(44_100, 6_000.0, 0.5), 44_100).expect("resampled");
        let peak = out[400..3_600].iter().map(|s| s.unsigned_abs()).max();
        assert!(
            peak < Some(1_000),
            "6 kHz aliases to 2 kHz unless filtered: {peak:?}"
        );
    }

    #[test]
    fn bad_rates_and_garbage_are_errors_not_panics() {
        assert!(matches!(
            resample_to_8k(&[0.0], 0),
            Err(MediaError::Decode(_))
        ));
        assert!(matches!(
            decode_to_8k(b"not audio at all"),
            Err(MediaError::Decode(_))
        ));
        assert!(matches!(
            decode_to_8k(b"RIFF\xff\xff\xff\x7fWAVEdata"),
            Err(MediaError::Decode(_))
        ));
        assert!(matches!(decode_to_8k(&[]), Err(MediaError::Decode(_))));
    }

    #[test]
    fn placeholder_sizes_are_fixed_to_the_data_present() {
        let pcm: Vec<i16> = (0..800)
            .map(|i| ((i % 16) * 1_000 - 8_000) as i16)
            .collect();
        let mut wav = crate::wav::wav_bytes(&pcm);
        wav[4..8].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        wav[40..44].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        let decoded = decode_to_8k(&wav).expect("decodes to its end");
        assert_eq!(decoded, pcm);
    }
}
