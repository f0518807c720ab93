//! The circuit breaker of each origin (product.md "Beyond Twilio", `SwitchboardBreaker`): after
//! `failures` consecutive fatal failures of an origin (`scheme://host:port`), sessions skip it
//! for `cooloff` and go straight to their fallback URL, so no caller waits for a server known to
//! be dead; then one session probes it (half-open) and its outcome closes or reopens the breaker.
//!
//! Pure: no IO and no clock. Times come in as milliseconds from any fixed start; the executor
//! keeps the `Breakers` and reads the clock.
//!
//! What is fatal: no answer at all (connect failure, timeout, DNS, TLS, a lost connection) or a
//! 5xx, the failures a sick or absent server produces. Any other answer (2xx, 3xx, 4xx, a
//! document that does not parse) proves the origin is up and closes the breaker: skipping an
//! origin that answers quickly would save no caller any time.
//!
//! While half-open, the probe is the only request let through; if its session never reports
//! (it was cancelled), another session may probe once `cooloff` has passed again.

use std::collections::HashMap;

use switchboard_core::ErrorCode;

/// `--breaker-failures` and `--breaker-cooloff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive fatal failures that open an origin's breaker.
    pub failures: u32,
    /// How long an open breaker skips its origin before a probe, in milliseconds.
    pub cooloff_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cooloff_ms: 30_000,
        }
    }
}

/// Whether a request to a guarded origin may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed: send it.
    Request,
    /// The breaker was open and its cooloff is over: send it as the one probe.
    Probe,
    /// The breaker is open (or a probe is under way): do not send it; the fallback gets
    /// `error_code`, the origin's last failure.
    Skip { error_code: ErrorCode },
}

/// A change of an origin's breaker that operators are told about (an alert each): while it is
/// open, the skipped requests themselves are not alerted one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// It opened (or a probe failed and it opened again).
    Opened,
    /// A probe (or any request) got an answer while it was open or half-open: closed.
    Closed,
}

/// A breaker change as the nodes of a cluster share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    /// It opened, for `remaining_ms` more, after the failure `last`.
    Opened {
        remaining_ms: u64,
        last: ErrorCode,
    },
    Closed,
}

/// What a request to a guarded origin showed about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// It answered (whatever it answered, short of a 5xx).
    Alive,
    /// No answer, or a 5xx: the failure's code.
    Dead(ErrorCode),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: u64,
        last: ErrorCode,
    },
    HalfOpen {
        /// Until when the probe sent is waited for before another session may probe.
        probe_until_ms: u64,
        last: ErrorCode,
    },
}

/// Origins tracked at most; past this, origins whose breaker is closed without failures are
/// forgotten (they are the default state).
const MAX_ORIGINS: usize = 10_000;

/// The breakers of every guarded origin.
#[derive(Clone, Debug, Default)]
pub struct Breakers {
    settings: BreakerSettings,
    origins: HashMap<String, State>,
}

impl Breakers {
    pub fn new(settings: BreakerSettings) -> Breakers {
        Breakers {
            settings,
            origins: HashMap::new(),
        }
    }

    /// Whether a request to `origin` may be sent at `now_ms`.
    pub fn admit(&mut self, origin: &str, now_ms: u64) -> Admission {
        let cooloff = self.settings.cooloff_ms;
        let Some(state) = self.origins.get_mut(origin) else {
            return Admission::Request;
        };
        match *state {
            State::Closed { .. } => Admission::Request,
            State::Open { until_ms, last }
            | State::HalfOpen {
                probe_until_ms: until_ms,
                last,
            } if now_ms < until_ms => Admission::Skip { error_code: last },
            State::Open { last, .. } | State::HalfOpen { last, .. } => {
                *state = State::HalfOpen {
                    probe_until_ms: now_ms.saturating_add(cooloff),
                    last,
                };
                Admission::Probe
            }
        }
    }

    /// Records what a request to `origin` that was sent showed, at `now_ms`; says when the
    /// breaker opened or closed.
    pub fn record(&mut self, origin: &str, now_ms: u64, health: Health) -> Option<Transition> {
        let settings = self.settings;
        match health {
            Health::Alive => {
                // Closed with no failures is the default: nothing to keep.
                let was = self.origins.remove(origin);
                matches!(was, Some(State::Open { .. } | State::HalfOpen { .. }))
                    .then_some(Transition::Closed)
            }
            Health::Dead(code) => {
                if self.origins.len() >= MAX_ORIGINS && !self.origins.contains_key(origin) {
                    self.origins
                        .retain(|_, state| !matches!(state, State::Closed { failures: 0 }));
                    if self.origins.len() >= MAX_ORIGINS {
                        return None;
                    }
                }
                let state = self
                    .origins
                    .entry(origin.to_owned())
                    .or_insert(State::Closed { failures: 0 });
                let open = State::Open {
                    until_ms: now_ms.saturating_add(settings.cooloff_ms),
                    last: code,
                };
                let (next, transition) = match *state {
                    State::Closed { failures } if failures + 1 < settings.failures => (
                        State::Closed {
                            failures: failures + 1,
                        },
                        None,
                    ),
                    State::Closed { .. } | State::HalfOpen { .. } => {
                        (open, Some(Transition::Opened))
                    }
                    // A request let through before the breaker opened, failing late: the
                    // cooloff stands, the last failure is this one.
                    State::Open { until_ms, .. } => (
                        State::Open {
                            until_ms,
                            last: code,
                        },
                        None,
                    ),
                };
                *state = next;
                transition
            }
        }
    }

