//! RFC 3261 §17 transactions as sans-IO state machines, plus what they share: timer values,
//! transport reliability, the matching key, and the ACK and CANCEL a client builds.
//!
//! Each transaction is fed with `handle_*(now_ms, …)` and the TU's `respond`/`send` calls,
//! drained with `poll_output()` and woken at `poll_timeout()`. The endpoint (the future tokio
//! transport) keeps a map from `TransactionKey` to transaction, routes each parsed message to
//! its transaction by key, and hands requests that match none to the TU as new transactions.
//!
//! The INVITE server transaction follows RFC 6026 (an `Accepted` state after a 2xx) and also
//! carries the UAS core's 2xx retransmission of §13.3.1.4, so the call layer only has to report
//! the ACK (matched by its dialog) and react to `NoAckFor2xx` with a BYE.

pub mod client_invite;
pub mod client_non_invite;
pub mod server_invite;
pub mod server_non_invite;

use crate::message::{Method, Request, Response};

/// The RFC 3261 timer base values, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms.
    pub t1_ms: u64,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2_ms: u64,
    /// Maximum time a message remains in the network, 5 s.
    pub t4_ms: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J, L and M.
    pub fn transaction_timeout_ms(&self) -> u64 {
        64 * self.t1_ms
    }
}

/// Whether the transport retransmits for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// UDP: the transaction retransmits.
    Unreliable,
    /// TCP (or TLS): no retransmissions, and the absorbing timers are zero.
    Reliable,
}

/// Identifies a transaction (RFC 3261 §17.1.3 and §17.2.3, magic-cookie branches).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// The top Via branch.
    pub branch: String,
    /// The top Via sent-by (`host:port`); empty for client keys, which match on branch alone.
    pub sent_by: String,
    /// The method, with ACK folded into INVITE.
    pub method: Method,
}

impl TransactionKey {
    /// The server transaction a request belongs to (an ACK maps to its INVITE's transaction).
    pub fn for_server(request: &Request) -> Option<TransactionKey> {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref other => other.clone(),
        };
        Self::server_key(request, method)
    }

    /// The INVITE server transaction a CANCEL targets (§9.2).
    pub fn cancel_target(cancel: &Request) -> Option<TransactionKey> {
        Self::server_key(cancel, Method::Invite)
    }

    /// The client transaction a response belongs to.
    pub fn for_client_response(response: &Response) -> Option<TransactionKey> {
        let via = response.headers.top_via()?;
        let branch = via.branch()?.to_owned();
        Some(TransactionKey {
            branch,
            sent_by: String::new(),
            method: response.headers.cseq()?.method,
        })
    }

    /// The key of a client transaction for the request it sends.
    pub fn for_client_request(request: &Request) -> Option<TransactionKey> {
        let via = request.headers.top_via()?;
        Some(TransactionKey {
            branch: via.branch()?.to_owned(),
            sent_by: String::new(),
            method: request.method.clone(),
        })
    }

    fn server_key(request: &Request, method: Method) -> Option<TransactionKey> {
        let via = request.headers.top_via()?;
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host.to_ascii_lowercase()),
            None => via.host.to_ascii_lowercase(),
        };
        Some(TransactionKey {
            branch: via.branch()?.to_owned(),
            sent_by,
            method,
        })
    }
}

/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): same Request-URI, Call-ID,
/// From, CSeq number and top Via; To from the response; the INVITE's Route headers.
pub fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(via) = invite.headers.list("Via").first() {
        ack.headers.push("Via", via.clone());
    }
    for value in invite.headers.get_all("Route") {
        ack.headers.push("Route", value);
    }
    ack.headers.push("Max-Forwards", "70");
    copy(invite, &mut ack, "From");
    match response.headers.get("To") {
        Some(to) => ack.headers.push("To", to),
        None => copy(invite, &mut ack, "To"),
    }
    copy(invite, &mut ack, "Call-ID");
    if let Some(cseq) = invite.headers.cseq() {
        ack.headers.push("CSeq", format!("{} ACK", cseq.sequence));
    }
    ack
}

/// The CANCEL for a pending `invite` (§9.1): same Request-URI, Call-ID, From, To, CSeq number
/// and top Via (so it reaches the same server transaction), and the INVITE's Route headers.
pub fn cancel_for(invite: &Request) -> Request {
    let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
    if let Some(via) = invite.headers.list("Via").first() {
        cancel.headers.push("Via", via.clone());
    }
    for value in invite.headers.get_all("Route") {
        cancel.headers.push("Route", value);
    }
    cancel.headers.push("Max-Forwards", "70");
    for name in ["From", "To", "Call-ID"] {
        copy(invite, &mut cancel, name);
    }
    if let Some(cseq) = invite.headers.cseq() {
        cancel
            .headers
            .push("CSeq", format!("{} CANCEL", cseq.sequence));
    }
    cancel
}

fn copy(from: &Request, to: &mut Request, name: &str) {
    if let Some(value) = from.headers.get(name) {
        to.headers.push(name, value);
    }
}

/// A doubling retransmission timer (Timers A, G, and the 2xx retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: u64,
    pub(crate) interval: u64,
    pub(crate) cap: u64,
}

impl Retransmit {
    pub(crate) fn start(now_ms: u64, interval: u64, cap: u64) -> Retransmit {
        Retransmit {
            at: now_ms.saturating_add(interval),
            interval,
            cap,
        }
    }

    /// Schedules the next firing after one at `now_ms`.
    pub(crate) fn next(self, now_ms: u64) -> Retransmit {
        let interval = self.interval.saturating_mul(2).min(self.cap);
        Retransmit {
            at: now_ms.saturating_add(interval),
            interval,
            cap: self.cap,
        }
    }
}

#[cfg(test)]
mod tests;
