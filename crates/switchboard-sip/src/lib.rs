//! Pure SIP protocol core for Switchboard's UAS (and the UAC of `<Dial>` and outbound calls).
//!
//! * `parse` and `message`: strict, bounded parsing and printing of SIP messages (RFC 3261),
//!   with a typed `ParseError` that can build the `400 Bad Request` answer.
//! * `header` and `uri`: typed views of Via, From/To/Contact/Route, CSeq and SIP URIs.
//! * `response`: responses to a request (Via/From/To/Call-ID/CSeq copied, To tag added).
//! * `sdp` and `offer_answer`: SDP parsing/printing and the RFC 3264 audio offer/answer.
//! * `transaction`: the INVITE and non-INVITE server transactions and the INVITE and
//!   non-INVITE client transactions (RFC 3261 §17) as sans-IO state machines with their timers.
//! * `dialog`: a minimal dialog that builds in-dialog requests (BYE) and the ACK for a 2xx.
//! * `session_timer`: RFC 4028 session timers: the UAS's decision, refresh and expiry times.
//! * `outbound`: out-of-dialog requests for the UAC (INVITE, OPTIONS) and SIP INFO DTMF.
//!
//! Nothing here does IO, reads a clock or draws random numbers: time is a `u64` of milliseconds
//! on the caller's monotonic clock, and tags and branches are supplied by the caller. Every
//! state machine has the shape `handle_*(now_ms, input)`, `poll_*()` (drain until `None` after
//! each `handle_*`), `poll_timeout()`. No input can make this crate panic.
//!
//! How the transport drives an inbound INVITE (on UDP, with the TU's choices inlined):
//!
//! ```
//! use switchboard_sip::*;
//!
//! let datagram = b"INVITE sip:+15551234567@127.0.0.1 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n\
//! To: <sip:+15551234567@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
//! Contact: <sip:a@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";
//! let now_ms = 0;
//! let request = match parse_message(datagram, Framing::Datagram, &Limits::default()) {
//!     Ok(Message::Request(request)) => request,
//!     Ok(Message::Response(_)) => return, // to a client transaction, by TransactionKey
//!     Err(error) => {
//!         let _answer = error.bad_request("a-fresh-tag"); // send it if Some
//!         return;
//!     }
//! };
//! let _key = TransactionKey::for_server(&request); // look up retransmissions by this key
//! let mut invite = InviteServerTransaction::new(request.clone(), TransportKind::Unreliable, TimerConfig::default());
//! invite.respond(now_ms, request.response(486, "a-fresh-tag"));
//! while let Some(output) = invite.poll_output() {
//!     match output {
//!         InviteServerOutput::Send(response) => { let _bytes = response.to_bytes(); }
//!         InviteServerOutput::AckTimeout | InviteServerOutput::NoAckFor2xx => {}
//!         InviteServerOutput::Terminated => {} // forget the key
//!     }
//! }
//! assert_eq!(invite.poll_timeout(), Some(500)); // Timer G
//! ```

pub mod dialog;
pub mod error;
pub mod header;
pub mod message;
pub mod offer_answer;
pub mod outbound;
pub mod parse;
pub mod response;
pub mod sdp;
pub mod session_timer;
pub mod too_large;
pub mod transaction;
pub mod uri;

pub use dialog::{Dialog, DialogError};
pub use error::{Limits, ParseError, ParseErrorKind};
pub use header::{CSeq, NameAddr, Params, Via};
pub use message::{Header, Headers, Message, Method, Request, Response};
pub use offer_answer::{
    AudioCodec, Direction, LocalMedia, Negotiated, NegotiationError, TelephoneEventFormat,
    build_answer, build_offer, negotiate, reanswer,
};
pub use outbound::{DtmfRelay, NewRequest, parse_dtmf_relay};
pub use parse::{Framing, StreamFrame, canonical_name, frame_stream, parse_message};
pub use response::reason_phrase;
pub use sdp::{SdpError, SessionDescription};
pub use session_timer::{Refresher, SessionTimer, UasTimer, uas_timer};
pub use too_large::too_large_response;
pub use transaction::client_invite::{
    InviteClientOutput, InviteClientState, InviteClientTransaction,
};
pub use transaction::client_non_invite::{
    NonInviteClientOutput, NonInviteClientState, NonInviteClientTransaction,
};
pub use transaction::server_invite::{
    InviteServerOutput, InviteServerState, InviteServerTransaction,
};
pub use transaction::server_non_invite::{
    NonInviteServerOutput, NonInviteServerState, NonInviteServerTransaction,
};
pub use transaction::{TimerConfig, TransactionKey, TransportKind, ack_for_non_2xx, cancel_for};
pub use uri::SipUri;
