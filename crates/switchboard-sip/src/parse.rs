//! Strict, bounded parsing of SIP messages from datagrams and streams (RFC 3261 §7, §18).
//!
//! Limits are checked before any work proportional to them; the head must be UTF-8 with CRLF
//! line endings; Via, From, To, Call-ID and CSeq must be present and well-formed; Content-Length
//! must be exact on streams (and not exceed the datagram on UDP); a body needs a Content-Type.
//! Rejecting rather than guessing is the design choice (lenient parsers silently truncate
//! bodies or treat a bad Content-Length as 0), so every rejection is a typed `ParseError`.

use crate::error::{Limits, ParseError, ParseErrorKind};
use crate::header::{CSeq, NameAddr, Via};
use crate::message::{Headers, Message, Method, Request, Response, is_token};

/// How the bytes were framed by the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: Content-Length optional, extra bytes after the body discarded.
    Datagram,
    /// One message cut from a TCP stream by `frame_stream`: Content-Length mandatory and exact.
    Stream,
}

/// What `frame_stream` found at the start of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// Not enough bytes yet.
    Incomplete,
    /// This many bytes of CRLF keepalive to discard (RFC 5626 §4.4.1).
    KeepAlive(usize),
    /// A whole message of this many bytes; pass exactly that slice to `parse_message`.
    Message(usize),
}

const COMPACT_FORMS: [(&str, &str); 15] = [
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
    ("u", "Allow-Events"),
];

const KNOWN_NAMES: [&str; 46] = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "MIME-Version",
    "Organization",
    "P-Asserted-Identity",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Session-Expires",
    "Subject",
    "Supported",
];

