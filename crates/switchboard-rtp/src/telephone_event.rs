//! RFC 4733 telephone events: the 4-byte payload, the digit mapping, and a DTMF detector that
//! reports one digit per key press however many packets (and repeated end packets) arrive.
//!
//! A key press is many packets sharing one RTP timestamp with a growing duration; its end
//! packet is usually sent three times. The detector keys events by `(ssrc, timestamp)`, emits
//! the digit on the first end packet (or after `end_timeout_ms` of silence if every end packet
//! was lost, or when a new event starts), and remembers recent keys so late repeats are ignored.
//! Generation lives in `sender.rs`, which paces the packets with the audio.

use std::collections::VecDeque;

use thiserror::Error;

use crate::packet::RtpPacket;

/// Why a payload is not a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TelephoneEventError {
    /// The payload is not exactly four bytes.
    #[error("telephone-event payload of {0} bytes, expected 4")]
    BadLength(usize),
}

/// One RFC 4733 §2.3 event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D`, 16 flash.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0, 0–63.
    pub volume: u8,
    /// Duration so far, in timestamp units (samples).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload (the reserved bit is ignored, as RFC 4733 requires of receivers).
    pub fn parse(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        let bytes: [u8; 4] = payload
            .try_into()
            .map_err(|_| TelephoneEventError::BadLength(payload.len()))?;
        Ok(TelephoneEvent {
            event: bytes[0],
            end: bytes[1] & 0x80 != 0,
            volume: bytes[1] & 0x3F,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }

    /// Serialises the payload (volume is masked to six bits, the reserved bit is zero).
    pub fn to_bytes(self) -> [u8; 4] {
        let duration = self.duration.to_be_bytes();
        [
            self.event,
            u8::from(self.end) << 7 | (self.volume & 0x3F),
            duration[0],
            duration[1],
        ]
    }
}

/// The key of a DTMF event code: `0`–`9`, `*`, `#`, `A`–`D`; `None` for flash and other events.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The event code of a key (`a`–`d` accepted as `A`–`D`).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// A key press reported by the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// The key.
    pub digit: char,
    /// Source of the event.
    pub ssrc: u32,
    /// RTP timestamp of the event start (its identity).
    pub timestamp: u32,
    /// Longest duration seen, in samples.
    pub duration: u16,
    /// False when the digit was reported without any end packet (lost, or superseded).
    pub ended: bool,
}

#[derive(Debug, Clone, Copy)]
struct OpenEvent {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    duration: u16,
    last_seen_ms: u64,
}

/// How many finished events are remembered to swallow their late repeats.
const REMEMBERED_EVENTS: usize = 32;

/// De-duplicating RFC 4733 DTMF detector (sans-IO).
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    payload_type: u8,
    end_timeout_ms: u64,
    open: Option<OpenEvent>,
    finished: VecDeque<(u32, u32)>,
    digits: VecDeque<DetectedDigit>,
}

impl DtmfDetector {
    /// A detector for the negotiated telephone-event payload type. `end_timeout_ms` is how long
    /// an event may go without packets before it is reported without an end packet.
    pub fn new(payload_type: u8, end_timeout_ms: u64) -> Self {
        DtmfDetector {
            payload_type,
            end_timeout_ms,
            open: None,
            finished: VecDeque::with_capacity(REMEMBERED_EVENTS),
            digits: VecDeque::new(),
        }
    }

    /// Feeds a received packet. Returns true if it carried the telephone-event payload type
    /// (and so is not audio), whether or not it was a valid event.
    pub fn handle_packet(&mut self, now_ms: u64, packet: &RtpPacket) -> bool {
        if packet.payload_type != self.payload_type {
            return false;
        }
        if let Ok(event) = TelephoneEvent::parse(&packet.payload) {
            self.handle_event(now_ms, packet.ssrc, packet.timestamp, event);
        }
        true
    }

