//! The INVITE client transaction (RFC 3261 §17.1.1 with RFC 6026's Accepted state), for the
//! outbound legs of `<Dial>` and the Calls API.
//!
//! Calling: the INVITE is retransmitted on Timer A (T1, doubling, unreliable transports only)
//! until a response or Timer B (64·T1, `Timeout`). Provisional responses move to Proceeding and
//! go up to the TU. A 2xx goes up and moves to Accepted for Timer M (64·T1), passing 2xx
//! retransmissions up too (the TU re-sends its ACK, which belongs to the dialog). A 300–699
//! is acknowledged here, goes up once, and Completed absorbs its retransmissions (re-sending
//! the ACK) for Timer D (32 s unreliable, zero reliable).

use std::collections::VecDeque;

use super::{Retransmit, TimerConfig, TransportKind, ack_for_non_2xx};
use crate::message::{Request, Response};

/// Timer D on unreliable transports.
const TIMER_D_MS: u64 = 32_000;

/// States of the INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 2xx arrived (RFC 6026).
    Accepted,
    /// A 300–699 arrived and was acknowledged.
    Completed,
    /// Finished; remove the transaction.
    Terminated,
}

/// What the transaction wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteClientOutput {
    /// Send this request (the INVITE, a retransmission of it, or the ACK of a failure).
    Send(Request),
    /// A response for the TU.
    Response(Response),
    /// Timer B: no response at all.
    Timeout,
    /// The transaction is over; remove it.
    Terminated,
}

/// One INVITE client transaction.
#[derive(Debug, Clone)]
pub struct InviteClientTransaction {
    invite: Request,
    state: InviteClientState,
    transport: TransportKind,
    timers: TimerConfig,
    retransmit: Option<Retransmit>,
    timeout_at: Option<u64>,
    end_at: Option<u64>,
    ack: Option<Request>,
    outputs: VecDeque<InviteClientOutput>,
}

impl InviteClientTransaction {
    /// Starts the transaction and queues the INVITE.
    pub fn new(
        now_ms: u64,
        invite: Request,
        transport: TransportKind,
        timers: TimerConfig,
    ) -> Self {
        let retransmit = (transport == TransportKind::Unreliable)
            // Timer A doubles without a cap; Timer B bounds it.
            .then(|| Retransmit::start(now_ms, timers.t1_ms, u64::MAX));
        let mut outputs = VecDeque::new();
        outputs.push_back(InviteClientOutput::Send(invite.clone()));
        InviteClientTransaction {
            invite,
            state: InviteClientState::Calling,
            transport,
            timers,
            retransmit,
            timeout_at: Some(now_ms.saturating_add(timers.transaction_timeout_ms())),
            end_at: None,
            ack: None,
            outputs,
        }
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &Request {
        &self.invite
    }

    /// The current state.
    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// True when a CANCEL may be sent (a provisional response has arrived, §9.1).
    pub fn can_cancel(&self) -> bool {
        self.state == InviteClientState::Proceeding
    }

    /// Feeds a response matched to this transaction.
    pub fn handle_response(&mut self, now_ms: u64, response: Response) {
        let status = response.status;
        match self.state {
            InviteClientState::Calling | InviteClientState::Proceeding => {
                self.retransmit = None;
                match status {
                    100..=199 => {
                        self.state = InviteClientState::Proceeding;
                        self.timeout_at = None;
                    }
                    200..=299 => {
                        self.state = InviteClientState::Accepted;
                        self.timeout_at = None;
                        self.end_at =
                            Some(now_ms.saturating_add(self.timers.transaction_timeout_ms()));
                    }
                    _ => self.complete(now_ms, &response),
                }
                self.outputs
                    .push_back(InviteClientOutput::Response(response));
            }
            InviteClientState::Accepted if (200..300).contains(&status) => {
                self.outputs
                    .push_back(InviteClientOutput::Response(response));
            }
            InviteClientState::Completed if status >= 300 => {
                if let Some(ack) = self.ack.clone() {
                    self.outputs.push_back(InviteClientOutput::Send(ack));
                }
            }
            _ => {}
        }
    }

    /// Fires the timers that are due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.state == InviteClientState::Calling
            && self.timeout_at.is_some_and(|at| now_ms >= at)
        {
            self.outputs.push_back(InviteClientOutput::Timeout);
            self.terminate();
            return;
        }
        if let Some(retransmit) = self.retransmit
            && now_ms >= retransmit.at
        {
            self.outputs
                .push_back(InviteClientOutput::Send(self.invite.clone()));
            self.retransmit = Some(retransmit.next(now_ms));
        }
        if self.end_at.is_some_and(|at| now_ms >= at) {
            self.terminate();
        }
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<u64> {
        [self.retransmit.map(|r| r.at), self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<InviteClientOutput> {
        self.outputs.pop_front()
    }

    fn complete(&mut self, now_ms: u64, response: &Response) {
        self.state = InviteClientState::Completed;
        self.timeout_at = None;
        let ack = ack_for_non_2xx(&self.invite, response);
        self.outputs
            .push_back(InviteClientOutput::Send(ack.clone()));
        self.ack = Some(ack);
        match self.transport {
            TransportKind::Unreliable => self.end_at = Some(now_ms.saturating_add(TIMER_D_MS)),
            TransportKind::Reliable => self.end_at = Some(now_ms),
        }
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.retransmit = None;
        self.timeout_at = None;
        self.end_at = None;
        self.outputs.push_back(InviteClientOutput::Terminated);
    }
}
