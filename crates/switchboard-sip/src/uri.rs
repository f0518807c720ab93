//! SIP and SIPS URIs (RFC 3261 §19.1), parsed just far enough for routing: user, host, port,
//! URI parameters (`lr`, `transport`, `user`) and headers kept as text.

use std::fmt;

use crate::header::{Params, parse_host_port};

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, percent-escapes kept as received; `None` when there is no `@`.
    pub user: Option<String>,
    /// Host name or address (IPv6 in brackets).
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: Params,
    /// The `?headers` part without the `?`, when given.
    pub headers: Option<String>,
}

impl SipUri {
    /// Parses a SIP URI; `None` for other schemes or malformed text. A password in the user
    /// part is dropped.
    pub fn parse(text: &str) -> Option<SipUri> {
        let text = text.trim();
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "sips:") {
            (true, rest)
        } else {
            (false, strip_prefix_ignore_case(text, "sip:")?)
        };
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"')
        {
            return None;
        }
        let (rest, headers) = match rest.split_once('?') {
            Some((rest, headers)) => (rest, Some(headers.to_owned())),
            None => (rest, None),
        };
        let (user, host_part) = match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or(user);
                if user.is_empty() {
                    return None;
                }
                (Some(user.to_owned()), host)
            }
            None => (None, rest),
        };
        let (host_port, params) =
            host_part.split_at(host_part.find(';').unwrap_or(host_part.len()));
        let (host, port) = parse_host_port(host_port)?;
        Some(SipUri {
            secure,
            user,
            host,
            port,
            params: Params::parse(params)?,
            headers,
        })
    }

    /// The user part with a leading `+` removed and visual separators dropped, if what is left is
    /// all digits — how an inbound Request-URI is matched against provisioned numbers.
    pub fn user_digits(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let digits: String = user
            .trim_start_matches('+')
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .collect();
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    }

    /// True when the URI carries the `lr` (loose routing) parameter.
    pub fn is_loose_router(&self) -> bool {
        self.params.get("lr").is_some()
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(headers) = &self.headers {
            write!(f, "?{headers}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_uris() {
        // (input, user, host, port, loose router, user digits)
        let cases = [
            (
                "sip:+15551234567@127.0.0.1:5060",
                Some("+15551234567"),
                "127.0.0.1",
                Some(5060),
                false,
                Some("15551234567"),
            ),
            (
                "sip:alice:secret@example.com;transport=tcp",
                Some("alice"),
                "example.com",
                None,
                false,
                None,
            ),
            (
                "SIP:proxy.example.com;lr",
                None,
                "proxy.example.com",
                None,
                true,
                None,
            ),
            (
                "sips:1-555-0100@[::1]:5061?subject=x",
                Some("1-555-0100"),
                "[::1]",
                Some(5061),
                false,
                Some("15550100"),
            ),
        ];
        for (input, user, host, port, lr, digits) in cases {
            let uri = SipUri::parse(input).unwrap_or_else(|| panic!("{input} parses"));
            assert_eq!(uri.user.as_deref(), user, "{input}");
            assert_eq!((uri.host.as_str(), uri.port), (host, port), "{input}");
            assert_eq!(uri.is_loose_router(), lr, "{input}");
            assert_eq!(uri.user_digits().as_deref(), digits, "{input}");
        }
    }

    #[test]
    fn rejects_malformed_uris() {
        for input in [
            "tel:+1555",
            "sip:",
            "sip:@host",
            "sip:host:99999",
            "sip:a b@host",
            "sip:host:",
            "sip:[::1",
        ] {
            assert_eq!(SipUri::parse(input), None, "{input}");
        }
    }

    #[test]
    fn prints_what_it_parsed() {
        for input in [
            "sip:bob@example.com:5070;transport=udp;lr",
            "sips:[2001:db8::1]",
            "sip:x@h?a=b",
        ] {
            let uri = SipUri::parse(input).expect("valid");
            assert_eq!(uri.to_string(), input);
        }
    }
}
