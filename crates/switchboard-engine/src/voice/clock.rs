//! The call's clock: milliseconds since the leg was created, on wall time or on a virtual clock.
//!
//! The virtual clock (`Clock=fast`) is wall time plus an offset that jumps forward whenever the
//! driver would otherwise sleep until a timer with nothing else in flight: pauses, prompts,
//! gather and record timeouts and ring time take no wall time, while webhooks (real HTTP) still
//! take theirs. Jumping instead of scaling keeps the clock monotonic and the transcript's `at_ms`
//! meaningful ("the pause lasted 60 s").

use std::time::Duration;

use tokio::time::Instant;

/// One leg's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    started: Instant,
    /// Virtual milliseconds skipped so far (always 0 on wall time).
    skipped_ms: u64,
    fast: bool,
}

impl Clock {
    pub(crate) fn new(fast: bool) -> Clock {
        Clock {
            started: Instant::now(),
            skipped_ms: 0,
            fast,
        }
    }

    pub(crate) fn is_fast(&self) -> bool {
        self.fast
    }

    /// Milliseconds since the leg was created.
    pub(crate) fn now_ms(&self) -> u64 {
        let real = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        real.saturating_add(self.skipped_ms)
    }

    /// Virtual clock only: moves time forward to `at_ms` at once; returns how far it moved.
    pub(crate) fn skip_to(&mut self, at_ms: u64) -> u64 {
        let now = self.now_ms();
        if self.fast && at_ms > now {
            self.skipped_ms += at_ms - now;
            return at_ms - now;
        }
        0
    }

    /// The wall-clock instant at which this clock reads `at_ms` (if nothing is skipped).
    pub(crate) fn instant_of(&self, at_ms: u64) -> Instant {
        let real_ms = at_ms.saturating_sub(self.skipped_ms);
        self.started + Duration::from_millis(real_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_virtual_clock_jumps_and_the_wall_clock_does_not() {
        let mut fast = Clock::new(true);
        fast.skip_to(60_000);
        assert!(fast.now_ms() >= 60_000);
        let mut wall = Clock::new(false);
        wall.skip_to(60_000);
        assert!(wall.now_ms() < 60_000);
        assert!(fast.instant_of(60_000) <= Instant::now() + Duration::from_millis(5));
    }
}
