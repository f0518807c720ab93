//! `MediaTarget`: where a session may send its RTP and whose packets it takes (product.md,
//! "Limits and hostile clients", Media).
//!
//! The SDP of the far end names an address. When that address is inside `--sip-trust` the
//! session sends there ([`MediaTarget::Trusted`]); otherwise it sends nothing until RTP arrives
//! and then answers the source of the first packet (symmetric RTP, [`MediaTarget::Latch`] →
//! [`MediaTarget::Latched`]). So an INVITE cannot turn the engine into a packet cannon aimed at a
//! third party: an untrusted address is never sent to unless it is where the caller's own RTP
//! comes from.
//!
//! Choices:
//! - A latch is taken once and never moves (no re-latching). Re-latching onto a later source
//!   would let anyone who can reach the RTP port (ports are few and guessable) take the stream
//!   over mid-call, the "RTP bleed" attack; the cost is that a caller whose NAT binding changes
//!   mid-call loses its audio until it re-INVITEs.
//! - A trusted address is sent to as the SDP names it, whatever source its RTP comes from: the
//!   first packet's source only narrows which packets are taken (as before this rule), it never
//!   redirects what is sent, so a stray packet cannot pull the stream away from a trusted peer.
//! - `Fixed` (send to a known peer, take packets from its IP address on any port) is for
//!   sessions whose peer is set by the program itself (load tools, tests), not by a remote SDP.
//!
//! Pure: no IO, no clock; the media task feeds it each packet's source.

use std::net::SocketAddr;

/// Where a session sends, and which sources it takes packets from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTarget {
    /// A peer set by the program: send to it, take packets from its IP address (any port).
    Fixed(SocketAddr),
    /// The SDP named an address inside the trust list: send there; take packets from any
    /// source until the first, then only from that source (`source`).
    Trusted {
        /// The address the SDP named.
        remote: SocketAddr,
        /// The source of the first packet taken, once one arrived.
        source: Option<SocketAddr>,
    },
    /// The SDP named an address outside the trust list (or none): send nothing until the first
    /// packet arrives.
    Latch,
    /// Latched onto the source of the first packet: send there, take only its packets.
    Latched(SocketAddr),
}

/// What the target made of a packet's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    /// Not a source this session takes packets from: drop the packet.
    Refused,
    /// Taken.
    Accepted,
    /// Taken, and the session now sends to this address (the latch was taken).
    Latched(SocketAddr),
}

impl MediaTarget {
    /// The target for an address a remote SDP named: `Trusted` when `trusted` says it lies
    /// inside the trust list, else `Latch`. An unspecified address (`0.0.0.0`, `::`) or port 0
    /// names nowhere and latches too.
    pub fn for_sdp(remote: SocketAddr, trusted: bool) -> MediaTarget {
        if trusted && !remote.ip().is_unspecified() && remote.port() != 0 {
            MediaTarget::Trusted {
                remote,
                source: None,
            }
        } else {
            MediaTarget::Latch
        }
    }

    /// The target after a mid-call offer named `new` (a re-INVITE or UPDATE): a latch already
    /// taken stays when the new address is untrusted too (never re-latched, as above), and a
    /// trusted address named again keeps the source it narrowed to; anything else is `new`.
    #[must_use]
    pub fn retarget(self, new: MediaTarget) -> MediaTarget {
        match (self, new) {
            (MediaTarget::Latched(current), MediaTarget::Latch) => MediaTarget::Latched(current),
            (
                MediaTarget::Trusted { remote, source },
                MediaTarget::Trusted { remote: named, .. },
            ) if remote == named => MediaTarget::Trusted { remote, source },
            (_, new) => new,
        }
    }

    /// Where RTP goes now; `None`: nothing may be sent yet.
    pub fn destination(&self) -> Option<SocketAddr> {
        match *self {
            MediaTarget::Fixed(remote)
            | MediaTarget::Trusted { remote, .. }
            | MediaTarget::Latched(remote) => Some(remote),
            MediaTarget::Latch => None,
        }
    }

