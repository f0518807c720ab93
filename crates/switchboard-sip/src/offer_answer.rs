//! RFC 3264 offer/answer for one audio stream: G.711 (PCMU 0, PCMA 8) plus RFC 4733
//! telephone-event, 20 ms packets.
//!
//! `negotiate` reads the remote description (an offer to answer, or the answer to our offer)
//! and picks the first audio stream on `RTP/AVP` whose formats include a G.711 codec, in the
//! remote's order of preference. `build_answer` answers every offered m-line (rejecting the
//! others with port 0, as §6 requires), keeps the offered telephone-event payload type and its
//! fmtp, and mirrors the direction. `build_offer` is the UAC side for `<Dial>` and outbound calls.
//!
//! Every `c=` line of the remote description (session level and each m-line) must carry an IP
//! address of its address type (`IP4`, `IP6`), a multicast TTL or count suffix aside; anything
//! else (a host name, an IPv6 address that does not parse) is refused with 488. Names are not
//! resolved: where RTP goes is decided from the description alone, without DNS.

use std::net::IpAddr;

use thiserror::Error;

use crate::sdp::{Attribute, Connection, Media, Origin, SessionDescription};

/// The audio codecs the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl AudioCodec {
    /// Static payload type.
    pub fn static_payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
        }
    }

    /// Encoding name in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
        }
    }
}

/// Media direction, from the point of view of the side that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// Only sends.
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The direction the other side answers with.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn of(media: &Media, session: &SessionDescription) -> Direction {
        let names = [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ];
        let find = |attributes: &[Attribute]| {
            names.into_iter().find(|d| {
                attributes
                    .iter()
                    .any(|a| a.name.eq_ignore_ascii_case(d.as_str()))
            })
        };
        find(&media.attributes)
            .or_else(|| find(&session.attributes))
            .unwrap_or(Direction::SendRecv)
    }
}

/// The telephone-event format the remote offered or accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEventFormat {
    /// Its (dynamic) payload type.
    pub payload_type: u8,
    /// Its `a=fmtp` event list (e.g. `0-16`), if given.
    pub events: Option<String>,
}

/// The outcome of negotiation: what to send, where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the chosen m-line in the remote description.
    pub media_index: usize,
    /// The chosen codec.
    pub codec: AudioCodec,
    /// Its payload type in the remote description (the static one unless remapped).
    pub payload_type: u8,
    /// Telephone events, when the remote supports them.
    pub telephone_event: Option<TelephoneEventFormat>,
    /// Remote RTP address (unspecified, `0.0.0.0`, means on hold).
    pub remote_address: IpAddr,
    /// Remote RTP port.
    pub remote_port: u16,
    /// Our direction (the remote's, reversed).
    pub direction: Direction,
    /// The remote's `a=ptime`, if given.
    pub remote_ptime: Option<u32>,
}

/// Why no audio stream could be agreed; answered with `488 Not Acceptable Here`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No active `m=audio` line on RTP/AVP.
    #[error("no audio stream offered")]
    NoAudio,
    /// Audio offered, but neither PCMU nor PCMA.
    #[error("no common codec")]
    NoCommonCodec,
    /// The audio stream has no connection address.
    #[error("no connection address for the audio stream")]
    NoConnection,
    /// A `c=` line whose address is not an IP address of its address type.
    #[error("connection address {0:?} is not an IP address of its type")]
    BadConnectionAddress(String),
}

impl NegotiationError {
    /// The SIP status to answer with.
    pub fn status(&self) -> u16 {
        488
    }
}

/// Our side of the session: identity and where we receive RTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Origin session id (numeric, chosen once per call).
    pub session_id: u64,
    /// Origin session version (incremented on every new description).
    pub session_version: u64,
    /// Address type of `address`: `IP4` or `IP6`.
    pub address_type: String,
    /// Our RTP address.
    pub address: String,
    /// Our RTP port.
    pub rtp_port: u16,
}

