//! The endpoint task: the one place that owns every transaction, dialog and call, so none of
//! them needs a lock. It is fed `Input`s (parsed messages from the transport tasks, actions
//! from call handles, commands from `SipEndpoint`) and wakes at the earliest `poll_timeout()`
//! of everything it holds; a scan per wake-up is cheaper than a timer wheel at the call counts
//! one engine carries. Transactions are keyed by `TransactionKey` (RFC 3261 §17.1.3, §17.2.3);
//! calls by a local id that the handles carry.
//!
//! `inbound.rs` is the UAS side (INVITE, ACK, CANCEL, out-of-dialog requests), `outbound.rs`
//! the UAC side (our INVITE, CANCEL, digest retry), `in_dialog.rs` the requests inside a
//! dialog in both directions (BYE, INFO), `session.rs` re-INVITE, UPDATE and session timers,
//! `timers.rs` the wake-up scan, and this file the
//! loop, the state and sending.

mod in_dialog;
mod inbound;
mod outbound;
mod session;
mod timers;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use switchboard_sip::header::Params;
use switchboard_sip::{
    Dialog, InviteClientTransaction, InviteServerTransaction, Message, NonInviteClientTransaction,
    NonInviteServerTransaction, Response, SipUri, TimerConfig, TransactionKey, Via,
};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{IncomingCall, OutgoingCall, OutgoingInvite};
use crate::cidr::Cidr;
use crate::error::SipUaError;
use crate::transport::{ConnId, Peer, random_token};

/// How long `shutdown` waits for the BYEs it sent.
const SHUTDOWN_GRACE_MS: u64 = 4_000;

/// A call's id inside the endpoint.
pub(crate) type CallId = u64;

