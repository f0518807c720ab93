//! The outgoing side of an RTP stream: a 20 ms pacer and packetiser as a pure state machine.
//!
//! The caller keeps a few encoded frames queued (`push_frame`) and queues key presses
//! (`push_dtmf`); at every `poll_timeout()` it calls `handle_timeout(now)` and sends whatever
//! `poll_transmit()` yields. Each 20 ms slot advances the timestamp by 160 whether or not a packet
//! is sent, so the timestamp always tracks real time. A slot with no frame is silence and ends
//! the talkspurt; the next audio packet carries the marker bit. Slots missed because the driver
//! woke late are skipped (like tokio's `MissedTickBehavior::Skip`), never sent in a burst.
//! RFC 4733 events take precedence over audio (audio stays queued) and end with the E packet
//! sent three times, in three consecutive slots.

use std::collections::VecDeque;

use crate::packet::RtpPacket;
use crate::telephone_event::TelephoneEvent;
use crate::{FRAME_MS, SAMPLES_PER_FRAME};

/// Longest event duration representable in one RFC 4733 event (16-bit sample count).
const MAX_EVENT_SAMPLES: u32 = u16::MAX as u32;

/// The identity and start of a stream; the caller chooses random SSRC, sequence and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Synchronisation source of this stream.
    pub ssrc: u32,
    /// Sequence number of the first packet.
    pub initial_sequence: u16,
    /// Timestamp of the first slot.
    pub initial_timestamp: u32,
    /// Audio payload type (0 PCMU, 8 PCMA).
    pub payload_type: u8,
    /// Negotiated telephone-event payload type; without one, `push_dtmf` is refused.
    pub telephone_event_payload_type: Option<u8>,
    /// When the first slot is due.
    pub start_ms: u64,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Packets handed out by `poll_transmit`.
    pub packets: u64,
    /// Of which telephone-event packets.
    pub dtmf_packets: u64,
    /// Slots in which nothing was sent because no frame was queued.
    pub silent_slots: u64,
    /// Slots skipped because `handle_timeout` was called late.
    pub skipped_slots: u64,
}

#[derive(Debug, Clone, Copy)]
struct DtmfRequest {
    event: u8,
    samples: u32,
    volume: u8,
}

#[derive(Debug, Clone, Copy)]
struct ActiveDtmf {
    request: DtmfRequest,
    timestamp: u32,
    elapsed: u32,
    ends_sent: u8,
}

/// Paces and packetises one outgoing RTP stream.
#[derive(Debug, Clone)]
pub struct RtpSender {
    config: SenderConfig,
    next_sequence: u16,
    slot_timestamp: u32,
    next_due_ms: u64,
    in_talkspurt: bool,
    frames: VecDeque<Vec<u8>>,
    dtmf_queue: VecDeque<DtmfRequest>,
    dtmf: Option<ActiveDtmf>,
    outbox: VecDeque<RtpPacket>,
    stats: SenderStats,
}

impl RtpSender {
    /// A sender whose first slot is due at `config.start_ms`.
    pub fn new(config: SenderConfig) -> Self {
        RtpSender {
            config,
            next_sequence: config.initial_sequence,
            slot_timestamp: config.initial_timestamp,
            next_due_ms: config.start_ms,
            in_talkspurt: false,
            frames: VecDeque::new(),
            dtmf_queue: VecDeque::new(),
            dtmf: None,
            outbox: VecDeque::new(),
            stats: SenderStats::default(),
        }
    }

    /// Sends later frames and events with these payload types (a mid-call codec change).
    pub fn set_payload_types(&mut self, audio: u8, telephone_event: Option<u8>) {
        self.config.payload_type = audio;
        self.config.telephone_event_payload_type = telephone_event;
    }

    /// Queues one 20 ms frame of encoded audio (160 G.711 bytes).
    pub fn push_frame(&mut self, payload: Vec<u8>) {
        self.frames.push_back(payload);
    }

    /// Frames queued and not yet sent; the driver keeps this topped up to two or three.
    pub fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Drops queued audio (barge-in, or the verb ended); queued and active DTMF are kept.
    pub fn clear_frames(&mut self) {
        self.frames.clear();
    }