const MORE_KNOWN_NAMES: [&str; 7] = [
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// The canonical spelling of a header name: compact forms expanded, known names in their RFC
/// case, other names unchanged.
pub fn canonical_name(name: &str) -> String {
    if let Some((_, full)) = COMPACT_FORMS
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
    {
        return (*full).to_owned();
    }
    KNOWN_NAMES
        .iter()
        .chain(MORE_KNOWN_NAMES.iter())
        .find(|known| known.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |known| (*known).to_owned())
}

/// Parses one whole message.
pub fn parse_message(
    bytes: &[u8],
    framing: Framing,
    limits: &Limits,
) -> Result<Message, ParseError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseErrorKind::MessageTooLarge(limits.max_message_bytes).into());
    }
    let bytes = skip_keepalive(bytes);
    if bytes.is_empty() {
        return Err(ParseErrorKind::Empty.into());
    }
    let head_end = find_head_end(bytes).ok_or_else(|| unterminated_or_long(bytes, limits))?;
    let head = std::str::from_utf8(&bytes[..head_end])
        .map_err(|_| ParseError::from(ParseErrorKind::InvalidUtf8))?;
    let (start_line, header_text) = head.split_once("\r\n").unwrap_or((head, ""));
    check_line(start_line, limits)?;
    let start = parse_start_line(start_line)?;
    let mut headers = parse_header_lines(header_text, limits)?;
    let is_request_to_answer =
        matches!(&start, Start::Request(method, _) if *method != Method::Ack);
    let fail = |kind: ParseErrorKind, headers: &Headers| {
        if is_request_to_answer {
            ParseError::with_request_headers(kind, headers.clone())
        } else {
            ParseError::new(kind)
        }
    };
    let available = &bytes[head_end + 4..];
    let body = take_body(&mut headers, available, framing).map_err(|kind| fail(kind, &headers))?;
    if let Err(kind) = validate(&start, &headers, &body) {
        return Err(fail(kind, &headers));
    }
    Ok(match start {
        Start::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        Start::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Finds the first message in a stream buffer, by its head and Content-Length.
pub fn frame_stream(buffer: &[u8], limits: &Limits) -> Result<StreamFrame, ParseError> {
    let keepalive = buffer.len() - skip_keepalive(buffer).len();
    if keepalive > 0 {
        return Ok(StreamFrame::KeepAlive(keepalive));
    }
    let window = &buffer[..buffer.len().min(limits.max_message_bytes)];
    let Some(head_end) = find_head_end(window) else {
        if buffer.len() >= limits.max_message_bytes {
            return Err(ParseErrorKind::MessageTooLarge(limits.max_message_bytes).into());
        }
        let last_line = window.rsplit(|&b| b == b'\n').next().unwrap_or(window);
        if last_line.len() > limits.max_line_bytes {
            return Err(ParseErrorKind::LineTooLong(limits.max_line_bytes).into());
        }
        return Ok(StreamFrame::Incomplete);
    };
    let head = std::str::from_utf8(&window[..head_end])
        .map_err(|_| ParseError::from(ParseErrorKind::InvalidUtf8))?;
    let (_, header_text) = head.split_once("\r\n").unwrap_or((head, ""));
    let headers = parse_header_lines(header_text, limits)?;
    let length = content_length(&headers)?.ok_or(ParseErrorKind::MissingContentLength)?;
    let total = head_end.saturating_add(4).saturating_add(length);
    if total > limits.max_message_bytes {
        return Err(ParseErrorKind::MessageTooLarge(limits.max_message_bytes).into());
    }
    Ok(if buffer.len() >= total {
        StreamFrame::Message(total)
    } else {
        StreamFrame::Incomplete
    })
}

pub(crate) enum Start {
    Request(Method, String),
    Response(u16, String),
}

pub(crate) fn skip_keepalive(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes.strip_prefix(b"\r\n") {
        bytes = rest;
    }
    bytes
}

pub(crate) fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn unterminated_or_long(bytes: &[u8], limits: &Limits) -> ParseError {
    if bytes
        .split(|&b| b == b'\n')
        .any(|line| line.len() > limits.max_line_bytes)
    {
        ParseErrorKind::LineTooLong(limits.max_line_bytes).into()
    } else {
        ParseErrorKind::UnterminatedHead.into()
    }
}

fn check_line(line: &str, limits: &Limits) -> Result<(), ParseError> {
    if line.len() > limits.max_line_bytes {
        return Err(ParseErrorKind::LineTooLong(limits.max_line_bytes).into());
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseErrorKind::BadHeaderLine.into());
    }
    Ok(())
}

pub(crate) fn parse_start_line(line: &str) -> Result<Start, ParseError> {
    let bad = || ParseError::from(ParseErrorKind::BadStartLine);
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&status) || line.contains('\t') {
            return Err(bad());
        }
        return Ok(Start::Response(status, reason.to_owned()));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let method = Method::parse(method).ok_or_else(bad)?;
    let uri_ok = uri.find(':').is_some_and(|colon| colon > 0)
        && !uri.bytes().any(|b| b <= b' ' || b >= 0x7F);
    if !uri_ok {
        return Err(bad());
    }
    Ok(Start::Request(method, uri.to_owned()))
}

pub(crate) fn parse_header_lines(text: &str, limits: &Limits) -> Result<Headers, ParseError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut counted = 0;
    if text.is_empty() {
        return Ok(Headers::new());
    }
    for line in text.split("\r\n") {
        check_line(line, limits)?;
        if line.starts_with([' ', '\t']) {
            let (_, value) = fields.last_mut().ok_or(ParseErrorKind::BadHeaderLine)?;
            let continuation = trim_lws(line);
            if !value.is_empty() && !continuation.is_empty() {
                value.push(' ');
            }
            value.push_str(continuation);
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(ParseErrorKind::BadHeaderLine)?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseErrorKind::BadHeaderLine.into());
        }
        let name = canonical_name(name);
        // Content-Length is not counted: it is never stored, and printing always adds one.
        if name != "Content-Length" {
            if counted == limits.max_headers {
                return Err(ParseErrorKind::TooManyHeaders(limits.max_headers).into());
            }
            counted += 1;
        }
        fields.push((name, trim_lws(value).to_owned()));
    }
    let mut headers = Headers::new();
    for (name, value) in fields {
        headers.push(name, value);
    }
    Ok(headers)
}

