//! The non-INVITE server transaction (RFC 3261 §17.2.2): BYE, CANCEL, OPTIONS, INFO.
//!
//! Trying absorbs retransmissions until the TU answers; Proceeding and Completed resend the
//! last response for each retransmission; Completed lasts Timer J (64·T1 on unreliable
//! transports, zero on reliable ones) and then the transaction ends.

use std::collections::VecDeque;

use super::{TimerConfig, TransportKind};
use crate::message::{Request, Response};

/// States of the non-INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// Waiting for the TU.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; absorbing retransmissions.
    Completed,
    /// Finished; remove the transaction.
    Terminated,
}

/// What the transaction wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonInviteServerOutput {
    /// Send this response to the request's source.
    Send(Response),
    /// The transaction is over; remove it.
    Terminated,
}

/// One non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct NonInviteServerTransaction {
    request: Request,
    state: NonInviteServerState,
    transport: TransportKind,
    timers: TimerConfig,
    last_response: Option<Response>,
    end_at: Option<u64>,
    outputs: VecDeque<NonInviteServerOutput>,
}

impl NonInviteServerTransaction {
    /// Starts the transaction for a new request.
    pub fn new(request: Request, transport: TransportKind, timers: TimerConfig) -> Self {
        NonInviteServerTransaction {
            request,
            state: NonInviteServerState::Trying,
            transport,
            timers,
            last_response: None,
            end_at: None,
            outputs: VecDeque::new(),
        }
    }

    /// The request that started the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    /// Sends the TU's response. Returns false once a final response was sent.
    pub fn respond(&mut self, now_ms: u64, response: Response) -> bool {
        if matches!(
            self.state,
            NonInviteServerState::Completed | NonInviteServerState::Terminated
        ) {
            return false;
        }
        let provisional = response.status < 200;
        self.last_response = Some(response.clone());
        self.outputs
            .push_back(NonInviteServerOutput::Send(response));
        if provisional {
            self.state = NonInviteServerState::Proceeding;
            return true;
        }
        match self.transport {
            TransportKind::Unreliable => {
                self.state = NonInviteServerState::Completed;
                self.end_at = Some(now_ms.saturating_add(self.timers.transaction_timeout_ms()));
            }
            TransportKind::Reliable => self.terminate(),
        }
        true
    }

    /// Feeds a retransmission of the request.
    pub fn handle_request(&mut self, _now_ms: u64, _request: &Request) {
        if matches!(
            self.state,
            NonInviteServerState::Proceeding | NonInviteServerState::Completed
        ) && let Some(last) = self.last_response.clone()
        {
            self.outputs.push_back(NonInviteServerOutput::Send(last));
        }
    }

    /// Fires Timer J when due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.end_at.is_some_and(|at| now_ms >= at) {
            self.terminate();
        }
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.end_at
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<NonInviteServerOutput> {
        self.outputs.pop_front()
    }

    fn terminate(&mut self) {
        self.state = NonInviteServerState::Terminated;
        self.end_at = None;
        self.outputs.push_back(NonInviteServerOutput::Terminated);
    }
}