    /// Queues a key press of `duration_ms` (clamped to what one event can carry) at `volume`
    /// −dBm0. Returns false if no telephone-event payload type was negotiated or the event code
    /// is out of range.
    pub fn push_dtmf(&mut self, event: u8, duration_ms: u32, volume: u8) -> bool {
        if self.config.telephone_event_payload_type.is_none() || event > 16 {
            return false;
        }
        let samples = duration_ms
            .saturating_mul(SAMPLES_PER_FRAME / FRAME_MS as u32)
            .clamp(SAMPLES_PER_FRAME, MAX_EVENT_SAMPLES);
        self.dtmf_queue.push_back(DtmfRequest {
            event,
            samples,
            volume: volume & 0x3F,
        });
        true
    }

    /// True while a key press is being sent or waits to be sent.
    pub fn dtmf_pending(&self) -> bool {
        self.dtmf.is_some() || !self.dtmf_queue.is_empty()
    }

    /// When the next slot is due.
    pub fn poll_timeout(&self) -> u64 {
        self.next_due_ms
    }

    /// Runs the slot that is due, skipping any slots missed by waking late.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if now_ms < self.next_due_ms {
            return;
        }
        let missed = (now_ms - self.next_due_ms) / FRAME_MS;
        if missed > 0 {
            self.stats.skipped_slots += missed;
            self.next_due_ms = self.next_due_ms.saturating_add(missed * FRAME_MS);
            // Timestamps wrap modulo 2^32 by design (RFC 3550 §5.1).
            self.slot_timestamp = self
                .slot_timestamp
                .wrapping_add((missed as u32).wrapping_mul(SAMPLES_PER_FRAME));
        }
        self.run_slot();
        self.next_due_ms = self.next_due_ms.saturating_add(FRAME_MS);
        self.slot_timestamp = self.slot_timestamp.wrapping_add(SAMPLES_PER_FRAME);
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<RtpPacket> {
        let packet = self.outbox.pop_front()?;
        self.stats.packets += 1;
        Some(packet)
    }

    /// Counters so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    fn run_slot(&mut self) {
        if let Some(te_payload_type) = self.config.telephone_event_payload_type
            && (self.dtmf.is_some() || !self.dtmf_queue.is_empty())
        {
            self.dtmf_slot(te_payload_type);
        } else if let Some(payload) = self.frames.pop_front() {
            let marker = !self.in_talkspurt;
            self.in_talkspurt = true;
            self.emit(
                self.config.payload_type,
                self.slot_timestamp,
                marker,
                payload,
            );
        } else {
            self.in_talkspurt = false;
            self.stats.silent_slots += 1;
        }
    }

    fn dtmf_slot(&mut self, payload_type: u8) {
        let mut active = match self.dtmf {
            Some(active) => active,
            None => match self.dtmf_queue.pop_front() {
                Some(request) => ActiveDtmf {
                    request,
                    timestamp: self.slot_timestamp,
                    elapsed: 0,
                    ends_sent: 0,
                },
                None => return,
            },
        };
        let marker = active.elapsed == 0;
        active.elapsed = (active.elapsed + SAMPLES_PER_FRAME).min(active.request.samples);
        let end = active.elapsed >= active.request.samples;
        let event = TelephoneEvent {
            event: active.request.event,
            end,
            volume: active.request.volume,
            // `elapsed` is clamped to `samples`, which is at most u16::MAX.
            duration: active.elapsed as u16,
        };
        self.emit(
            payload_type,
            active.timestamp,
            marker,
            event.to_bytes().to_vec(),
        );
        self.stats.dtmf_packets += 1;
        if end {
            active.ends_sent += 1;
        }
        if active.ends_sent >= 3 {
            self.dtmf = None;
            self.in_talkspurt = false;
        } else {
            self.dtmf = Some(active);
        }
    }

    fn emit(&mut self, payload_type: u8, timestamp: u32, marker: bool, payload: Vec<u8>) {
        let mut packet = RtpPacket::new(
            payload_type,
            self.next_sequence,
            timestamp,
            self.config.ssrc,
            payload,
        );
        packet.marker = marker;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.outbox.push_back(packet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(initial_sequence: u16, initial_timestamp: u32) -> RtpSender {
        RtpSender::new(SenderConfig {
            ssrc: 42,
            initial_sequence,
            initial_timestamp,
            payload_type: 8,
            telephone_event_payload_type: Some(101),
            start_ms: 1_000,
        })
    }

    /// Runs slots at their due time, returning (pt, seq, ts, marker, due) of each packet.
    fn drive(sender: &mut RtpSender, slots: usize) -> Vec<(u8, u16, u32, bool, u64)> {
        let mut sent = Vec::new();
        for _ in 0..slots {
            let due = sender.poll_timeout();
            sender.handle_timeout(due);
            while let Some(p) = sender.poll_transmit() {
                sent.push((p.payload_type, p.sequence, p.timestamp, p.marker, due));
            }
        }
        sent
    }

    #[test]
    fn paces_every_twenty_ms_and_wraps_sequence_and_timestamp() {
        let mut sender = sender(65_534, u32::MAX - 159);
        for _ in 0..4 {
            sender.push_frame(vec![0xD5; 160]);
        }
        let sent = drive(&mut sender, 4);
        let expected = vec![
            (8, 65_534, u32::MAX - 159, true, 1_000),
            (8, 65_535, 0, false, 1_020),
            (8, 0, 160, false, 1_040),
            (8, 1, 320, false, 1_060),
        ];
        assert_eq!(sent, expected);
    }

    #[test]
    fn silence_ends_the_talkspurt_and_keeps_the_timestamp_running() {
        let mut sender = sender(10, 0);
        sender.push_frame(vec![0; 160]);
        let mut sent = drive(&mut sender, 3); // audio, silence, silence
        sender.push_frame(vec![0; 160]);
        sent.extend(drive(&mut sender, 1));
        assert_eq!(
            sent,
            vec![(8, 10, 0, true, 1_000), (8, 11, 480, true, 1_060)]
        );
        assert_eq!(sender.stats().silent_slots, 2);
    }

    #[test]
    fn late_wake_skips_missed_slots() {
        let mut sender = sender(0, 0);
        for _ in 0..3 {
            sender.push_frame(vec![0; 160]);
        }
        sender.handle_timeout(999);
        assert_eq!(sender.poll_transmit(), None);
        sender.handle_timeout(1_065); // slots at 1000, 1020, 1040 missed; 1060 runs
        let packet = sender
            .poll_transmit()
            .expect("one packet for the current slot");
        assert_eq!((packet.sequence, packet.timestamp), (0, 480));
        assert_eq!(sender.poll_transmit(), None);
        assert_eq!(sender.poll_timeout(), 1_080);
        assert_eq!(sender.stats().skipped_slots, 3);
    }

    #[test]
    fn dtmf_is_one_event_with_three_end_packets_then_audio_resumes_with_marker() {
        let mut sender = sender(0, 0);
        sender.push_frame(vec![1; 160]);
        assert!(sender.push_dtmf(1, 100, 10));
        let sent = drive(&mut sender, 8);
        let events: Vec<_> = sent.iter().filter(|p| p.0 == 101).collect();
        assert_eq!(events.len(), 7);
        assert!(
            events.iter().all(|p| p.2 == 0),
            "one timestamp for the whole event"
        );
        assert!(
            events[0].3 && events[1..].iter().all(|p| !p.3),
            "marker on the first only"
        );
        let sequences: Vec<u16> = sent.iter().map(|p| p.1).collect();
        assert_eq!(sequences, (0..8).collect::<Vec<_>>());
        assert_eq!(sent[7], (8, 7, 7 * 160, true, 1_140));
        assert!(!sender.dtmf_pending());
    }

    #[test]
    fn dtmf_payloads_grow_then_end_three_times() {
        let mut sender = sender(0, 0);
        assert!(sender.push_dtmf(11, 60, 10));
        let mut payloads = Vec::new();
        for _ in 0..6 {
            let due = sender.poll_timeout();
            sender.handle_timeout(due);
            while let Some(p) = sender.poll_transmit() {
                let e = TelephoneEvent::parse(&p.payload).expect("4-byte event");
                payloads.push((e.event, e.end, e.duration));
            }
        }
        let expected = [
            (11, false, 160),
            (11, false, 320),
            (11, true, 480),
            (11, true, 480),
            (11, true, 480),
        ];
        assert_eq!(payloads, expected);
    }

    #[test]
    fn dtmf_refused_without_telephone_event() {
        let mut sender = RtpSender::new(SenderConfig {
            telephone_event_payload_type: None,
            ..sender(0, 0).config
        });
        assert!(!sender.push_dtmf(1, 100, 10));
        assert!(!super::tests::sender(0, 0).push_dtmf(17, 100, 10));
    }
}
