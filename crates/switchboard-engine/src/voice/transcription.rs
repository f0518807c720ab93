//! `<Record transcribe="true">` (and `transcribeCallback`, which implies it): a recording of 2 to
//! 120 s is transcribed after it ends (§3.5, §7.6). The transcription is a resource
//! (`Kind::Transcription`, `TR…`, parent = the recording) written `in-progress` when the
//! recording is stored and finished `completed` or `failed`; the callback (`TranscriptionSid`,
//! `TranscriptionText`, `TranscriptionStatus`, `TranscriptionUrl`, `RecordingSid`,
//! `RecordingUrl` and the call's parameters) goes through the outbox like every other callback,
//! so it is retried and survives a restart once written.
//!
//! Where the text comes from: a sandbox caller's `Text` is the transcription exactly; real
//! audio (a SIP call, or a sandbox caller's WAV) goes to the recogniser (`--asr`, the open
//! model) through a bounded pool ([`Pool`]): at most `workers` run and `backlog` wait. A
//! transcription that finds the pool full fails at once (`failed`, with a WARNING alert 13617
//! naming the backlog) instead of waiting: a burst of voicemails then costs bounded memory and
//! no call waits for it, and a customer learns at once rather than minutes later. Without a
//! recogniser (`--asr off`, `--sip off`, the model missing) real audio is `failed` too.
//! Outside 2–120 s it is `failed` without being tried, as Twilio does (WARNING 13617).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use switchboard_core::error_code::{
    RECORD_LENGTH_OUT_OF_RANGE_FOR_TRANSCRIPTION, TRANSCRIPTION_FAILED,
};
use switchboard_core::{ErrorCode, Sid, SidKind};
use switchboard_store::{Kind, Record};
use switchboard_webhook::{AlertLevel, Channel, Method, WebhookRequest};

use crate::voice::driver::Driver;
use crate::{Engine, alerts, now_ms};

/// The shortest and longest recordings Twilio transcribes, in seconds.
pub const MIN_SECONDS: u32 = 2;
pub const MAX_SECONDS: u32 = 120;

/// Transcriptions running at once: one, so the recogniser's other workers stay free for speech
/// gathers, whose callers are waiting.
pub const WORKERS: usize = 1;
/// Transcriptions waiting for their turn; past this a new one fails at once.
pub const BACKLOG: usize = 32;

/// What a `<Record>` asked for, kept by the driver from the `Record` action to its end.
#[derive(Clone, Debug)]
pub(crate) struct Wanted {
    /// `transcribeCallback`, resolved against the document.
    pub(crate) callback: Option<String>,
}

impl Wanted {
    pub(crate) fn of(record: &switchboard_flow::Record) -> Option<Wanted> {
        (record.transcribe || record.transcribe_callback.is_some()).then(|| Wanted {
            callback: record.transcribe_callback.clone(),
        })
    }
}

/// The recording a transcription is made of.
pub(crate) struct Source {
    pub(crate) recording_sid: String,
    pub(crate) recording_url: String,
    pub(crate) duration_s: u32,
    /// A sandbox caller's `Text`: the transcription itself.
    pub(crate) said: Option<String>,
    /// Real audio (8 kHz) for the recogniser.
    pub(crate) pcm: Option<Vec<i16>>,
}

/// The bounded transcription pool: how many run and wait now.
#[derive(Debug)]
pub struct Pool {
    running: tokio::sync::Semaphore,
    admitted: AtomicUsize,
    limit: usize,
}

impl Pool {
    /// At most `workers` transcriptions run at once and `backlog` more wait.
    pub fn new(workers: usize, backlog: usize) -> Pool {
        let workers = workers.max(1);
        Pool {
            running: tokio::sync::Semaphore::new(workers),
            admitted: AtomicUsize::new(0),
            limit: workers.saturating_add(backlog),
        }
    }

    /// A place in the pool, or `None` when it is full.
    fn admit(self: &Arc<Pool>) -> Option<Admitted> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admitted(self.clone()))
    }

    /// How many transcriptions are running or waiting.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

