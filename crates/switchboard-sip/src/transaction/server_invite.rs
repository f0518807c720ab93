//! The INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026's Accepted state), which also
//! retransmits the UAS core's 2xx until the ACK arrives (§13.3.1.4).
//!
//! Proceeding: `100 Trying` is sent at once; INVITE retransmissions resend the latest
//! provisional. A 2xx moves to Accepted: retransmitted with T1 doubling to T2 (unreliable
//! transports) until the call layer reports the ACK, INVITE retransmissions absorbed, and after
//! Timer L (64·T1) `NoAckFor2xx` if no ACK came. A 300–699 moves to Completed: retransmitted on
//! Timer G (T1 doubling to T2) until the ACK (absorbed here, moving to Confirmed for Timer I = T4)
//! or Timer H (64·T1, `AckTimeout`).

use std::collections::VecDeque;

use super::{Retransmit, TimerConfig, TransportKind};
use crate::message::{Method, Request, Response};

/// States of the INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// Waiting for the TU's final response.
    Proceeding,
    /// A 2xx was sent (RFC 6026).
    Accepted,
    /// A 300–699 was sent, waiting for its ACK.
    Completed,
    /// The ACK arrived; absorbing retransmissions.
    Confirmed,
    /// Finished; remove the transaction.
    Terminated,
}

/// What the transaction wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteServerOutput {
    /// Send this response to the request's source.
    Send(Response),
    /// Timer H: the final non-2xx response was never acknowledged.
    AckTimeout,
    /// Timer L passed without the 2xx's ACK: the UAS should send BYE (§13.3.1.4).
    NoAckFor2xx,
    /// The transaction is over; remove it.
    Terminated,
}

/// One INVITE server transaction.
#[derive(Debug, Clone)]
pub struct InviteServerTransaction {
    invite: Request,
    state: InviteServerState,
    transport: TransportKind,
    timers: TimerConfig,
    last_response: Option<Response>,
    retransmit: Option<Retransmit>,
    end_at: Option<u64>,
    acked_2xx: bool,
    outputs: VecDeque<InviteServerOutput>,
}

impl InviteServerTransaction {
    /// Starts the transaction for a new INVITE and queues `100 Trying`.
    pub fn new(invite: Request, transport: TransportKind, timers: TimerConfig) -> Self {
        let trying = invite.response(100, "");
        let mut transaction = InviteServerTransaction {
            invite,
            state: InviteServerState::Proceeding,
            transport,
            timers,
            last_response: None,
            retransmit: None,
            end_at: None,
            acked_2xx: false,
            outputs: VecDeque::new(),
        };
        transaction.send(trying);
        transaction
    }

    /// The INVITE that started the transaction.
    pub fn request(&self) -> &Request {
        &self.invite
    }

    /// The current state.
    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// Sends the TU's response. Returns false (and sends nothing) once a final response was sent.
    pub fn respond(&mut self, now_ms: u64, response: Response) -> bool {
        if self.state != InviteServerState::Proceeding {
            return false;
        }
        let status = response.status;
        self.send(response);
        let unreliable = self.transport == TransportKind::Unreliable;
        let timeout = self.timers.transaction_timeout_ms();
        match status {
            100..=199 => {}
            200..=299 => {
                self.state = InviteServerState::Accepted;
                self.retransmit = unreliable
                    .then(|| Retransmit::start(now_ms, self.timers.t1_ms, self.timers.t2_ms));
                self.end_at = Some(now_ms.saturating_add(timeout));
            }
            _ => {
                self.state = InviteServerState::Completed;
                self.retransmit = unreliable
                    .then(|| Retransmit::start(now_ms, self.timers.t1_ms, self.timers.t2_ms));
                self.end_at = Some(now_ms.saturating_add(timeout));
            }
        }
        true
    }

    /// Feeds a request matched to this transaction: an INVITE retransmission or the ACK of a
    /// non-2xx response.
    pub fn handle_request(&mut self, now_ms: u64, request: &Request) {
        match (&request.method, self.state) {
            (Method::Invite, InviteServerState::Proceeding | InviteServerState::Completed) => {
                if let Some(last) = self.last_response.clone() {
                    self.outputs.push_back(InviteServerOutput::Send(last));
                }
            }
            (Method::Ack, InviteServerState::Completed) => {
                self.state = InviteServerState::Confirmed;
                self.retransmit = None;
                match self.transport {
                    TransportKind::Unreliable => {
                        self.end_at = Some(now_ms.saturating_add(self.timers.t4_ms))
                    }
                    TransportKind::Reliable => self.terminate(),
                }
            }
            (Method::Ack, InviteServerState::Accepted) => self.handle_2xx_ack(),
            _ => {}
        }
    }

    /// The ACK for the 2xx arrived (matched by the dialog, since it has its own branch):
    /// stop retransmitting the 2xx.
    pub fn handle_2xx_ack(&mut self) {
        if self.state == InviteServerState::Accepted {
            self.acked_2xx = true;
            self.retransmit = None;
        }
    }

    /// Fires the timers that are due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(retransmit) = self.retransmit
            && now_ms >= retransmit.at
        {
            if let Some(last) = self.last_response.clone() {
                self.outputs.push_back(InviteServerOutput::Send(last));
            }
            self.retransmit = Some(retransmit.next(now_ms));
        }
        if self.end_at.is_some_and(|at| now_ms >= at) {
            match self.state {
                InviteServerState::Completed => {
                    self.outputs.push_back(InviteServerOutput::AckTimeout)
                }
                InviteServerState::Accepted if !self.acked_2xx => {
                    self.outputs.push_back(InviteServerOutput::NoAckFor2xx)
                }
                _ => {}
            }
            self.terminate();
        }
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let retransmit = self.retransmit.map(|r| r.at);
        match (retransmit, self.end_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<InviteServerOutput> {
        self.outputs.pop_front()
    }

    fn send(&mut self, response: Response) {
        self.last_response = Some(response.clone());
        self.outputs.push_back(InviteServerOutput::Send(response));
    }

    fn terminate(&mut self) {
        self.state = InviteServerState::Terminated;
        self.retransmit = None;
        self.end_at = None;
        self.outputs.push_back(InviteServerOutput::Terminated);
    }
}
