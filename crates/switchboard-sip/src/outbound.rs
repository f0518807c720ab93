//! What the UAC side needs beyond transactions and dialogs: building an out-of-dialog request
//! (the INVITE of `<Dial>` and outbound calls, or an OPTIONS probe), and reading the SIP INFO
//! `application/dtmf-relay` body, the second DTMF path next to RFC 4733.

use crate::header::{NameAddr, Via};
use crate::message::{Method, Request};
use crate::response::with_tag;

/// The parts of a new out-of-dialog request; the caller draws the tag, Call-ID and branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// Request-URI and To URI (e.g. `sip:callee@host:5080`).
    pub target: String,
    /// Our address for From.
    pub from: NameAddr,
    /// Our From tag.
    pub from_tag: String,
    /// A fresh Call-ID.
    pub call_id: String,
    /// Our Via, with a fresh `z9hG4bK` branch.
    pub via: Via,
    /// Our Contact URI.
    pub contact: String,
    /// The CSeq number (usually 1).
    pub sequence: u32,
    /// Outbound proxy route (`<sip:proxy;lr>`), if any.
    pub route: Option<String>,
}

impl NewRequest {
    /// Builds the request with Max-Forwards 70 and, when `body` is given, its content type.
    pub fn build(&self, method: Method, body: Option<(&str, Vec<u8>)>) -> Request {
        let mut request = Request::new(method.clone(), self.target.clone());
        request.headers.push("Via", self.via.to_string());
        if let Some(route) = &self.route {
            request.headers.push("Route", route.clone());
        }
        request.headers.push("Max-Forwards", "70");
        request.headers.push(
            "From",
            with_tag(self.from.clone(), &self.from_tag).to_string(),
        );
        request
            .headers
            .push("To", NameAddr::new(self.target.clone()).to_string());
        request.headers.push("Call-ID", self.call_id.clone());
        request
            .headers
            .push("CSeq", format!("{} {method}", self.sequence));
        request
            .headers
            .push("Contact", format!("<{}>", self.contact));
        if let Some((content_type, bytes)) = body {
            request.headers.push("Content-Type", content_type);
            request.body = bytes;
        }
        request
    }
}

/// A key press carried by SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfRelay {
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// Duration in milliseconds, when given.
    pub duration_ms: Option<u32>,
}

/// Parses an `application/dtmf-relay` body (`Signal=5\r\nDuration=160\r\n`); `None` when
/// there is no valid `Signal` (the INFO is still answered `200`).
pub fn parse_dtmf_relay(body: &[u8]) -> Option<DtmfRelay> {
    let text = std::str::from_utf8(body).ok()?;
    let mut digit = None;
    let mut duration_ms = None;
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "signal" => {
                let mut chars = value.chars();
                digit = match (chars.next(), chars.next()) {
                    (Some(c @ ('0'..='9' | '*' | '#' | 'A'..='D')), None) => Some(c),
                    (Some(c @ 'a'..='d'), None) => Some(c.to_ascii_uppercase()),
                    _ => None,
                };
            }
            "duration" => duration_ms = value.parse().ok(),
            _ => {}
        }
    }
    Some(DtmfRelay {
        digit: digit?,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Limits;
    use crate::message::Message;
    use crate::parse::{Framing, parse_message};

    /// (body, expected digit and duration).
    type Case = (&'static [u8], Option<(char, Option<u32>)>);

    #[test]
    fn dtmf_relay_bodies() {
        let cases: [Case; 6] = [
            (b"Signal=5\r\nDuration=160\r\n", Some(('5', Some(160)))),
            (b"signal= #\nduration=250", Some(('#', Some(250)))),
            (b"Signal=b\r\n", Some(('B', None))),
            (b"Signal=55\r\n", None),
            (b"Duration=100\r\n", None),
            (b"\xff", None),
        ];
        for (body, expected) in cases {
            let parsed = parse_dtmf_relay(body).map(|d| (d.digit, d.duration_ms));
            assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn built_invite_passes_the_strict_parser() {
        let new = NewRequest {
            target: "sip:callee@127.0.0.1:5080".into(),
            from: NameAddr {
                display_name: Some("+15550001111".into()),
                ..NameAddr::new("sip:+15550001111@127.0.0.1")
            },
            from_tag: "ft1".into(),
            call_id: "out-77@127.0.0.1".into(),
            via: Via::parse("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1;rport")
                .expect("valid via"),
            contact: "sip:switchboard@127.0.0.1:5060".into(),
            sequence: 1,
            route: Some("<sip:proxy.example;lr>".into()),
        };
        let invite = new.build(
            Method::Invite,
            Some(("application/sdp", b"v=0\r\n".to_vec())),
        );
        let parsed = parse_message(&invite.to_bytes(), Framing::Stream, &Limits::default());
        assert_eq!(parsed, Ok(Message::Request(invite.clone())));
        assert_eq!(
            invite
                .headers
                .from()
                .and_then(|f| f.tag().map(str::to_owned))
                .as_deref(),
            Some("ft1")
        );
        assert_eq!(
            invite.headers.to().map(|t| t.uri),
            Some("sip:callee@127.0.0.1:5080".to_owned())
        );
    }
}