/// A transcription's place in the pool, given back when dropped.
struct Admitted(Arc<Pool>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Who a transcription's callback and alerts are for.
struct Owner {
    state: Engine,
    account_sid: String,
    auth_token: String,
    call_sid: String,
    /// The call's §3.2 parameters when the recording ended.
    call_params: Vec<(String, String)>,
    callback: Option<String>,
}

/// How a transcription ended.
enum Outcome {
    Completed(String),
    Failed(ErrorCode, String),
}

impl Driver {
    /// Starts transcribing a stored recording: the row now, the text now or from the pool.
    pub(crate) async fn transcribe(&mut self, wanted: Wanted, source: Source) {
        let owner = Owner {
            state: self.state.clone(),
            account_sid: self.account.sid.clone(),
            auth_token: self.account.auth_token.clone(),
            call_sid: self.call_sid().to_owned(),
            call_params: self.call.params_at(self.call.status()),
            callback: wanted.callback,
        };
        let sid = Sid::generate(SidKind::Transcription).into_string();
        if let Err(error) = insert(&owner, &sid, &source).await {
            tracing::error!(?error, "storing a transcription failed");
            return;
        }
        self.log.push(
            "transcription",
            json!({"transcription_sid": sid, "recording_sid": source.recording_sid}),
        );
        let immediate = if !(MIN_SECONDS..=MAX_SECONDS).contains(&source.duration_s) {
            Some(Outcome::Failed(
                RECORD_LENGTH_OUT_OF_RANGE_FOR_TRANSCRIPTION,
                format!(
                    "a recording of {} s is not transcribed (only {MIN_SECONDS} to {MAX_SECONDS} s are)",
                    source.duration_s
                ),
            ))
        } else {
            source.said.clone().map(Outcome::Completed)
        };
        if let Some(outcome) = immediate {
            return finish(owner, sid, source, outcome).await;
        }
        let state = self.state.clone();
        let Some(admitted) = state.transcriptions.admit() else {
            let message = format!(
                "the transcription backlog is full ({} waiting or running); transcription {sid} \
                 failed",
                state.transcriptions.limit
            );
            let outcome = Outcome::Failed(TRANSCRIPTION_FAILED, message);
            return finish(owner, sid, source, outcome).await;
        };
        state.clone().spawn(async move {
            let outcome = recognise(&owner.state, &source).await;
            drop(admitted);
            finish(owner, sid, source, outcome).await;
        });
    }
}

/// The recogniser's text for real audio, in its turn in the pool.
async fn recognise(state: &Engine, source: &Source) -> Outcome {
    let Some(pcm) = source.pcm.as_deref() else {
        let message = "the recording holds no speech to transcribe (a sandbox tone)".to_owned();
        return Outcome::Failed(TRANSCRIPTION_FAILED, message);
    };
    let Some(recogniser) = state.recogniser() else {
        let message = "no speech recogniser runs on this engine (--asr off, --sip off, or its \
                       model is missing)";
        return Outcome::Failed(TRANSCRIPTION_FAILED, message.to_owned());
    };
    let Ok(_running) = state.transcriptions.running.acquire().await else {
        return Outcome::Failed(
            TRANSCRIPTION_FAILED,
            "the engine is shutting down".to_owned(),
        );
    };
    match recogniser.recognise(pcm, None).await {
        Ok(heard) => Outcome::Completed(heard.text),
        Err(error) => Outcome::Failed(
            TRANSCRIPTION_FAILED,
            format!("the speech recogniser failed: {error}"),
        ),
    }
}

/// The `in-progress` row.
async fn insert(owner: &Owner, sid: &str, source: &Source) -> crate::EngineResult<()> {
    let now = now_ms();
    let doc = json!({
        "sid": sid, "account_sid": owner.account_sid, "api_version": "2010-04-01",
        "date_created": now, "date_updated": now, "duration": source.duration_s.to_string(),
        "price": null, "price_unit": "USD", "recording_sid": source.recording_sid,
        "status": "in-progress", "transcription_text": null, "type": "fast",
        "engine_call_sid": owner.call_sid, "engine_node": &*owner.state.node_id,
        "engine_callback": owner.callback, "engine_call_params": owner.call_params,
        "engine_recording_url": source.recording_url,
    });
    let mut record = Record::new(
        Kind::Transcription,
        sid.to_owned(),
        owner.account_sid.clone(),
        now,
        doc,
    );
    record.parent_sid = Some(source.recording_sid.clone());
    record.status = Some("in-progress".into());
    record.date_key = Some(now);
    owner.state.store.insert(&record).await?;
    Ok(())
}

/// Stores how the transcription ended, alerts a failure, and calls back.
async fn finish(owner: Owner, sid: String, source: Source, outcome: Outcome) {
    let (status, text) = match &outcome {
        Outcome::Completed(text) => ("completed", text.clone()),
        Outcome::Failed(..) => ("failed", String::new()),
    };
    if let Err(error) = store_outcome(&owner.state, &sid, status, &text).await {
        tracing::error!(?error, "storing a transcription's outcome failed");
    }
    if let Outcome::Failed(code, message) = outcome {
        let alert = crate::session::session_alert(
            Channel::Voice,
            code,
            AlertLevel::Warning,
            message,
            String::new(),
        );
        if let Err(error) = alerts::record(
            &owner.state,
            &owner.account_sid,
            Some(&owner.call_sid),
            &alert,
        )
        .await
        {
            tracing::error!(?error, "recording a transcription alert failed");
        }
    }
    let Some(url) = owner.callback.clone() else {
        return;
    };
    let mut params = owner.call_params.clone();
    let transcription_url = resource_url(&owner.state, &owner.account_sid, &sid);
    for (name, value) in [
        ("TranscriptionSid", sid.as_str()),
        ("TranscriptionText", text.as_str()),
        ("TranscriptionStatus", status),
        ("TranscriptionUrl", transcription_url.as_str()),
        ("RecordingSid", source.recording_sid.as_str()),
        ("RecordingUrl", source.recording_url.as_str()),
    ] {
        params.push((name.to_owned(), value.to_owned()));
    }
    let request = WebhookRequest::form(url, Method::Post, params);
    let pending = crate::outbox::enqueue(
        &owner.state,
        &owner.account_sid,
        Some(&owner.call_sid),
        crate::outbox::Kind::Transcription,
        Channel::Voice,
        request,
    )
    .await;
    crate::outbox::attempt_and_alert(
        &owner.state,
        pending,
        &owner.account_sid,
        &owner.auth_token,
        Some(&owner.call_sid),
    )
    .await;
}

async fn store_outcome(
    state: &Engine,
    sid: &str,
    status: &str,
    text: &str,
) -> crate::EngineResult<()> {
    let Some(mut record) = state.store.get(Kind::Transcription, sid).await? else {
        return Ok(()); // deleted meanwhile
    };
    let now = now_ms();
    record.doc["status"] = json!(status);
    record.doc["transcription_text"] = if status == "completed" {
        json!(text)
    } else {
        Value::Null
    };
    record.doc["date_updated"] = json!(now);
    record.status = Some(status.to_owned());
    state.store.update(&record).await?;
    Ok(())
}

/// Fails a transcription an unclean stop left `in-progress` (`recovery.rs`), with its alert and
/// its callback as if it had failed then.
pub(crate) async fn fail_orphaned(state: &Engine, account: &crate::Account, record: Record) {
    let doc = &record.doc;
    let text = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
    let call_params = serde_json::from_value(doc["engine_call_params"].clone()).unwrap_or_default();
    let owner = Owner {
        state: state.clone(),
        account_sid: account.sid.clone(),
        auth_token: account.auth_token.clone(),
        call_sid: text("engine_call_sid"),
        call_params,
        callback: doc["engine_callback"].as_str().map(str::to_owned),
    };
    let source = Source {
        recording_sid: text("recording_sid"),
        recording_url: text("engine_recording_url"),
        duration_s: doc["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
        said: None,
        pcm: None,
    };
    let message = "the engine stopped before the transcription finished".to_owned();
    finish(
        owner,
        record.sid,
        source,
        Outcome::Failed(TRANSCRIPTION_FAILED, message),
    )
    .await;
}

/// `TranscriptionUrl`: the resource's address without extension.
pub fn resource_url(state: &Engine, account_sid: &str, sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Transcriptions/{sid}",
        state.public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_admits_its_workers_and_backlog_and_refuses_the_next_until_one_leaves() {
        let pool = Arc::new(Pool::new(1, 2));
        let admitted: Vec<Admitted> = (0..3).map(|_| pool.admit().expect("room")).collect();
        assert_eq!(pool.admitted(), 3);
        assert!(pool.admit().is_none());
        assert_eq!(pool.admitted(), 3, "a refusal takes no place");
        drop(admitted);
        assert_eq!(pool.admitted(), 0);
        assert!(pool.admit().is_some());
    }
}
