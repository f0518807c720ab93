//! The handles and events the call driver uses: `IncomingCall`/`ServerCall`/`CallEvent` for
//! inbound calls, `OutgoingInvite`/`OutgoingCall`/`ClientCall`/`OutgoingEvent` for outbound
//! ones. A handle is a cheap clone of a channel sender into the endpoint task; its methods never
//! block and never fail (a call that has already ended ignores them), so the driver's `select!`
//! loop stays simple. Events arrive on a per-call unbounded channel, which ends after the last
//! event of the call.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_sip::{Negotiated, SessionDescription};
use tokio::sync::mpsc;

use crate::actor::{CallId, ClientAction, Input, ServerAction};

/// An inbound INVITE that passed the trust and capacity checks (`100 Trying` already sent).
#[derive(Debug)]
pub struct IncomingCall {
    pub call_id: String,
    /// User part of the From URI (empty when it has none).
    pub from_user: String,
    /// User part of the Request-URI (empty when it has none).
    pub to_user: String,
    pub from_display: Option<String>,
    pub source: SocketAddr,
    /// The SDP offer; `None` when the INVITE had no body.
    pub offer: Option<SessionDescription>,
    /// All request headers in received order (canonical names), for X- and User-to-User use.
    pub headers: Vec<(String, String)>,
    pub handle: ServerCall,
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Controls one inbound call.
#[derive(Debug, Clone)]
pub struct ServerCall {
    pub(crate) id: CallId,
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
}

impl ServerCall {
    fn act(&self, action: ServerAction) {
        // A send error means the endpoint has stopped; the call is over either way.
        let _ = self.inputs.send(Input::Server {
            call: self.id,
            action,
        });
    }

    /// Sends `180 Ringing`.
    pub fn ringing(&self) {
        self.act(ServerAction::Ringing);
    }

    /// Sends `200 OK` with this `application/sdp` body, retransmitted until the ACK.
    pub fn answer(&self, sdp: Vec<u8>) {
        self.act(ServerAction::Answer(sdp));
    }

    /// Sends a final non-2xx response (a status outside 300–699 is sent as 500).
    pub fn reject(&self, status: u16) {
        self.act(ServerAction::Reject(status));
    }

    /// Sends BYE once answered; before the answer it rejects the INVITE with `480`.
    pub fn hangup(&self) {
        self.act(ServerAction::Hangup);
    }
}

/// What happens to an inbound call after it was handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The ACK for our 2xx arrived.
    Acked,
    /// CANCEL before the answer: `200` to the CANCEL and `487` to the INVITE were sent.
    Cancelled,
    /// The remote side sent BYE (answered `200`).
    Bye,
    /// A key press from SIP INFO `application/dtmf-relay` (answered `200`).
    Dtmf(char),
    /// No ACK after 64·T1: BYE was sent (RFC 3261 §13.3.1.4); `Ended` follows.
    AckTimeout,
    /// The peer's re-INVITE or UPDATE changed the media (hold, resume, codec, address); the
    /// `200 OK` with our answer is already sent.
    MediaChanged(Negotiated),
    /// The peer stopped refreshing the session (RFC 4028): BYE was sent; `Ended` follows.
    SessionExpired,
    /// Our BYE got its final response, or timed out.
    Ended,
}

/// An INVITE the endpoint refused by itself, before any call was handed over: outside
/// `--sip-trust` (`403`), at capacity or draining (`503`), a session interval under `Min-SE`
/// (`422`), or malformed (`400`). The engine records it as an alert, so an operator sees why a
/// phone could not get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub source: SocketAddr,
    /// User part of the Request-URI (empty when it has none).
    pub to_user: String,
    pub call_id: String,
}

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct OutgoingInvite {
    /// `sip:user@host[:port][;transport=tcp]`.
    pub target: String,
    pub from_user: String,
    pub from_display: Option<String>,
    pub sdp_offer: Vec<u8>,
    /// Digest username and password for a 401/407 challenge.
    pub auth: Option<(String, String)>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// CANCEL after this long without an answer, then `Failed { status: 408 }`.
    pub ring_timeout: Duration,
}

/// A started outbound call.
#[derive(Debug)]
pub struct OutgoingCall {
    pub call_id: String,
    pub handle: ClientCall,
    pub events: mpsc::UnboundedReceiver<OutgoingEvent>,
}

/// Controls one outbound call.
#[derive(Debug, Clone)]
pub struct ClientCall {
    pub(crate) id: CallId,
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
}

impl ClientCall {
    fn act(&self, action: ClientAction) {
        // A send error means the endpoint has stopped; the call is over either way.
        let _ = self.inputs.send(Input::Client {
            call: self.id,
            action,
        });
    }

    /// CANCELs the INVITE if it is not answered yet (then `Failed { status: 487 }`).
    pub fn cancel(&self) {
        self.act(ClientAction::Cancel);
    }

    /// Sends BYE once answered (then `Ended`); before the answer it cancels.
    pub fn hangup(&self) {
        self.act(ClientAction::Hangup);
    }
}

/// What happens to an outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingEvent {
    /// `100 Trying`.
    Trying,
    /// `180`/`183`, with early media SDP if any.
    Ringing { sdp: Option<SessionDescription> },
    /// A 2xx (the ACK was already sent).
    Answered { sdp: Option<SessionDescription> },
    /// A final 3xx–6xx; `408` on ring timeout or Timer B, `503` on a transport error.
    Failed { status: u16 },
    /// The remote side sent BYE (answered `200`).
    Bye,
    /// A key press from SIP INFO `application/dtmf-relay`.
    Dtmf(char),
    /// The callee's re-INVITE or UPDATE changed the media; the `200 OK` is already sent.
    MediaChanged(Negotiated),
    /// The session timer expired without a refresh: BYE was sent; `Ended` follows.
    SessionExpired,
    /// Our BYE got its final response, or timed out.
    Ended,
}
