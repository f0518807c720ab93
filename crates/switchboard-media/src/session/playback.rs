//! What a session plays, as a pure queue: PCM with loops, tones and RFC 4733 digit strings, each
//! with the id that `PlaybackFinished` reports, turned into one 20 ms frame at a time.
//!
//! The media task pulls exactly one frame per slot, just before the sender runs, so stopping
//! playback takes effect within one slot and nothing is buffered ahead. An item that ends inside
//! a frame pads the frame with silence; the next item starts on the next frame. Loops of one item
//! are joined without a gap. Digits go to the sender's DTMF generator one at a time: the next key
//! is pushed only when the previous one (with its three end packets) is out and a short gap has
//! passed, so each key is its own event even when the same key repeats.

use std::collections::VecDeque;

use switchboard_rtp::{SAMPLES_PER_FRAME, digit_to_event};

use crate::Pcm;

/// Samples in one frame, as a length.
pub(crate) const FRAME: usize = SAMPLES_PER_FRAME as usize;
/// Duration of one generated key press.
pub(crate) const DIGIT_MS: u32 = 100;
/// Volume of generated key presses, in −dBm0.
pub(crate) const DIGIT_VOLUME: u8 = 10;
/// Silent frames between two generated key presses.
const DIGIT_GAP_FRAMES: u32 = 2;
/// Frames of a `w` in a digit string (500 ms).
const PAUSE_FRAMES: u32 = 25;
/// Peak amplitude of generated tones (about −12 dBFS).
const TONE_AMPLITUDE: f32 = 8_000.0;

/// The part of the RTP sender that plays digits.
pub(crate) trait DtmfPort {
    /// True while a key press is still being sent.
    fn dtmf_pending(&self) -> bool;
    /// Starts a key press; false if the stream cannot carry telephone events.
    fn push_dtmf(&mut self, event: u8) -> bool;
}

impl DtmfPort for switchboard_rtp::RtpSender {
    fn dtmf_pending(&self) -> bool {
        switchboard_rtp::RtpSender::dtmf_pending(self)
    }

    fn push_dtmf(&mut self, event: u8) -> bool {
        switchboard_rtp::RtpSender::push_dtmf(self, event, DIGIT_MS, DIGIT_VOLUME)
    }
}

/// What one frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Audio from the queue was written into the frame.
    Audio,
    /// Nothing plays (or a digit or pause is under way): the frame is silence.
    Silence,
}

#[derive(Debug)]
enum Item {
    Audio {
        pcm: Pcm,
        loops_left: u32,
        position: usize,
    },
    Tone {
        phase: f32,
        step: f32,
        remaining: u32,
    },
    Digits {
        digits: Vec<char>,
        next: usize,
        silent_frames: u32,
    },
}

/// The outcome of asking one item for a frame.
struct Fill {
    produced: Option<FrameKind>,
    done: bool,
}

/// Ordered playback of one session.
#[derive(Debug, Default)]
pub(crate) struct PlaybackQueue {
    entries: VecDeque<(u64, Item)>,
}

impl PlaybackQueue {
    /// Queues PCM played `loops` times (at least once).
    pub(crate) fn push_audio(&mut self, id: u64, pcm: Pcm, loops: u32) {
        let loops_left = loops.max(1);
        self.entries.push_back((
            id,
            Item::Audio {
                pcm,
                loops_left,
                position: 0,
            },
        ));
    }

    /// Queues a sine tone of `hz` for `ms` milliseconds.
    pub(crate) fn push_tone(&mut self, id: u64, hz: u32, ms: u32) {
        let step = std::f32::consts::TAU * hz.min(3_999) as f32 / 8_000.0;
        let remaining = ms.saturating_mul(8);
        self.entries.push_back((
            id,
            Item::Tone {
                phase: 0.0,
                step,
                remaining,
            },
        ));
    }

    /// Queues a digit string (`0`–`9`, `*`, `#`, `A`–`D`; `w` pauses 500 ms; others are skipped).
    pub(crate) fn push_digits(&mut self, id: u64, digits: &str) {
        let digits = digits.chars().collect();
        self.entries.push_back((
            id,
            Item::Digits {
                digits,
                next: 0,
                silent_frames: 0,
            },
        ));
    }

    /// Drops everything queued or playing.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the next frame into `out` and reports each id whose item finished.
    pub(crate) fn next_frame(
        &mut self,
        out: &mut [i16; FRAME],
        dtmf: &mut dyn DtmfPort,
        finished: &mut dyn FnMut(u64),
    ) -> FrameKind {
        loop {
            let Some((id, item)) = self.entries.front_mut() else {
                out.fill(0);
                return FrameKind::Silence;
            };
            let id = *id;
            let fill = item.fill(out, dtmf);
            if fill.done {
                self.entries.pop_front();
                finished(id);
            }
            if let Some(kind) = fill.produced {
                return kind;
            }
        }
    }
}

