//! Media streams inside the media task: what the caller says goes to a stream's WebSocket task
//! as µ-law frames as soon as each RTP packet arrives (PCMA transcoded), what the caller hears
//! too for `outbound_track`/`both_tracks`, and a two-way stream's audio from the application is
//! played out here, in order, with its marks echoed once the audio before them has been sent.
//!
//! Nothing here ever waits for the application. Frames to it go through a bounded channel with
//! `try_send`: when the WebSocket task falls behind (a slow bot), frames are dropped and
//! counted (`stream_frames_dropped_total`), the call's media never stalls. The application's
//! audio is bounded by the WebSocket task before it gets here (`StreamTap::queued`, the bytes
//! not played yet, shared with it); marks by the number pending there too.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_rtp::Law;
use tokio::sync::mpsc;

use super::playback::FRAME;

/// One 20 ms (or as received) frame of µ-law audio for the application.
#[derive(Debug)]
pub enum TapFrame {
    /// What the caller said.
    Inbound(Vec<u8>),
    /// What the caller heard.
    Outbound(Vec<u8>),
}

/// How a stream is attached to a session.
#[derive(Debug)]
pub struct StreamTap {
    /// Send what the caller says.
    pub inbound: bool,
    /// Send what the caller hears.
    pub outbound: bool,
    /// Frames for the application (bounded; full = dropped).
    pub frames: mpsc::Sender<TapFrame>,
    /// Names of marks whose audio has played, in order.
    pub marks: mpsc::UnboundedSender<String>,
    /// Bytes of application audio queued here and not played yet.
    pub queued: Arc<AtomicUsize>,
}

/// What a two-way stream queued to play.
#[derive(Debug)]
enum Item {
    Audio(Vec<u8>),
    Mark(String),
}

/// A stream attached to the media task (or, for a sandbox call, which has none, driven by the
/// stream's own task on a 20 ms clock).
#[derive(Debug)]
pub struct AttachedStream {
    pub(crate) id: u64,
    tap: StreamTap,
    queue: VecDeque<Item>,
    /// How much of the front audio item has been played.
    offset: usize,
    /// The caller's audio not yet sent, less than a frame (packets of other lengths than
    /// 20 ms are cut into 20 ms frames).
    inbound_pending: Vec<u8>,
}

impl AttachedStream {
    pub fn new(id: u64, tap: StreamTap) -> AttachedStream {
        AttachedStream {
            id,
            tap,
            queue: VecDeque::new(),
            offset: 0,
            inbound_pending: Vec::with_capacity(FRAME),
        }
    }

    /// The caller's audio as received (`law`), transcoded to µ-law when needed and sent in
    /// 20 ms frames as soon as each is complete.
    pub fn inbound(&mut self, law: Law, payload: &[u8]) {
        if !self.tap.inbound {
            return;
        }
        if self.inbound_pending.is_empty() && payload.len() == FRAME {
            return self.send(TapFrame::Inbound(to_mulaw(law, payload)));
        }
        // Bounded: at most one frame is kept between packets.
        for chunk in payload.chunks(FRAME) {
            self.inbound_pending.extend(to_mulaw(law, chunk));
            if self.inbound_pending.len() >= FRAME {
                let rest = self.inbound_pending.split_off(FRAME);
                let frame = std::mem::replace(&mut self.inbound_pending, rest);
                self.send(TapFrame::Inbound(frame));
            }
        }
    }

    /// What the caller hears, one frame of `law`.
    pub fn outbound(&self, law: Law, payload: &[u8]) {
        if self.tap.outbound {
            self.send(TapFrame::Outbound(to_mulaw(law, payload)));
        }
    }

    fn send(&self, frame: TapFrame) {
        if self.tap.frames.try_send(frame).is_err() {
            metrics::counter!("stream_frames_dropped_total").increment(1);
        }
    }

    pub fn push_audio(&mut self, mulaw: Vec<u8>) {
        if !mulaw.is_empty() {
            self.queue.push_back(Item::Audio(mulaw));
        }
    }

    pub fn push_mark(&mut self, name: String) {
        self.queue.push_back(Item::Mark(name));
    }

