//! SIP messages as owned values: method, start line, an ordered header list and the body.
//!
//! Headers are kept as `(canonical name, value)` text in their received order rather than as a
//! struct of typed fields, so that unknown headers survive and printing preserves order; typed
//! views (`header.rs`) are parsed on demand. Content-Length is never stored: parsing checks it
//! against the body and printing writes it from the body, so the two cannot disagree.

use std::fmt;

use crate::header::{CSeq, NameAddr, Via, split_list};

/// A request method. Unknown extension methods are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// REGISTER.
    Register,
    /// INFO.
    Info,
    /// PRACK.
    Prack,
    /// UPDATE.
    Update,
    /// REFER.
    Refer,
    /// NOTIFY.
    Notify,
    /// SUBSCRIBE.
    Subscribe,
    /// MESSAGE.
    Message,
    /// Any other token.
    Other(String),
}

const METHODS: [(Method, &str); 13] = [
    (Method::Invite, "INVITE"),
    (Method::Ack, "ACK"),
    (Method::Bye, "BYE"),
    (Method::Cancel, "CANCEL"),
    (Method::Options, "OPTIONS"),
    (Method::Register, "REGISTER"),
    (Method::Info, "INFO"),
    (Method::Prack, "PRACK"),
    (Method::Update, "UPDATE"),
    (Method::Refer, "REFER"),
    (Method::Notify, "NOTIFY"),
    (Method::Subscribe, "SUBSCRIBE"),
    (Method::Message, "MESSAGE"),
];

impl Method {
    /// Parses a method token (case-sensitive, as RFC 3261 requires); `None` if not a token.
    pub fn parse(text: &str) -> Option<Method> {
        if !is_token(text) {
            return None;
        }
        Some(METHODS.iter().find(|(_, name)| *name == text).map_or_else(
            || Method::Other(text.to_owned()),
            |(method, _)| method.clone(),
        ))
    }

    /// The method's name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(name) => name,
            known => METHODS
                .iter()
                .find(|(m, _)| m == known)
                .map_or("", |(_, name)| name),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for a non-empty RFC 3261 `token`.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// One header field: canonical name and trimmed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, with compact forms expanded and known names in canonical case.
    pub name: String,
    /// The value, without surrounding whitespace or line folding.
    pub value: String,
}

/// An ordered list of header fields; lookups are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of every value of `name` (Via, Route, Contact…).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get_all(name).flat_map(split_list).collect()
    }

    /// Replaces every field of `name` with one field (appended if absent).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                self.0[first].value = value;
                let mut index = 0;
                self.0.retain(|h| {
                    index += 1;
                    index - 1 == first || !h.name.eq_ignore_ascii_case(name)
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every field of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Every Via, top first; `None` if any is malformed.
    pub fn vias(&self) -> Option<Vec<Via>> {
        self.list("Via").iter().map(|v| Via::parse(v)).collect()
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse(self.list("Via").first()?)
    }

    /// The From header.
    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("From")?)
    }

    /// The To header.
    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("To")?)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.get("Call-ID")
    }

    /// The CSeq.
    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.get("CSeq")?)
    }

    /// The first Contact, if it is a name-addr (not `*`).
    pub fn contact(&self) -> Option<NameAddr> {
        NameAddr::parse(self.list("Contact").first()?)
    }

    /// Every Record-Route entry, top first; `None` if any is malformed.
    pub fn record_route(&self) -> Option<Vec<NameAddr>> {
        self.list("Record-Route")
            .iter()
            .map(|v| NameAddr::parse(v))
            .collect()
    }

    /// The Max-Forwards value.
    pub fn max_forwards(&self) -> Option<u8> {
        self.get("Max-Forwards")?.parse().ok()
    }

    /// The Content-Type value.
    pub fn content_type(&self) -> Option<&str> {
        self.get("Content-Type")
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI, as text (see `SipUri::parse`).
    pub uri: String,
    /// Header fields, without Content-Length.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100–699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields, without Content-Length.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// Either kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Request {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serialises the request; Content-Length is written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        serialise(start, &self.headers, &self.body)
    }
}

impl Response {
    /// A response with no headers and no body.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Response {
            status,
            reason: reason.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serialises the response; Content-Length is written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("SIP/2.0 {} {}\r\n", self.status, self.reason);
        serialise(start, &self.headers, &self.body)
    }
}

impl Message {
    /// Serialises the message.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(request) => request.to_bytes(),
            Message::Response(response) => response.to_bytes(),
        }
    }

    /// The message's headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(request) => &request.headers,
            Message::Response(response) => &response.headers,
        }
    }
}

fn serialise(start: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut head = start;
    for header in headers
        .iter()
        .filter(|h| !h.name.eq_ignore_ascii_case("Content-Length"))
    {
        head.push_str(&header.name);
        head.push_str(": ");
        head.push_str(&header.value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
