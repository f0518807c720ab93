//! The live calls of one engine: where sandbox caller input, REST updates and SIP/RTP events
//! reach a call's driver task, and each call's input queue.

use std::collections::HashMap;
use std::sync::Mutex;

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
    /// REST update with `StatusCallback`/`StatusCallbackMethod` or `TimeLimit`.
    /// (Boxed, like `Update`.)
    Settings(Box<LiveSettings>),
    /// REST `Calls/{Sid}/Recordings`: start, pause, resume, stop or discard a recording of
    /// the call, answered on the request's channel. (Boxed, like `Update`.)
    Recording(Box<crate::voice::call_recording::RecordingRequest>),
    /// A conference or queue this call is in (`voice::conference`, `voice::queue`).
    Room(RoomInput),
    /// SIP signalling or RTP media of a real call.
    /// (Boxed, like `Update`: an idle call's inbox stays small.)
    Sip(Box<crate::voice::sip::SipInput>),
    /// What one of the call's media streams reported. (Boxed, like `Update`.)
    Stream(Box<crate::voice::stream::StreamReport>),
    /// REST `Calls/{Sid}/Streams`: start or stop a one-way stream, answered on the request's
    /// channel. (Boxed, like `Update`.)
    StreamControl(Box<crate::voice::stream::StreamRequest>),
}

/// What a conference or a queue tells a call that is in it.
#[derive(Debug)]
pub enum RoomInput {
    /// The conference started: the wait is over.
    Started,
    /// The call is out of its conference (removed, or the conference ended).
    Out,
    /// REST `Muted`: whether the others hear this participant.
    Muted(bool),
    /// REST `Hold`: a held participant neither hears nor is heard.
    Hold(bool),
    /// `AnnounceUrl`: fetch it and play it to this participant.
    Announce(Endpoint),
    /// A queued caller was dequeued by `agent` (`<Dial><Queue>` or REST `Members`): it is
    /// bridged with the agent's leg, or (no agent) redirected to `url`.
    Dequeued {
        agent: Option<String>,
        url: Option<Endpoint>,
    },
    /// The agent's `<Dial><Queue>` got the caller `member`, who waited `waited_ms`.
    Connected { member: String, waited_ms: u64 },
    /// The other side of a queue bridge left (the agent's `<Dial>` ended, or the caller hung up).
    BridgeEnded,
}

/// What a REST update changes of a live call besides its TwiML.
#[derive(Debug, Default)]
pub struct LiveSettings {
    /// Where the call's status callbacks go from now on (its subscribed events are kept;
    /// `completed` only when it had none).
    pub status_callback: Option<Endpoint>,
    /// The call's maximum length in seconds, counted from its answer (as on create).
    pub time_limit_s: Option<u32>,
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

/// The calls running on one engine, keyed by call SID: where sandbox caller input, REST
/// updates, SIP and RTP events reach a call's driver task. Owned by the `Engine`; entries are
/// removed by the driver's supervisor when the call ends, even when the driver panicked.
#[derive(Debug, Default)]
pub(crate) struct LiveCalls {
    calls: Mutex<HashMap<String, Arc<Inbox>>>,
    /// Woken whenever the last running call ends.
    idle: Notify,
}

impl LiveCalls {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Inbox>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a call; its driver reads the returned inbox.
    pub(crate) fn register(&self, sid: &str) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::default());
        self.calls().insert(sid.to_owned(), inbox.clone());
        inbox
    }

    pub(crate) fn unregister(&self, sid: &str) {
        let mut calls = self.calls();
        calls.remove(sid);
        if calls.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// Resolves when no call is running.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.calls().is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Delivers `input` to the live call `sid`; `false` when no such call is running.
    pub(crate) fn send(&self, sid: &str, input: CallInput) -> bool {
        let inbox = self.calls().get(sid).cloned();
        match inbox {
            Some(inbox) => {
                inbox.push(input);
                true
            }
            None => false,
        }
    }

    /// Whether the call `sid` is running on this engine.
    pub(crate) fn is_live(&self, sid: &str) -> bool {
        self.calls().contains_key(sid)
    }

    /// How many calls are running.
    pub(crate) fn count(&self) -> usize {
        self.calls().len()
    }

    /// Ends every running call (`Status=completed` semantics: hang up answered calls, cancel
    /// the others); returns how many were asked.
    pub(crate) fn end_all(&self) -> usize {
        let inboxes: Vec<_> = self.calls().values().cloned().collect();
        for inbox in &inboxes {
            inbox.push(CallInput::End(ApiEnd::Completed));
        }
        inboxes.len()
    }
}
