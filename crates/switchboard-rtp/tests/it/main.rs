//! Integration tests: audio and DTMF through the whole RTP path as the call media driver will
//! use it (encode → sender → bytes → parse → receive buffer or DTMF detector → decode), with
//! the network reordering, duplicating and dropping packets.

use switchboard_rtp::{
    DtmfDetector, Law, Playout, ReceiveBuffer, ReceiveConfig, RtpPacket, RtpSender,
    SAMPLES_PER_FRAME, SenderConfig,
};

fn sine(samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            ((n as f64 * 2.0 * std::f64::consts::PI * 1_000.0 / 8_000.0).sin() * 8_000.0) as i16
        })
        .collect()
}

fn sender(payload_type: u8) -> RtpSender {
    RtpSender::new(SenderConfig {
        ssrc: 0xCAFE,
        initial_sequence: 65_530,
        initial_timestamp: u32::MAX - 800,
        payload_type,
        telephone_event_payload_type: Some(101),
        start_ms: 0,
    })
}

/// Runs the sender for `slots` slots, returning the datagrams in send order.
fn transmit(sender: &mut RtpSender, slots: usize) -> Vec<Vec<u8>> {
    let mut datagrams = Vec::new();
    for _ in 0..slots {
        let due = sender.poll_timeout();
        sender.handle_timeout(due);
        while let Some(packet) = sender.poll_transmit() {
            datagrams.push(packet.to_bytes());
        }
    }
    datagrams
}

#[test]
fn audio_survives_reordering_and_loss_with_exact_timing() {
    for law in [Law::A, Law::Mu] {
        let audio = sine(20 * SAMPLES_PER_FRAME as usize);
        let mut sender = sender(law.payload_type());
        for frame in audio.chunks(SAMPLES_PER_FRAME as usize) {
            let mut encoded = Vec::new();
            law.encode_into(frame, &mut encoded);
            sender.push_frame(encoded);
        }
        let mut datagrams = transmit(&mut sender, 20);
        assert_eq!(datagrams.len(), 20, "one packet per 20 ms slot");
        datagrams.swap(3, 4);
        datagrams.remove(10);
        let duplicate = datagrams[6].clone();
        datagrams.insert(8, duplicate);

        let mut buffer = ReceiveBuffer::new(ReceiveConfig::for_payload_type(law.payload_type()));
        for (i, datagram) in datagrams.iter().enumerate() {
            let packet = RtpPacket::parse(datagram).expect("our own packets parse");
            buffer.handle_packet(i as u64 * 20, &packet);
        }
        buffer.flush();
        let mut decoded = Vec::new();
        while let Some(playout) = buffer.poll_playout() {
            match playout {
                Playout::Audio { payload, .. } => law.decode_into(&payload, &mut decoded),
                Playout::Gap { samples } => {
                    decoded.extend(std::iter::repeat_n(0, samples as usize))
                }
            }
        }
        assert_eq!(
            decoded.len(),
            audio.len(),
            "{law:?}: the lost packet became exactly 160 samples of silence"
        );
        let lost = 10 * 160..11 * 160;
        assert!(decoded[lost.clone()].iter().all(|&s| s == 0));
        for (i, (got, sent)) in decoded
            .iter()
            .zip(&audio)
            .enumerate()
            .filter(|(i, _)| !lost.contains(i))
        {
            assert!(
                (i32::from(*got) - i32::from(*sent)).abs() <= 512,
                "{law:?} sample {i}: {got} vs {sent}"
            );
        }
        let stats = buffer.stats();
        assert_eq!(
            (stats.lost, stats.late + stats.duplicates),
            (1, 1),
            "{law:?}"
        );
    }
}

#[test]
fn a_digit_sent_with_repeated_end_packets_is_detected_once() {
    let mut sender = sender(0);
    assert!(sender.push_dtmf(5, 120, 10));
    let mut datagrams = transmit(&mut sender, 12);
    let end = datagrams.last().cloned().expect("packets were sent");
    datagrams.push(end.clone());
    datagrams.push(end);
    let mut detector = DtmfDetector::new(101, 500);
    let mut digits = Vec::new();
    for (i, datagram) in datagrams.iter().enumerate() {
        let packet = RtpPacket::parse(datagram).expect("parses");
        assert!(
            detector.handle_packet(i as u64 * 20, &packet),
            "all of them are telephone events"
        );
        while let Some(digit) = detector.poll_digit() {
            digits.push(digit.digit);
        }
    }
    detector.handle_timeout(10_000);
    assert_eq!(detector.poll_digit(), None);
    assert_eq!(digits, ['5']);
}
