//! The endpoint task's one timer: the earliest deadline of every transaction (kept in a
//! `Deadlines` heap), call deadline and shutdown grace, and the firing of everything that is due.
//!
//! Transactions are many (an answered INVITE's server transaction lives 32 s, until Timer L, so
//! at 200 calls/s about 6,400 are alive) and every SIP message wakes the task, so their deadlines
//! sit in a heap updated whenever a transaction was driven: finding the next one and the due
//! ones costs O(log n), where a scan of every transaction per wake-up grew with the call rate
//! squared (BENCHMARKS.md). Calls, far fewer and mostly without a deadline, are still scanned.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use switchboard_sip::TransactionKey;

use super::{Actor, CallId, outbound};

/// The transaction a deadline belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum TimerRef {
    ServerInvite(TransactionKey),
    ServerRequest(TransactionKey),
    ClientInvite(TransactionKey),
    ClientRequest(TransactionKey),
    /// A call's session timer (`session.rs`).
    Session(CallId),
}

/// A min-heap of transaction deadlines with lazy removal: each transaction has at most one
/// live entry (`scheduled`); entries superseded by a reschedule are skipped when they surface.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    entries: HashMap<u64, TimerRef>,
    scheduled: HashMap<TimerRef, (u64, u64)>,
    next_seq: u64,
}

impl Deadlines {
    /// Sets `what`'s deadline to `at` (`None`: it has none, or it is gone).
    pub(super) fn schedule(&mut self, what: TimerRef, at: Option<u64>) {
        let Some(at) = at else {
            self.scheduled.remove(&what);
            return;
        };
        if self.scheduled.get(&what).map(|(current, _)| *current) == Some(at) {
            return;
        }
        self.next_seq += 1;
        self.heap.push(Reverse((at, self.next_seq)));
        self.entries.insert(self.next_seq, what.clone());
        self.scheduled.insert(what, (at, self.next_seq));
    }

    fn is_live(&self, seq: u64) -> bool {
        self.entries
            .get(&seq)
            .and_then(|what| self.scheduled.get(what))
            .is_some_and(|(_, live)| *live == seq)
    }

    /// The earliest live deadline (dropping superseded entries on the way).
    pub(super) fn next(&mut self) -> Option<u64> {
        while let Some(Reverse((at, seq))) = self.heap.peek().copied() {
            if self.is_live(seq) {
                return Some(at);
            }
            self.heap.pop();
            self.entries.remove(&seq);
        }
        None
    }

    /// A transaction whose deadline is at or before `now`; it is unscheduled (driving it
    /// schedules its next one).
    pub(super) fn pop_due(&mut self, now: u64) -> Option<TimerRef> {
        while let Some(Reverse((at, seq))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let live = self.is_live(seq);
            let Some(what) = self.entries.remove(&seq) else {
                continue;
            };
            if live {
                self.scheduled.remove(&what);
                return Some(what);
            }
        }
        None
    }
}

impl Actor {
    pub(super) fn next_deadline(&mut self) -> Option<u64> {
        let transactions = self.deadlines.next();
        let calls = self
            .calls
            .values()
            .filter_map(outbound::call_deadline)
            .min();
        let stop = self.stopping.as_ref().map(|(_, at)| *at);
        [transactions, calls, stop].into_iter().flatten().min()
    }

    /// Records a transaction's deadline after it was driven (or removed).
    pub(super) fn reschedule(&mut self, what: TimerRef) {
        let at = match &what {
            TimerRef::ServerInvite(key) => self
                .server_invites
                .get(key)
                .and_then(|t| t.tx.poll_timeout()),
            TimerRef::ServerRequest(key) => self
                .server_requests
                .get(key)
                .and_then(|t| t.tx.poll_timeout()),
            TimerRef::ClientInvite(key) => self
                .client_invites
                .get(key)
                .and_then(|t| t.tx.poll_timeout()),
            TimerRef::ClientRequest(key) => self
                .client_requests
                .get(key)
                .and_then(|t| t.tx.poll_timeout()),
            TimerRef::Session(id) => self.calls.get(id).and_then(|c| c.mid.deadline()),
        };
        self.deadlines.schedule(what, at);
    }

    pub(super) fn fire_timers(&mut self) {
        let now = self.now();
        while let Some(what) = self.deadlines.pop_due(now) {
            match what {
                TimerRef::ServerInvite(key) => {
                    if let Some(entry) = self.server_invites.get_mut(&key) {
                        entry.tx.handle_timeout(now);
                    }
                    self.drive_server_invite(&key);
                }
                TimerRef::ServerRequest(key) => {
                    if let Some(entry) = self.server_requests.get_mut(&key) {
                        entry.tx.handle_timeout(now);
                    }
                    self.drive_server_request(&key);
                }
                TimerRef::ClientInvite(key) => {
                    if let Some(entry) = self.client_invites.get_mut(&key) {
                        entry.tx.handle_timeout(now);
                    }
                    self.drive_client_invite(&key);
                }
                TimerRef::ClientRequest(key) => {
                    if let Some(entry) = self.client_requests.get_mut(&key) {
                        entry.tx.handle_timeout(now);
                    }
                    self.drive_client_request(&key);
                }
                TimerRef::Session(id) => self.on_session_deadline(id),
            }
        }
        let due = |at: Option<u64>| at.is_some_and(|at| at <= now);
        let calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| due(outbound::call_deadline(c)))
            .map(|(id, _)| *id)
            .collect();
        for id in calls {
            self.on_call_deadline(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sip::Method;

    fn key(branch: &str) -> TimerRef {
        TimerRef::ServerInvite(TransactionKey {
            branch: branch.to_owned(),
            sent_by: "127.0.0.1:5070".to_owned(),
            method: Method::Invite,
        })
    }

    #[test]
    fn deadlines_come_out_earliest_first_and_only_their_latest_schedule_counts() {
        let mut deadlines = Deadlines::default();
        deadlines.schedule(key("a"), Some(500));
        deadlines.schedule(key("b"), Some(100));
        deadlines.schedule(key("c"), Some(300));
        // a moves earlier, c is rescheduled later, b is gone.
        deadlines.schedule(key("a"), Some(200));
        deadlines.schedule(key("c"), Some(900));
        deadlines.schedule(key("b"), None);
        assert_eq!(deadlines.next(), Some(200));
        assert_eq!(deadlines.pop_due(199), None);
        assert_eq!(deadlines.pop_due(1000), Some(key("a")));
        assert_eq!(deadlines.pop_due(1000), Some(key("c")));
        assert_eq!(deadlines.pop_due(1000), None);
        assert_eq!(deadlines.next(), None);
        assert!(
            deadlines.entries.is_empty(),
            "superseded entries are dropped"
        );
    }

    #[test]
    fn scheduling_the_same_deadline_again_adds_nothing() {
        let mut deadlines = Deadlines::default();
        for _ in 0..100 {
            deadlines.schedule(key("a"), Some(500));
        }
        assert_eq!(deadlines.heap.len(), 1);
        assert_eq!(deadlines.pop_due(500), Some(key("a")));
        assert_eq!(deadlines.next(), None);
    }
}
