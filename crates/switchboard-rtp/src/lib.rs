//! Pure RTP media protocol: packets (RFC 3550), G.711 µ-law and A-law, RFC 4733 telephone
//! events, the conference mixer (`mix`), a 20 ms packetiser/pacer, a jitter-tolerant receive buffer for recording, and the
//! rule of where a session may send (`MediaTarget`: a trusted SDP address, or symmetric RTP).
//!
//! Nothing here does IO or reads a clock. Every state machine has the sans-IO shape used
//! across Switchboard: `handle_*(now_ms, input)` feeds it, `poll_*()` drains what it wants done,
//! and `poll_timeout()` says when to wake it. Time is a `u64` of milliseconds on the caller's
//! monotonic clock; randomness (SSRC, initial sequence and timestamp) is supplied by the caller.
//!
//! The drive loop of a call's media task:
//!
//! ```
//! use switchboard_rtp::{RtpSender, SenderConfig};
//!
//! let mut sender = RtpSender::new(SenderConfig {
//!     ssrc: 0x1234_5678,
//!     initial_sequence: 100,
//!     initial_timestamp: 1000,
//!     payload_type: 0,
//!     telephone_event_payload_type: Some(101),
//!     start_ms: 0,
//! });
//! sender.push_frame(vec![0xFF; 160]);
//! let now = sender.poll_timeout();
//! sender.handle_timeout(now);
//! while let Some(packet) = sender.poll_transmit() {
//!     let _datagram = packet.to_bytes(); // send it on the socket
//! }
//! ```
//!
//! The drain rule: after every `handle_*` call, drain every `poll_*` until it returns `None`
//! before the next `handle_*`, then sleep until `poll_timeout()`.

pub mod g711;
pub mod mix;
pub mod packet;
pub mod receive_buffer;
pub mod sender;
pub mod target;
pub mod telephone_event;

pub use g711::Law;
pub use mix::Mixer;
pub use packet::{Extension, RtpError, RtpPacket};
pub use receive_buffer::{Playout, ReceiveBuffer, ReceiveConfig, ReceiveStats};
pub use sender::{RtpSender, SenderConfig, SenderStats};
pub use target::{MediaTarget, SourceVerdict};
pub use telephone_event::{
    DetectedDigit, DtmfDetector, TelephoneEvent, TelephoneEventError, digit_to_event,
    event_to_digit,
};

/// Samples per second of every codec this crate handles (G.711 and telephone-event).
pub const CLOCK_RATE: u32 = 8_000;
/// Length of one packet of audio, in milliseconds.
pub const FRAME_MS: u64 = 20;
/// Samples (and G.711 bytes) in one 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: u32 = 160;
