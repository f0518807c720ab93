//! The sandbox: a virtual phone network inside the engine (virtual handsets and inbound traffic
//! driven through `/sandbox/…`), and the transcripts tests wait on.
//!
//! Handset settings and transcripts live in memory: they describe this process's sandbox, not
//! account data. Messages themselves are stored like any other message.
//!
//! The sandbox is per account: a handset is keyed by (account SID, number), so the settings one
//! account gives a number (busy, fail) shape only that account's calls and messages to it, and
//! cookie jars are keyed by (account SID, From, To). The account a handset interaction belongs
//! to is the one whose call or message reaches it: an outbound call or message placed by
//! account A to a virtual number uses A's handset settings. Transcripts are keyed by the
//! session's SID, and the HTTP layer shows one only to who may act on its call or message.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_webhook::CookieJar;
use tokio::sync::Notify;

/// What a virtual handset does with a message sent to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    #[default]
    Deliver,
    Fail,
    Undelivered,
}

/// A virtual handset's behaviour, set with `POST /sandbox/Phones/{Number}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handset {
    pub delivery: Delivery,
    /// For calls (issue 5): `answer`, `busy`, `no-answer`, `fail`.
    pub answer: Option<String>,
    pub digits: Option<String>,
    pub hangup_after_s: Option<u32>,
    /// What answering-machine detection hears when this handset answers a call that asks
    /// for it (`AnsweredBy`; a person when unset).
    pub answered_by: Option<switchboard_amd::AnsweredBy>,
}

/// The transcript of one sandbox session (an inbound message, later a call).
#[derive(Debug)]
pub struct Transcript {
    started: Instant,
    /// Virtual time skipped by a call on `Clock=fast`: `at_ms` is on the call's clock.
    skipped_ms: u64,
    /// Each event as compact JSON text: an idle call's few events cost a few hundred bytes
    /// instead of a map node each (20,000 parked calls are a target).
    events: Vec<Box<str>>,
    /// The `status` of the last `status` event, which the call's transcript reports.
    last_status: Option<Box<str>>,
    done: bool,
    /// SIDs of the messages the session sent.
    pub replies: Vec<String>,
    /// What the caller heard from a media stream, 8 kHz from the session's start (a sandbox
    /// call has no other audio); empty for most sessions.
    heard: Vec<i16>,
}

/// The longest a sandbox call's heard audio grows (ten minutes).
const MAX_HEARD_SAMPLES: usize = 10 * 60 * 8000;

/// One session's transcript and the wake-up for its waiters.
#[derive(Debug)]
pub struct Log {
    transcript: Mutex<Transcript>,
    changed: Notify,
}

impl Log {
    fn new() -> Log {
        Log {
            transcript: Mutex::new(Transcript {
                started: Instant::now(),
                skipped_ms: 0,
                events: Vec::new(),
                last_status: None,
                done: false,
                replies: Vec::new(),
                heard: Vec::new(),
            }),
            changed: Notify::new(),
        }
    }

    /// Now on the session's clock (`at_ms` of an event pushed now).
    pub fn now_ms(&self) -> u64 {
        let transcript = self.lock();
        transcript.started.elapsed().as_millis() as u64 + transcript.skipped_ms
    }

    /// The caller heard `samples` (8 kHz) from sample `at` of the session (`now_ms() * 8`
    /// when it started), over silence or what was there.
    pub fn heard(&self, at: u64, samples: &[i16]) {
        let mut transcript = self.lock();
        let from = usize::try_from(at).unwrap_or(usize::MAX);
        let until = from.saturating_add(samples.len()).min(MAX_HEARD_SAMPLES);
        if from >= until {
            return;
        }
        if transcript.heard.len() < until {
            transcript.heard.resize(until, 0);
        }
        transcript.heard[from..until].copy_from_slice(&samples[..until - from]);
    }