/// Trims RFC 3261 linear white space (SP and HT only, not other Unicode spaces).
fn trim_lws(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseErrorKind> {
    let mut declared = None;
    for value in headers.get_all("Content-Length") {
        let ok = !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit());
        let length: usize = value
            .parse()
            .ok()
            .filter(|_| ok)
            .ok_or(ParseErrorKind::BadHeader("Content-Length"))?;
        if declared.is_some() {
            return Err(ParseErrorKind::DuplicateHeader("Content-Length"));
        }
        declared = Some(length);
    }
    Ok(declared)
}

fn take_body(
    headers: &mut Headers,
    available: &[u8],
    framing: Framing,
) -> Result<Vec<u8>, ParseErrorKind> {
    let declared = content_length(headers)?;
    headers.remove("Content-Length");
    let length = match (declared, framing) {
        (None, Framing::Stream) => return Err(ParseErrorKind::MissingContentLength),
        (None, Framing::Datagram) => available.len(),
        (Some(declared), Framing::Stream) if declared != available.len() => {
            return Err(ParseErrorKind::ContentLengthMismatch {
                declared,
                actual: available.len(),
            });
        }
        (Some(declared), _) if declared > available.len() => {
            return Err(ParseErrorKind::ContentLengthMismatch {
                declared,
                actual: available.len(),
            });
        }
        (Some(declared), _) => declared,
    };
    Ok(available[..length].to_vec())
}

fn validate(start: &Start, headers: &Headers, body: &[u8]) -> Result<(), ParseErrorKind> {
    let vias = headers.list("Via");
    if vias.is_empty() {
        return Err(ParseErrorKind::MissingHeader("Via"));
    }
    if !vias.iter().all(|v| Via::parse(v).is_some()) {
        return Err(ParseErrorKind::BadHeader("Via"));
    }
    for name in ["From", "To"] {
        let value = single(headers, name)?;
        NameAddr::parse(value).ok_or(ParseErrorKind::BadHeader(name))?;
    }
    let call_id = single(headers, "Call-ID")?;
    if call_id.is_empty() || call_id.bytes().any(|b| b <= b' ' || b >= 0x7F) {
        return Err(ParseErrorKind::BadHeader("Call-ID"));
    }
    let cseq = CSeq::parse(single(headers, "CSeq")?).ok_or(ParseErrorKind::BadHeader("CSeq"))?;
    if let Start::Request(method, _) = start
        && cseq.method != *method
    {
        return Err(ParseErrorKind::CseqMethodMismatch);
    }
    if let Some(value) = headers.get("Max-Forwards")
        && (value.len() > 10
            || value.parse::<u8>().is_err()
            || !value.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ParseErrorKind::BadHeader("Max-Forwards"));
    }
    for name in ["Record-Route", "Route"] {
        if !headers
            .list(name)
            .iter()
            .all(|v| NameAddr::parse(v).is_some())
        {
            return Err(ParseErrorKind::BadHeader(name));
        }
    }
    let contacts = headers.list("Contact");
    if !contacts
        .iter()
        .all(|v| v == "*" || NameAddr::parse(v).is_some())
    {
        return Err(ParseErrorKind::BadHeader("Contact"));
    }
    if !body.is_empty() && headers.content_type().is_none_or(|t| !t.contains('/')) {
        return Err(ParseErrorKind::MissingContentType);
    }
    Ok(())
}

fn single<'a>(headers: &'a Headers, name: &'static str) -> Result<&'a str, ParseErrorKind> {
    let mut values = headers.get_all(name);
    let first = values.next().ok_or(ParseErrorKind::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(ParseErrorKind::DuplicateHeader(name));
    }
    Ok(first)
}

#[cfg(test)]
mod tests;
