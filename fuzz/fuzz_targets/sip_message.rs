//! Fuzz target for the SIP message parser, stream framer and SDP offer/answer: any bytes, never
//! a panic; whatever parses must print to bytes that parse back to the same message (on both
//! framings), and an SDP body that parses must reprint identically and, when negotiable, yield
//! an answer that parses.
//!
//! Run on stable with `cargo fuzz run -s none sip_message` from this directory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sip::{
    Framing, LocalMedia, SessionDescription, StreamFrame, build_answer, frame_stream, negotiate,
    parse_message,
};

fuzz_target!(|data: &[u8]| {
    let limits = switchboard_sip::Limits::default();
    if let Ok(StreamFrame::Message(length)) = frame_stream(data, &limits) {
        assert!(length <= data.len());
        let _ = parse_message(&data[..length], Framing::Stream, &limits);
    }
    match parse_message(data, Framing::Datagram, &limits) {
        Ok(message) => {
            let printed = message.to_bytes();
            for framing in [Framing::Datagram, Framing::Stream] {
                match parse_message(&printed, framing, &limits) {
                    Ok(again) => assert_eq!(again, message, "round trip changed"),
                    Err(error) => panic!(
                        "printed message rejected: {error}\n{}",
                        String::from_utf8_lossy(&printed)
                    ),
                }
            }
            let body = match &message {
                switchboard_sip::Message::Request(request) => &request.body,
                switchboard_sip::Message::Response(response) => &response.body,
            };
            check_sdp(body);
        }
        Err(error) => {
            let _ = error
                .bad_request("fuzz")
                .map(|response| response.to_bytes());
        }
    }
    check_sdp(data);
});

fn check_sdp(bytes: &[u8]) {
    let Ok(offer) = SessionDescription::parse(bytes) else {
        return;
    };
    let printed = offer.to_bytes();
    assert_eq!(
        SessionDescription::parse(&printed).as_ref(),
        Ok(&offer),
        "sdp round trip changed"
    );
    if let Ok(negotiated) = negotiate(&offer) {
        let local = LocalMedia {
            session_id: 1,
            session_version: 1,
            address_type: "IP4".to_owned(),
            address: "127.0.0.1".to_owned(),
            rtp_port: 10_000,
        };
        let answer = build_answer(&offer, &negotiated, &local);
        assert!(
            SessionDescription::parse(&answer.to_bytes()).is_ok(),
            "answer does not parse"
        );
    }
}
