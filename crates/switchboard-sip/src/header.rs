//! Typed views of the headers the UAS core reasons about: Via (branch, received, rport),
//! name-addr headers (From, To, Contact, Route, Record-Route) with their tags, and CSeq.
//! Each parses from and prints to header-value text; malformed text yields `None`.

use std::fmt;

use crate::message::{Method, is_token};

/// Splits a header value on commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut current = String::new();
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                items.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current.trim().to_owned());
    items.retain(|item| !item.is_empty());
    items
}

/// Header parameters (`;name=value` or `;name`), in order; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// Parses `;a=1;b` (the leading `;` included); `None` on a bad name or value.
    pub fn parse(text: &str) -> Option<Params> {
        let text = text.trim();
        if text.is_empty() {
            return Some(Params::default());
        }
        let rest = text.strip_prefix(';')?;
        let mut params = Vec::new();
        for part in rest.split(';') {
            let (name, value) = match part.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim())),
                None => (part.trim(), None),
            };
            if !is_token(name) {
                return None;
            }
            if let Some(value) = value
                && !(is_param_value(value) || is_quoted(value))
            {
                return None;
            }
            params.push((name.to_owned(), value.map(str::to_owned)));
        }
        Some(Params(params))
    }

    /// The value of `name`: `Some(None)` for a flag, `None` if absent.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// Sets `name`, replacing an existing value in place.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.0 {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

fn is_param_value(value: &str) -> bool {
    // Tokens plus the characters of hosts and IPv6 references (`received=[::1]`).
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~:[]".contains(&b))
}

fn is_quoted(value: &str) -> bool {
    value.len() >= 2
        && value.starts_with('"')
        && value.ends_with('"')
        && !value[1..value.len() - 1].contains('"')
}

/// Splits `host[:port]`, with IPv6 references in brackets; `None` if malformed.
/// Linear white space around the colon is allowed, as in Via sent-by.
pub fn parse_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let port = match text[end + 1..].trim() {
            "" => None,
            rest => Some(rest.strip_prefix(':')?.trim_start()),
        };
        (&text[..=end], port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host.trim_end(), Some(port.trim_start())),
            None => (text, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    let port = match port {
        Some(port)
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(port.parse().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    host_ok.then(|| (host.to_owned(), port))
}

/// One Via entry: `SIP/2.0/UDP host:port;branch=…;received=…;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport, upper-case (`UDP`, `TCP`, …).
    pub transport: String,
    /// Sent-by host.
    pub host: String,
    /// Sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, …).
    pub params: Params,
}

impl Via {
    /// Parses one Via entry; `None` if malformed.
    pub fn parse(text: &str) -> Option<Via> {
        // `SIP / 2.0 / UDP`: linear white space is allowed around each slash (RFC 3261 §25.1).
        let (name, rest) = text.trim().split_once('/')?;
        let (version, rest) = rest.split_once('/')?;
        if name.trim() != "SIP" || version.trim() != "2.0" {
            return None;
        }
        let (transport, rest) = rest.trim_start().split_once([' ', '\t'])?;
        if !is_token(transport) {
            return None;
        }
        let rest = rest.trim_start();
        let (sent_by, params) = rest.split_at(rest.find(';').unwrap_or(rest.len()));
        let (host, port) = parse_host_port(sent_by.trim())?;
        Some(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: Params::parse(params)?,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// The received parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    /// The rport parameter: `Some(None)` when requested without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// Records where a request really came from (RFC 3261 §18.2.1, RFC 3581): `received` when
    /// the source differs from the sent-by host or rport was requested, and the rport value.
    pub fn stamp_source(&mut self, source_ip: &str, source_port: u16) {
        let wants_rport = self.rport().is_some();
        if wants_rport || self.host.trim_matches(['[', ']']) != source_ip {
            self.params.set("received", Some(source_ip.to_owned()));
        }
        if wants_rport {
            self.params.set("rport", Some(source_port.to_string()));
        }
    }

    /// Where to send responses over an unreliable transport (RFC 3261 §18.2.2, RFC 3581):
    /// received or the sent-by host, and rport or the sent-by port (default 5060).
    pub fn response_address(&self) -> (&str, u16) {
        let host = self.received().unwrap_or(&self.host);
        let port = self.rport().flatten().or(self.port).unwrap_or(5060);
        (host, port)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// A name-addr or addr-spec header value: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted.
    pub display_name: Option<String>,
    /// The URI, as text.
    pub uri: String,
    /// Header parameters (tag, expires, …), not URI parameters.
    pub params: Params,
}

impl NameAddr {
    /// A bare URI.
    pub fn new(uri: impl Into<String>) -> Self {
        NameAddr {
            display_name: None,
            uri: uri.into(),
            params: Params::default(),
        }
    }

    /// Parses `"Name" <uri>;p`, `Name <uri>;p` or `uri;p`; `None` if malformed.
    pub fn parse(text: &str) -> Option<NameAddr> {
        let text = text.trim();
        let (display_name, after_display) = if let Some(quoted) = text.strip_prefix('"') {
            let (name, len) = unquote(quoted)?;
            (Some(name), quoted[len..].trim_start())
        } else if let Some(open) = text.find('<') {
            let name = text[..open].trim();
            (
                if name.is_empty() {
                    None
                } else {
                    Some(name.to_owned())
                },
                &text[open..],
            )
        } else {
            (None, text)
        };
        let (uri, params) = if let Some(inner) = after_display.strip_prefix('<') {
            let close = inner.find('>')?;
            (&inner[..close], &inner[close + 1..])
        } else if display_name.is_some() {
            return None;
        } else {
            let (uri, params) =
                after_display.split_at(after_display.find(';').unwrap_or(after_display.len()));
            (uri.trim_end(), params)
        };
        let uri_ok = uri.contains(':')
            && !uri
                .bytes()
                .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"');
        if !uri_ok {
            return None;
        }
        Some(NameAddr {
            display_name,
            uri: uri.to_owned(),
            params: Params::parse(params)?,
        })
    }

    /// The tag parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            write!(f, "\"{escaped}\" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// Reads a quoted string body after its opening quote: the unescaped text and the number of
/// bytes consumed including the closing quote.
fn unquote(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => return Some((out, i + 1)),
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    None
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (below 2^31).
    pub sequence: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1 INVITE`; `None` if malformed.
    pub fn parse(text: &str) -> Option<CSeq> {
        let (number, method) = text.trim().split_once([' ', '\t'])?;
        if number.is_empty() || number.len() > 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sequence: u32 = number.parse().ok()?;
        if sequence >= 1 << 31 {
            return None;
        }
        Some(CSeq {
            sequence,
            method: Method::parse(method.trim())?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.sequence, self.method)
    }
}

#[cfg(test)]
mod tests;
