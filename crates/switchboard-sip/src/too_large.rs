//! `513 Message Too Large` for a request larger than the transport takes (RFC 3261 §21.5.14):
//! built from the request's head alone, so a client that sent a large request over UDP learns to
//! send it over TCP instead of retransmitting into silence.
//!
//! The head is read more leniently than `parse_message` reads a message: any line length (the
//! oversized part is often one long header) and up to [`MAX_HEAD_FIELDS`] header fields, the
//! body never looked at. All that is needed is a request line that is not an ACK (which is never
//! answered) and the five fields a response copies: Via, From, To, Call-ID and CSeq. Anything
//! less, a response, or a head that does not end within the bytes at hand (a datagram truncated
//! inside its head) gives `None`: the caller drops the message and counts it.
//!
//! Pure: no IO; the work is linear in `bytes`, which the transport bounds (one datagram).

use crate::error::{Limits, answer_from_headers};
use crate::message::{Method, Response};
use crate::parse::{Start, find_head_end, parse_header_lines, parse_start_line, skip_keepalive};

/// Most header fields read from an oversized head (a normal request has a few dozen).
pub const MAX_HEAD_FIELDS: usize = 1_000;

/// The `513` to send for the oversized (or truncated) request in `bytes`, when its head can be
/// read; `None`: drop it.
pub fn too_large_response(bytes: &[u8], to_tag: &str) -> Option<Response> {
    let bytes = skip_keepalive(bytes);
    let head_end = find_head_end(bytes)?;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let (start_line, header_text) = head.split_once("\r\n")?;
    match parse_start_line(start_line).ok()? {
        Start::Request(method, _) if method != Method::Ack => {}
        Start::Request(..) | Start::Response(..) => return None,
    }
    let lenient = Limits {
        max_message_bytes: bytes.len(),
        max_headers: MAX_HEAD_FIELDS,
        max_line_bytes: bytes.len(),
    };
    let headers = parse_header_lines(header_text, &lenient).ok()?;
    answer_from_headers(&headers, 513, to_tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::{Framing, parse_message};

    const HEAD: &str = "OPTIONS sip:+15550100@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-big\r\n\
        From: <sip:probe@127.0.0.1>;tag=p1\r\n\
        To: <sip:+15550100@127.0.0.1>\r\n\
        Call-ID: big-1@127.0.0.1\r\n\
        CSeq: 1 OPTIONS\r\n\
        Max-Forwards: 70\r\n";

    fn padded(head: &str, padding: usize) -> Vec<u8> {
        format!(
            "{head}X-Padding: {}\r\nContent-Length: 0\r\n\r\n",
            "a".repeat(padding)
        )
        .into_bytes()
    }

    #[test]
    fn an_oversized_request_with_a_readable_head_gets_513_with_its_identity() {
        // One 10 KB header line: longer than `parse_message` takes a line, still readable here.
        let response = too_large_response(&padded(HEAD, 10_000), "t513").expect("a 513");
        assert_eq!(
            (response.status, response.reason.as_str()),
            (513, "Message Too Large")
        );
        let bytes = response.to_bytes();
        let Ok(Message::Response(parsed)) =
            parse_message(&bytes, Framing::Datagram, &Limits::default())
        else {
            panic!("the 513 parses: {}", String::from_utf8_lossy(&bytes));
        };
        assert_eq!(
            parsed.headers.get("Via"),
            Some("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-big")
        );
        assert_eq!(parsed.headers.get("Call-ID"), Some("big-1@127.0.0.1"));
        assert_eq!(parsed.headers.get("CSeq"), Some("1 OPTIONS"));
        assert_eq!(
            parsed.headers.get("To"),
            Some("<sip:+15550100@127.0.0.1>;tag=t513")
        );
    }

    #[test]
    fn what_cannot_be_answered_is_dropped() {
        let ack = HEAD
            .replace("OPTIONS sip", "ACK sip")
            .replace("1 OPTIONS", "1 ACK");
        let response_head =
            HEAD.replace("OPTIONS sip:+15550100@127.0.0.1 SIP/2.0", "SIP/2.0 200 OK");
        let no_call_id = HEAD.replace("Call-ID: big-1@127.0.0.1\r\n", "");
        let whole = padded(HEAD, 10_000);
        // (what, bytes)
        let cases: [(&str, Vec<u8>); 6] = [
            ("an ACK", padded(&ack, 10_000)),
            ("a response", padded(&response_head, 10_000)),
            ("no Call-ID", padded(&no_call_id, 10_000)),
            ("a head cut short", whole[..9_000].to_vec()),
            ("not SIP", vec![b'x'; 10_000]),
            ("nothing", Vec::new()),
        ];
        for (what, bytes) in cases {
            assert!(too_large_response(&bytes, "t").is_none(), "{what}");
        }
        // A head of more fields than any request carries is not read.
        let many: String = (0..=MAX_HEAD_FIELDS)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect();
        assert!(too_large_response(&padded(&format!("{HEAD}{many}"), 10), "t").is_none());
    }

    #[test]
    fn a_body_cut_short_still_gets_513() {
        // A datagram truncated inside its body: the head is whole, so it is answered.
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"Content-Type: application/sdp\r\nContent-Length: 20000\r\n\r\nv=0\r\n",
        );
        let response = too_large_response(&bytes, "t").expect("a 513");
        assert_eq!(response.status, 513);
    }
}
