//! SDP session descriptions (RFC 4566), parsed into the fields offer/answer needs and printed
//! back. Lines the engine does not interpret are kept, in order, so nothing is lost.
//! Parsing is bounded (line count) and tolerant only of what real peers do: LF or CRLF line
//! ends, and a missing `s=`/`t=` line.

use std::fmt;

use thiserror::Error;

/// Most lines accepted in one description.
const MAX_LINES: usize = 512;

/// Why a body is not an SDP description we accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Not UTF-8.
    #[error("sdp is not valid utf-8")]
    InvalidUtf8,
    /// More than the line limit.
    #[error("sdp has too many lines")]
    TooManyLines,
    /// The first line is not `v=0`.
    #[error("sdp does not start with v=0")]
    BadVersion,
    /// A line is not `x=value`.
    #[error("malformed sdp line {0}")]
    BadLine(usize),
    /// A missing or malformed `o=` line.
    #[error("malformed or missing origin")]
    BadOrigin,
    /// A malformed `c=` line.
    #[error("malformed connection line")]
    BadConnection,
    /// A malformed `m=` line.
    #[error("malformed media line")]
    BadMedia,
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id, numeric text.
    pub session_id: String,
    /// Session version, numeric text.
    pub session_version: String,
    /// Address type and address, e.g. `IP4 127.0.0.1`.
    pub address_type: String,
    /// The address.
    pub address: String,
}

/// A `c=` line (`IN IP4 address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub address_type: String,
    /// The address (a TTL or count suffix is kept).
    pub address: String,
}

/// An `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value after the colon, if any.
    pub value: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, …
    pub kind: String,
    /// Transport port; 0 means rejected or disabled.
    pub port: u16,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub protocol: String,
    /// Formats (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// Media-level connection, overriding the session's.
    pub connection: Option<Connection>,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
    /// Other lines (`i=`, `b=`, `k=`) in order.
    pub other: Vec<(char, String)>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The origin.
    pub origin: Origin,
    /// Session name (`-` if none given).
    pub session_name: String,
    /// Session-level connection.
    pub connection: Option<Connection>,
    /// Other session-level lines (`t=`, `b=`, `i=`, …) in order.
    pub other: Vec<(char, String)>,
    /// Session-level attributes.
    pub attributes: Vec<Attribute>,
    /// Media sections.
    pub media: Vec<Media>,
}

impl Attribute {
    /// An attribute with a value.
    pub fn new(name: &str, value: Option<String>) -> Self {
        Attribute {
            name: name.to_owned(),
            value,
        }
    }

    fn parse(text: &str) -> Attribute {
        match text.split_once(':') {
            Some((name, value)) => Attribute::new(name, Some(value.to_owned())),
            None => Attribute::new(text, None),
        }
    }
}

impl Connection {
    fn parse(text: &str) -> Result<Connection, SdpError> {
        let mut parts = text.split(' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("IN"), Some(address_type), Some(address), None) if !address.is_empty() => {
                Ok(Connection {
                    address_type: address_type.to_owned(),
                    address: address.to_owned(),
                })
            }
            _ => Err(SdpError::BadConnection),
        }
    }
}

impl Media {
    fn parse(text: &str) -> Result<Media, SdpError> {
        let mut parts = text.split(' ');
        let (Some(kind), Some(port), Some(protocol)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SdpError::BadMedia);
        };
        let port = port.split('/').next().unwrap_or(port);
        let port: u16 = port.parse().map_err(|_| SdpError::BadMedia)?;
        let formats: Vec<String> = parts.map(str::to_owned).collect();
        if kind.is_empty()
            || protocol.is_empty()
            || formats.is_empty()
            || formats.iter().any(String::is_empty)
        {
            return Err(SdpError::BadMedia);
        }
        Ok(Media {
            kind: kind.to_owned(),
            port,
            protocol: protocol.to_owned(),
            formats,
            connection: None,
            attributes: Vec::new(),
            other: Vec::new(),
        })
    }

    /// The first value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .and_then(|a| a.value.as_deref())
    }

    /// True when the flag attribute `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `a=rtpmap` encoding of payload type `format` (`PCMU/8000`), if given.
    pub fn rtpmap(&self, format: &str) -> Option<&str> {
        self.format_attribute("rtpmap", format)
    }

    /// The `a=fmtp` parameters of payload type `format`, if given.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.format_attribute("fmtp", format)
    }

    fn format_attribute(&self, name: &str, format: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(name))
            .filter_map(|a| a.value.as_deref()?.split_once(' '))
            .find(|(pt, _)| *pt == format)
            .map(|(_, rest)| rest.trim())
    }
}