/// Chooses the audio stream, codec and telephone-event of a remote description.
pub fn negotiate(remote: &SessionDescription) -> Result<Negotiated, NegotiationError> {
    let connections = remote.connection.iter().chain(
        remote
            .media
            .iter()
            .filter_map(|media| media.connection.as_ref()),
    );
    for connection in connections {
        connection_address(connection)?;
    }
    let mut saw_audio = false;
    for (media_index, media) in remote.media.iter().enumerate() {
        let is_rtp = media.protocol.eq_ignore_ascii_case("RTP/AVP")
            || media.protocol.eq_ignore_ascii_case("RTP/AVPF");
        if !media.kind.eq_ignore_ascii_case("audio") || media.port == 0 || !is_rtp {
            continue;
        }
        saw_audio = true;
        let Some((codec, payload_type)) = media.formats.iter().find_map(|f| codec_of(media, f))
        else {
            continue;
        };
        let connection = media
            .connection
            .as_ref()
            .or(remote.connection.as_ref())
            .ok_or(NegotiationError::NoConnection)?;
        let address = connection_address(connection)?;
        return Ok(Negotiated {
            media_index,
            codec,
            payload_type,
            telephone_event: telephone_event_of(media),
            remote_address: address,
            remote_port: media.port,
            direction: Direction::of(media, remote).reversed(),
            remote_ptime: media.attribute("ptime").and_then(|p| p.trim().parse().ok()),
        });
    }
    Err(if saw_audio {
        NegotiationError::NoCommonCodec
    } else {
        NegotiationError::NoAudio
    })
}

/// The IP address of a `c=` line: its address without a `/TTL` or `/count` suffix, parsed as
/// the address type says (`IP4` or `IP6`, case-insensitively).
fn connection_address(connection: &Connection) -> Result<IpAddr, NegotiationError> {
    let text = connection.address.split('/').next().unwrap_or_default();
    let address_type = connection.address_type.to_ascii_uppercase();
    let parsed = text.parse::<IpAddr>().ok().filter(|ip| {
        matches!(
            (ip, address_type.as_str()),
            (IpAddr::V4(_), "IP4") | (IpAddr::V6(_), "IP6")
        )
    });
    parsed.ok_or_else(|| NegotiationError::BadConnectionAddress(connection.address.clone()))
}

fn codec_of(media: &Media, format: &str) -> Option<(AudioCodec, u8)> {
    let payload_type: u8 = format.parse().ok().filter(|pt| *pt < 128)?;
    let codec = match media.rtpmap(format) {
        Some(map) => {
            let (name, rest) = map.split_once('/')?;
            let rate = rest.split('/').next()?;
            if rate != "8000" {
                return None;
            }
            [AudioCodec::Pcmu, AudioCodec::Pcma]
                .into_iter()
                .find(|c| c.encoding_name().eq_ignore_ascii_case(name))?
        }
        None => [AudioCodec::Pcmu, AudioCodec::Pcma]
            .into_iter()
            .find(|c| c.static_payload_type() == payload_type)?,
    };
    Some((codec, payload_type))
}

fn telephone_event_of(media: &Media) -> Option<TelephoneEventFormat> {
    media.formats.iter().find_map(|format| {
        let map = media.rtpmap(format)?;
        let is_event = map.eq_ignore_ascii_case("telephone-event/8000");
        let payload_type: u8 = format.parse().ok().filter(|pt| *pt < 128)?;
        is_event.then(|| TelephoneEventFormat {
            payload_type,
            events: media.fmtp(format).map(str::to_owned),
        })
    })
}

fn origin(local: &LocalMedia) -> Origin {
    Origin {
        username: "switchboard".to_owned(),
        session_id: local.session_id.to_string(),
        session_version: local.session_version.to_string(),
        address_type: local.address_type.clone(),
        address: local.address.clone(),
    }
}

fn audio_attributes(
    codecs: &[(AudioCodec, u8)],
    events: Option<&TelephoneEventFormat>,
    direction: Direction,
) -> Vec<Attribute> {
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|(codec, pt)| {
            Attribute::new(
                "rtpmap",
                Some(format!("{pt} {}/8000", codec.encoding_name())),
            )
        })
        .collect();
    if let Some(events) = events {
        let pt = events.payload_type;
        attributes.push(Attribute::new(
            "rtpmap",
            Some(format!("{pt} telephone-event/8000")),
        ));
        if let Some(list) = &events.events {
            attributes.push(Attribute::new("fmtp", Some(format!("{pt} {list}"))));
        }
    }
    attributes.push(Attribute::new("ptime", Some("20".to_owned())));
    attributes.push(Attribute::new(direction.as_str(), None));
    attributes
}