    /// Feeds one parsed event with its RTP source and timestamp.
    pub fn handle_event(&mut self, now_ms: u64, ssrc: u32, timestamp: u32, event: TelephoneEvent) {
        if self.finished.contains(&(ssrc, timestamp)) {
            return;
        }
        let open = match self.open {
            Some(open) if (open.ssrc, open.timestamp) == (ssrc, timestamp) => open,
            Some(_) => {
                self.finish(false);
                self.start(ssrc, timestamp, event.event)
            }
            None => self.start(ssrc, timestamp, event.event),
        };
        self.open = Some(OpenEvent {
            duration: open.duration.max(event.duration),
            last_seen_ms: now_ms,
            ..open
        });
        if event.end {
            self.finish(true);
        }
    }

    /// Reports an event whose end packets never came, once `poll_timeout()` has passed.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.poll_timeout().is_some_and(|at| now_ms >= at) {
            self.finish(false);
        }
    }

    /// When an open event will be reported without its end packet.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.open
            .map(|open| open.last_seen_ms.saturating_add(self.end_timeout_ms))
    }

    /// The next detected key press.
    pub fn poll_digit(&mut self) -> Option<DetectedDigit> {
        self.digits.pop_front()
    }

    fn start(&self, ssrc: u32, timestamp: u32, event: u8) -> OpenEvent {
        OpenEvent {
            ssrc,
            timestamp,
            event,
            duration: 0,
            last_seen_ms: 0,
        }
    }

    fn finish(&mut self, ended: bool) {
        let Some(open) = self.open.take() else { return };
        if self.finished.len() == REMEMBERED_EVENTS {
            self.finished.pop_front();
        }
        self.finished.push_back((open.ssrc, open.timestamp));
        if let Some(digit) = event_to_digit(open.event) {
            self.digits.push_back(DetectedDigit {
                digit,
                ssrc: open.ssrc,
                timestamp: open.timestamp,
                duration: open.duration,
                ended,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_fields() {
        let bytes = [0x0B, 0x8A, 0x03, 0x20];
        let event = TelephoneEvent::parse(&bytes).expect("four bytes");
        assert_eq!(
            event,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(event.to_bytes(), bytes);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(TelephoneEventError::BadLength(3))
        );
    }

    #[test]
    fn digit_mapping() {
        let cases = [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('D', 15),
        ];
        for (digit, event) in cases {
            assert_eq!(digit_to_event(digit), Some(event));
            assert_eq!(event_to_digit(event), Some(digit));
        }
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
    }

    /// (time ms, ssrc, timestamp, event, end, duration) fed in order → digits expected.
    fn run(packets: &[(u64, u32, u32, u8, bool, u16)], then_ms: u64) -> Vec<(char, bool)> {
        let mut detector = DtmfDetector::new(101, 500);
        for &(now, ssrc, timestamp, event, end, duration) in packets {
            let payload = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .to_bytes()
            .to_vec();
            let mut packet = RtpPacket::new(101, 0, timestamp, ssrc, payload);
            packet.marker = duration == 160;
            assert!(detector.handle_packet(now, &packet));
        }
        detector.handle_timeout(then_ms);
        std::iter::from_fn(|| detector.poll_digit())
            .map(|d| (d.digit, d.ended))
            .collect()
    }

    #[test]
    fn sipp_shape_ten_packets_three_ends_is_one_digit() {
        let mut packets: Vec<_> = (1..=7)
            .map(|i| (i * 20, 7, 4000, 1, false, i as u16 * 160))
            .collect();
        packets.extend((0..3).map(|i| (160 + i * 20, 7, 4000, 1, true, 1280)));
        assert_eq!(run(&packets, 10_000), vec![('1', true)]);
    }

    #[test]
    fn table_of_detector_cases() {
        type Case = (
            &'static str,
            Vec<(u64, u32, u32, u8, bool, u16)>,
            Vec<(char, bool)>,
        );
        let cases: Vec<Case> = vec![
            (
                "lost end packets: reported on timeout",
                vec![(0, 1, 100, 5, false, 160)],
                vec![('5', false)],
            ),
            (
                "same digit twice is two events",
                vec![
                    (0, 1, 100, 2, true, 800),
                    (20, 1, 100, 2, true, 800),
                    (500, 1, 2000, 2, true, 800),
                ],
                vec![('2', true), ('2', true)],
            ),
            (
                "new event supersedes an unfinished one",
                vec![(0, 1, 100, 3, false, 160), (40, 1, 900, 11, true, 800)],
                vec![('3', false), ('#', true)],
            ),
            (
                "late repeat after the end is ignored",
                vec![
                    (0, 1, 100, 10, true, 800),
                    (30, 1, 100, 10, false, 640),
                    (60, 1, 100, 10, true, 800),
                ],
                vec![('*', true)],
            ),
            (
                "flash is not a digit",
                vec![(0, 1, 100, 16, true, 800)],
                vec![],
            ),
            (
                "same timestamp from another source is another event",
                vec![(0, 1, 100, 4, true, 800), (0, 2, 100, 4, true, 800)],
                vec![('4', true), ('4', true)],
            ),
        ];
        for (name, packets, expected) in cases {
            assert_eq!(run(&packets, 10_000), expected, "{name}");
        }
    }

    #[test]
    fn timeout_is_not_reached_early_and_other_payload_types_pass_through() {
        let mut detector = DtmfDetector::new(101, 500);
        let event = TelephoneEvent {
            event: 7,
            end: false,
            volume: 0,
            duration: 160,
        };
        detector.handle_event(1000, 1, 1, event);
        assert_eq!(detector.poll_timeout(), Some(1500));
        detector.handle_timeout(1499);
        assert_eq!(detector.poll_digit(), None);
        detector.handle_timeout(1500);
        assert_eq!(detector.poll_digit().map(|d| d.digit), Some('7'));
        assert!(!detector.handle_packet(0, &RtpPacket::new(0, 0, 0, 0, vec![0; 160])));
    }

    proptest::proptest! {
        #[test]
        fn one_digit_per_event_whatever_the_duplication_and_reordering(
            events in proptest::collection::vec((0u8..16, 1usize..8, proptest::collection::vec(0usize..64, 0..6), any_seed()), 1..6),
            first_timestamp in proptest::num::u32::ANY,
        ) {
            let mut detector = DtmfDetector::new(101, 500);
            let mut now = 0;
            let mut digits = Vec::new();
            for (index, (event, updates, duplicates, seed)) in events.iter().enumerate() {
                let timestamp = first_timestamp.wrapping_add(index as u32 * 4_000);
                let mut packets: Vec<TelephoneEvent> = (1..=*updates)
                    .map(|i| TelephoneEvent { event: *event, end: false, volume: 10, duration: i as u16 * 160 })
                    .collect();
                let end = TelephoneEvent { event: *event, end: true, volume: 10, duration: (*updates as u16 + 1) * 160 };
                packets.extend([end; 3]);
                for &d in duplicates {
                    let copy = packets[d % packets.len()];
                    packets.push(copy);
                }
                // Deterministic shuffle within the event from the seed.
                let len = packets.len();
                for i in 0..len {
                    packets.swap(i, (seed.wrapping_mul(i as u64 + 7) % len as u64) as usize);
                }
                for packet in packets {
                    now += 5;
                    detector.handle_event(now, 0xAB, timestamp, packet);
                    digits.extend(std::iter::from_fn(|| detector.poll_digit()).map(|d| d.digit));
                }
            }
            detector.handle_timeout(now + 10_000);
            digits.extend(std::iter::from_fn(|| detector.poll_digit()).map(|d| d.digit));
            let expected: Vec<char> = events.iter().filter_map(|e| event_to_digit(e.0)).collect();
            proptest::prop_assert_eq!(digits, expected);
        }
    }

    fn any_seed() -> impl proptest::strategy::Strategy<Value = u64> {
        proptest::num::u64::ANY
    }
}
