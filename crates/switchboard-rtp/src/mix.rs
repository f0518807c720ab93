//! The conference mixer: per 20 ms frame, each participant hears the sum of everyone else,
//! clipped to 16 bits, encoded in its own law.
//!
//! The mix is computed once per frame as the sum of every contribution (in `i32`, so no
//! intermediate overflow), and each participant's frame is that sum minus its own contribution:
//! O(participants × samples) per frame instead of O(participants² × samples). Clipping happens
//! after the subtraction, per participant, so a loud participant does not distort what it hears
//! of the others more than the others' own sum would. A participant that sent nothing for a
//! frame (loss, silence suppression, muted) contributes silence; one that only listens is still
//! given the others' mix.
//!
//! Pure: no IO, no clock. The media task that drives it owns the 20 ms tick, feeds each
//! participant's decoded audio with [`Mixer::push`] and takes the encoded frames with
//! [`Mixer::mix`].

use std::collections::VecDeque;

use crate::g711::Law;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// Audio queued per participant at most (200 ms): older audio is dropped so a participant whose
/// packets arrive in bursts cannot build up delay.
const MAX_QUEUED: usize = 10 * FRAME;

/// One participant of a mix.
#[derive(Debug)]
struct Slot {
    id: u64,
    law: Law,
    /// Decoded audio received and not mixed yet.
    queued: VecDeque<i16>,
    /// This frame's contribution (zeros when nothing arrived).
    frame: [i16; FRAME],
}

/// The participants of one conference and their pending audio.
#[derive(Debug, Default)]
pub struct Mixer {
    slots: Vec<Slot>,
    sum: Vec<i32>,
}

impl Mixer {
    /// Everyone's audio of the frame last mixed, clipped (a recording of the conference);
    /// silence before the first `mix`.
    pub fn last_frame(&self) -> [i16; FRAME] {
        let mut frame = [0i16; FRAME];
        for (out, total) in frame.iter_mut().zip(&self.sum) {
            *out = clip(*total);
        }
        frame
    }
}

impl Mixer {
    pub fn new() -> Mixer {
        Mixer::default()
    }

    /// Adds participant `id`, which hears the mix in `law` (again: its law is updated).
    pub fn add(&mut self, id: u64, law: Law) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.id == id) {
            slot.law = law;
            return;
        }
        self.slots.push(Slot {
            id,
            law,
            queued: VecDeque::new(),
            frame: [0; FRAME],
        });
    }

    /// Removes participant `id`; whether it was there.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.slots.len();
        self.slots.retain(|slot| slot.id != id);
        before != self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Participant `id` sent `samples` (decoded, 8 kHz). Unknown participants are ignored.
    pub fn push(&mut self, id: u64, samples: &[i16]) {
        let Some(slot) = self.slots.iter_mut().find(|slot| slot.id == id) else {
            return;
        };
        slot.queued.extend(samples.iter().copied());
        let excess = slot.queued.len().saturating_sub(MAX_QUEUED);
        slot.queued.drain(..excess);
    }

    /// Participant `id` sent `payload` in `law` (and hears the mix in that law from now on).
    pub fn push_encoded(&mut self, id: u64, law: Law, payload: &[u8]) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.id == id) {
            slot.law = law;
        }
        let mut samples = Vec::with_capacity(payload.len());
        law.decode_into(payload, &mut samples);
        self.push(id, &samples);
    }

    /// Mixes one frame: takes up to one frame of each participant's audio and returns, per
    /// participant, what it hears (everyone else's sum, clipped) encoded in its law.
    pub fn mix(&mut self) -> Vec<(u64, Law, Vec<u8>)> {
        self.sum.clear();
        self.sum.resize(FRAME, 0);
        for slot in &mut self.slots {
            let available = slot.queued.len().min(FRAME);
            for (index, sample) in slot.queued.drain(..available).enumerate() {
                slot.frame[index] = sample;
            }
            slot.frame[available..].fill(0);
            for (total, sample) in self.sum.iter_mut().zip(slot.frame.iter()) {
                *total += i32::from(*sample);
            }
        }
        let mut heard = [0i16; FRAME];
        self.slots
            .iter()
            .map(|slot| {
                for ((out, total), own) in heard.iter_mut().zip(&self.sum).zip(&slot.frame) {
                    *out = clip(*total - i32::from(*own));
                }
                let mut payload = Vec::with_capacity(FRAME);
                slot.law.encode_into(&heard, &mut payload);
                (slot.id, slot.law, payload)
            })
            .collect()
    }
}