    /// A packet arrived from `from`: whether it is taken, latching when this is the first.
    pub fn handle_source(&mut self, from: SocketAddr) -> SourceVerdict {
        match self {
            MediaTarget::Fixed(remote) => verdict(from.ip() == remote.ip()),
            MediaTarget::Trusted { source, .. } => match source {
                Some(first) => verdict(*first == from),
                None => {
                    *source = Some(from);
                    SourceVerdict::Accepted
                }
            },
            MediaTarget::Latch => {
                *self = MediaTarget::Latched(from);
                SourceVerdict::Latched(from)
            }
            MediaTarget::Latched(latched) => verdict(*latched == from),
        }
    }
}

fn verdict(accepted: bool) -> SourceVerdict {
    if accepted {
        SourceVerdict::Accepted
    } else {
        SourceVerdict::Refused
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_mid_call_offer_never_re_latches_and_keeps_a_narrowed_source() {
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:4000".parse().unwrap();
        let trusted = |remote| MediaTarget::Trusted {
            remote,
            source: None,
        };
        assert_eq!(
            MediaTarget::Latched(a).retarget(MediaTarget::Latch),
            MediaTarget::Latched(a)
        );
        let narrowed = MediaTarget::Trusted {
            remote: a,
            source: Some(b),
        };
        assert_eq!(narrowed.retarget(trusted(a)), narrowed);
        assert_eq!(narrowed.retarget(trusted(b)), trusted(b));
        assert_eq!(MediaTarget::Latched(a).retarget(trusted(b)), trusted(b));
        assert_eq!(trusted(a).retarget(MediaTarget::Latch), MediaTarget::Latch);
    }
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[test]
    fn the_sdp_address_is_used_only_when_trusted() {
        // (address the SDP named, trusted, expected target)
        let cases = [
            ("127.0.0.1:4000", true, Some("127.0.0.1:4000")),
            ("[::1]:4000", true, Some("[::1]:4000")),
            ("192.0.2.1:4000", false, None),
            ("0.0.0.0:4000", true, None),
            ("[::]:4000", true, None),
            ("127.0.0.1:0", true, None),
        ];
        for (named, trusted, expected) in cases {
            let target = MediaTarget::for_sdp(addr(named), trusted);
            assert_eq!(
                target.destination(),
                expected.map(addr),
                "{named} {trusted}"
            );
            if expected.is_none() {
                assert_eq!(target, MediaTarget::Latch, "{named}");
            }
        }
    }

    #[test]
    fn an_untrusted_target_sends_nothing_until_the_first_packet_then_only_to_its_source() {
        let mut target = MediaTarget::for_sdp(addr("192.0.2.1:4000"), false);
        assert_eq!(target.destination(), None);
        let caller = addr("127.0.0.1:30000");
        assert_eq!(target.handle_source(caller), SourceVerdict::Latched(caller));
        assert_eq!(target.destination(), Some(caller));
        // No re-latching: another source (even the SDP's address, even the same IP on another
        // port) is refused and does not move the target.
        for other in ["127.0.0.1:30002", "192.0.2.1:4000", "198.51.100.9:30000"] {
            assert_eq!(target.handle_source(addr(other)), SourceVerdict::Refused);
            assert_eq!(target.destination(), Some(caller), "{other}");
        }
        assert_eq!(target.handle_source(caller), SourceVerdict::Accepted);
    }

    #[test]
    fn a_trusted_target_keeps_sending_to_the_sdp_address_and_narrows_sources() {
        let named = addr("127.0.0.1:4000");
        let mut target = MediaTarget::for_sdp(named, true);
        assert_eq!(target.destination(), Some(named));
        let first = addr("127.0.0.1:4010");
        assert_eq!(target.handle_source(first), SourceVerdict::Accepted);
        assert_eq!(target.destination(), Some(named), "never redirected");
        assert_eq!(target.handle_source(first), SourceVerdict::Accepted);
        assert_eq!(
            target.handle_source(addr("127.0.0.1:4012")),
            SourceVerdict::Refused
        );
        assert_eq!(target.destination(), Some(named));
    }

    #[test]
    fn a_fixed_target_takes_its_ip_on_any_port() {
        let mut target = MediaTarget::Fixed(addr("127.0.0.1:4000"));
        assert_eq!(
            target.handle_source(addr("127.0.0.1:5000")),
            SourceVerdict::Accepted
        );
        assert_eq!(
            target.handle_source(addr("127.0.0.2:4000")),
            SourceVerdict::Refused
        );
        assert_eq!(target.destination(), Some(addr("127.0.0.1:4000")));
    }
}
