//! The connection registry: which HTTP connections are open, what each is doing and since when,
//! and the decisions made from that alone: which connection to close to admit a new one, and
//! which have outstayed their header or idle timeout.
//!
//! It is pure: no IO and no clock. Times come in as milliseconds since the server started, and
//! every connection carries a `handle` (the server's close signal; a number in the tests) that
//! the registry hands back when it decides a connection must go.
//!
//! A connection not serving a request has two times: when it entered its phase, which its
//! timeout runs from, and when it was last active (accepted, sent bytes, finished a response),
//! which orders eviction. "Idle longest" is thus the connection silent longest: a flood of
//! connections that never send anything goes before a client whose head is arriving, even
//! byte by byte (the header timeout deals with that one). Three ordered queues (heads by phase
//! start, idle keep-alives by phase start, both by last activity) find the expired connections
//! and the eviction at their front instead of by a scan: a flood keeps the registry at its cap,
//! and then every accepted connection asks for an eviction.

use std::collections::{BTreeSet, HashMap};

/// Milliseconds since the server started.
pub(crate) type Millis = u64;

/// One accepted connection, numbered in order of arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnectionId(u64);

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a complete request head: a new connection, or a keep-alive connection on
    /// which bytes of the next request have arrived. The header timeout runs.
    Head,
    /// Between requests on a keep-alive connection, nothing of the next one received yet. The
    /// idle timeout runs.
    Idle,
    /// Serving a request (from its complete head to the end of its response). No timeout of ours
    /// runs; shutdown lets it finish within the drain timeout.
    Busy,
}

/// The limits of `--http-header-timeout`, `--http-idle-timeout` and `--max-connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub header_timeout: Millis,
    pub idle_timeout: Millis,
    pub max_connections: usize,
}

/// Why the server closed a connection: the `reason` label of
/// `switchboard_http_connections_closed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// No complete request head within the header timeout.
    HeaderTimeout,
    /// Idle between requests for the idle timeout.
    IdleTimeout,
    /// Closed at the cap to admit a new connection, as the one idle longest.
    IdleEvicted,
    /// A new connection refused at the cap because every open one was serving a request.
    Limit,
}

impl Closed {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::IdleEvicted => "idle_evicted",
            Closed::Limit => "limit",
        }
    }
}

/// What `admit` decided about a new connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission<H> {
    /// Registered; `evicted` is the handle of the connection closed to make room, if any.
    Admitted {
        id: ConnectionId,
        evicted: Option<H>,
    },
    /// At the cap with no connection to evict: close the new one at once.
    Refused,
}

#[derive(Debug)]
struct Entry<H> {
    phase: Phase,
    /// When the phase began: the header or idle timeout runs from here.
    since: Millis,
    /// When the connection was last active; equal to `since` except while a head arrives.
    active: Millis,
    /// Requests being served (HTTP/1 serves one at a time; counted all the same).
    requests: u32,
    handle: H,
}

type Queue = BTreeSet<(Millis, ConnectionId)>;

/// Every open connection, with the queues of those not serving a request.
#[derive(Debug)]
pub(crate) struct Registry<H> {
    limits: Limits,
    next_id: u64,
    entries: HashMap<ConnectionId, Entry<H>>,
    /// Connections awaiting a head, by phase start.
    heads: Queue,
    /// Idle keep-alive connections, by phase start.
    idles: Queue,
    /// Both of the above, by last activity.
    silent: Queue,
}

impl<H> Registry<H> {
    pub(crate) fn new(limits: Limits) -> Registry<H> {
        Registry {
            limits,
            next_id: 0,
            entries: HashMap::new(),
            heads: Queue::new(),
            idles: Queue::new(),
            silent: Queue::new(),
        }
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Registers a new connection (awaiting its first head), evicting the connection idle
    /// longest when the registry is at its cap.
    pub(crate) fn admit(&mut self, now: Millis, handle: H) -> Admission<H> {
        let mut evicted = None;
        if self.entries.len() >= self.limits.max_connections {
            evicted = self.evict_longest_idle();
            if evicted.is_none() {
                return Admission::Refused;
            }
        }
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        let entry = Entry {
            phase: Phase::Head,
            since: now,
            active: now,
            requests: 0,
            handle,
        };
        self.enqueue(id, &entry);
        self.entries.insert(id, entry);
        Admission::Admitted { id, evicted }
    }

    /// The eviction choice: of the connections not serving a request, the one silent longest;
    /// `None` when every connection is busy.
    pub(crate) fn longest_idle(&self) -> Option<ConnectionId> {
        self.silent.first().map(|&(_, id)| id)
    }

    /// Removes the connection idle longest and returns its handle; `None` when every
    /// connection is busy.
    pub(crate) fn evict_longest_idle(&mut self) -> Option<H> {
        let victim = self.longest_idle()?;
        self.remove(victim)
    }

    /// Bytes arrived. On an idle keep-alive connection they begin the next head, and its header
    /// timeout starts now; on a connection awaiting a head they are activity; on a busy one they
    /// are the request's body and change nothing.
    pub(crate) fn bytes_arrived(&mut self, id: ConnectionId, now: Millis) {
        let Some(mut entry) = self.entries.remove(&id) else {
            return;
        };
        if entry.phase != Phase::Busy {
            self.dequeue(id, &entry);
            if entry.phase == Phase::Idle {
                entry.phase = Phase::Head;
                entry.since = now;
            }
            entry.active = now;
            self.enqueue(id, &entry);
        }
        self.entries.insert(id, entry);
    }

    /// A complete head arrived: the connection serves a request.
    pub(crate) fn request_started(&mut self, id: ConnectionId) {
        let Some(mut entry) = self.entries.remove(&id) else {
            return;
        };
        self.dequeue(id, &entry);
        entry.phase = Phase::Busy;
        entry.requests += 1;
        self.entries.insert(id, entry);
    }

    /// A response was sent in full (or abandoned); returns whether the connection is now idle.
    pub(crate) fn request_finished(&mut self, id: ConnectionId, now: Millis) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        if entry.phase != Phase::Busy {
            return false;
        }
        entry.requests = entry.requests.saturating_sub(1);
        if entry.requests > 0 {
            return false;
        }
        entry.phase = Phase::Idle;
        entry.since = now;
        entry.active = now;
        self.idles.insert((now, id));
        self.silent.insert((now, id));
        true
    }