/// The answer to `offer` given the outcome of `negotiate(offer)`.
pub fn build_answer(
    offer: &SessionDescription,
    negotiated: &Negotiated,
    local: &LocalMedia,
) -> SessionDescription {
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(index, offered)| {
            if index != negotiated.media_index {
                return Media {
                    kind: offered.kind.clone(),
                    port: 0,
                    protocol: offered.protocol.clone(),
                    formats: offered.formats.iter().take(1).cloned().collect(),
                    connection: None,
                    attributes: Vec::new(),
                    other: Vec::new(),
                };
            }
            let mut formats = vec![negotiated.payload_type.to_string()];
            if let Some(events) = &negotiated.telephone_event {
                formats.push(events.payload_type.to_string());
            }
            let codecs = [(negotiated.codec, negotiated.payload_type)];
            Media {
                kind: "audio".to_owned(),
                port: local.rtp_port,
                protocol: offered.protocol.clone(),
                formats,
                connection: None,
                attributes: audio_attributes(
                    &codecs,
                    negotiated.telephone_event.as_ref(),
                    negotiated.direction,
                ),
                other: Vec::new(),
            }
        })
        .collect();
    session(local, media)
}

impl LocalMedia {
    /// Our side as a description we sent shows it: its origin's identity and version, its
    /// connection address and the port of its first audio stream. `None` for a description we
    /// did not write (no connection or no audio port).
    pub fn of(sent: &SessionDescription) -> Option<LocalMedia> {
        let connection = sent.connection.as_ref()?;
        let port = sent
            .media
            .iter()
            .find(|m| m.kind == "audio" && m.port != 0)?
            .port;
        Some(LocalMedia {
            session_id: sent.origin.session_id.parse().ok()?,
            session_version: sent.origin.session_version.parse().ok()?,
            address_type: connection.address_type.clone(),
            address: connection.address.clone(),
            rtp_port: port,
        })
    }
}

/// The answer to a new offer inside a session (a re-INVITE or UPDATE: hold, resume, a new
/// codec or address) whose last description from us was `last`: the same identity, address
/// and port, and a version that goes up by one only when the answer differs from `last`
/// (RFC 3264 §8). Negotiation failures are the caller's `488`; the session keeps its media.
pub fn reanswer(
    offer: &SessionDescription,
    last: &SessionDescription,
) -> Result<(SessionDescription, Negotiated), NegotiationError> {
    let negotiated = negotiate(offer)?;
    let mut local = LocalMedia::of(last).ok_or(NegotiationError::NoConnection)?;
    let same = build_answer(offer, &negotiated, &local);
    if same == *last {
        return Ok((same, negotiated));
    }
    local.session_version += 1;
    Ok((build_answer(offer, &negotiated, &local), negotiated))
}

/// An offer of `codecs` (in preference order) and, when given, telephone-event on that
/// payload type with events 0-16.
pub fn build_offer(
    local: &LocalMedia,
    codecs: &[AudioCodec],
    telephone_event_payload_type: Option<u8>,
) -> SessionDescription {
    let codecs: Vec<(AudioCodec, u8)> = codecs
        .iter()
        .map(|c| (*c, c.static_payload_type()))
        .collect();
    let events = telephone_event_payload_type.map(|payload_type| TelephoneEventFormat {
        payload_type,
        events: Some("0-16".to_owned()),
    });
    let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
    if let Some(events) = &events {
        formats.push(events.payload_type.to_string());
    }
    let media = Media {
        kind: "audio".to_owned(),
        port: local.rtp_port,
        protocol: "RTP/AVP".to_owned(),
        formats,
        connection: None,
        attributes: audio_attributes(&codecs, events.as_ref(), Direction::SendRecv),
        other: Vec::new(),
    };
    session(local, vec![media])
}

fn session(local: &LocalMedia, media: Vec<Media>) -> SessionDescription {
    SessionDescription {
        origin: origin(local),
        session_name: "switchboard".to_owned(),
        connection: Some(Connection {
            address_type: local.address_type.clone(),
            address: local.address.clone(),
        }),
        other: vec![('t', "0 0".to_owned())],
        attributes: Vec::new(),
        media,
    }
}

#[cfg(test)]
mod tests;