impl SessionDescription {
    /// Parses an SDP body.
    pub fn parse(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SdpError::InvalidUtf8)?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        if lines.len() > MAX_LINES {
            return Err(SdpError::TooManyLines);
        }
        if lines.first() != Some(&"v=0") {
            return Err(SdpError::BadVersion);
        }
        let mut origin = None;
        let mut session = SessionDescription {
            origin: Origin::placeholder(),
            session_name: "-".to_owned(),
            connection: None,
            other: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for (index, line) in lines.iter().enumerate().skip(1) {
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(SdpError::BadLine(index + 1));
            };
            if !kind.is_ascii_lowercase() {
                return Err(SdpError::BadLine(index + 1));
            }
            let value = chars.as_str();
            match (kind, session.media.last_mut()) {
                ('m', _) => session.media.push(Media::parse(value)?),
                ('o', None) if origin.is_none() => origin = Some(Origin::parse(value)?),
                ('s', None) => session.session_name = value.to_owned(),
                ('c', None) => session.connection = Some(Connection::parse(value)?),
                ('a', None) => session.attributes.push(Attribute::parse(value)),
                (kind, None) => session.other.push((kind, value.to_owned())),
                ('c', Some(media)) => media.connection = Some(Connection::parse(value)?),
                ('a', Some(media)) => media.attributes.push(Attribute::parse(value)),
                (kind, Some(media)) => media.other.push((kind, value.to_owned())),
            }
        }
        session.origin = origin.ok_or(SdpError::BadOrigin)?;
        Ok(session)
    }

    /// Serialises with CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl Origin {
    fn placeholder() -> Origin {
        Origin {
            username: "-".to_owned(),
            session_id: "0".to_owned(),
            session_version: "0".to_owned(),
            address_type: "IP4".to_owned(),
            address: "0.0.0.0".to_owned(),
        }
    }

    fn parse(text: &str) -> Result<Origin, SdpError> {
        let parts: Vec<&str> = text.split(' ').collect();
        let [
            username,
            session_id,
            session_version,
            "IN",
            address_type,
            address,
        ] = parts[..]
        else {
            return Err(SdpError::BadOrigin);
        };
        Ok(Origin {
            username: username.to_owned(),
            session_id: session_id.to_owned(),
            session_version: session_version.to_owned(),
            address_type: address_type.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c=IN {} {}\r\n", self.address_type, self.address)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "a={}:{value}\r\n", self.name),
            None => write!(f, "a={}\r\n", self.name),
        }
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} IN {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(connection) = &self.connection {
            write!(f, "{connection}")?;
        }
        for (kind, value) in &self.other {
            write!(f, "{kind}={value}\r\n")?;
        }
        for attribute in &self.attributes {
            write!(f, "{attribute}")?;
        }
        for media in &self.media {
            write!(
                f,
                "m={} {} {} {}\r\n",
                media.kind,
                media.port,
                media.protocol,
                media.formats.join(" ")
            )?;
            if let Some(connection) = &media.connection {
                write!(f, "{connection}")?;
            }
            for (kind, value) in &media.other {
                write!(f, "{kind}={value}\r\n")?;
            }
            for attribute in &media.attributes {
                write!(f, "{attribute}")?;
            }
        }
        Ok(())
    }
}
