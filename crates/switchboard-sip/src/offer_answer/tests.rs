//! Offer/answer tests on real offers (sipp's, a softphone's) and table-driven edge cases.

use super::*;

const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

fn local() -> LocalMedia {
    LocalMedia {
        session_id: 42,
        session_version: 1,
        address_type: "IP4".into(),
        address: "127.0.0.1".into(),
        rtp_port: 10_000,
    }
}

fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn answers_sipp_pcma_offer_keeping_telephone_event() {
    let offer = sdp(SIPP_OFFER);
    let negotiated = negotiate(&offer).expect("PCMA is common");
    assert_eq!(
        (negotiated.codec, negotiated.payload_type),
        (AudioCodec::Pcma, 8)
    );
    assert_eq!(
        negotiated.telephone_event,
        Some(TelephoneEventFormat {
            payload_type: 101,
            events: Some("0-11,16".into())
        })
    );
    assert_eq!(
        (
            negotiated.remote_address.to_string().as_str(),
            negotiated.remote_port
        ),
        ("127.0.0.1", 6000)
    );
    let answer = build_answer(&offer, &negotiated, &local());
    let text = answer.to_string();
    let expected = "v=0\r\no=switchboard 42 1 IN IP4 127.0.0.1\r\ns=switchboard\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 10000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n\
a=ptime:20\r\na=sendrecv\r\n";
    assert_eq!(text, expected);
    assert_eq!(sdp(&text), answer, "the answer parses back");
}

#[test]
fn table_of_negotiations() {
    // (name, media section(s), expected codec and payload type, telephone-event pt, our direction)
    type Case = (
        &'static str,
        &'static str,
        Result<(AudioCodec, u8), NegotiationError>,
        Option<u8>,
        Direction,
    );
    let cases: [Case; 8] = [
        (
            "pcmu first wins",
            "m=audio 4000 RTP/AVP 0 8\n",
            Ok((AudioCodec::Pcmu, 0)),
            None,
            Direction::SendRecv,
        ),
        (
            "offerer's order",
            "m=audio 4000 RTP/AVP 18 8 0\n",
            Ok((AudioCodec::Pcma, 8)),
            None,
            Direction::SendRecv,
        ),
        (
            "dynamic pcmu",
            "m=audio 4000 RTP/AVP 96 97\na=rtpmap:96 PCMU/8000\na=rtpmap:97 telephone-event/8000\n",
            Ok((AudioCodec::Pcmu, 96)),
            Some(97),
            Direction::SendRecv,
        ),
        (
            "wrong rate",
            "m=audio 4000 RTP/AVP 96\na=rtpmap:96 PCMU/16000\n",
            Err(NegotiationError::NoCommonCodec),
            None,
            Direction::SendRecv,
        ),
        (
            "no common codec",
            "m=audio 4000 RTP/AVP 18 9\n",
            Err(NegotiationError::NoCommonCodec),
            None,
            Direction::SendRecv,
        ),
        (
            "only video",
            "m=video 4000 RTP/AVP 31\n",
            Err(NegotiationError::NoAudio),
            None,
            Direction::SendRecv,
        ),
        (
            "srtp is not offered audio",
            "m=audio 4000 RTP/SAVP 0\n",
            Err(NegotiationError::NoAudio),
            None,
            Direction::SendRecv,
        ),
        (
            "sendonly offer → recvonly",
            "m=video 0 RTP/AVP 31\nm=audio 4000 RTP/AVP 0\na=sendonly\n",
            Ok((AudioCodec::Pcmu, 0)),
            None,
            Direction::RecvOnly,
        ),
    ];
    for (name, media, expected, events, direction) in cases {
        let offer = sdp(&format!(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n{media}"
        ));
        let outcome = negotiate(&offer);
        assert_eq!(
            outcome
                .as_ref()
                .map(|n| (n.codec, n.payload_type))
                .map_err(Clone::clone),
            expected,
            "{name}"
        );
        if let Ok(negotiated) = outcome {
            assert_eq!(
                negotiated.telephone_event.as_ref().map(|t| t.payload_type),
                events,
                "{name}"
            );
            assert_eq!(negotiated.direction, direction, "{name}");
            let answer = build_answer(&offer, &negotiated, &local());
            assert_eq!(
                answer.media.len(),
                offer.media.len(),
                "{name}: one answer line per offered line"
            );
        }
    }
    assert_eq!(NegotiationError::NoCommonCodec.status(), 488);
}

#[test]
fn media_level_connection_overrides_and_missing_connection_is_an_error() {
    let offer = sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 198.51.100.7\n",
    );
    assert_eq!(
        negotiate(&offer).map(|n| n.remote_address.to_string()),
        Ok("198.51.100.7".to_owned())
    );
    let bare = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 4000 RTP/AVP 0\n");
    assert_eq!(negotiate(&bare), Err(NegotiationError::NoConnection));
}

#[test]
fn our_offer_negotiates_with_itself() {
    let offer = build_offer(&local(), &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(101));
    let parsed = sdp(&offer.to_string());
    assert_eq!(parsed, offer);
    let negotiated = negotiate(&parsed).expect("our own offer");
    assert_eq!(
        (negotiated.codec, negotiated.remote_port),
        (AudioCodec::Pcmu, 10_000)
    );
    assert_eq!(
        negotiated.telephone_event.map(|t| t.events),
        Some(Some("0-16".to_owned()))
    );
}

