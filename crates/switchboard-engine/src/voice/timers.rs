//! The driver's own timers (on the call's clock): media finishing, the sandbox handset's
//! scheduled actions, ring timeouts and time limits. The flow's timer (`poll_timeout`) is kept
//! apart; the driver wakes at the earliest of both.

use switchboard_flow::Input;

/// What happens when a timer is due.
#[derive(Debug)]
pub(crate) enum Due {
    /// The `Say`/`Play` now playing finished.
    PlaybackDone,
    /// The recording's silence timeout ran out.
    RecordingDone,
    /// Feed this input to the flow (paced digits, a handset's hang-up, outbound progress).
    Input(Input),
    /// A sandbox caller finished saying `Text`: a speech `<Gather>` hears it now.
    Said(crate::voice::recording::Said),
    /// The dialled party's ring time is over without an answer.
    DialNoAnswer,
    /// The bridged dialled party hangs up (`HangupAfter`) or `timeLimit` is reached.
    DialHangup,
    /// The call's `TimeLimit` is reached.
    TimeLimit,
    /// A sandbox handset's modelled answering-machine detection decided.
    MachineDetected(switchboard_amd::Verdict),
    /// A SIP leg's detection timeout passed without a verdict from its audio.
    DetectionTimeout,
}

/// Pending timers, in no particular order (a call has a handful at most).
#[derive(Debug, Default)]
pub(crate) struct Timers {
    entries: Vec<(u64, u64, Due)>,
    next_id: u64,
}

impl Timers {
    /// Arms a timer at `at_ms`; the id cancels it.
    pub(crate) fn add(&mut self, at_ms: u64, due: Due) -> u64 {
        self.next_id += 1;
        self.entries.push((at_ms, self.next_id, due));
        self.next_id
    }

    pub(crate) fn cancel(&mut self, id: u64) {
        self.entries.retain(|(_, entry, _)| *entry != id);
    }

    /// Cancels every timer `matches` selects.
    pub(crate) fn cancel_where(&mut self, matches: impl Fn(&Due) -> bool) {
        self.entries.retain(|(_, _, due)| !matches(due));
    }

    /// Whether a timer `matches` selects is armed.
    pub(crate) fn any(&self, matches: impl Fn(&Due) -> bool) -> bool {
        self.entries.iter().any(|(_, _, due)| matches(due))
    }

    /// The earliest deadline.
    pub(crate) fn next_at(&self) -> Option<u64> {
        self.entries.iter().map(|(at, _, _)| *at).min()
    }

    /// Removes and returns the earliest timer due at `now_ms`, if any (ties in arming order).
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<Due> {
        let index = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (at, _, _))| *at <= now_ms)
            .min_by_key(|(_, (at, id, _))| (*at, *id))
            .map(|(index, _)| index)?;
        Some(self.entries.swap_remove(index).2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_then_arming_order() {
        let mut timers = Timers::default();
        timers.add(20, Due::TimeLimit);
        let cancelled = timers.add(5, Due::DialHangup);
        timers.add(10, Due::PlaybackDone);
        timers.add(10, Due::RecordingDone);
        timers.cancel(cancelled);
        assert_eq!(timers.next_at(), Some(10));
        assert!(matches!(timers.pop_due(15), Some(Due::PlaybackDone)));
        assert!(matches!(timers.pop_due(15), Some(Due::RecordingDone)));
        assert!(timers.pop_due(15).is_none());
        assert!(matches!(timers.pop_due(20), Some(Due::TimeLimit)));
    }
}
