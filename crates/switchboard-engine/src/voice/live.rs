//! The live calls of this process: where sandbox caller input and REST updates reach a call's
//! driver task.
//!
//! A process-wide map keyed by call SID (128 random bits, so several engines in one process
//! cannot collide). It lives here rather than in `AppState` so the voice module stays
//! self-contained; entries are removed by the driver's supervisor when the call ends, even when
//! the driver panicked.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use std::collections::VecDeque;
use std::sync::Arc;
use switchboard_flow::{ApiEnd, Initial};
use switchboard_webhook::Endpoint;

use tokio::sync::Notify;

/// Something from outside the call: the sandbox caller or the REST API.
#[derive(Debug)]
pub enum CallInput {
    /// Keys pressed (`w` = half a second of pause between keys).
    Digits(String),
    Speech {
        result: String,
        confidence: f64,
    },
    /// The caller (or, on outbound calls, the callee) hangs up.
    Hangup,
    /// The caller talks: a tone for some seconds, or a WAV it plays.
    Audio(crate::voice::recording::Clip),
    /// REST update with `Url`/`Twiml`: continue there; `fallback` replaces the session's.
    /// (Boxed: every call's input channel is sized by its largest input.)
    Update(Box<(Initial, Option<Endpoint>)>),
    /// REST update with `Status=completed|canceled`.
    End(ApiEnd),
    /// SIP signalling or RTP media of a real call.
    /// (Boxed, like `Update`: an idle call's inbox stays small.)
    Sip(Box<crate::voice::sip::SipInput>),
}

/// A call's input queue. A queue and a `Notify` rather than a channel: an idle call costs a
/// hundred bytes here, where a tokio channel allocates a 32-slot block up front (20,000 parked
/// calls are a target).
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<CallInput>>,
    arrived: Notify,
}

impl Inbox {
    fn push(&self, input: CallInput) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(input);
        self.arrived.notify_one();
    }

    /// The next input, if one is waiting.
    pub(crate) fn try_next(&self) -> Option<CallInput> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Waits for the next input. Cancel-safe: an input is only taken when it is returned.
    pub(crate) async fn next(&self) -> CallInput {
        loop {
            if let Some(input) = self.try_next() {
                return input;
            }
            self.arrived.notified().await;
        }
    }
}

type Registry = Mutex<HashMap<String, Arc<Inbox>>>;

fn registry() -> &'static Registry {
    static LIVE: OnceLock<Registry> = OnceLock::new();
    LIVE.get_or_init(Registry::default)
}

/// Registers a call; its driver reads the returned receiver.
pub(crate) fn register(sid: &str) -> Arc<Inbox> {
    let inbox = Arc::new(Inbox::default());
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(sid.to_owned(), inbox.clone());
    inbox
}

pub(crate) fn unregister(sid: &str) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(sid);
}

/// Delivers `input` to the live call `sid`; `false` when no such call is running.
pub fn send(sid: &str, input: CallInput) -> bool {
    let inbox = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(sid)
        .cloned();
    match inbox {
        Some(inbox) => {
            inbox.push(input);
            true
        }
        None => false,
    }
}

/// Whether the call `sid` is running in this process.
pub fn is_live(sid: &str) -> bool {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(sid)
}

/// How many calls are running.
pub fn count() -> usize {
    registry().lock().unwrap_or_else(|p| p.into_inner()).len()
}

/// Ends every running call (`Status=completed` semantics: hang up answered calls, cancel the
/// others), for a graceful shutdown; returns how many were asked.
pub fn end_all() -> usize {
    let inboxes: Vec<_> = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for inbox in &inboxes {
        inbox.push(CallInput::End(ApiEnd::Completed));
    }
    inboxes.len()
}

/// Waits until no call runs or `timeout` passes; returns whether none is left.
pub async fn wait_idle(timeout: std::time::Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while count() > 0 {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}