    /// Takes over a change another node made to `origin`'s breaker (the state is shared
    /// through the database): `Shared::Opened` opens a breaker that is closed here for what is
    /// left of the other node's cooloff (a breaker already open or half-open here keeps its
    /// own timing), `Shared::Closed` closes one that is open or half-open. Nothing is reported:
    /// the node whose requests changed the breaker alerted it.
    pub fn adopt(&mut self, origin: &str, now_ms: u64, change: Shared) {
        match change {
            Shared::Opened { remaining_ms, last } => {
                let open = State::Open {
                    until_ms: now_ms.saturating_add(remaining_ms),
                    last,
                };
                let room = self.origins.len() < MAX_ORIGINS;
                match self.origins.get_mut(origin) {
                    Some(state @ State::Closed { .. }) => *state = open,
                    Some(State::Open { .. } | State::HalfOpen { .. }) => {}
                    None if room => {
                        self.origins.insert(origin.to_owned(), open);
                    }
                    None => {}
                }
            }
            Shared::Closed => {
                if matches!(
                    self.origins.get(origin),
                    Some(State::Open { .. } | State::HalfOpen { .. })
                ) {
                    self.origins.remove(origin);
                }
            }
        }
    }

    /// What another node is told when `record` reported `transition` for `origin`.
    pub fn shared(&self, origin: &str, now_ms: u64, transition: Transition) -> Shared {
        match (transition, self.origins.get(origin)) {
            (Transition::Opened, Some(State::Open { until_ms, last })) => Shared::Opened {
                remaining_ms: until_ms.saturating_sub(now_ms),
                last: *last,
            },
            _ => Shared::Closed,
        }
    }

    /// `closed`, `open` or `half-open`, for what operators are shown.
    pub fn state(&self, origin: &str) -> &'static str {
        match self.origins.get(origin) {
            None | Some(State::Closed { .. }) => "closed",
            Some(State::Open { .. }) => "open",
            Some(State::HalfOpen { .. }) => "half-open",
        }
    }
}

