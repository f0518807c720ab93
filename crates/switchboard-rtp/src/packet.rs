//! RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
//!
//! An owned packet type rather than a zero-copy view: packets are small (172 bytes for G.711),
//! an owned value is simpler to queue in the sender and the receive buffer, and parsing
//! validates every length before any slicing, so hostile input yields an error, never a panic.

use thiserror::Error;

/// Why a datagram is not an RTP packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("packet shorter than the fixed header")]
    TooShort,
    /// The version field is not 2.
    #[error("rtp version {0} is not 2")]
    BadVersion(u8),
    /// The CSRC list runs past the end of the packet.
    #[error("csrc list truncated")]
    TruncatedCsrc,
    /// The header extension runs past the end of the packet.
    #[error("header extension truncated")]
    TruncatedExtension,
    /// The padding count is zero or larger than what follows the header.
    #[error("invalid padding length")]
    BadPadding,
}

/// A header extension (RFC 3550 §5.3.1): a profile-defined 16-bit identifier and data whose
/// length is a multiple of four bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Profile-defined identifier.
    pub profile: u16,
    /// Extension data; its length is a multiple of four when serialised (padded with zeros).
    pub data: Vec<u8>,
}

/// One RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Marker bit: the start of a talkspurt for audio, the first packet of an event for DTMF.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in samples.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrc: Vec<u32>,
    /// Optional header extension.
    pub extension: Option<Extension>,
    /// The payload, without padding.
    pub payload: Vec<u8>,
    /// Number of padding bytes at the end, including the count byte; 0 means no padding.
    pub padding: u8,
}

impl RtpPacket {
    /// A plain packet: no CSRC, extension or padding.
    pub fn new(
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        payload: Vec<u8>,
    ) -> Self {
        RtpPacket {
            marker: false,
            payload_type: payload_type & 0x7F,
            sequence,
            timestamp,
            ssrc,
            csrc: Vec::new(),
            extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses one datagram.
    pub fn parse(bytes: &[u8]) -> Result<Self, RtpError> {
        let fixed: &[u8; 12] = bytes
            .get(..12)
            .and_then(|b| b.try_into().ok())
            .ok_or(RtpError::TooShort)?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = usize::from(fixed[0] & 0x0F);
        let mut rest = &bytes[12..];
        let csrc_bytes = rest.get(..4 * csrc_count).ok_or(RtpError::TruncatedCsrc)?;
        let csrc = csrc_bytes.chunks_exact(4).map(read_u32).collect();
        rest = &rest[4 * csrc_count..];
        let extension = if has_extension {
            let head = rest.get(..4).ok_or(RtpError::TruncatedExtension)?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let len = 4 * usize::from(u16::from_be_bytes([head[2], head[3]]));
            let data = rest
                .get(4..4 + len)
                .ok_or(RtpError::TruncatedExtension)?
                .to_vec();
            rest = &rest[4 + len..];
            Some(Extension { profile, data })
        } else {
            None
        };
        let padding = if has_padding {
            let count = *rest.last().ok_or(RtpError::BadPadding)?;
            if count == 0 || usize::from(count) > rest.len() {
                return Err(RtpError::BadPadding);
            }
            count
        } else {
            0
        };
        let payload = rest[..rest.len() - usize::from(padding)].to_vec();
        Ok(RtpPacket {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7F,
            sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: read_u32(&fixed[4..8]),
            ssrc: read_u32(&fixed[8..12]),
            csrc,
            extension,
            payload,
            padding,
        })
    }

    /// Serialises the packet. At most 15 CSRCs are written; the extension data is zero-padded
    /// to a multiple of four bytes (and truncated at 65535 words).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len() + usize::from(self.padding));
        self.write_into(&mut out);
        out
    }

    /// Serialises the packet, appending to `out`.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        let csrc = &self.csrc[..self.csrc.len().min(15)];
        let mut first = 0x80 | csrc.len() as u8;
        if self.padding > 0 {
            first |= 0x20;
        }
        if self.extension.is_some() {
            first |= 0x10;
        }
        out.push(first);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for source in csrc {
            out.extend_from_slice(&source.to_be_bytes());
        }
        if let Some(extension) = &self.extension {
            let words = extension.data.len().div_ceil(4).min(usize::from(u16::MAX));
            out.extend_from_slice(&extension.profile.to_be_bytes());
            out.extend_from_slice(&(words as u16).to_be_bytes());
            let data = &extension.data[..extension.data.len().min(words * 4)];
            out.extend_from_slice(data);
            out.resize(out.len() + (words * 4 - data.len()), 0);
        }
        out.extend_from_slice(&self.payload);
        if self.padding > 0 {
            out.resize(out.len() + usize::from(self.padding) - 1, 0);
            out.push(self.padding);
        }
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |acc, &b| acc << 8 | u32::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_plain_pcmu_packet() {
        let mut bytes = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x03, 0xE8, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        bytes.extend([0xFF; 160]);
        let packet = RtpPacket::parse(&bytes).expect("valid packet");
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 0);
        assert_eq!(packet.sequence, 0x1234);
        assert_eq!(packet.timestamp, 1000);
        assert_eq!(packet.ssrc, 0xDEAD_BEEF);
        assert_eq!(packet.payload.len(), 160);
        assert_eq!(packet.to_bytes(), bytes);
    }

