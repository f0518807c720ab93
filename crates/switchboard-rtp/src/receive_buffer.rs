//! A jitter-tolerant receive buffer for recording: reorders packets by sequence number within a
//! small window, fills gaps with silence, and counts loss.
//!
//! Sequence numbers are extended to 64 bits (RFC 3550 Appendix A.1 style), so wraparound is
//! invisible. A missing packet is waited for until either `window_packets` later packets are
//! buffered or `max_delay_ms` has passed since the oldest buffered packet arrived; then it is
//! declared lost. Playout of a new stream starts the same way, after its first packet has
//! waited, so packets reordered at the very start are not mistaken for late ones. Gaps are
//! measured with RTP timestamps, so silence suppression, lost packets and telephone-event
//! packets (which share the sequence space but carry no audio) all become the right amount of
//! silence. Samples are counted as payload bytes, which holds for G.711.

use std::collections::{BTreeMap, VecDeque};

use crate::packet::RtpPacket;

/// Tuning of the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveConfig {
    /// Payload type of the audio; packets of other types only advance the sequence.
    pub audio_payload_type: u8,
    /// How many packets may wait behind a missing one before it is declared lost.
    pub window_packets: usize,
    /// How long a missing packet is waited for.
    pub max_delay_ms: u64,
    /// Largest timestamp gap filled with silence; larger jumps are treated as a discontinuity.
    pub max_gap_samples: u32,
}

impl ReceiveConfig {
    /// Defaults for recording: 8 packets or 100 ms of reordering, gaps up to 10 s filled.
    pub fn for_payload_type(audio_payload_type: u8) -> Self {
        ReceiveConfig {
            audio_payload_type,
            window_packets: 8,
            max_delay_ms: 100,
            max_gap_samples: 80_000,
        }
    }
}

/// What the recorder writes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Audio from one packet, in order.
    Audio {
        /// RTP timestamp of the first sample.
        timestamp: u32,
        /// The encoded samples.
        payload: Vec<u8>,
    },
    /// Samples of silence to write before the next audio.
    Gap {
        /// Number of silent samples.
        samples: u32,
    },
}

/// Counters for metrics and the recording's quality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets whose sequence number was already buffered.
    pub duplicates: u64,
    /// Packets that arrived after their place had been played out.
    pub late: u64,
    /// Sequence numbers declared lost.
    pub lost: u64,
    /// Timestamp or sequence jumps too large to fill, and source changes.
    pub discontinuities: u64,
}

#[derive(Debug, Clone)]
struct Buffered {
    timestamp: u32,
    audio: Option<Vec<u8>>,
    arrival_ms: u64,
}

/// Sequence jump beyond which the stream is treated as restarted rather than lossy.
const MAX_SEQUENCE_JUMP: u64 = 3_000;

/// Reordering receive buffer for one incoming stream (sans-IO).
#[derive(Debug, Clone)]
pub struct ReceiveBuffer {
    config: ReceiveConfig,
    ssrc: Option<u32>,
    highest: u64,
    next: Option<u64>,
    buffered: BTreeMap<u64, Buffered>,
    end_timestamp: Option<u32>,
    out: VecDeque<Playout>,
    stats: ReceiveStats,
}

impl ReceiveBuffer {
    /// An empty buffer.
    pub fn new(config: ReceiveConfig) -> Self {
        ReceiveBuffer {
            config,
            ssrc: None,
            highest: 0,
            next: None,
            buffered: BTreeMap::new(),
            end_timestamp: None,
            out: VecDeque::new(),
            stats: ReceiveStats::default(),
        }
    }

    /// Feeds a received packet (audio or not) of the stream.
    pub fn handle_packet(&mut self, now_ms: u64, packet: &RtpPacket) {
        if self.ssrc != Some(packet.ssrc) {
            if self.ssrc.is_some() {
                self.flush();
                self.stats.discontinuities += 1;
            }
            self.ssrc = Some(packet.ssrc);
            self.next = None;
        }
        let extended = self.extend(packet.sequence);
        if let Some(next) = self.next {
            if extended < next {
                self.stats.late += 1;
                return;
            }
            if extended - next > MAX_SEQUENCE_JUMP {
                self.flush();
                self.stats.discontinuities += 1;
                self.next = Some(extended);
            }
        }
        if self.buffered.contains_key(&extended) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        self.highest = self.highest.max(extended);
        let audio =
            (packet.payload_type == self.config.audio_payload_type).then(|| packet.payload.clone());
        self.buffered.insert(
            extended,
            Buffered {
                timestamp: packet.timestamp,
                audio,
                arrival_ms: now_ms,
            },
        );
        self.release(Some(now_ms));
    }