fn clip(sample: i32) -> i16 {
    // Clamped into i16's range first, so the conversion cannot fail.
    i16::try_from(sample.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(law: Law, payload: &[u8]) -> Vec<i16> {
        let mut out = Vec::new();
        law.decode_into(payload, &mut out);
        out
    }

    fn tone(frequency: f64, amplitude: f64) -> Vec<i16> {
        (0..FRAME)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * frequency * n as f64 / 8000.0;
                (amplitude * phase.sin()) as i16
            })
            .collect()
    }

    /// Goertzel power of `frequency` in `samples`.
    fn power(samples: &[i16], frequency: f64) -> f64 {
        let coefficient = 2.0 * (2.0 * std::f64::consts::PI * frequency / 8000.0).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for sample in samples {
            let s0 = f64::from(*sample) + coefficient * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - coefficient * s1 * s2
    }

    #[test]
    fn each_participant_hears_the_others_and_not_itself() {
        let mut mixer = Mixer::new();
        mixer.add(1, Law::Mu);
        mixer.add(2, Law::A);
        mixer.add(3, Law::Mu);
        let tones = [(1, 400.0), (2, 700.0), (3, 1100.0)];
        for (id, frequency) in tones {
            mixer.push(id, &tone(frequency, 6000.0));
        }
        let frames = mixer.mix();
        assert_eq!(frames.len(), 3);
        for (id, _, payload) in frames {
            let law = if id == 2 { Law::A } else { Law::Mu };
            let heard = decoded(law, &payload);
            for (other, frequency) in tones {
                let p = power(&heard, frequency);
                if other == id {
                    assert!(p < 1e9, "{id} hears itself: {p}");
                } else {
                    assert!(p > 1e11, "{id} does not hear {other}: {p}");
                }
            }
        }
    }

    #[test]
    fn the_last_frame_is_everyone_mixed() {
        let mut mixer = Mixer::new();
        mixer.add(1, Law::Mu);
        mixer.add(2, Law::A);
        mixer.push(1, &tone(400.0, 6000.0));
        mixer.push(2, &tone(1100.0, 6000.0));
        assert_eq!(mixer.last_frame(), [0; FRAME]);
        mixer.mix();
        let heard: Vec<i16> = mixer.last_frame().to_vec();
        assert!(power(&heard, 400.0) > 1e11 && power(&heard, 1100.0) > 1e11);
    }

    #[test]
    fn the_sum_is_clipped_not_wrapped() {
        let mut mixer = Mixer::new();
        for id in 1..=3 {
            mixer.add(id, Law::Mu);
        }
        mixer.push(2, &[30_000; FRAME]);
        mixer.push(3, &[30_000; FRAME]);
        let frames = mixer.mix();
        let heard = decoded(Law::Mu, &frames[0].2);
        assert!(heard.iter().all(|s| *s > 30_000), "{:?}", &heard[..4]);
        // Participant 2 hears only 3: no clipping needed.
        let heard = decoded(Law::Mu, &frames[1].2);
        assert!(
            heard.iter().all(|s| (29_000..=31_000).contains(s)),
            "{:?}",
            &heard[..4]
        );
    }

    #[test]
    fn missing_audio_is_silence_and_queues_are_bounded() {
        let mut mixer = Mixer::new();
        mixer.add(1, Law::A);
        mixer.add(2, Law::A);
        let frames = mixer.mix();
        assert!(decoded(Law::A, &frames[0].2).iter().all(|s| s.abs() < 16));
        mixer.push(2, &vec![1000; 40 * FRAME]);
        for _ in 0..10 {
            mixer.mix();
        }
        let frames = mixer.mix();
        assert!(decoded(Law::A, &frames[0].2).iter().all(|s| s.abs() < 16));
        assert!(mixer.remove(2) && !mixer.remove(2) && mixer.len() == 1);
    }

    #[test]
    fn encoded_input_is_decoded_in_its_law() {
        let mut mixer = Mixer::new();
        mixer.add(1, Law::Mu);
        mixer.add(2, Law::Mu);
        let mut payload = Vec::new();
        Law::A.encode_into(&tone(700.0, 8000.0), &mut payload);
        mixer.push_encoded(2, Law::A, &payload);
        let frames = mixer.mix();
        assert!(power(&decoded(Law::Mu, &frames[0].2), 700.0) > 1e11);
    }
}
