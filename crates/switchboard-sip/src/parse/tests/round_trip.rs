//! Property tests: parse(print(m)) == m for generated messages, and no input panics the parser.

use super::*;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,12}"
}

fn header() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        ("X-[A-Za-z0-9]{1,8}", "[ -~]{0,30}").prop_map(|(n, v)| (n, v.trim().to_owned())),
        token().prop_map(|t| ("Contact".to_owned(), format!("<sip:{t}@example.com>"))),
        (1u8..=255).prop_map(|n| ("Max-Forwards".to_owned(), n.to_string())),
        token().prop_map(|t| ("Record-Route".to_owned(), format!("<sip:{t}.example;lr>"))),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<bool>(),
        token(),
        (100u16..700, "[ -~]{0,20}"),
        token(),
        (0u32..(1 << 31)),
        proptest::collection::vec(header(), 0..6),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(is_request, word, (status, reason), tag, seq, extra, body)| {
                let method = Method::parse(&word.to_ascii_uppercase()).unwrap_or(Method::Options);
                let mut headers = Headers::new();
                let host: String = word.chars().filter(char::is_ascii_alphanumeric).collect();
                headers.push(
                    "Via",
                    format!("SIP/2.0/UDP h{host}.example:5060;branch=z9hG4bK{tag};rport"),
                );
                headers.push(
                    "From",
                    format!("\"{word}\" <sip:{word}@example.com>;tag={tag}"),
                );
                headers.push("To", "<sip:+15551234567@example.com>");
                headers.push("Call-ID", format!("{tag}@{word}"));
                headers.push("CSeq", format!("{seq} {method}"));
                for (name, value) in extra {
                    headers.push(name, value);
                }
                if !body.is_empty() {
                    headers.push("Content-Type", "application/octet-stream");
                }
                if is_request {
                    Message::Request(Request {
                        method,
                        uri: format!("sip:{word}@example.com"),
                        headers,
                        body,
                    })
                } else {
                    let reason = reason.trim_start().to_owned();
                    Message::Response(Response {
                        status,
                        reason,
                        headers,
                        body,
                    })
                }
            },
        )
}

proptest! {
    #[test]
    fn parse_of_print_is_identity(message in message()) {
        let printed = message.to_bytes();
        for framing in [Framing::Datagram, Framing::Stream] {
            let parsed = parse_message(&printed, framing, &Limits::default());
            prop_assert_eq!(parsed.as_ref(), Ok(&message), "{}", String::from_utf8_lossy(&printed));
        }
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_message(&bytes, Framing::Datagram, &Limits::default());
        let _ = frame_stream(&bytes, &Limits::default());
    }

    #[test]
    fn parser_never_panics_on_mutated_invites(index in 0usize..400, byte in any::<u8>()) {
        let mut bytes = INVITE.as_bytes().to_vec();
        let at = index % bytes.len();
        bytes[at] = byte;
        if let Ok(message) = parse_message(&bytes, Framing::Datagram, &Limits::default()) {
            let again = parse_message(&message.to_bytes(), Framing::Stream, &Limits::default());
            prop_assert_eq!(again, Ok(message));
        }
    }
}