    /// Declares overdue packets lost once `poll_timeout()` has passed.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.release(Some(now_ms));
    }

    /// When a missing packet stops being waited for.
    pub fn poll_timeout(&self) -> Option<u64> {
        let waiting = self
            .next
            .is_none_or(|next| !self.buffered.contains_key(&next));
        if self.buffered.is_empty() || !waiting {
            return None;
        }
        self.oldest_arrival()
            .map(|at| at.saturating_add(self.config.max_delay_ms))
    }

    /// Plays out everything buffered, declaring missing packets lost (at the end of a call).
    pub fn flush(&mut self) {
        self.release(None);
    }

    /// The next audio or silence to write.
    pub fn poll_playout(&mut self) -> Option<Playout> {
        self.out.pop_front()
    }

    /// Counters so far.
    pub fn stats(&self) -> ReceiveStats {
        self.stats
    }

    fn extend(&self, sequence: u16) -> u64 {
        if self.next.is_none() && self.buffered.is_empty() {
            // Start far from zero so that early reordering never goes below it.
            return (1 << 32) | u64::from(sequence);
        }
        let delta = i64::from(sequence.wrapping_sub(self.highest as u16) as i16);
        self.highest.saturating_add_signed(delta)
    }

    fn oldest_arrival(&self) -> Option<u64> {
        self.buffered.values().map(|b| b.arrival_ms).min()
    }

    /// Plays out in order; `now_ms` None means play out everything. Playout starts only once
    /// the first packet has waited like a missing one would, so early reordering is not loss.
    fn release(&mut self, now_ms: Option<u64>) {
        loop {
            if let Some(next) = self.next
                && let Some(buffered) = self.buffered.remove(&next)
            {
                self.play(buffered);
                self.next = Some(next + 1);
                continue;
            }
            let Some((&first, _)) = self.buffered.first_key_value() else {
                break;
            };
            let overdue = match now_ms {
                None => true,
                Some(now) => {
                    self.buffered.len() >= self.config.window_packets
                        || self.poll_timeout().is_some_and(|at| now >= at)
                }
            };
            if !overdue {
                break;
            }
            if let Some(next) = self.next {
                let skipped = first - next;
                if skipped > MAX_SEQUENCE_JUMP {
                    self.stats.discontinuities += 1;
                } else {
                    self.stats.lost += skipped;
                }
            }
            self.next = Some(first);
        }
    }

    fn play(&mut self, buffered: Buffered) {
        let Some(payload) = buffered.audio else {
            return;
        };
        if let Some(expected) = self.end_timestamp {
            let gap = buffered.timestamp.wrapping_sub(expected) as i32;
            if gap > 0 && gap as u32 <= self.config.max_gap_samples {
                self.out.push_back(Playout::Gap {
                    samples: gap as u32,
                });
            } else if gap > 0 {
                self.stats.discontinuities += 1;
            }
        }
        // Payloads are datagram-sized, far below 2^32 bytes.
        self.end_timestamp = Some(buffered.timestamp.wrapping_add(payload.len() as u32));
        self.out.push_back(Playout::Audio {
            timestamp: buffered.timestamp,
            payload,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (arrival ms, sequence, payload type) packets whose timestamps follow the sequence,
    /// then fires the timers at `timeout_at` (None: flushes), returning the playout.
    fn run(
        first_sequence: u16,
        packets: &[(u64, u16, u8)],
        timeout_at: Option<u64>,
    ) -> (Vec<String>, ReceiveStats) {
        let mut buffer = ReceiveBuffer::new(ReceiveConfig::for_payload_type(0));
        for &(now, offset, payload_type) in packets {
            let sequence = first_sequence.wrapping_add(offset);
            let timestamp = u32::from(offset) * 160;
            let packet = RtpPacket::new(payload_type, sequence, timestamp, 9, vec![0xFF; 160]);
            buffer.handle_packet(now, &packet);
        }
        match timeout_at {
            Some(at) => buffer.handle_timeout(at),
            None => buffer.flush(),
        }
        let out = std::iter::from_fn(|| buffer.poll_playout())
            .map(|p| match p {
                Playout::Audio { timestamp, .. } => format!("a{}", timestamp / 160),
                Playout::Gap { samples } => format!("g{samples}"),
            })
            .collect();
        (out, buffer.stats())
    }

    #[test]
    fn table_of_receive_cases() {
        // (name, first sequence, packets, timeout, expected playout, expected lost, late, duplicates)
        type Case = (
            &'static str,
            u16,
            Vec<(u64, u16, u8)>,
            Option<u64>,
            &'static str,
            u64,
            u64,
            u64,
        );
        let cases: Vec<Case> = vec![
            (
                "in order",
                5,
                vec![(0, 0, 0), (20, 1, 0), (40, 2, 0)],
                None,
                "a0 a1 a2",
                0,
                0,
                0,
            ),
            (
                "reordered within window",
                5,
                vec![(0, 0, 0), (20, 2, 0), (21, 1, 0)],
                None,
                "a0 a1 a2",
                0,
                0,
                0,
            ),
            (
                "waits for a missing packet",
                5,
                vec![(0, 0, 0), (40, 2, 0)],
                Some(139),
                "a0",
                0,
                0,
                0,
            ),
            (
                "declares loss after max delay",
                5,
                vec![(0, 0, 0), (40, 2, 0)],
                Some(140),
                "a0 g160 a2",
                1,
                0,
                0,
            ),
            (
                "wraps sequence numbers",
                65_534,
                vec![(0, 0, 0), (20, 1, 0), (40, 3, 0), (41, 2, 0)],
                None,
                "a0 a1 a2 a3",
                0,
                0,
                0,
            ),
            (
                "duplicate ignored",
                1,
                vec![(0, 0, 0), (20, 1, 0), (21, 1, 0)],
                None,
                "a0 a1",
                0,
                1,
                0,
            ),
            (
                "late packet counted",
                1,
                vec![(0, 0, 0), (40, 2, 0), (200, 3, 0), (210, 1, 0)],
                None,
                "a0 g160 a2 a3",
                1,
                1,
                0,
            ),
            (
                "telephone-event packets become silence",
                1,
                vec![(0, 0, 0), (20, 1, 101), (40, 2, 101), (60, 3, 0)],
                None,
                "a0 g320 a3",
                0,
                0,
                0,
            ),
        ];
        for (name, first, packets, timeout, expected, lost, late, _) in cases {
            let (out, stats) = run(first, &packets, timeout);
            assert_eq!(out.join(" "), expected, "{name}");
            assert_eq!(stats.lost, lost, "{name} lost");
            assert_eq!(
                stats.late + stats.duplicates,
                late,
                "{name} late+duplicates"
            );
        }
    }

    #[test]
    fn full_window_releases_without_waiting() {
        let packets: Vec<_> = (0..10)
            .filter(|&i| i != 1)
            .map(|i| (i as u64, i, 0))
            .collect();
        let (out, stats) = run(100, &packets, None);
        assert_eq!(out[..3], ["a0", "g160", "a2"]);
        assert_eq!(stats.lost, 1);
    }

    #[test]
    fn hostile_jumps_do_not_fill_huge_gaps() {
        let mut buffer = ReceiveBuffer::new(ReceiveConfig::for_payload_type(0));
        buffer.handle_packet(0, &RtpPacket::new(0, 1, 0, 9, vec![0; 160]));
        buffer.handle_packet(20, &RtpPacket::new(0, 2, 1_000_000, 9, vec![0; 160]));
        buffer.handle_packet(40, &RtpPacket::new(0, 30_000, 1_000_160, 9, vec![0; 160]));
        buffer.handle_packet(60, &RtpPacket::new(0, 30_001, 1_000_320, 7, vec![0; 160]));
        buffer.flush();
        let gaps: u32 = std::iter::from_fn(|| buffer.poll_playout())
            .map(|p| {
                if let Playout::Gap { samples } = p {
                    samples
                } else {
                    0
                }
            })
            .sum();
        assert_eq!(gaps, 0);
        assert_eq!(buffer.stats().discontinuities, 3);
    }

    proptest::proptest! {
        #[test]
        fn local_reordering_and_wraparound_lose_nothing(
            first_sequence in proptest::num::u16::ANY,
            first_timestamp in proptest::num::u32::ANY,
            swaps in proptest::collection::vec(proptest::bool::ANY, 40),
        ) {
            // Swap disjoint neighbours: each packet is displaced by at most one position.
            let mut order: Vec<u16> = (0..40).collect();
            let mut i = 0;
            while i < 39 {
                if swaps[i] {
                    order.swap(i, i + 1);
                    i += 1;
                }
                i += 1;
            }
            let mut buffer = ReceiveBuffer::new(ReceiveConfig::for_payload_type(0));
            for (arrival, offset) in order.iter().enumerate() {
                let sequence = first_sequence.wrapping_add(*offset);
                let timestamp = first_timestamp.wrapping_add(u32::from(*offset) * 160);
                let payload = vec![*offset as u8; 160];
                buffer.handle_packet(arrival as u64 * 20, &RtpPacket::new(0, sequence, timestamp, 1, payload));
            }
            buffer.flush();
            let played: Vec<u8> = std::iter::from_fn(|| buffer.poll_playout())
                .map(|p| match p {
                    Playout::Audio { payload, .. } => payload[0],
                    Playout::Gap { .. } => u8::MAX,
                })
                .collect();
            proptest::prop_assert_eq!(played, (0..40).collect::<Vec<u8>>());
            proptest::prop_assert_eq!(buffer.stats().lost, 0);
        }
    }
}
