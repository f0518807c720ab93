//! One 20 ms frame of 8 kHz audio → silence, sound, or a steady single tone.
//!
//! Energy first: a frame whose RMS is under [`SOUND_RMS_THRESHOLD`] is silence (the same
//! threshold as the recorder's talk detection in `switchboard-media`: a quiet line, G.711 idle
//! codes and comfort noise stay under it, speech and tones are far above). A sounding frame is
//! then probed with Goertzel filters every [`TONE_STEP_HZ`] from [`TONE_LOW_HZ`] to
//! [`TONE_HIGH_HZ`]: when one frequency holds at least [`TONE_PURITY`] of the frame's energy the
//! frame is a tone at that frequency. Speech never gets there (voiced sounds spread their energy
//! over many harmonics and formants); a sine wave, even after µ-law, holds nearly all of it.
//! On a 20 Hz grid a tone is at most 10 Hz from a probe, where a 20 ms window still keeps more
//! than 85% of its power.

use crate::FRAME_SAMPLES;

/// RMS (16-bit sample units) at or above which a frame is sound: about −41 dBFS.
pub const SOUND_RMS_THRESHOLD: f64 = 300.0;

/// Lowest frequency probed for a tone.
pub const TONE_LOW_HZ: u32 = 300;
/// Highest frequency probed for a tone.
pub const TONE_HIGH_HZ: u32 = 2_200;
/// Spacing of the probes.
pub const TONE_STEP_HZ: u32 = 20;
/// Share of a frame's energy one probe must hold for the frame to be a tone.
pub const TONE_PURITY: f64 = 0.7;

const SAMPLE_RATE: f64 = 8_000.0;

/// What one frame sounds like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameClass {
    Silence,
    /// Speech, noise, music: anything loud that is not a single tone.
    Sound,
    /// A single steady tone at about `hz`.
    Tone {
        hz: u32,
    },
}

/// Classifies one frame (normally [`FRAME_SAMPLES`] samples; any length works, an empty frame
/// is silence).
pub fn classify(frame: &[i16]) -> FrameClass {
    if frame.is_empty() {
        return FrameClass::Silence;
    }
    let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / frame.len() as f64).sqrt();
    if rms < SOUND_RMS_THRESHOLD {
        return FrameClass::Silence;
    }
    let (hz, power) = strongest_probe(frame);
    // A sine of amplitude A over N samples: Σx² ≈ A²N/2 and |X(f)|² ≈ (AN/2)², so
    // |X|² / (N/2 · Σx²) ≈ 1 for a pure tone, and far less when energy is spread.
    let purity = power / (frame.len() as f64 / 2.0 * energy);
    if purity >= TONE_PURITY {
        FrameClass::Tone { hz }
    } else {
        FrameClass::Sound
    }
}

/// The probe frequency with the most power in `frame`, and that power.
fn strongest_probe(frame: &[i16]) -> (u32, f64) {
    let mut best = (TONE_LOW_HZ, 0.0);
    let mut hz = TONE_LOW_HZ;
    while hz <= TONE_HIGH_HZ {
        let power = goertzel_power(frame, f64::from(hz));
        if power > best.1 {
            best = (hz, power);
        }
        hz += TONE_STEP_HZ;
    }
    best
}

/// |X(f)|² of `frame` at frequency `hz` (the Goertzel recurrence).
fn goertzel_power(frame: &[i16], hz: f64) -> f64 {
    let omega = 2.0 * std::f64::consts::PI * hz / SAMPLE_RATE;
    let coefficient = 2.0 * omega.cos();
    let (mut previous, mut before) = (0.0f64, 0.0f64);
    for &sample in frame {
        let current = f64::from(sample) + coefficient * previous - before;
        before = previous;
        previous = current;
    }
    previous * previous + before * before - coefficient * previous * before
}

/// A frame of `FRAME_SAMPLES` of a sine at `hz` with amplitude `amplitude`, starting at
/// sample `offset` (tests and the sandbox's models use it).
pub fn sine_frame(hz: f64, amplitude: f64, offset: usize) -> [i16; FRAME_SAMPLES] {
    let mut frame = [0i16; FRAME_SAMPLES];
    for (index, sample) in frame.iter_mut().enumerate() {
        let t = (offset + index) as f64 / SAMPLE_RATE;
        *sample = (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_frames_are_silence() {
        assert_eq!(classify(&[0; FRAME_SAMPLES]), FrameClass::Silence);
        assert_eq!(classify(&[]), FrameClass::Silence);
        // A-law idle code decodes to ±8; a faint hum stays under the threshold too.
        let idle: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| if i % 2 == 0 { 8 } else { -8 })
            .collect();
        assert_eq!(classify(&idle), FrameClass::Silence);
        assert_eq!(classify(&sine_frame(60.0, 200.0, 0)), FrameClass::Silence);
    }

    #[test]
    fn sines_are_tones_at_their_frequency() {
        for hz in [440.0, 1000.0, 1100.0, 1400.0, 2100.0, 1013.0] {
            match classify(&sine_frame(hz, 8000.0, 37)) {
                FrameClass::Tone { hz: found } => {
                    assert!((f64::from(found) - hz).abs() <= 10.0, "{hz} → {found}")
                }
                other => panic!("{hz} Hz was {other:?}"),
            }
        }
    }

    #[test]
    fn mixtures_and_noise_are_sound() {
        let a = sine_frame(500.0, 5000.0, 0);
        let b = sine_frame(1300.0, 5000.0, 0);
        let c = sine_frame(1900.0, 5000.0, 0);
        let mixed: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| a[i] / 3 + b[i] / 3 + c[i] / 3)
            .collect();
        assert_eq!(classify(&mixed), FrameClass::Sound);
        // A deterministic pseudo-random noise (a linear congruential generator).
        let mut seed: u32 = 12345;
        let noise: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((seed >> 16) as i16) / 4
            })
            .collect();
        assert_eq!(classify(&noise), FrameClass::Sound);
    }
}