/// Everything the endpoint task reacts to.
pub(crate) enum Input {
    Received {
        message: Message,
        peer: Peer,
    },
    Connected {
        conn: ConnId,
        writes: mpsc::UnboundedSender<Vec<u8>>,
    },
    Closed {
        conn: ConnId,
    },
    Idle {
        conn: ConnId,
        reply: oneshot::Sender<bool>,
    },
    Server {
        call: CallId,
        action: ServerAction,
    },
    Client {
        call: CallId,
        action: ClientAction,
    },
    Invite {
        invite: OutgoingInvite,
        destination: Destination,
        reply: oneshot::Sender<Result<OutgoingCall, SipUaError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What a `ServerCall` asks for.
pub(crate) enum ServerAction {
    Ringing,
    Answer(Vec<u8>),
    Reject(u16),
    Hangup,
}

/// What a `ClientCall` asks for.
pub(crate) enum ClientAction {
    Cancel,
    Hangup,
}

/// Where an outbound INVITE goes, resolved (and connected, for TCP) by `SipEndpoint::invite`.
pub(crate) enum Destination {
    Udp(SocketAddr),
    Tcp(TcpStream, SocketAddr),
    /// The TCP connection failed: the call fails at once with 503.
    Unreachable,
}

/// Fixed settings of the endpoint task.
pub(crate) struct Settings {
    pub(crate) trust: Vec<Cidr>,
    pub(crate) max_calls: usize,
    /// Host for Via and Contact (an IPv6 address in brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) timers: TimerConfig,
    /// The shortest session interval accepted (`Min-SE`, RFC 4028; at least 90 s).
    pub(crate) min_se_s: u32,
}

/// Shared with `SipEndpoint`: the channel in, the call counter and the connection ids.
pub(crate) struct Shared {
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
    pub(crate) active: Arc<AtomicUsize>,
    pub(crate) conn_ids: Arc<AtomicU64>,
    /// Set by `SipEndpoint::drain`: new INVITEs and `OPTIONS` probes get `503`, so a SIP load
    /// balancer sends new calls elsewhere while calls in flight finish.
    pub(crate) draining: Arc<std::sync::atomic::AtomicBool>,
    /// INVITEs refused here, for the engine's alerts (bounded: a flood drops reports, never
    /// the endpoint's time).
    pub(crate) refusals: mpsc::Sender<crate::api::Refusal>,
}

struct ServerInvite {
    tx: InviteServerTransaction,
    peer: Peer,
    call: Option<CallId>,
}

struct ServerRequest {
    tx: NonInviteServerTransaction,
    peer: Peer,
}

struct ClientInvite {
    tx: InviteClientTransaction,
    peer: Peer,
    call: CallId,
}

struct ClientRequest {
    tx: NonInviteClientTransaction,
    peer: Peer,
    call: CallId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Before the 2xx.
    Early,
    /// 2xx sent or received.
    Answered,
    /// Our BYE is in flight.
    Ending,
}

struct Call {
    /// The transport the call was set up on.
    peer: Peer,
    dialog: Option<Dialog>,
    state: CallState,
    side: Side,
    /// Re-INVITE/UPDATE and the session timer (`session.rs`).
    mid: session::MidCall,
}

enum Side {
    Inbound(inbound::InboundLeg),
    Outbound(Box<outbound::OutboundLeg>),
}

/// The endpoint task's state.
pub(crate) struct Actor {
    settings: Settings,
    start: Instant,
    udp: Arc<UdpSocket>,
    shared: Shared,
    incoming: mpsc::Sender<IncomingCall>,
    tasks: JoinSet<()>,
    conns: HashMap<ConnId, mpsc::UnboundedSender<Vec<u8>>>,
    server_invites: HashMap<TransactionKey, ServerInvite>,
    server_requests: HashMap<TransactionKey, ServerRequest>,
    client_invites: HashMap<TransactionKey, ClientInvite>,
    client_requests: HashMap<TransactionKey, ClientRequest>,
    calls: HashMap<CallId, Call>,
    next_call: CallId,
    stopping: Option<(oneshot::Sender<()>, u64)>,
    deadlines: timers::Deadlines,
}

impl Actor {
    pub(crate) fn new(
        settings: Settings,
        udp: Arc<UdpSocket>,
        shared: Shared,
        incoming: mpsc::Sender<IncomingCall>,
        tasks: JoinSet<()>,
    ) -> Actor {
        Actor {
            settings,
            start: Instant::now(),
            udp,
            shared,
            incoming,
            tasks,
            conns: HashMap::new(),
            server_invites: HashMap::new(),
            server_requests: HashMap::new(),
            client_invites: HashMap::new(),
            client_requests: HashMap::new(),
            calls: HashMap::new(),
            next_call: 1,
            stopping: None,
            deadlines: timers::Deadlines::default(),
        }
    }

    /// Runs until `shutdown` has finished.
    pub(crate) async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<Input>) {
        loop {
            let wake = self.next_deadline().map(|ms| self.start + ms_duration(ms));
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => self.handle(input),
                    None => return,
                },
                () = sleep_until(wake) => self.fire_timers(),
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
            if self.shutdown_is_done() {
                // Stop listening before answering, so the port is free once shutdown returns.
                self.tasks.abort_all();
                while self.tasks.join_next().await.is_some() {}
                if let Some((reply, _)) = self.stopping.take() {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Received {
                message: Message::Request(request),
                peer,
            } => self.on_request(request, peer),
            Input::Received {
                message: Message::Response(response),
                ..
            } => self.on_response(response),
            Input::Connected { conn, writes } => {
                self.conns.insert(conn, writes);
            }
            Input::Closed { conn } => {
                self.conns.remove(&conn);
            }
            Input::Idle { conn, reply } => {
                let _ = reply.send(self.connection_in_use(conn));
            }
            Input::Server { call, action } => self.on_server_action(call, action),
            Input::Client { call, action } => self.on_client_action(call, action),
            Input::Invite {
                invite,
                destination,
                reply,
            } => self.start_invite(invite, destination, reply),
            Input::Shutdown { reply } => self.start_shutdown(reply),
        }
    }

    fn connection_in_use(&self, conn: ConnId) -> bool {
        let uses = |peer: &Peer| matches!(peer, Peer::Tcp { conn: c, .. } if *c == conn);
        self.calls.values().any(|c| uses(&c.peer))
            || self.server_invites.values().any(|t| uses(&t.peer))
            || self.server_requests.values().any(|t| uses(&t.peer))
            || self.client_invites.values().any(|t| uses(&t.peer))
            || self.client_requests.values().any(|t| uses(&t.peer))
    }

    fn on_response(&mut self, response: Response) {
        let Some(key) = TransactionKey::for_client_response(&response) else {
            return;
        };
        let now = self.now();
        if let Some(entry) = self.client_invites.get_mut(&key) {
            entry.tx.handle_response(now, response);
            self.drive_client_invite(&key);
        } else if let Some(entry) = self.client_requests.get_mut(&key) {
            entry.tx.handle_response(now, response);
            self.drive_client_request(&key);
        }
    }

    /// Sends bytes without waiting; false when the transport is gone (UDP loss is left to
    /// retransmissions).
    fn send_bytes(&self, peer: Peer, bytes: Vec<u8>) -> bool {
        match peer {
            Peer::Udp(addr) => match self.udp.try_send_to(&bytes, addr) {
                Ok(_) => true,
                Err(error) => {
                    tracing::debug!(%error, %addr, "SIP UDP send failed");
                    error.kind() == std::io::ErrorKind::WouldBlock
                }
            },
            Peer::Tcp { conn, .. } => self.conns.get(&conn).is_some_and(|w| w.send(bytes).is_ok()),
        }
    }

    /// Sends a response where RFC 3261 §18.2.2 and RFC 3581 say: the connection it came on, or
    /// the top Via's `received`/`rport`/sent-by.
    fn send_response(&self, response: &Response, peer: Peer) {
        let destination = match peer {
            Peer::Udp(source) => Peer::Udp(
                response
                    .headers
                    .top_via()
                    .and_then(|via| {
                        let (host, port) = via.response_address();
                        let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
                        Some(SocketAddr::new(ip, port))
                    })
                    .unwrap_or(source),
            ),
            tcp => tcp,
        };
        self.send_bytes(destination, response.to_bytes());
    }

    /// Where an in-dialog request of `call` goes: on TCP the call's connection; on UDP the first
    /// route or the remote target when it is an IP address, else where the call came from.
    fn request_destination(&self, call: &Call) -> Peer {
        let Peer::Udp(fallback) = call.peer else {
            return call.peer;
        };
        let hop = call.dialog.as_ref().and_then(Dialog::next_hop);
        Peer::Udp(hop.and_then(|uri| uri_address(&uri)).unwrap_or(fallback))
    }

    /// Our Via for a new client transaction, with a fresh branch and `rport` (RFC 3581).
    fn new_via(&self, peer: Peer) -> Via {
        Via {
            transport: peer.via_transport().to_owned(),
            host: self.settings.host.clone(),
            port: Some(self.settings.port),
            params: Params(vec![
                ("branch".into(), Some(format!("z9hG4bK{}", random_token()))),
                ("rport".into(), None),
            ]),
        }
    }

    /// Our Contact URI for a dialog on `peer`.
    fn contact_uri(&self, peer: Peer) -> String {
        let transport = match peer {
            Peer::Udp(_) => "",
            Peer::Tcp { .. } => ";transport=tcp",
        };
        format!(
            "sip:{}:{}{transport}",
            self.settings.host, self.settings.port
        )
    }

    fn add_call(&mut self, call: Call) -> CallId {
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(id, call);
        self.publish_active();
        id
    }

    fn end_call(&mut self, id: CallId) {
        self.calls.remove(&id);
        self.publish_active();
    }

    fn publish_active(&self) {
        self.shared
            .active
            .store(self.calls.len(), Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // call counts are far below 2^52
        metrics::gauge!("sip_active_calls").set(self.calls.len() as f64);
    }

    fn start_shutdown(&mut self, reply: oneshot::Sender<()>) {
        let deadline = self.now() + SHUTDOWN_GRACE_MS;
        self.stopping = Some((reply, deadline));
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            match (call.state, &call.side) {
                (CallState::Answered, _) => self.send_bye(id),
                (CallState::Early, Side::Inbound(_)) => {
                    self.on_server_action(id, ServerAction::Reject(503));
                }
                (CallState::Early, Side::Outbound(_)) => self.cancel_outbound(id, 487),
                (CallState::Ending, _) => {}
            }
        }
    }

    /// True once a shutdown has no calls left, or ran out of grace.
    fn shutdown_is_done(&self) -> bool {
        let now = self.now();
        self.stopping
            .as_ref()
            .is_some_and(|(_, at)| self.calls.is_empty() || now >= *at)
    }
}

/// The socket address of a URI whose host is an IP literal.
fn uri_address(uri: &SipUri) -> Option<SocketAddr> {
    let ip: IpAddr = uri.host.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

fn ms_duration(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Counts a response we originate (not retransmissions) by class.
fn count_response(status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "6xx",
    };
    metrics::counter!("sip_transactions_total", "class" => class).increment(1);
}
