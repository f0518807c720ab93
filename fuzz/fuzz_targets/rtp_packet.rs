//! Fuzz target for the RTP and RFC 4733 parsers and the receive-side state machines: any bytes,
//! never a panic; a parsed packet must serialise to bytes that parse back to it; and a stream of
//! packets cut from the input must pass through the DTMF detector and the receive buffer.
//!
//! Run on stable with `cargo fuzz run -s none rtp_packet` from this directory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_rtp::{DtmfDetector, ReceiveBuffer, ReceiveConfig, RtpPacket, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = RtpPacket::parse(data) {
        assert_eq!(
            RtpPacket::parse(&packet.to_bytes()),
            Ok(packet.clone()),
            "round trip changed"
        );
        if let Ok(event) = TelephoneEvent::parse(&packet.payload) {
            assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
        }
    }
    // The input as a stream: a 2-byte arrival delta then a 1-byte length, then the packet.
    let mut detector = DtmfDetector::new(101, 500);
    let mut buffer = ReceiveBuffer::new(ReceiveConfig::for_payload_type(8));
    let (mut rest, mut now) = (data, 0u64);
    while let [a, b, length, tail @ ..] = rest {
        now += u64::from(u16::from_be_bytes([*a, *b]));
        let take = usize::from(*length).min(tail.len());
        if let Ok(packet) = RtpPacket::parse(&tail[..take]) {
            if !detector.handle_packet(now, &packet) {
                buffer.handle_packet(now, &packet);
            }
        }
        detector.handle_timeout(now);
        buffer.handle_timeout(now);
        while detector.poll_digit().is_some() {}
        while buffer.poll_playout().is_some() {}
        rest = &tail[take..];
    }
    buffer.flush();
    while buffer.poll_playout().is_some() {}
});
