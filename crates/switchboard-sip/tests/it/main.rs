//! Integration tests: whole calls, shaped like sipp's `uac_pcap` and CANCEL scenarios, driven
//! through the public API the way the tokio transport and call driver will drive it (bytes in,
//! transactions and dialog, bytes out) on a virtual clock.

use switchboard_sip::{
    AudioCodec, Dialog, Framing, InviteServerOutput, InviteServerState, InviteServerTransaction,
    Limits, LocalMedia, Message, Method, NonInviteServerOutput, NonInviteServerTransaction,
    Request, Response, SessionDescription, SipUri, StreamFrame, TimerConfig, TransactionKey,
    TransportKind, build_answer, frame_stream, negotiate, parse_message,
};

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

fn from_caller(method: &str, branch: &str, cseq: u32, to_tag: &str, body: &str) -> Vec<u8> {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:+15551234567@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n\
From: sipp <sip:sipp@127.0.0.1:5070>;tag=77SIPpTag001\r\nTo: <sip:+15551234567@127.0.0.1:5060>{to_tag}\r\n\
Call-ID: 1-4242@127.0.0.1\r\nCSeq: {cseq} {method}\r\nContact: sip:sipp@127.0.0.1:5070\r\nMax-Forwards: 70\r\n\
Subject: Performance Test\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn request(bytes: &[u8]) -> Request {
    match parse_message(bytes, Framing::Datagram, &Limits::default()) {
        Ok(Message::Request(request)) => request,
        other => panic!("expected a request: {other:?}"),
    }
}

/// Drains the transaction, returning the statuses it sent (each re-parsed from its bytes).
fn sent(transaction: &mut InviteServerTransaction) -> Vec<u16> {
    std::iter::from_fn(|| transaction.poll_output())
        .filter_map(|output| match output {
            InviteServerOutput::Send(response) => {
                let bytes = response.to_bytes();
                match parse_message(&bytes, Framing::Stream, &Limits::default()) {
                    Ok(Message::Response(parsed)) => Some(parsed.status),
                    other => panic!("we sent something we cannot parse: {other:?}"),
                }
            }
            _ => None,
        })
        .collect()
}

#[test]
fn inbound_call_answered_acknowledged_and_hung_up_by_the_caller() {
    let invite = request(&from_caller("INVITE", "z9hG4bK-1-0", 1, "", SDP));
    assert_eq!(
        SipUri::parse(&invite.uri)
            .and_then(|u| u.user_digits())
            .as_deref(),
        Some("15551234567")
    );
    let key = TransactionKey::for_server(&invite).expect("branch");
    let mut transaction = InviteServerTransaction::new(
        invite.clone(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    assert_eq!(sent(&mut transaction), [100]);

    transaction.respond(10, invite.response(180, "sb-1"));
    assert_eq!(sent(&mut transaction), [180]);
    let retransmission = request(&from_caller("INVITE", "z9hG4bK-1-0", 1, "", SDP));
    assert_eq!(
        TransactionKey::for_server(&retransmission).as_ref(),
        Some(&key)
    );
    transaction.handle_request(300, &retransmission);
    assert_eq!(
        sent(&mut transaction),
        [180],
        "a retransmitted INVITE is answered from the transaction"
    );

    let offer = SessionDescription::parse(&invite.body).expect("sdp");
    let negotiated = negotiate(&offer).expect("PCMA is common");
    assert_eq!(
        (
            negotiated.codec,
            negotiated.telephone_event.as_ref().map(|t| t.payload_type)
        ),
        (AudioCodec::Pcma, Some(101))
    );
    let local = LocalMedia {
        session_id: 9,
        session_version: 1,
        address_type: "IP4".into(),
        address: "127.0.0.1".into(),
        rtp_port: 10_000,
    };
    let mut ok = invite.response(200, "sb-1");
    ok.headers
        .push("Contact", "<sip:+15551234567@127.0.0.1:5060>");
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = build_answer(&offer, &negotiated, &local).to_bytes();
    let mut dialog = Dialog::uas(&invite, "sb-1").expect("dialog");
    transaction.respond(1_000, ok);
    assert_eq!(sent(&mut transaction), [200]);
    transaction.handle_timeout(1_500);
    assert_eq!(
        sent(&mut transaction),
        [200],
        "2xx retransmitted until the ACK"
    );

    let ack = request(&from_caller("ACK", "z9hG4bK-1-5", 1, ";tag=sb-1", ""));
    assert_ne!(
        TransactionKey::for_server(&ack).as_ref(),
        Some(&key),
        "the 2xx ACK is its own transaction"
    );
    assert!(dialog.matches_request(&ack));
    transaction.handle_2xx_ack();
    assert_eq!(
        transaction.poll_timeout(),
        Some(33_000),
        "only Timer L is left"
    );
    transaction.handle_timeout(33_000);
    assert_eq!(transaction.state(), InviteServerState::Terminated);

    let bye = request(&from_caller("BYE", "z9hG4bK-1-9", 2, ";tag=sb-1", ""));
    assert!(dialog.matches_request(&bye));
    assert_eq!(dialog.handle_request(&bye), Ok(()));
    let mut bye_transaction = NonInviteServerTransaction::new(
        bye.clone(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    bye_transaction.respond(40_000, bye.response(200, "sb-1"));
    let Some(NonInviteServerOutput::Send(response)) = bye_transaction.poll_output() else {
        panic!("200 to BYE")
    };
    assert_eq!(response.headers.get("CSeq"), Some("2 BYE"));
}

#[test]
fn cancel_while_ringing_gets_200_then_487_and_its_ack_is_absorbed() {
    let invite = request(&from_caller("INVITE", "z9hG4bK-2-0", 1, "", SDP));
    let key = TransactionKey::for_server(&invite).expect("branch");
    let mut transaction = InviteServerTransaction::new(
        invite.clone(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    transaction.respond(0, invite.response(180, "sb-2"));
    assert_eq!(sent(&mut transaction), [100, 180]);

    let cancel = request(&from_caller("CANCEL", "z9hG4bK-2-0", 1, "", ""));
    assert_eq!(TransactionKey::cancel_target(&cancel).as_ref(), Some(&key));
    let mut cancel_transaction = NonInviteServerTransaction::new(
        cancel.clone(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    assert!(cancel_transaction.respond(100, cancel.response(200, "sb-2")));
    assert!(transaction.respond(100, invite.response(487, "sb-2")));
    assert_eq!(sent(&mut transaction), [487]);

    let ack = request(&from_caller("ACK", "z9hG4bK-2-0", 1, ";tag=sb-2", ""));
    assert_eq!(
        TransactionKey::for_server(&ack).as_ref(),
        Some(&key),
        "the non-2xx ACK matches the INVITE"
    );
    transaction.handle_request(200, &ack);
    assert_eq!(transaction.state(), InviteServerState::Confirmed);
    transaction.handle_timeout(5_200);
    assert_eq!(transaction.state(), InviteServerState::Terminated);
}

#[test]
fn garbage_and_broken_requests() {
    let limits = Limits::default();
    assert!(
        parse_message(b"\x16\x03\x01garbage", Framing::Datagram, &limits)
            .expect_err("garbage")
            .bad_request("x")
            .is_none()
    );
    let mut broken = from_caller("INVITE", "z9hG4bK-3-0", 1, "", SDP);
    broken.truncate(broken.len() - 20);
    let error = parse_message(&broken, Framing::Datagram, &limits).expect_err("truncated body");
    let answer: Response = error.bad_request("sb-3").expect("a 400 can be built");
    assert_eq!(answer.status, 400);
    let bytes = answer.to_bytes();
    assert!(matches!(
        parse_message(&bytes, Framing::Stream, &limits),
        Ok(Message::Response(_))
    ));
}

#[test]
fn tcp_stream_with_two_messages_and_a_keepalive() {
    let limits = Limits::default();
    let mut stream = from_caller("OPTIONS", "z9hG4bK-4-0", 1, "", "");
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend(from_caller("INVITE", "z9hG4bK-4-1", 1, "", SDP));
    let mut methods = Vec::new();
    let mut buffer = stream.as_slice();
    while !buffer.is_empty() {
        match frame_stream(buffer, &limits).expect("valid framing") {
            StreamFrame::KeepAlive(n) => buffer = &buffer[n..],
            StreamFrame::Message(n) => {
                let Ok(Message::Request(request)) =
                    parse_message(&buffer[..n], Framing::Stream, &limits)
                else {
                    panic!("request")
                };
                methods.push(request.method);
                buffer = &buffer[n..];
            }
            StreamFrame::Incomplete => panic!("the whole stream is there"),
        }
    }
    assert_eq!(methods, [Method::Options, Method::Invite]);
}
