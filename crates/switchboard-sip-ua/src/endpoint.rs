//! `SipEndpoint`: binds the UDP socket and TCP listener on one port, starts the transport
//! tasks and the endpoint task, and is the cloneable front door for outbound calls and
//! shutdown. Name resolution and TCP connects for outbound calls happen here, in the caller's
//! task, so the endpoint task never awaits the network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_sip::{SipUri, TimerConfig};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::actor::{Actor, Destination, Input, Settings, Shared};
use crate::api::{IncomingCall, OutgoingCall, OutgoingInvite};
use crate::cidr::Cidr;
use crate::error::SipUaError;
use crate::transport::{run_tcp_listener, run_udp};

/// How many unanswered `IncomingCall`s may wait in the channel before new INVITEs get 503.
const INCOMING_QUEUE: usize = 64;

/// How long an outbound TCP connect may take before the call fails with 503.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the endpoint listens and whom it accepts calls from.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// UDP and TCP on the same address; port 0 picks one (the same for both).
    pub bind: SocketAddr,
    /// Sources allowed to send INVITE; others get 403.
    pub trust: Vec<Cidr>,
    /// Concurrent calls (inbound and outbound); INVITEs beyond get 503.
    pub max_calls: usize,
    /// Host for Contact and Via; default the bind IP (`127.0.0.1` when bound to 0.0.0.0).
    pub public_host: Option<String>,
    /// The shortest session-timer interval accepted (`Min-SE`, RFC 4028): an INVITE asking
    /// for less gets `422`. Values under 90 s count as 90.
    pub min_se_s: u32,
}

/// A running SIP user agent. Clones share it; it runs until `shutdown`.
#[derive(Debug, Clone)]
pub struct SipEndpoint {
    inputs: mpsc::UnboundedSender<Input>,
    local_addr: SocketAddr,
    active: Arc<AtomicUsize>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    refusals: Arc<std::sync::Mutex<Option<mpsc::Receiver<crate::api::Refusal>>>>,
}

/// Refusal reports waiting for the engine; beyond this they are dropped (and counted).
const REFUSAL_QUEUE: usize = 256;

impl SipEndpoint {
    /// Binds UDP and TCP and starts the endpoint; inbound calls arrive on the receiver.
    pub async fn bind(
        config: SipConfig,
    ) -> std::io::Result<(SipEndpoint, mpsc::Receiver<IncomingCall>)> {
        SipEndpoint::bind_with_timers(config, TimerConfig::default()).await
    }

    /// `bind` with other RFC 3261 timer values (T1/T2/T4), for tests and lossy networks.
    pub async fn bind_with_timers(
        config: SipConfig,
        timers: TimerConfig,
    ) -> std::io::Result<(SipEndpoint, mpsc::Receiver<IncomingCall>)> {
        let (udp, tcp) = bind_both(config.bind).await?;
        let local_addr = udp.local_addr()?;
        let udp = Arc::new(udp);
        let (inputs, receiver) = mpsc::unbounded_channel();
        let (incoming, calls) = mpsc::channel(INCOMING_QUEUE);
        let active = Arc::new(AtomicUsize::new(0));
        let conn_ids = Arc::new(AtomicU64::new(1));
        let mut tasks = JoinSet::new();
        tasks.spawn(run_udp(udp.clone(), inputs.clone()));
        tasks.spawn(run_tcp_listener(tcp, inputs.clone(), conn_ids.clone()));
        let settings = Settings {
            trust: config.trust,
            max_calls: config.max_calls,
            host: advertised_host(config.public_host, local_addr.ip()),
            port: local_addr.port(),
            timers,
            min_se_s: config.min_se_s,
        };
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (refusals, refused) = mpsc::channel(REFUSAL_QUEUE);
        let shared = Shared {
            inputs: inputs.clone(),
            active: active.clone(),
            conn_ids,
            draining: draining.clone(),
            refusals,
        };
        let actor = Actor::new(settings, udp, shared, incoming, tasks);
        tokio::spawn(actor.run(receiver));
        let endpoint = SipEndpoint {
            inputs,
            local_addr,
            active,
            draining,
            refusals: Arc::new(std::sync::Mutex::new(Some(refused))),
        };
        Ok((endpoint, calls))
    }

    /// The INVITEs this endpoint refuses by itself, reported once to whoever takes them first
    /// (the engine); `None` after that.
    pub fn take_refusals(&self) -> Option<mpsc::Receiver<crate::api::Refusal>> {
        self.refusals.lock().ok()?.take()
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Calls in progress, inbound and outbound.
    pub fn active_calls(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Sends an INVITE; the call's progress arrives on `OutgoingCall::events`.
    pub async fn invite(&self, invite: OutgoingInvite) -> Result<OutgoingCall, SipUaError> {
        let uri = SipUri::parse(&invite.target)
            .filter(|uri| !uri.secure)
            .ok_or_else(|| SipUaError::InvalidTarget(invite.target.clone()))?;
        let tcp = uri
            .params
            .get("transport")
            .flatten()
            .is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
        let addr = self.resolve(&uri).await?;
        let destination = if tcp {
            match tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => Destination::Tcp(stream, addr),
                _ => Destination::Unreachable,
            }
        } else {
            Destination::Udp(addr)
        };
        let (reply, answer) = oneshot::channel();
        let input = Input::Invite {
            invite,
            destination,
            reply,
        };
        self.inputs.send(input).map_err(|_| SipUaError::Shutdown)?;
        answer.await.map_err(|_| SipUaError::Shutdown)?
    }

    async fn resolve(&self, uri: &SipUri) -> Result<SocketAddr, SipUaError> {
        let host = uri.host.trim_matches(['[', ']']).to_owned();
        let port = uri.port.unwrap_or(5060);
        let resolve_error = |source| SipUaError::Resolve {
            host: host.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(resolve_error)?
            .collect();
        let family = self.local_addr.is_ipv4();
        addrs
            .iter()
            .find(|a| a.is_ipv4() == family)
            .or(addrs.first())
            .copied()
            .ok_or_else(|| resolve_error(std::io::ErrorKind::NotFound.into()))
    }

    /// Starts draining: from now on `OPTIONS` and new INVITEs get `503 Service Unavailable`
    /// while the calls in flight go on (product.md "Several nodes": a load balancer probing
    /// with `OPTIONS` stops sending this node new calls).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Sends BYE on every answered call (rejects or cancels unanswered ones), waits a few
    /// seconds at most for their answers, and stops listening.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.inputs.send(Input::Shutdown { reply }).is_ok() {
            let _ = done.await;
        }
    }
}

/// Binds UDP, then TCP on the same port; with port 0, retries when TCP's port is taken.
async fn bind_both(bind: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = UdpSocket::bind(bind).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(bind.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) if bind.port() == 0 && attempts < 16 => {
                tracing::debug!(%error, port, "TCP port taken, trying another");
                attempts += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn advertised_host(public_host: Option<String>, ip: IpAddr) -> String {
    if let Some(host) = public_host {
        return host;
    }
    let ip = if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    };
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}
