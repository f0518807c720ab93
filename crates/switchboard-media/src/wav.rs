//! WAV files of 8 kHz mono 16-bit PCM, the format of Twilio's `.wav` recordings, written with
//! hound into memory (recordings are served from the store, not from files).

use std::io::Cursor;

/// The bytes of an 8 kHz mono 16-bit PCM WAV file holding `pcm`.
pub fn wav_bytes(pcm: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + 2 * pcm.len()));
    // Writing into a Vec cannot fail on IO, and the spec is valid; a file too long for WAV's
    // 32-bit sizes (over 2^31 samples) would be refused by hound, so it is capped below that.
    let capped = &pcm[..pcm.len().min((u32::MAX / 2 - 64) as usize)];
    if let Ok(mut writer) = hound::WavWriter::new(&mut out, spec) {
        let written = capped.iter().try_for_each(|&s| writer.write_sample(s));
        if written.is_ok() {
            let _ = writer.finalize();
        }
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_samples_round_trip_through_hound() {
        let pcm = [0i16, 1, -1, i16::MAX, i16::MIN];
        let bytes = wav_bytes(&pcm);
        assert_eq!(bytes.len(), 44 + 10);
        assert_eq!(&bytes[..4], b"RIFF");
        let mut reader = hound::WavReader::new(Cursor::new(bytes)).expect("valid wav");
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8_000, 16)
        );
        let read: Vec<i16> = reader
            .samples::<i16>()
            .map(|s| s.expect("sample"))
            .collect();
        assert_eq!(read, pcm);
        assert_eq!(wav_bytes(&[]).len(), 44);
    }
}
