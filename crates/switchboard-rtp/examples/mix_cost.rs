//! The conference mixer's cost per participant-frame, against a bare decode-mix-encode loop
//! over the same audio in the same run (issue 18's benchmark: the mixer should reach at least
//! 70% of the bare loop's speed).
//!
//! Per 20 ms frame and participant both do the same work: decode the participant's G.711
//! frame, add it to the sum, and encode the sum minus the participant in its law. The bare loop
//! does it over fixed arrays with nothing else; `Mixer` also queues audio per participant
//! (jitter) and allocates each participant's output frame.
//!
//! `cargo run --release -p switchboard-rtp --example mix_cost [PARTICIPANTS…]` (default 3 50).

use std::hint::black_box;
use std::time::{Duration, Instant};

use switchboard_rtp::mix::FRAME;
use switchboard_rtp::{Law, Mixer};

/// G.711 frames of a tone per participant, in PCMU and PCMA alternately.
fn inputs(participants: usize) -> Vec<(Law, Vec<u8>)> {
    (0..participants)
        .map(|index| {
            let law = if index % 2 == 0 { Law::Mu } else { Law::A };
            let hz = 300.0 + 50.0 * index as f64;
            let samples: Vec<i16> = (0..FRAME)
                .map(|n| {
                    (4000.0 * (2.0 * std::f64::consts::PI * hz * n as f64 / 8000.0).sin()) as i16
                })
                .collect();
            let mut payload = Vec::new();
            law.encode_into(&samples, &mut payload);
            (law, payload)
        })
        .collect()
}

fn mixer_frames(inputs: &[(Law, Vec<u8>)], frames: usize) -> Duration {
    let mut mixer = Mixer::new();
    for (id, (law, _)) in inputs.iter().enumerate() {
        mixer.add(id as u64, *law);
    }
    let start = Instant::now();
    for _ in 0..frames {
        for (id, (law, payload)) in inputs.iter().enumerate() {
            mixer.push_encoded(id as u64, *law, payload);
        }
        black_box(mixer.mix());
    }
    start.elapsed()
}

fn bare_frames(inputs: &[(Law, Vec<u8>)], frames: usize) -> Duration {
    let mut decoded = vec![[0i16; FRAME]; inputs.len()];
    let mut out = vec![[0u8; FRAME]; inputs.len()];
    let start = Instant::now();
    for _ in 0..frames {
        let mut sum = [0i32; FRAME];
        for ((law, payload), samples) in inputs.iter().zip(decoded.iter_mut()) {
            for ((sample, code), total) in samples.iter_mut().zip(payload).zip(sum.iter_mut()) {
                *sample = law.decode(*code);
                *total += i32::from(*sample);
            }
        }
        for (((law, _), samples), encoded) in inputs.iter().zip(&decoded).zip(out.iter_mut()) {
            for ((code, total), own) in encoded.iter_mut().zip(&sum).zip(samples) {
                let heard = (*total - i32::from(*own)).clamp(-32768, 32767) as i16;
                *code = law.encode(heard);
            }
        }
        black_box(&out);
    }
    start.elapsed()
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("participant counts"))
        .collect();
    let sizes = if sizes.is_empty() { vec![3, 50] } else { sizes };
    for participants in sizes {
        let inputs = inputs(participants);
        // About one second of work per measurement at this machine's speed; warmed up once.
        let frames = 2_000_000 / participants.max(1);
        mixer_frames(&inputs, frames / 10);
        bare_frames(&inputs, frames / 10);
        let (mut mixer, mut bare) = (Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            mixer = mixer.min(mixer_frames(&inputs, frames));
            bare = bare.min(bare_frames(&inputs, frames));
        }
        let per = |total: Duration| total.as_nanos() as f64 / (frames * participants) as f64;
        println!(
            "participants: {participants}, frames: {frames}, mixer: {:.0} ns per participant-frame, \
             bare loop: {:.0} ns, mixer speed / bare speed: {:.0}%, one core mixes {:.0} participants in real time",
            per(mixer),
            per(bare),
            100.0 * per(bare) / per(mixer),
            20_000_000.0 / per(mixer)
        );
    }
}