    /// What the caller heard so far, as an 8 kHz WAV: silence where nothing played, up to now.
    pub fn heard_wav(&self) -> Vec<u8> {
        let now = self.now_ms();
        let transcript = self.lock();
        let length = usize::try_from(now.saturating_mul(8))
            .unwrap_or(usize::MAX)
            .clamp(
                transcript.heard.len(),
                MAX_HEARD_SAMPLES.max(transcript.heard.len()),
            );
        let mut pcm = transcript.heard.clone();
        drop(transcript);
        pcm.resize(length, 0);
        switchboard_media::wav::wav_bytes(&pcm)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Transcript> {
        self.transcript
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends an event of `kind` with `fields` (an object), stamping `seq` and `at_ms`.
    pub fn push(&self, kind: &str, fields: Value) {
        let status: Option<Box<str>> = match kind {
            "status" => fields.get("status").and_then(Value::as_str).map(Into::into),
            _ => None,
        };
        // The event's text is written here rather than merged into one map first: the stamp,
        // then the fields' own members (a field named like a stamp would repeat the key, which
        // no caller does). Printing a `Value` cannot fail (its keys are strings).
        let fields = match fields {
            Value::Object(map) if !map.is_empty() => Value::Object(map).to_string(),
            _ => String::from("{}"),
        };
        let kind = Value::from(kind).to_string();
        let mut transcript = self.lock();
        let at_ms = transcript.started.elapsed().as_millis() as u64 + transcript.skipped_ms;
        let seq = transcript.events.len();
        let mut event = format!("{{\"seq\":{seq},\"at_ms\":{at_ms},\"type\":{kind}");
        if fields.len() > 2 {
            event.push(',');
            event.push_str(&fields[1..]);
        } else {
            event.push('}');
        }
        transcript.events.push(event.into_boxed_str());
        // Under the same lock as the event, so a reader never sees a status its events lack.
        if status.is_some() {
            transcript.last_status = status;
        }
        drop(transcript);
        self.changed.notify_waiters();
    }

    /// Moves the transcript's clock forward by `ms` (a call's virtual clock skipped ahead).
    pub fn skip(&self, ms: u64) {
        self.lock().skipped_ms += ms;
    }

    pub fn add_reply(&self, sid: String) {
        self.lock().replies.push(sid);
    }

    pub fn finish(&self) {
        self.lock().done = true;
        self.changed.notify_waiters();
    }

    /// The events so far, whether the session is over, and the replies' SIDs.
    pub fn snapshot(&self) -> (Vec<Value>, bool, Vec<String>) {
        let transcript = self.lock();
        let events = transcript
            .events
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect();
        (events, transcript.done, transcript.replies.clone())
    }

    /// The events as one JSON array, written from the stored text without parsing it, and the
    /// last status a `status` event gave.
    pub fn events_json(&self) -> (String, Option<Box<str>>) {
        let transcript = self.lock();
        let length: usize = transcript.events.iter().map(|e| e.len() + 1).sum();
        let mut out = String::with_capacity(length + 2);
        out.push('[');
        for (index, event) in transcript.events.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(event);
        }
        out.push(']');
        (out, transcript.last_status.clone())
    }

    /// The events from index `from` on, as their JSON text, and whether the session is over
    /// (a live view sends what it has not shown yet).
    pub fn events_from(&self, from: usize) -> (Vec<Box<str>>, bool) {
        let transcript = self.lock();
        let events = transcript.events.get(from..).unwrap_or_default().to_vec();
        (events, transcript.done)
    }

    /// Waits until there are more than `known` events, the session is over, or `timeout`
    /// passes.
    pub async fn wait_beyond(&self, known: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            {
                let transcript = self.lock();
                if transcript.done || transcript.events.len() > known {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Whether the session is over (no more events will come).
    pub fn is_done(&self) -> bool {
        self.lock().done
    }

    /// Waits until the session is over or `timeout` passes; returns whether it is over.
    pub async fn wait_done(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.lock().done {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().done;
            }
        }
    }
}

/// How long a (From, To) pair's cookies are kept without activity (Twilio: 4 hours).
const COOKIE_LIFETIME: Duration = Duration::from_secs(4 * 3600);

/// How many transcripts are kept; past this the oldest finished ones are forgotten, so a
/// long-running engine does not keep every session's transcript forever.
const MAX_TRANSCRIPTS: usize = 20_000;

/// Transcripts by session SID, with their opening order for eviction.
#[derive(Debug, Default)]
struct Logs {
    by_sid: HashMap<String, Arc<Log>>,
    order: VecDeque<String>,
}

impl Logs {
    fn forget_oldest_finished(&mut self) {
        let mut checked = 0;
        while self.by_sid.len() >= MAX_TRANSCRIPTS && checked < self.order.len() {
            let Some(sid) = self.order.pop_front() else {
                break;
            };
            match self.by_sid.get(&sid) {
                Some(log) if !log.lock().done => {
                    // Still running: keep it, look further.
                    self.order.push_back(sid);
                    checked += 1;
                }
                _ => {
                    self.by_sid.remove(&sid);
                }
            }
        }
    }
}

/// The sandbox's state.
#[derive(Debug, Default)]
pub struct Sandbox {
    /// Handset settings by (account SID, number).
    handsets: Mutex<HashMap<(String, String), Handset>>,
    logs: Mutex<Logs>,
    /// Cookie jars by (account SID, From, To), with when each was last used.
    cookies: Mutex<HashMap<Conversation, (CookieJar, Instant)>>,
}

/// One account's conversation between two numbers: (account SID, From, To).
type Conversation = (String, String, String);

impl Sandbox {
    /// The handset `number` as account `account_sid` set it up (the default handset, which
    /// answers and delivers, when it did not).
    pub fn handset(&self, account_sid: &str, number: &str) -> Handset {
        self.handsets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(account_sid.to_owned(), number.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Sets up the handset `number` for account `account_sid` only.
    pub fn set_handset(&self, account_sid: &str, number: &str, handset: Handset) {
        self.handsets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((account_sid.to_owned(), number.to_owned()), handset);
    }

    /// A new transcript for the session `sid`.
    pub fn open_log(&self, sid: &str) -> Arc<Log> {
        let log = Arc::new(Log::new());
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.forget_oldest_finished();
        logs.order.push_back(sid.to_owned());
        logs.by_sid.insert(sid.to_owned(), log.clone());
        log
    }

    /// The cookies account `account_sid` kept for messages between `from` and `to` (empty
    /// after 4 idle hours).
    pub fn cookies(&self, account_sid: &str, from: &str, to: &str) -> CookieJar {
        let jars = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account_sid.to_owned(), from.to_owned(), to.to_owned());
        match jars.get(&key) {
            Some((jar, used)) if used.elapsed() < COOKIE_LIFETIME => jar.clone(),
            _ => CookieJar::default(),
        }
    }

    pub fn keep_cookies(&self, account_sid: &str, from: &str, to: &str, jar: CookieJar) {
        let mut jars = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        jars.retain(|_, (_, used)| used.elapsed() < COOKIE_LIFETIME);
        let key = (account_sid.to_owned(), from.to_owned(), to.to_owned());
        jars.insert(key, (jar, Instant::now()));
    }

    pub fn log(&self, sid: &str) -> Option<Arc<Log>> {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_sid
            .get(sid)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_stamped_and_written_as_one_json_array_with_the_last_status() {
        let log = Log::new();
        log.push("status", json!({"status": "initiated"}));
        log.push("say", json!({"text": "a \"quoted\" word", "loop": 1}));
        log.push("bridge", json!({}));
        log.push("status", json!({"status": "completed"}));
        let (text, last_status) = log.events_json();
        assert_eq!(last_status.as_deref(), Some("completed"));
        let events: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
        let (parsed, _, _) = log.snapshot();
        assert_eq!(events, parsed);
        assert_eq!(events.len(), 4);
        for (seq, event) in events.iter().enumerate() {
            assert_eq!(event["seq"], seq);
            assert!(event["at_ms"].is_u64());
        }
        assert_eq!(
            events[1],
            json!({"seq": 1, "at_ms": events[1]["at_ms"], "type": "say", "text": "a \"quoted\" word", "loop": 1})
        );
        assert_eq!(events[2]["type"], "bridge");
        assert_eq!(events[2].as_object().map(|o| o.len()), Some(3));
        assert_eq!(Log::new().events_json(), ("[]".to_owned(), None));
    }

    #[test]
    fn handsets_are_per_account() {
        let sandbox = Sandbox::default();
        let busy = Handset {
            delivery: Delivery::Fail,
            answer: Some("busy".into()),
            ..Handset::default()
        };
        sandbox.set_handset("ACsub", "+15550001111", busy.clone());
        assert_eq!(sandbox.handset("ACsub", "+15550001111"), busy);
        assert_eq!(
            sandbox.handset("ACmain", "+15550001111"),
            Handset::default(),
            "another account's settings do not reach this one"
        );
        assert_eq!(sandbox.handset("ACsub", "+15550002222"), Handset::default());
    }

    #[test]
    fn finished_transcripts_are_forgotten_oldest_first_and_running_ones_kept() {
        let sandbox = Sandbox::default();
        let running = sandbox.open_log("running");
        for n in 0..MAX_TRANSCRIPTS + 10 {
            sandbox.open_log(&format!("done-{n}")).finish();
        }
        assert!(
            sandbox.log("running").is_some(),
            "a running session keeps its transcript"
        );
        assert!(
            sandbox.log("done-0").is_none(),
            "the oldest finished ones go first"
        );
        assert!(
            sandbox
                .log(&format!("done-{}", MAX_TRANSCRIPTS + 9))
                .is_some()
        );
        let kept = sandbox.logs.lock().unwrap().by_sid.len();
        assert!(kept <= MAX_TRANSCRIPTS, "{kept}");
        running.finish();
    }
}