    /// Drops the queued audio and echoes every pending mark now.
    pub fn clear(&mut self) {
        let mut dropped = 0;
        for item in self.queue.drain(..) {
            match item {
                Item::Audio(audio) => dropped += audio.len(),
                Item::Mark(name) => {
                    let _ = self.tap.marks.send(name);
                }
            }
        }
        dropped -= self.offset.min(dropped);
        self.offset = 0;
        self.release(dropped);
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .tap
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                Some(queued.saturating_sub(bytes))
            });
    }

    /// Echoes the marks whose audio has all been sent (those at the front of the queue).
    pub fn echo_played_marks(&mut self) {
        while let Some(Item::Mark(_)) = self.queue.front() {
            if let Some(Item::Mark(name)) = self.queue.pop_front() {
                let _ = self.tap.marks.send(name);
            }
        }
    }

    /// Whether application audio waits to be played.
    pub fn has_audio(&self) -> bool {
        self.queue.iter().any(|item| matches!(item, Item::Audio(_)))
    }

    /// Fills `payload` with the next frame of application audio in `law` (silence-padded when
    /// less than a frame is left before a mark or the end). `false` when there is none.
    pub fn next_frame(&mut self, law: Law, payload: &mut Vec<u8>) -> bool {
        self.echo_played_marks();
        let mut taken = 0;
        while taken < FRAME {
            let Some(Item::Audio(audio)) = self.queue.front() else {
                break;
            };
            let want = FRAME - taken;
            let end = (self.offset + want).min(audio.len());
            let chunk = &audio[self.offset..end];
            match law {
                Law::Mu => payload.extend_from_slice(chunk),
                Law::A => payload.extend(chunk.iter().map(|&c| law.encode(Law::Mu.decode(c)))),
            }
            taken += chunk.len();
            self.offset = end;
            if self.offset == audio.len() {
                self.queue.pop_front();
                self.offset = 0;
            }
        }
        if taken == 0 {
            return false;
        }
        payload.resize(FRAME, law.silence_code());
        self.release(taken);
        true
    }

    /// The stream is detached: its queue is gone.
    pub fn detach(mut self) {
        let pending: usize = self
            .queue
            .drain(..)
            .map(|item| match item {
                Item::Audio(audio) => audio.len(),
                Item::Mark(_) => 0,
            })
            .sum();
        self.release(pending.saturating_sub(self.offset));
    }
}

fn to_mulaw(law: Law, payload: &[u8]) -> Vec<u8> {
    match law {
        Law::Mu => payload.to_vec(),
        Law::A => payload
            .iter()
            .map(|&code| Law::Mu.encode(law.decode(code)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> (
        AttachedStream,
        mpsc::UnboundedReceiver<String>,
        Arc<AtomicUsize>,
    ) {
        let (frames, _) = mpsc::channel(4);
        let (marks, marks_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let tap = StreamTap {
            inbound: true,
            outbound: false,
            frames,
            marks,
            queued: queued.clone(),
        };
        (AttachedStream::new(1, tap), marks_rx, queued)
    }

    #[test]
    fn marks_wait_for_the_audio_before_them_and_clear_echoes_them_at_once() {
        let (mut stream, mut marks, queued) = stream();
        queued.store(FRAME * 3 / 2 + FRAME, Ordering::Relaxed);
        stream.push_audio(vec![1; FRAME * 3 / 2]);
        stream.push_mark("a".into());
        stream.push_audio(vec![2; FRAME]);
        stream.push_mark("b".into());
        let mut payload = Vec::new();
        assert!(stream.next_frame(Law::Mu, &mut payload));
        assert!(marks.try_recv().is_err());
        payload.clear();
        // Half a frame is left before the mark: padded with silence, the mark waits.
        assert!(stream.next_frame(Law::Mu, &mut payload));
        assert_eq!(payload.len(), FRAME);
        assert_eq!(payload[FRAME / 2], Law::Mu.silence_code());
        assert!(marks.try_recv().is_err());
        payload.clear();
        // The next slot echoes it, then plays the audio after it.
        assert!(stream.next_frame(Law::Mu, &mut payload));
        assert_eq!(marks.try_recv().ok().as_deref(), Some("a"));
        assert_eq!(queued.load(Ordering::Relaxed), 0);
        stream.push_audio(vec![3; FRAME * 10]);
        stream.push_mark("c".into());
        stream.clear();
        assert_eq!(marks.try_recv().ok().as_deref(), Some("b"));
        assert_eq!(marks.try_recv().ok().as_deref(), Some("c"));
        assert!(!stream.has_audio());
    }
}