    #[test]
    fn rejects_malformed_packets() {
        let cases: [(&[u8], RtpError); 6] = [
            (&[0x80, 0, 0, 0], RtpError::TooShort),
            (
                &[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                RtpError::BadVersion(1),
            ),
            (
                &[0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2],
                RtpError::TruncatedCsrc,
            ),
            (
                &[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                RtpError::TruncatedExtension,
            ),
            (
                &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                RtpError::BadPadding,
            ),
            (
                &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
                RtpError::BadPadding,
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(RtpPacket::parse(bytes), Err(expected), "{bytes:02x?}");
        }
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let bytes = [
            0xB1, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // header, P X CC=1, PT 8
            0, 0, 0, 9, // csrc
            0xBE, 0xDE, 0, 1, 1, 2, 3, 4, // extension, one word
            0xAA, 0xBB, // payload
            0, 0, 3, // padding of 3
        ];
        let packet = RtpPacket::parse(&bytes).expect("valid packet");
        assert_eq!(packet.csrc, vec![9]);
        assert_eq!(
            packet.extension,
            Some(Extension {
                profile: 0xBEDE,
                data: vec![1, 2, 3, 4]
            })
        );
        assert_eq!(packet.payload, vec![0xAA, 0xBB]);
        assert_eq!(packet.padding, 3);
        assert_eq!(packet.to_bytes(), bytes);
    }

    fn arbitrary_packet() -> impl Strategy<Value = RtpPacket> {
        (
            any::<bool>(),
            0u8..128,
            any::<(u16, u32, u32)>(),
            proptest::collection::vec(any::<u32>(), 0..16),
            proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..3))),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<u8>(),
        )
            .prop_map(
                |(
                    marker,
                    payload_type,
                    (sequence, timestamp, ssrc),
                    csrc,
                    ext,
                    payload,
                    padding,
                )| {
                    RtpPacket {
                        marker,
                        payload_type,
                        sequence,
                        timestamp,
                        ssrc,
                        csrc,
                        extension: ext.map(|(profile, words)| Extension {
                            profile,
                            data: words.iter().flat_map(|w| [*w; 4]).collect(),
                        }),
                        payload,
                        padding,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn parse_of_serialise_is_identity(packet in arbitrary_packet()) {
            prop_assert_eq!(RtpPacket::parse(&packet.to_bytes()), Ok(packet));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = RtpPacket::parse(&bytes);
        }
    }
}
