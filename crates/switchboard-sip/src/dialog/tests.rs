//! Dialog tests: UAS and UAC creation, routing (loose and strict), CSeq ordering, and that
//! every built request passes the strict parser.

use super::*;
use crate::error::Limits;
use crate::message::Message;
use crate::parse::{Framing, parse_message};

fn parse(text: &str) -> Message {
    parse_message(
        text.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes(),
        Framing::Datagram,
        &Limits::default(),
    )
    .expect("valid message")
}

fn inbound_invite(record_route: &str) -> Request {
    let text = format!(
        "INVITE sip:+15551234567@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1\n{record_route}From: \"Caller\" <sip:caller@10.0.0.1>;tag=c1\n\
To: <sip:+15551234567@10.0.0.2>\nCall-ID: d1\nCSeq: 5 INVITE\nContact: <sip:caller@10.0.0.1:5070>\nContent-Length: 0\n\n"
    );
    match parse(&text) {
        Message::Request(request) => request,
        Message::Response(_) => panic!("request expected"),
    }
}

fn via() -> Via {
    Via::parse("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKbye").expect("valid via")
}

#[test]
fn uas_bye_through_loose_routers_parses_and_matches() {
    let invite = inbound_invite("Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n");
    let mut dialog = Dialog::uas(&invite, "us1").expect("dialog");
    assert_eq!(
        dialog.next_hop().map(|u| u.host),
        Some("p1.example".to_owned())
    );
    let bye = dialog.build_request(Method::Bye, &via());
    assert_eq!(bye.uri, "sip:caller@10.0.0.1:5070");
    assert_eq!(
        bye.headers.get_all("Route").collect::<Vec<_>>(),
        ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    );
    assert_eq!(
        bye.headers.get("From"),
        Some("<sip:+15551234567@10.0.0.2>;tag=us1")
    );
    assert_eq!(
        bye.headers.get("To"),
        Some("\"Caller\" <sip:caller@10.0.0.1>;tag=c1")
    );
    assert_eq!(bye.headers.get("CSeq"), Some("1 BYE"));
    assert_eq!(
        parse(&String::from_utf8_lossy(&bye.to_bytes())),
        Message::Request(bye.clone())
    );
    assert_eq!(
        dialog
            .build_request(Method::Bye, &via())
            .headers
            .get("CSeq"),
        Some("2 BYE")
    );
}

#[test]
fn strict_router_becomes_the_request_uri() {
    let invite =
        inbound_invite("Record-Route: <sip:strict.example>\nRecord-Route: <sip:p2.example;lr>\n");
    let mut dialog = Dialog::uas(&invite, "us1").expect("dialog");
    let bye = dialog.build_request(Method::Bye, &via());
    assert_eq!(bye.uri, "sip:strict.example");
    assert_eq!(
        bye.headers.get_all("Route").collect::<Vec<_>>(),
        ["<sip:p2.example;lr>", "<sip:caller@10.0.0.1:5070>"]
    );
}

#[test]
fn in_dialog_requests_are_matched_and_ordered() {
    let invite = inbound_invite("");
    let mut dialog = Dialog::uas(&invite, "us1").expect("dialog");
    let bye_text = "BYE sip:x@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK2\nFrom: <sip:caller@10.0.0.1>;tag=c1\n\
To: <sip:+15551234567@10.0.0.2>;tag=us1\nCall-ID: d1\nCSeq: 6 BYE\nContent-Length: 0\n\n";
    let Message::Request(bye) = parse(bye_text) else {
        panic!("request")
    };
    assert!(dialog.matches_request(&bye));
    assert_eq!(dialog.handle_request(&bye), Ok(()));
    assert_eq!(
        dialog.handle_request(&bye),
        Err(DialogError::CseqOutOfOrder {
            received: 6,
            last: 6
        })
    );
    let Message::Request(other) = parse(&bye_text.replace("tag=us1", "tag=zz")) else {
        panic!("request")
    };
    assert!(!dialog.matches_request(&other));
    assert_eq!(
        Dialog::uas(&inbound_invite("").clone_without_from_tag(), "t"),
        Err(DialogError::MissingRemoteTag)
    );
}

trait WithoutFromTag {
    fn clone_without_from_tag(&self) -> Request;
}

impl WithoutFromTag for Request {
    fn clone_without_from_tag(&self) -> Request {
        let mut request = self.clone();
        request.headers.set("From", "<sip:caller@10.0.0.1>");
        request
    }
}

#[test]
fn uac_dialog_reverses_the_route_set_and_acks_the_2xx() {
    let invite = {
        let mut invite = Request::new(Method::Invite, "sip:callee@10.0.0.5");
        invite
            .headers
            .push("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKout");
        invite
            .headers
            .push("From", "<sip:+15550001111@10.0.0.2>;tag=us2");
        invite.headers.push("To", "<sip:callee@10.0.0.5>");
        invite.headers.push("Call-ID", "out-1");
        invite.headers.push("CSeq", "7 INVITE");
        invite
    };
    let mut ok = invite.response(200, "them");
    ok.headers
        .push("Record-Route", "<sip:p2.example;lr>, <sip:p1.example;lr>");
    ok.headers.push("Contact", "<sip:callee@10.0.0.5:5080>");
    let mut dialog = Dialog::uac(&invite, &ok).expect("dialog");
    let ack = dialog.build_ack(7, &via());
    assert_eq!(ack.uri, "sip:callee@10.0.0.5:5080");
    assert_eq!(ack.headers.get("CSeq"), Some("7 ACK"));
    assert_eq!(
        ack.headers.get_all("Route").collect::<Vec<_>>(),
        ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    );
    assert_eq!(
        ack.headers.get("To"),
        Some("<sip:callee@10.0.0.5>;tag=them")
    );
    assert_eq!(
        dialog
            .build_request(Method::Bye, &via())
            .headers
            .get("CSeq"),
        Some("8 BYE")
    );
    assert_eq!(
        Dialog::uac(&invite, &invite.response(200, "")),
        Err(DialogError::MissingRemoteTag)
    );
}
