//! Tests of the strict parser: accepted messages, every rejection kind, stream framing,
//! the 400 answer, and the parse/print round trip.

use super::*;

const INVITE: &str = "INVITE sip:+15551234567@127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0;rport\r\n\
f: sipp <sip:sipp@127.0.0.1:5070>;tag=1\r\n\
t: <sip:+15551234567@127.0.0.1:5060>\r\n\
i: 1-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:sipp@127.0.0.1:5070>\r\n\
Record-Route: <sip:proxy.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
Subject: Performance\r\n  Test\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\n";

fn parse(text: &str, framing: Framing) -> Result<Message, ParseError> {
    parse_message(text.as_bytes(), framing, &Limits::default())
}

fn request(text: &str) -> Request {
    match parse(text, Framing::Stream) {
        Ok(Message::Request(request)) => request,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn parses_compact_forms_folding_and_body() {
    let invite = request(INVITE);
    assert_eq!(invite.method, Method::Invite);
    assert_eq!(invite.uri, "sip:+15551234567@127.0.0.1:5060");
    assert_eq!(invite.headers.call_id(), Some("1-1@127.0.0.1"));
    assert_eq!(
        invite
            .headers
            .from()
            .and_then(|f| f.tag().map(str::to_owned))
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        invite
            .headers
            .top_via()
            .and_then(|v| v.branch().map(str::to_owned))
            .as_deref(),
        Some("z9hG4bK-1-0")
    );
    assert_eq!(invite.headers.get("subject"), Some("Performance Test"));
    assert_eq!(invite.headers.content_type(), Some("application/sdp"));
    assert_eq!(
        invite.headers.get("Content-Length"),
        None,
        "derived from the body, not stored"
    );
    assert_eq!(invite.body, b"v=0\n");
    assert_eq!(invite.headers.record_route().map(|r| r.len()), Some(1));
}

#[test]
fn datagrams_allow_missing_content_length_and_drop_trailing_bytes() {
    let no_length = INVITE.replace("l: 4\r\n", "");
    assert_eq!(request_datagram(&no_length).body, b"v=0\n");
    let extra = format!("{INVITE}junk");
    assert_eq!(request_datagram(&extra).body, b"v=0\n");
}

fn request_datagram(text: &str) -> Request {
    match parse(text, Framing::Datagram) {
        Ok(Message::Request(request)) => request,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn table_of_rejections() {
    let limits = Limits {
        max_message_bytes: 2_000,
        max_headers: 14,
        max_line_bytes: 200,
    };
    let long_line = format!("X-Long: {}\r\n", "a".repeat(300));
    let many = "X-A: 1\r\n".repeat(10);
    let cases: Vec<(String, Framing, ParseErrorKind)> = vec![
        ("\r\n\r\n".into(), Framing::Datagram, ParseErrorKind::Empty),
        (
            "x".repeat(2_001),
            Framing::Datagram,
            ParseErrorKind::MessageTooLarge(2_000),
        ),
        (
            INVITE.replace("Max-Forwards: 70\r\n", &long_line),
            Framing::Datagram,
            ParseErrorKind::LineTooLong(200),
        ),
        (
            INVITE.replace("Max-Forwards: 70\r\n", &many),
            Framing::Datagram,
            ParseErrorKind::TooManyHeaders(14),
        ),
        (
            INVITE.replace("\r\n\r\n", "\r\n"),
            Framing::Datagram,
            ParseErrorKind::UnterminatedHead,
        ),
        (
            INVITE.replace("Performance", "Perf\u{0}"),
            Framing::Datagram,
            ParseErrorKind::BadHeaderLine,
        ),
        (
            INVITE.replace("SIP/2.0\r\n", "SIP/3.0\r\n"),
            Framing::Datagram,
            ParseErrorKind::BadStartLine,
        ),
        (
            INVITE.replace("INVITE sip", "INVITE  sip"),
            Framing::Datagram,
            ParseErrorKind::BadStartLine,
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max Forwards: 70"),
            Framing::Datagram,
            ParseErrorKind::BadHeaderLine,
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards: 300"),
            Framing::Datagram,
            ParseErrorKind::BadHeader("Max-Forwards"),
        ),
        (
            INVITE.replace("i: 1-1@127.0.0.1\r\n", ""),
            Framing::Datagram,
            ParseErrorKind::MissingHeader("Call-ID"),
        ),
        (
            INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 INVITE\r\nCSeq: 2 INVITE"),
            Framing::Datagram,
            ParseErrorKind::DuplicateHeader("CSeq"),
        ),
        (
            INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"),
            Framing::Datagram,
            ParseErrorKind::CseqMethodMismatch,
        ),
        (
            INVITE.replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
            Framing::Datagram,
            ParseErrorKind::BadHeader("CSeq"),
        ),
        (
            INVITE.replace(";branch", " ;branch=;"),
            Framing::Datagram,
            ParseErrorKind::BadHeader("Via"),
        ),
        (
            INVITE.replace("t: <sip", "t: \"x <sip"),
            Framing::Datagram,
            ParseErrorKind::BadHeader("To"),
        ),
        (
            INVITE.replace("l: 4", "l: 5"),
            Framing::Datagram,
            ParseErrorKind::ContentLengthMismatch {
                declared: 5,
                actual: 4,
            },
        ),
        (
            INVITE.replace("l: 4", "l: 3"),
            Framing::Stream,
            ParseErrorKind::ContentLengthMismatch {
                declared: 3,
                actual: 4,
            },
        ),
        (
            INVITE.replace("l: 4", "l: four"),
            Framing::Datagram,
            ParseErrorKind::BadHeader("Content-Length"),
        ),
        (
            INVITE.replace("l: 4\r\n", ""),
            Framing::Stream,
            ParseErrorKind::MissingContentLength,
        ),
        (
            INVITE.replace("l: 4", "l: 4\r\nContent-Length: 4"),
            Framing::Stream,
            ParseErrorKind::DuplicateHeader("Content-Length"),
        ),
        (
            INVITE.replace("c: application/sdp\r\n", ""),
            Framing::Datagram,
            ParseErrorKind::MissingContentType,
        ),
        (
            INVITE
                .replace("\r\nv=0", "\r\n\u{ff}=0")
                .replace("Subject", "Sübject"),
            Framing::Datagram,
            ParseErrorKind::BadHeaderLine,
        ),
    ];
    for (text, framing, expected) in cases {
        let error =
            parse_message(text.as_bytes(), framing, &limits).expect_err(&expected.to_string());
        assert_eq!(error.kind, expected, "{}", text.escape_debug());
    }
    let invalid_utf8 = [b"OPTIONS sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n".as_slice()].concat();
    let error =
        parse_message(&invalid_utf8, Framing::Datagram, &limits).expect_err("invalid utf-8");
    assert_eq!(error.kind, ParseErrorKind::InvalidUtf8);
}

#[test]
fn bad_requests_can_be_answered_with_400() {
    let broken = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let error = parse(&broken, Framing::Datagram).expect_err("mismatch");
    let answer = error
        .bad_request("as83kd9")
        .expect("enough headers to answer");
    assert_eq!(
        (answer.status, answer.reason.as_str()),
        (400, "Bad Request")
    );
    assert_eq!(
        answer
            .headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("as83kd9")
    );
    assert_eq!(answer.headers.get("CSeq"), Some("1 BYE"));
    let garbage = parse("hello\r\n\r\n", Framing::Datagram).expect_err("garbage");
    assert_eq!(garbage.bad_request("x"), None);
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    assert_eq!(
        parse(&ack, Framing::Datagram)
            .expect_err("mismatch")
            .bad_request("x"),
        None,
        "never answer an ACK"
    );
}

#[test]
fn parses_responses() {
    let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@a.example>;tag=1\r\n\
To: <sip:b@b.example>;tag=2\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
    let Ok(Message::Response(response)) = parse(text, Framing::Stream) else {
        panic!("response")
    };
    assert_eq!(
        (response.status, response.reason.as_str()),
        (180, "Ringing")
    );
    assert_eq!(String::from_utf8_lossy(&response.to_bytes()), text);
}

#[test]
fn stream_framing() {
    let limits = Limits::default();
    let two = format!("\r\n\r\n{INVITE}{INVITE}");
    assert_eq!(
        frame_stream(two.as_bytes(), &limits),
        Ok(StreamFrame::KeepAlive(4))
    );
    let rest = &two.as_bytes()[4..];
    assert_eq!(
        frame_stream(rest, &limits),
        Ok(StreamFrame::Message(INVITE.len()))
    );
    assert_eq!(
        frame_stream(&rest[..INVITE.len() - 1], &limits),
        Ok(StreamFrame::Incomplete)
    );
    assert_eq!(
        frame_stream(&rest[..20], &limits),
        Ok(StreamFrame::Incomplete)
    );
    let no_length = INVITE.replace("l: 4\r\n", "");
    assert_eq!(
        frame_stream(no_length.as_bytes(), &limits).map_err(|e| e.kind),
        Err(ParseErrorKind::MissingContentLength)
    );
    let huge = INVITE.replace("l: 4", "l: 999999");
    assert_eq!(
        frame_stream(huge.as_bytes(), &limits).map_err(|e| e.kind),
        Err(ParseErrorKind::MessageTooLarge(65_535))
    );
    let endless = "A".repeat(10_000);
    assert_eq!(
        frame_stream(endless.as_bytes(), &limits).map_err(|e| e.kind),
        Err(ParseErrorKind::LineTooLong(8_192))
    );
}

#[test]
fn fuzz_regressions_reprint_identically() {
    // An empty folded continuation must not leave trailing space; a message at the header limit
    // must still parse after printing adds Content-Length.
    let limits = Limits {
        max_message_bytes: 4_000,
        max_headers: 10,
        max_line_bytes: 200,
    };
    let cases = [
        INVITE.replace(
            "Subject: Performance\r\n  Test",
            "Subject: Performance\r\n \r\n\t",
        ),
        INVITE.replace("l: 4\r\n", ""),
    ];
    for text in cases {
        let message = parse_message(text.as_bytes(), Framing::Datagram, &limits).expect("valid");
        let printed = message.to_bytes();
        assert_eq!(
            parse_message(&printed, Framing::Stream, &limits),
            Ok(message),
            "{}",
            text.escape_debug()
        );
    }
}

#[test]
fn canonical_names() {
    let cases = [
        ("v", "Via"),
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("X-Custom", "X-Custom"),
    ];
    for (input, expected) in cases {
        assert_eq!(canonical_name(input), expected);
    }
}

mod round_trip;

/// RFC 4475 §3.1.1.1 "A Short Tortuous INVITE" (wsinv.dat): valid, with LWS and folding
/// everywhere the grammar allows it. Strict means rejecting what is wrong, not what is unusual.
const WSINV: &str = r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"#;

#[test]
fn rfc_4475_short_tortuous_invite() {
    let text = WSINV.replace('\n', "\r\n");
    let invite = request(&text);
    let headers = &invite.headers;
    assert_eq!(
        headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("1918181833n")
    );
    let from = headers.from().expect("from");
    assert_eq!(
        (from.display_name.as_deref(), from.tag()),
        (Some("J Rosenberg \\\""), Some("98asjd8"))
    );
    assert_eq!(headers.max_forwards(), Some(68));
    assert_eq!(headers.cseq().map(|c| c.sequence), Some(9));
    let vias = headers.vias().expect("three valid vias");
    let sent_by: Vec<_> = vias
        .iter()
        .map(|v| (v.transport.as_str(), v.host.as_str(), v.branch()))
        .collect();
    assert_eq!(
        sent_by,
        [
            ("UDP", "192.0.2.2", Some("390skdjuw")),
            ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8")),
            ("UDP", "192.168.255.111", Some("z9hG4bK30239")),
        ]
    );
    assert_eq!(headers.get("Subject"), Some(""));
    assert_eq!(
        headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let contact = headers.contact().expect("contact");
    assert_eq!(contact.display_name.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.params.get("q"), Some(Some("0.33")));
    assert_eq!(invite.body.len(), 150);
    let reprinted = parse_message(&invite.to_bytes(), Framing::Stream, &Limits::default());
    assert_eq!(reprinted, Ok(Message::Request(invite)));
}