    /// Whether the connection is serving a request.
    pub(crate) fn is_busy(&self, id: ConnectionId) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|entry| entry.phase == Phase::Busy)
    }

    /// Forgets a connection (it closed, or is being closed); returns its handle if it was here.
    pub(crate) fn remove(&mut self, id: ConnectionId) -> Option<H> {
        let entry = self.entries.remove(&id)?;
        self.dequeue(id, &entry);
        Some(entry.handle)
    }

    /// Removes and returns the connections whose head or idle timeout has passed at `now`.
    pub(crate) fn expire(&mut self, now: Millis) -> Vec<(H, Closed)> {
        let mut expired = Vec::new();
        let phases = [
            (
                Phase::Head,
                self.limits.header_timeout,
                Closed::HeaderTimeout,
            ),
            (Phase::Idle, self.limits.idle_timeout, Closed::IdleTimeout),
        ];
        for (phase, timeout, reason) in phases {
            loop {
                let queue = if phase == Phase::Head {
                    &self.heads
                } else {
                    &self.idles
                };
                let Some(&(since, id)) = queue.first() else {
                    break;
                };
                if since.saturating_add(timeout) > now {
                    break;
                }
                expired.extend(self.remove(id).map(|handle| (handle, reason)));
            }
        }
        expired
    }

    fn enqueue(&mut self, id: ConnectionId, entry: &Entry<H>) {
        match entry.phase {
            Phase::Head => self.heads.insert((entry.since, id)),
            Phase::Idle => self.idles.insert((entry.since, id)),
            Phase::Busy => return,
        };
        self.silent.insert((entry.active, id));
    }

    fn dequeue(&mut self, id: ConnectionId, entry: &Entry<H>) {
        match entry.phase {
            Phase::Head => self.heads.remove(&(entry.since, id)),
            Phase::Idle => self.idles.remove(&(entry.since, id)),
            Phase::Busy => return,
        };
        self.silent.remove(&(entry.active, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_timeout: 10_000,
        idle_timeout: 60_000,
        max_connections: 3,
    };

    /// A connection as a test sets it up: its phase, the time it entered it and, for a head,
    /// when its last bytes arrived.
    #[derive(Clone, Copy)]
    struct Setup {
        phase: Phase,
        since: Millis,
        bytes_at: Option<Millis>,
    }

    /// Accepted at `since`, nothing received.
    const fn head(since: Millis) -> Setup {
        Setup {
            phase: Phase::Head,
            since,
            bytes_at: None,
        }
    }

    /// Accepted at `since`, part of a head received at `bytes_at`.
    const fn talking(since: Millis, bytes_at: Millis) -> Setup {
        Setup {
            phase: Phase::Head,
            since,
            bytes_at: Some(bytes_at),
        }
    }

    /// Idle since a response finished at `since`.
    const fn idle(since: Millis) -> Setup {
        Setup {
            phase: Phase::Idle,
            since,
            bytes_at: None,
        }
    }

    /// Serving a request since `since`.
    const fn busy(since: Millis) -> Setup {
        Setup {
            phase: Phase::Busy,
            since,
            bytes_at: None,
        }
    }

    /// A registry holding `setups` in order; each connection's handle is its index.
    fn registry(setups: &[Setup], limits: Limits) -> Registry<usize> {
        let mut registry = Registry::new(limits);
        for (index, setup) in setups.iter().enumerate() {
            let Admission::Admitted { id, .. } = registry.admit(setup.since, index) else {
                panic!("setup {index} was refused");
            };
            match setup.phase {
                Phase::Head => {
                    if let Some(at) = setup.bytes_at {
                        registry.bytes_arrived(id, at);
                    }
                }
                Phase::Busy => registry.request_started(id),
                Phase::Idle => {
                    registry.request_started(id);
                    assert!(registry.request_finished(id, setup.since));
                }
            }
        }
        registry
    }

    /// What admitting a new connection at `now` does: `Some(Some(i))` evicts connection `i`,
    /// `Some(None)` admits without eviction, `None` refuses.
    fn check_admit(setups: &[Setup], now: Millis, expect: Option<Option<usize>>) {
        let mut registry = registry(setups, LIMITS);
        let got = match registry.admit(now, usize::MAX) {
            Admission::Admitted { evicted, .. } => Some(evicted),
            Admission::Refused => None,
        };
        assert_eq!(
            got,
            expect,
            "admitting at {now} among {} connections",
            setups.len()
        );
        assert!(registry.len() <= LIMITS.max_connections);
    }

    #[test]
    fn admission_evicts_the_connection_idle_longest() {
        check_admit(&[], 0, Some(None));
        check_admit(&[head(1), idle(2)], 5, Some(None));
        // At the cap: the one silent longest goes, heads awaited and idle keep-alives alike.
        check_admit(&[idle(3), idle(1), idle(2)], 9, Some(Some(1)));
        check_admit(&[head(4), idle(5), head(6)], 9, Some(Some(0)));
        check_admit(&[idle(4), head(5), head(6)], 9, Some(Some(0)));
        check_admit(&[head(7), idle(2), head(1)], 9, Some(Some(2)));
        // A head arriving byte by byte counts from its last byte.
        check_admit(&[talking(1, 8), idle(5), head(6)], 9, Some(Some(1)));
        check_admit(&[talking(1, 3), talking(2, 4), head(6)], 9, Some(Some(0)));
        check_admit(&[talking(1, 7), talking(2, 4), head(6)], 9, Some(Some(1)));
        // Busy connections are never evicted, however old.
        check_admit(&[busy(0), busy(1), idle(8)], 9, Some(Some(2)));
        check_admit(&[busy(0), head(8), busy(1)], 9, Some(Some(1)));
        // None idle: the new connection is refused.
        check_admit(&[busy(0), busy(1), busy(2)], 9, None);
    }

    /// Which connections (by index, with the reason) have expired at `now`.
    fn check_expire(setups: &[Setup], now: Millis, expect: &[(usize, Closed)]) {
        let limits = Limits {
            max_connections: 100,
            ..LIMITS
        };
        let mut registry = registry(setups, limits);
        let mut got = registry.expire(now);
        got.sort_by_key(|(index, _)| *index);
        assert_eq!(got, expect, "expiring at {now}");
        assert_eq!(registry.len(), setups.len() - expect.len());
        assert!(registry.expire(now).is_empty(), "expired once only");
    }

    #[test]
    fn heads_and_idle_connections_expire_on_their_own_timeouts() {
        use Closed::{HeaderTimeout, IdleTimeout};
        check_expire(&[head(0), idle(0), busy(0)], 9_999, &[]);
        check_expire(&[head(0), idle(0), busy(0)], 10_000, &[(0, HeaderTimeout)]);
        check_expire(
            &[head(0), idle(0), busy(0), head(50_001)],
            60_000,
            &[(0, HeaderTimeout), (1, IdleTimeout)],
        );
        check_expire(
            &[idle(5), head(1), idle(0), head(2)],
            60_004,
            &[(1, HeaderTimeout), (2, IdleTimeout), (3, HeaderTimeout)],
        );
        // Bytes of a head do not extend its timeout.
        check_expire(&[talking(0, 9_999)], 10_000, &[(0, HeaderTimeout)]);
        check_expire(&[busy(0)], Millis::MAX, &[]);
    }

    #[test]
    fn the_next_request_on_an_idle_connection_runs_the_header_timeout_from_its_first_byte() {
        let mut registry = registry(&[idle(0)], LIMITS);
        let id = ConnectionId(0);
        registry.bytes_arrived(id, 55_000);
        assert!(registry.expire(60_000).is_empty(), "no longer idle");
        registry.bytes_arrived(id, 60_000);
        assert!(registry.expire(64_999).is_empty());
        assert_eq!(registry.expire(65_000), vec![(0, Closed::HeaderTimeout)]);
    }

    #[test]
    fn a_served_request_moves_the_connection_between_the_queues() {
        let mut registry = registry(&[head(0)], LIMITS);
        let id = ConnectionId(0);
        registry.request_started(id);
        assert!(registry.is_busy(id));
        assert_eq!(registry.longest_idle(), None);
        registry.bytes_arrived(id, 1);
        assert!(
            registry.is_busy(id),
            "bytes while busy are the request's body"
        );
        assert_eq!(registry.longest_idle(), None);
        assert!(registry.request_finished(id, 20_000));
        assert!(!registry.request_finished(id, 20_001), "finished once");
        assert_eq!(registry.longest_idle(), Some(id));
        assert!(registry.expire(79_999).is_empty());
        assert_eq!(registry.remove(id), Some(0));
        assert_eq!(registry.remove(id), None);
        assert_eq!(
            registry.longest_idle(),
            None,
            "no queue keeps a removed connection"
        );
        registry.request_started(id);
        registry.bytes_arrived(id, 20_002);
        assert_eq!(registry.len(), 0, "a removed connection stays removed");
    }
}