/// The origin (`scheme://host:port`, lower case, default port filled in) of a URL; `None` when
/// it has none.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let port = parsed.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", parsed.scheme()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::error_code;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failures: 3,
        cooloff_ms: 1_000,
    };
    const ORIGIN: &str = "http://app.example:80";
    const DOWN: Health = Health::Dead(error_code::HTTP_CONNECTION_FAILURE);

    fn skip(code: ErrorCode) -> Admission {
        Admission::Skip { error_code: code }
    }

    #[test]
    fn consecutive_failures_open_the_breaker_and_an_answer_resets_the_count() {
        let mut breakers = Breakers::new(SETTINGS);
        for at in 0..2 {
            assert_eq!(breakers.admit(ORIGIN, at), Admission::Request);
            breakers.record(ORIGIN, at, DOWN);
        }
        breakers.record(ORIGIN, 2, Health::Alive);
        for at in 3..5 {
            breakers.record(ORIGIN, at, DOWN);
        }
        assert_eq!(breakers.admit(ORIGIN, 5), Admission::Request, "2 in a row");
        assert_eq!(
            breakers.record(ORIGIN, 5, Health::Dead(error_code::HTTP_RETRIEVAL_FAILURE)),
            Some(Transition::Opened)
        );
        assert_eq!(breakers.state(ORIGIN), "open");
        assert_eq!(
            breakers.admit(ORIGIN, 6),
            skip(error_code::HTTP_RETRIEVAL_FAILURE),
            "the last failure's code"
        );
        assert_eq!(
            breakers.admit("http://other.example:80", 6),
            Admission::Request
        );
    }

    #[test]
    fn another_nodes_opening_skips_here_for_the_rest_of_its_cooloff_and_its_closing_ends_it() {
        let mut opener = Breakers::new(SETTINGS);
        for at in 0..2 {
            assert_eq!(opener.record(ORIGIN, at, DOWN), None);
        }
        let opened = opener.record(ORIGIN, 2, DOWN).expect("opened");
        let shared = opener.shared(ORIGIN, 402, opened);
        assert_eq!(
            shared,
            Shared::Opened {
                remaining_ms: 600,
                last: error_code::HTTP_CONNECTION_FAILURE
            }
        );
        let mut other = Breakers::new(SETTINGS);
        other.record(ORIGIN, 5_000, DOWN);
        other.adopt(ORIGIN, 5_000, shared);
        assert_eq!(
            other.admit(ORIGIN, 5_599),
            skip(error_code::HTTP_CONNECTION_FAILURE),
            "no request of its own needed"
        );
        assert_eq!(other.admit(ORIGIN, 5_600), Admission::Probe);
        // A breaker open here keeps its own timing; a shared closing closes it, silently.
        other.adopt(ORIGIN, 5_601, shared);
        assert_eq!(other.state(ORIGIN), "half-open");
        other.adopt(ORIGIN, 5_602, Shared::Closed);
        assert_eq!(other.admit(ORIGIN, 5_603), Admission::Request);
        assert_eq!(
            other.record(ORIGIN, 5_604, Health::Alive),
            None,
            "closed already"
        );
        let closed = opener.record(ORIGIN, 9_000, Health::Alive).expect("closed");
        assert_eq!(opener.shared(ORIGIN, 9_000, closed), Shared::Closed);
        // A closing never opens anything.
        let mut fresh = Breakers::new(SETTINGS);
        fresh.adopt(ORIGIN, 0, Shared::Closed);
        assert_eq!(fresh.admit(ORIGIN, 0), Admission::Request);
    }

    #[test]
    fn after_the_cooloff_one_session_probes_and_its_outcome_decides() {
        let mut breakers = Breakers::new(SETTINGS);
        for at in 0..3 {
            breakers.record(ORIGIN, at, DOWN);
        }
        assert_eq!(
            breakers.admit(ORIGIN, 1_001),
            skip(error_code::HTTP_CONNECTION_FAILURE)
        );
        assert_eq!(breakers.admit(ORIGIN, 1_002), Admission::Probe);
        assert_eq!(breakers.state(ORIGIN), "half-open");
        assert!(
            matches!(breakers.admit(ORIGIN, 1_003), Admission::Skip { .. }),
            "one probe"
        );
        // The probe fails: open again for a whole cooloff.
        assert_eq!(
            breakers.record(ORIGIN, 1_500, DOWN),
            Some(Transition::Opened)
        );
        assert!(matches!(
            breakers.admit(ORIGIN, 2_499),
            Admission::Skip { .. }
        ));
        assert_eq!(breakers.admit(ORIGIN, 2_500), Admission::Probe);
        // This probe succeeds: closed, every session goes to the origin again.
        assert_eq!(
            breakers.record(ORIGIN, 2_600, Health::Alive),
            Some(Transition::Closed)
        );
        assert_eq!(breakers.record(ORIGIN, 2_600, Health::Alive), None, "once");
        assert_eq!(breakers.state(ORIGIN), "closed");
        assert_eq!(breakers.admit(ORIGIN, 2_601), Admission::Request);
        // And it takes `failures` new failures to open it again.
        breakers.record(ORIGIN, 2_602, DOWN);
        assert_eq!(breakers.admit(ORIGIN, 2_603), Admission::Request);
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_a_cooloff() {
        let mut breakers = Breakers::new(SETTINGS);
        for at in 0..3 {
            breakers.record(ORIGIN, at, DOWN);
        }
        assert_eq!(breakers.admit(ORIGIN, 1_002), Admission::Probe);
        assert!(matches!(
            breakers.admit(ORIGIN, 2_001),
            Admission::Skip { .. }
        ));
        assert_eq!(breakers.admit(ORIGIN, 2_002), Admission::Probe);
    }

    #[test]
    fn a_late_failure_of_a_request_sent_before_the_breaker_opened_keeps_its_cooloff() {
        let mut breakers = Breakers::new(SETTINGS);
        for at in 0..3 {
            breakers.record(ORIGIN, at, DOWN);
        }
        breakers.record(ORIGIN, 900, Health::Dead(error_code::HTTP_TOTAL_TIMEOUT));
        assert_eq!(
            breakers.admit(ORIGIN, 1_002),
            Admission::Probe,
            "cooloff from 2"
        );
        let mut breakers = Breakers::new(SETTINGS);
        for at in 0..3 {
            breakers.record(ORIGIN, at, DOWN);
        }
        breakers.record(ORIGIN, 900, Health::Dead(error_code::HTTP_TOTAL_TIMEOUT));
        assert_eq!(
            breakers.admit(ORIGIN, 901),
            skip(error_code::HTTP_TOTAL_TIMEOUT)
        );
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://App.Example/voice?x=1#ct=500").as_deref(),
            Some("https://app.example:443")
        );
        assert_eq!(
            origin_of("http://user:pw@127.0.0.1:8080/a").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
