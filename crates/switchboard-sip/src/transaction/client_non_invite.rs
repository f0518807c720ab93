//! The non-INVITE client transaction (RFC 3261 §17.1.2), for our BYE, CANCEL, INFO and OPTIONS.
//!
//! Trying: the request is retransmitted on Timer E (T1 doubling up to T2, unreliable transports
//! only) until a response or Timer F (64·T1, `Timeout`). A provisional response moves to
//! Proceeding, where Timer E keeps firing at T2. A final response goes up once and moves to
//! Completed, which absorbs retransmitted responses for Timer K (T4 unreliable, zero reliable).

use std::collections::VecDeque;

use super::{Retransmit, TimerConfig, TransportKind};
use crate::message::{Request, Response};

/// States of the non-INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Sent; no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions.
    Completed,
    /// Finished; remove the transaction.
    Terminated,
}

/// What the transaction wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonInviteClientOutput {
    /// Send (or resend) the request.
    Send(Request),
    /// A response for the TU (each provisional, and the final one once).
    Response(Response),
    /// Timer F fired without a final response (treat as 408).
    Timeout,
    /// The transaction is over; remove it.
    Terminated,
}

/// One non-INVITE client transaction.
#[derive(Debug, Clone)]
pub struct NonInviteClientTransaction {
    request: Request,
    state: NonInviteClientState,
    transport: TransportKind,
    timers: TimerConfig,
    retransmit: Option<Retransmit>,
    timeout_at: Option<u64>,
    end_at: Option<u64>,
    outputs: VecDeque<NonInviteClientOutput>,
}

impl NonInviteClientTransaction {
    /// Starts the transaction; the first output is the request to send.
    pub fn new(
        now_ms: u64,
        request: Request,
        transport: TransportKind,
        timers: TimerConfig,
    ) -> Self {
        let retransmit = (transport == TransportKind::Unreliable)
            .then(|| Retransmit::start(now_ms, timers.t1_ms, timers.t2_ms));
        let mut outputs = VecDeque::new();
        outputs.push_back(NonInviteClientOutput::Send(request.clone()));
        NonInviteClientTransaction {
            request,
            state: NonInviteClientState::Trying,
            transport,
            timers,
            retransmit,
            timeout_at: Some(now_ms.saturating_add(timers.transaction_timeout_ms())),
            end_at: None,
            outputs,
        }
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    /// Feeds a response matched to this transaction by `TransactionKey::for_client_response`.
    pub fn handle_response(&mut self, now_ms: u64, response: Response) {
        if !matches!(
            self.state,
            NonInviteClientState::Trying | NonInviteClientState::Proceeding
        ) {
            return;
        }
        if response.status < 200 {
            if self.state == NonInviteClientState::Trying {
                self.state = NonInviteClientState::Proceeding;
                // In Proceeding, Timer E fires every T2 (RFC 3261 §17.1.2.2).
                if self.retransmit.is_some() {
                    let t2 = self.timers.t2_ms;
                    self.retransmit = Some(Retransmit::start(now_ms, t2, t2));
                }
            }
            self.outputs
                .push_back(NonInviteClientOutput::Response(response));
            return;
        }
        self.state = NonInviteClientState::Completed;
        self.retransmit = None;
        self.timeout_at = None;
        self.outputs
            .push_back(NonInviteClientOutput::Response(response));
        match self.transport {
            TransportKind::Unreliable => {
                self.end_at = Some(now_ms.saturating_add(self.timers.t4_ms));
            }
            TransportKind::Reliable => self.terminate(),
        }
    }

    /// Fires the timers that are due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.timeout_at.is_some_and(|at| now_ms >= at) {
            self.outputs.push_back(NonInviteClientOutput::Timeout);
            self.terminate();
            return;
        }
        if let Some(retransmit) = self.retransmit
            && now_ms >= retransmit.at
        {
            self.outputs
                .push_back(NonInviteClientOutput::Send(self.request.clone()));
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
    pub fn poll_output(&mut self) -> Option<NonInviteClientOutput> {
        self.outputs.pop_front()
    }

    fn terminate(&mut self) {
        self.state = NonInviteClientState::Terminated;
        self.retransmit = None;
        self.timeout_at = None;
        self.end_at = None;
        self.outputs.push_back(NonInviteClientOutput::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Limits;
    use crate::message::Message;
    use crate::parse::{Framing, parse_message};

    fn bye() -> Request {
        let text = "BYE sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-b\r\n\
From: <sip:a@x>;tag=a\r\nTo: <sip:b@y>;tag=b\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        match parse_message(text.as_bytes(), Framing::Datagram, &Limits::default()) {
            Ok(Message::Request(request)) => request,
            other => panic!("{other:?}"),
        }
    }

    fn drain(t: &mut NonInviteClientTransaction, now: u64, log: &mut Vec<(u64, String)>) {
        while let Some(output) = t.poll_output() {
            log.push((
                now,
                match output {
                    NonInviteClientOutput::Send(r) => format!("send {}", r.method),
                    NonInviteClientOutput::Response(r) => format!("got {}", r.status),
                    NonInviteClientOutput::Timeout => "timeout".into(),
                    NonInviteClientOutput::Terminated => "terminated".into(),
                },
            ));
        }
    }

    /// Runs the transaction to `until`, feeding `responses` at their times.
    fn run(
        transport: TransportKind,
        mut responses: Vec<(u64, u16)>,
        until: u64,
    ) -> Vec<(u64, String)> {
        let mut t = NonInviteClientTransaction::new(0, bye(), transport, TimerConfig::default());
        let mut log = Vec::new();
        drain(&mut t, 0, &mut log);
        loop {
            let timer = t.poll_timeout().unwrap_or(u64::MAX);
            let next = responses.first().map_or(u64::MAX, |r| r.0);
            let now = timer.min(next);
            if now > until {
                return log;
            }
            if next <= timer {
                let (_, status) = responses.remove(0);
                t.handle_response(now, bye().response(status, "b"));
            } else {
                t.handle_timeout(now);
            }
            drain(&mut t, now, &mut log);
        }
    }

    fn entries(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
    }

    #[test]
    fn retransmits_on_timer_e_until_timer_f() {
        let log = run(TransportKind::Unreliable, vec![], 60_000);
        let mut expected: Vec<(u64, &str)> = [
            0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
        ]
        .iter()
        .map(|&t| (t, "send BYE"))
        .collect();
        expected.extend([(32_000, "timeout"), (32_000, "terminated")]);
        assert_eq!(log, entries(&expected));
    }

    #[test]
    fn provisional_slows_to_t2_and_final_waits_timer_k() {
        let responses = vec![(100, 100), (5_000, 200), (5_100, 200)];
        let log = run(TransportKind::Unreliable, responses, 60_000);
        let expected = [
            (0, "send BYE"),
            (100, "got 100"),
            (4_100, "send BYE"),
            (5_000, "got 200"),
            (10_000, "terminated"),
        ];
        assert_eq!(log, entries(&expected));
    }

    #[test]
    fn reliable_transport_never_retransmits_and_ends_on_the_final() {
        let log = run(TransportKind::Reliable, vec![(300, 481)], 60_000);
        let expected = [(0, "send BYE"), (300, "got 481"), (300, "terminated")];
        assert_eq!(log, entries(&expected));
        let log = run(TransportKind::Reliable, vec![], 60_000);
        let expected = [(0, "send BYE"), (32_000, "timeout"), (32_000, "terminated")];
        assert_eq!(log, entries(&expected));
    }
}
