//! Parse limits and the typed parse error, which can build the `400 Bad Request` the transport
//! sends back when a request was readable enough to answer.

use thiserror::Error;

use crate::message::{Headers, Response};

/// Hard limits applied before and during parsing; exceeding any is a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, headers and body), in bytes.
    pub max_message_bytes: usize,
    /// Most header fields (after unfolding continuation lines).
    pub max_headers: usize,
    /// Longest line of the head (start line or one physical header line), in bytes.
    pub max_line_bytes: usize,
}

impl Default for Limits {
    /// 64 KiB messages (the largest UDP datagram), 100 headers, 8 KiB lines.
    fn default() -> Self {
        Limits {
            max_message_bytes: 65_535,
            max_headers: 100,
            max_line_bytes: 8_192,
        }
    }
}

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but CRLF keepalives.
    #[error("empty message")]
    Empty,
    /// Larger than `Limits::max_message_bytes`.
    #[error("message larger than {0} bytes")]
    MessageTooLarge(usize),
    /// More header fields than `Limits::max_headers`.
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    /// A line longer than `Limits::max_line_bytes`.
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    /// No empty line ends the head.
    #[error("head not terminated by an empty line")]
    UnterminatedHead,
    /// The head is not UTF-8.
    #[error("head is not valid utf-8")]
    InvalidUtf8,
    /// The first line is neither a request line nor a status line.
    #[error("malformed start line")]
    BadStartLine,
    /// A header line without a valid name and colon, or with control characters.
    #[error("malformed header line")]
    BadHeaderLine,
    /// A header whose value does not follow its grammar.
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that must appear once appears again.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// The CSeq method differs from the request method.
    #[error("cseq method does not match the request method")]
    CseqMethodMismatch,
    /// Content-Length is required on stream transports.
    #[error("missing content-length on a stream transport")]
    MissingContentLength,
    /// Content-Length does not match the body.
    #[error("content-length {declared} does not match a body of {actual} bytes")]
    ContentLengthMismatch {
        /// The declared length.
        declared: usize,
        /// The bytes actually present.
        actual: usize,
    },
    /// A body without Content-Type.
    #[error("body without content-type")]
    MissingContentType,
}

/// A parse failure, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The request's headers, kept when the input was a request (not an ACK) whose head could
    /// be split into header fields, so that a `400` can be built.
    request_headers: Option<Box<Headers>>,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind) -> Self {
        ParseError {
            kind,
            request_headers: None,
        }
    }

    pub(crate) fn with_request_headers(kind: ParseErrorKind, headers: Headers) -> Self {
        ParseError {
            kind,
            request_headers: Some(Box::new(headers)),
        }
    }

    /// The `400 Bad Request` to send back, if the input was a request carrying Via, From, To,
    /// Call-ID and CSeq (however malformed their values); `None` means drop it silently.
    /// `to_tag` is added to To when it has none.
    pub fn bad_request(&self, to_tag: &str) -> Option<Response> {
        let headers = self.request_headers.as_deref()?;
        let mut response = answer_from_headers(headers, 400, to_tag)?;
        response
            .headers
            .push("Warning", format!("399 switchboard \"{}\"", self.kind));
        Some(response)
    }
}

/// A response with `status` to a request known only by its header fields: Via, From, To,
/// Call-ID and CSeq copied (`None` when one is missing), `to_tag` added to a To without one.
pub(crate) fn answer_from_headers(
    headers: &Headers,
    status: u16,
    to_tag: &str,
) -> Option<Response> {
    let mut response = Response::new(status, crate::response::reason_phrase(status));
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let mut any = false;
        for value in headers.get_all(name) {
            response.headers.push(name, value);
            any = true;
        }
        if !any {
            return None;
        }
    }
    crate::response::add_to_tag(&mut response.headers, to_tag);
    Some(response)
}

impl From<ParseErrorKind> for ParseError {
    fn from(kind: ParseErrorKind) -> Self {
        ParseError::new(kind)
    }
}