#[test]
fn sdp_rejections() {
    use crate::sdp::SdpError;
    let cases: [(&[u8], SdpError); 6] = [
        (b"v=1\r\n", SdpError::BadVersion),
        (b"\xff", SdpError::InvalidUtf8),
        (b"v=0\r\ns=-\r\n", SdpError::BadOrigin),
        (
            b"v=0\r\no=- 1 1 IN IP4 x\r\nbogus\r\n",
            SdpError::BadLine(3),
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 x\r\nc=IN IP4\r\n",
            SdpError::BadConnection,
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 x\r\nm=audio 99999 RTP/AVP 0\r\n",
            SdpError::BadMedia,
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            SessionDescription::parse(bytes),
            Err(expected),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn connection_addresses_must_be_ip_addresses_of_their_type() {
    // (session c=, media c=, expected remote address or the refused address)
    let cases: [(&str, &str, Result<&str, &str>); 11] = [
        ("c=IN IP4 192.0.2.1", "", Ok("192.0.2.1")),
        ("c=IN IP6 2001:db8::1", "", Ok("2001:db8::1")),
        ("c=IN ip6 ::1", "", Ok("::1")),
        ("c=IN IP4 224.2.1.1/127", "", Ok("224.2.1.1")),
        ("c=IN IP4 0.0.0.0", "", Ok("0.0.0.0")),
        ("c=IN IP6 2001:db8::zz", "", Err("2001:db8::zz")),
        ("c=IN IP6 2001:db8:::1", "", Err("2001:db8:::1")),
        ("c=IN IP4 host.example.com", "", Err("host.example.com")),
        ("c=IN IP4 2001:db8::1", "", Err("2001:db8::1")),
        ("c=IN IP6 192.0.2.1", "", Err("192.0.2.1")),
        // A session-level address that does not parse is refused even when the media
        // level names a good one: every c= line counts.
        (
            "c=IN IP4 999.1.1.1",
            "c=IN IP4 192.0.2.1\n",
            Err("999.1.1.1"),
        ),
    ];
    for (session, media, expected) in cases {
        let offer = sdp(&format!(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n{session}\nm=audio 4000 RTP/AVP 0\n{media}"
        ));
        let got = negotiate(&offer);
        match expected {
            Ok(address) => assert_eq!(
                got.map(|n| n.remote_address.to_string()),
                Ok(address.to_owned()),
                "{session}"
            ),
            Err(address) => {
                assert_eq!(
                    got,
                    Err(NegotiationError::BadConnectionAddress(address.to_owned())),
                    "{session}"
                );
                assert_eq!(
                    NegotiationError::BadConnectionAddress(address.to_owned()).status(),
                    488
                );
            }
        }
    }
    // A bad address on a declined (video) m-line is refused too.
    let offer = sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\nm=video 0 RTP/AVP 31\nc=IN IP6 fe80::zz\n",
    );
    assert_eq!(
        negotiate(&offer),
        Err(NegotiationError::BadConnectionAddress(
            "fe80::zz".to_owned()
        ))
    );
}

#[test]
fn a_reoffer_is_answered_from_the_session_with_the_version_moving_only_on_change() {
    let local = LocalMedia {
        session_id: 7,
        session_version: 1,
        address_type: "IP4".to_owned(),
        address: "127.0.0.1".to_owned(),
        rtp_port: 40_000,
    };
    let offer = sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=sendrecv\n",
    );
    let first = build_answer(&offer, &negotiate(&offer).unwrap(), &local);
    assert_eq!(LocalMedia::of(&first), Some(local.clone()));

    // The same offer again (a session refresh): the same answer, the same version.
    let (again, negotiated) = reanswer(&offer, &first).unwrap();
    assert_eq!(again, first);
    assert_eq!(negotiated.direction, Direction::SendRecv);

    // Hold: sendonly is answered recvonly, with the version one up; the port stays.
    let hold = sdp(
        "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=sendonly\n",
    );
    let (held, negotiated) = reanswer(&hold, &first).unwrap();
    assert_eq!(negotiated.direction, Direction::RecvOnly);
    assert_eq!(held.origin.session_version, "2");
    assert_eq!(held.media[0].port, 40_000);
    assert!(held.to_string().contains("a=recvonly"), "{held}");

    // Resume from the held answer: sendrecv again, version 3.
    let (resumed, negotiated) = reanswer(&offer, &held).unwrap();
    assert_eq!(negotiated.direction, Direction::SendRecv);
    assert_eq!(resumed.origin.session_version, "3");

    // A new codec and address are taken; no common codec is refused and changes nothing.
    let moved = sdp(
        "v=0\no=- 1 3 IN IP4 192.0.2.9\ns=-\nc=IN IP4 192.0.2.9\nt=0 0\nm=audio 5000 RTP/AVP 8\n",
    );
    let (_, negotiated) = reanswer(&moved, &resumed).unwrap();
    assert_eq!(negotiated.codec, AudioCodec::Pcma);
    assert_eq!(negotiated.remote_port, 5000);
    let g729 = sdp(
        "v=0\no=- 1 4 IN IP4 192.0.2.9\ns=-\nc=IN IP4 192.0.2.9\nt=0 0\nm=audio 5000 RTP/AVP 18\n",
    );
    assert_eq!(
        reanswer(&g729, &resumed).map(|_| ()),
        Err(NegotiationError::NoCommonCodec)
    );
}