impl Item {
    fn fill(&mut self, out: &mut [i16; FRAME], dtmf: &mut dyn DtmfPort) -> Fill {
        match self {
            Item::Audio {
                pcm,
                loops_left,
                position,
            } => fill_audio(pcm, loops_left, position, out),
            Item::Tone {
                phase,
                step,
                remaining,
            } => {
                if *remaining == 0 {
                    return Fill {
                        produced: None,
                        done: true,
                    };
                }
                let count = (*remaining as usize).min(FRAME);
                for sample in out.iter_mut().take(count) {
                    *sample = (phase.sin() * TONE_AMPLITUDE) as i16;
                    *phase = (*phase + *step) % std::f32::consts::TAU;
                }
                out[count..].fill(0);
                *remaining -= count as u32;
                Fill {
                    produced: Some(FrameKind::Audio),
                    done: *remaining == 0,
                }
            }
            Item::Digits {
                digits,
                next,
                silent_frames,
            } => {
                out.fill(0);
                let silence = Fill {
                    produced: Some(FrameKind::Silence),
                    done: false,
                };
                if dtmf.dtmf_pending() {
                    return silence;
                }
                if *silent_frames > 0 {
                    *silent_frames -= 1;
                    return silence;
                }
                while let Some(&digit) = digits.get(*next) {
                    *next += 1;
                    if digit == 'w' || digit == 'W' {
                        *silent_frames = PAUSE_FRAMES - 1;
                        return silence;
                    }
                    if let Some(event) = digit_to_event(digit)
                        && dtmf.push_dtmf(event)
                    {
                        *silent_frames = DIGIT_GAP_FRAMES;
                        return silence;
                    }
                }
                Fill {
                    produced: None,
                    done: true,
                }
            }
        }
    }
}

fn fill_audio(pcm: &Pcm, loops_left: &mut u32, position: &mut usize, out: &mut [i16]) -> Fill {
    if pcm.is_empty() {
        return Fill {
            produced: None,
            done: true,
        };
    }
    let mut written = 0;
    while written < out.len() {
        let take = (pcm.len() - *position).min(out.len() - written);
        out[written..written + take].copy_from_slice(&pcm[*position..*position + take]);
        written += take;
        *position += take;
        if *position == pcm.len() {
            if *loops_left <= 1 {
                out[written..].fill(0);
                return Fill {
                    produced: Some(FrameKind::Audio),
                    done: true,
                };
            }
            *loops_left -= 1;
            *position = 0;
        }
    }
    Fill {
        produced: Some(FrameKind::Audio),
        done: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake DTMF generator: a key takes `slots` frames.
    #[derive(Default)]
    struct FakeDtmf {
        pushed: Vec<u8>,
        busy: u32,
        refuse: bool,
    }

    impl DtmfPort for FakeDtmf {
        fn dtmf_pending(&self) -> bool {
            self.busy > 0
        }
        fn push_dtmf(&mut self, event: u8) -> bool {
            if self.refuse {
                return false;
            }
            self.pushed.push(event);
            self.busy = 7;
            true
        }
    }

    /// Runs `frames` frames, returning (kind letter per frame, finished ids in order).
    fn run(queue: &mut PlaybackQueue, dtmf: &mut FakeDtmf, frames: usize) -> (String, Vec<u64>) {
        let mut kinds = String::new();
        let mut done = Vec::new();
        let mut out = [0i16; FRAME];
        for _ in 0..frames {
            dtmf.busy = dtmf.busy.saturating_sub(1);
            let kind = queue.next_frame(&mut out, dtmf, &mut |id| done.push(id));
            kinds.push(if kind == FrameKind::Audio { 'a' } else { '.' });
        }
        (kinds, done)
    }

    #[test]
    fn audio_loops_join_without_gaps_and_finish_once() {
        let mut queue = PlaybackQueue::default();
        let pcm: Pcm = (1..=100).collect::<Vec<i16>>().into();
        queue.push_audio(7, pcm, 3);
        let mut out = [0i16; FRAME];
        let mut dtmf = FakeDtmf::default();
        let mut done = Vec::new();
        queue.next_frame(&mut out, &mut dtmf, &mut |id| done.push(id));
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(&out[99..102], &[100, 1, 2], "loops are joined");
        assert!(done.is_empty());
        queue.next_frame(&mut out, &mut dtmf, &mut |id| done.push(id));
        assert_eq!(out[139], 100, "300 samples end inside the second frame");
        assert!(out[140..].iter().all(|&s| s == 0), "padded with silence");
        assert_eq!(done, vec![7]);
        assert!(queue.is_empty());
    }

    #[test]
    fn items_play_in_order_and_empty_audio_finishes_at_once() {
        let mut queue = PlaybackQueue::default();
        queue.push_audio(1, Vec::new().into(), 1);
        queue.push_tone(2, 1_000, 40);
        queue.push_audio(3, vec![5; 160].into(), 0);
        let (kinds, done) = run(&mut queue, &mut FakeDtmf::default(), 5);
        assert_eq!(kinds, "aaa..");
        assert_eq!(done, vec![1, 2, 3]);
    }

    #[test]
    fn tone_has_the_requested_frequency() {
        let mut queue = PlaybackQueue::default();
        queue.push_tone(1, 1_000, 1_000);
        let mut samples = Vec::new();
        let mut out = [0i16; FRAME];
        for _ in 0..50 {
            queue.next_frame(&mut out, &mut FakeDtmf::default(), &mut |_| {});
            samples.extend_from_slice(&out);
        }
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        assert!((1_990..=2_010).contains(&crossings), "{crossings}");
    }

    #[test]
    fn digits_wait_for_each_key_and_pause_on_w() {
        let mut queue = PlaybackQueue::default();
        queue.push_digits(9, "1w#x");
        let mut dtmf = FakeDtmf::default();
        let (kinds, done) = run(&mut queue, &mut dtmf, 60);
        assert_eq!(dtmf.pushed, vec![1, 11]);
        assert!(kinds.chars().all(|k| k == '.'));
        assert_eq!(done, vec![9]);
    }

    #[test]
    fn digits_without_telephone_event_finish_without_waiting() {
        let mut queue = PlaybackQueue::default();
        queue.push_digits(4, "123");
        let mut dtmf = FakeDtmf {
            refuse: true,
            ..FakeDtmf::default()
        };
        let (_, done) = run(&mut queue, &mut dtmf, 1);
        assert_eq!(done, vec![4]);
    }
}
