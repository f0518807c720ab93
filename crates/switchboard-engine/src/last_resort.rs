//! What a call runs when both of its number's URLs fail, beyond Twilio's platform prompt
//! (product.md "Beyond Twilio", issue 17 items 2 and 3): the order is the number's
//! last-known-good document (`SwitchboardLastKnownGood`, only for the session's first fetch,
//! while fresh under `--lkg-max-age`), then its last-resort document
//! (`SwitchboardLastResortTwiml`, once per leg), then the platform prompt.
//!
//! The last-known-good document is the last valid document the number's Voice URL returned
//! for a session's first fetch: never an answer to an `action`, a `<Redirect>` or a live
//! update, which depend on what the caller did. It is kept twice: in memory (exact, one entry
//! per number) and durably as one store row per number (`Kind::LastKnownGood`, SID
//! `lkg-voice-<number SID>`, never rendered by the API), so it survives a restart and other
//! nodes see it. A row is written only when the document changed, or when the time the row
//! says it was last seen lags by an eighth of the maximum age, so a busy number costs one
//! hash per call and not one write. A lookup takes whichever of the memory and the row was
//! seen last, so a document another node saw later wins.
//!
//! Voice only: a message session whose URLs both fail sends nothing (Decision 2). The number
//! has one last-resort field, validated as voice TwiML; a messaging reply would need its own
//! document, and an SMS has no caller waiting on the line to hear it.
//!
//! The choice (`choose`) and the freshness and refresh rules are pure and take the time in.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use switchboard_store::{Kind, Record};

use crate::Engine;

/// What runs instead of the platform prompt, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    LastKnownGood,
    LastResort,
    PlatformPrompt,
}

/// The choice when a session gives up: a last-known-good document seen at `lkg_seen_ms`
/// (`None`: none, or it does not apply to this fetch) runs while fresh; else the last resort
/// when the number has one left for this leg; else the platform prompt.
pub(crate) fn choose(
    lkg_seen_ms: Option<i64>,
    now_ms: i64,
    max_age_ms: u64,
    last_resort_left: bool,
) -> Choice {
    match lkg_seen_ms {
        Some(seen_ms) if is_fresh(seen_ms, now_ms, max_age_ms) => Choice::LastKnownGood,
        _ if last_resort_left => Choice::LastResort,
        _ => Choice::PlatformPrompt,
    }
}

/// Whether a document seen at `seen_ms` is at most `max_age_ms` old at `now_ms` (one seen
/// "in the future", by a node whose clock is ahead, is fresh).
pub(crate) fn is_fresh(seen_ms: i64, now_ms: i64, max_age_ms: u64) -> bool {
    u64::try_from(now_ms.saturating_sub(seen_ms)).map_or(true, |age| age <= max_age_ms)
}

/// Whether a document already stored unchanged at `written_ms` should be written again at
/// `now_ms` so that the durable "last seen" stays within an eighth of the maximum age.
pub(crate) fn needs_refresh(written_ms: i64, now_ms: i64, max_age_ms: u64) -> bool {
    let lag = u64::try_from(now_ms.saturating_sub(written_ms)).unwrap_or(0);
    lag >= (max_age_ms / 8).max(1)
}

/// A number's settings for the end of its sessions, read from its stored document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resilience {
    pub number_sid: String,
    pub account_sid: String,
    /// `switchboard_last_known_good`.
    pub last_known_good: bool,
    /// `switchboard_last_resort_twiml`, validated when it was stored.
    pub last_resort_twiml: Option<Arc<str>>,
    /// `switchboard_stream_failover`: a two-way media stream that fails is reopened, then the
    /// Voice Fallback URL is requested (`voice::stream`).
    pub stream_failover: bool,
}

impl Resilience {
    /// The settings of a number, from its stored document (which names its own SID and
    /// account), so a call reads them from the row it was routed by, not from the store a
    /// second time; `None` when neither is on (nothing changes then).
    pub(crate) fn of_settings(number: &serde_json::Value) -> Option<Resilience> {
        let text = |name: &str| number[name].as_str().unwrap_or_default().to_owned();
        let last_known_good = number["switchboard_last_known_good"].as_bool() == Some(true);
        let last_resort_twiml = number["switchboard_last_resort_twiml"]
            .as_str()
            .filter(|text| !text.is_empty())
            .map(Arc::from);
        let stream_failover = number["switchboard_stream_failover"].as_bool() == Some(true);
        (last_known_good || last_resort_twiml.is_some() || stream_failover).then(|| Resilience {
            number_sid: text("sid"),
            account_sid: text("account_sid"),
            last_known_good,
            last_resort_twiml,
            stream_failover,
        })
    }
}

/// One number's last-known-good document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The Voice URL it came from.
    pub url: String,
    /// Canonical TwiML (the parsed document printed), parsed again when it runs.
    pub document: Arc<str>,
    /// When the primary last returned it for a first fetch.
    pub seen_ms: i64,
    /// When it was last written to the store (memory only).
    written_ms: i64,
    hash: u64,
}

/// The in-memory copies, one per number, in front of the store rows.
#[derive(Debug, Default)]
pub(crate) struct LastKnownGood {
    entries: Mutex<HashMap<String, Entry>>,
}

fn hash_of(url: &str, document: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    url.hash(&mut hasher);
    document.hash(&mut hasher);
    hasher.finish()
}

fn row_sid(number_sid: &str) -> String {
    format!("lkg-voice-{number_sid}")
}

impl LastKnownGood {
    /// The primary answered a session's first fetch with `document` (canonical TwiML) at
    /// `now_ms`: keep it, writing the store row only when the document changed or the row's
    /// time lags (see `needs_refresh`). A failed write is logged; the call goes on.
    pub(crate) async fn remember(
        &self,
        engine: &Engine,
        number: &Resilience,
        url: &str,
        document: String,
        now_ms: i64,
    ) {
        let hash = hash_of(url, &document);
        let write = {
            // A poisoned lock only means another task panicked mid-update of a plain map.
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&number.number_sid) {
                Some(entry) if entry.hash == hash => {
                    entry.seen_ms = entry.seen_ms.max(now_ms);
                    let refresh = needs_refresh(entry.written_ms, now_ms, engine.lkg_max_age_ms);
                    if refresh {
                        entry.written_ms = now_ms;
                    }
                    refresh.then(|| entry.clone())
                }
                _ => {
                    let entry = Entry {
                        url: url.to_owned(),
                        document: Arc::from(document),
                        seen_ms: now_ms,
                        written_ms: now_ms,
                        hash,
                    };
                    entries.insert(number.number_sid.clone(), entry.clone());
                    Some(entry)
                }
            }
        };
        if let Some(entry) = write
            && let Err(error) = store_entry(engine, number, &entry).await
        {
            tracing::warn!(?error, number = %number.number_sid, "storing a last-known-good document failed");
        }
    }

    /// The number's last-known-good document, whichever of memory and the store row was seen
    /// last (freshness is the caller's `choose`).
    pub(crate) async fn lookup(&self, engine: &Engine, number_sid: &str) -> Option<Entry> {
        let memory = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(number_sid)
            .cloned();
        let stored = match engine
            .store
            .get(Kind::LastKnownGood, &row_sid(number_sid))
            .await
        {
            Ok(row) => row.and_then(|row| entry_of(&row.doc)),
            Err(error) => {
                tracing::warn!(?error, "reading a last-known-good document failed");
                None
            }
        };
        match (memory, stored) {
            (Some(memory), Some(stored)) if stored.seen_ms > memory.seen_ms => Some(stored),
            (Some(memory), _) => Some(memory),
            (None, stored) => stored,
        }
    }
}

fn entry_of(doc: &Value) -> Option<Entry> {
    let url = doc["url"].as_str()?.to_owned();
    let document: Arc<str> = Arc::from(doc["document"].as_str()?);
    let seen_ms = doc["seen_ms"].as_i64()?;
    Some(Entry {
        hash: hash_of(&url, &document),
        url,
        document,
        seen_ms,
        written_ms: seen_ms,
    })
}

/// Writes the number's row: an update, or an insert when there is none yet (and an update
/// again when another task inserted it in between).
async fn store_entry(
    engine: &Engine,
    number: &Resilience,
    entry: &Entry,
) -> Result<(), switchboard_store::StoreError> {
    let mut record = Record::new(
        Kind::LastKnownGood,
        row_sid(&number.number_sid),
        number.account_sid.clone(),
        entry.seen_ms,
        json!({"url": entry.url, "document": &*entry.document, "seen_ms": entry.seen_ms}),
    );
    record.parent_sid = Some(number.number_sid.clone());
    if engine.store.update(&record).await? {
        return Ok(());
    }
    match engine.store.insert(&record).await {
        Ok(_) => Ok(()),
        Err(_) => engine.store.update(&record).await.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 86_400_000;

    #[test]
    fn the_order_is_last_known_good_then_last_resort_then_the_platform_prompt() {
        let now = 10 * DAY_MS as i64;
        // (last-known-good seen at, last resort left, expected)
        let cases = [
            (Some(now - 1000), true, Choice::LastKnownGood),
            (Some(now - 1000), false, Choice::LastKnownGood),
            (Some(now - DAY_MS as i64), true, Choice::LastKnownGood),
            (Some(now - DAY_MS as i64 - 1), true, Choice::LastResort),
            (Some(now - DAY_MS as i64 - 1), false, Choice::PlatformPrompt),
            (None, true, Choice::LastResort),
            (None, false, Choice::PlatformPrompt),
            // Seen by a node whose clock is ahead.
            (Some(now + 5000), false, Choice::LastKnownGood),
        ];
        for (seen, last_resort, expected) in cases {
            assert_eq!(
                choose(seen, now, DAY_MS, last_resort),
                expected,
                "{seen:?} {last_resort}"
            );
        }
    }

    #[test]
    fn an_unchanged_document_is_written_again_only_when_the_row_lags() {
        let cases = [
            (0, 0, DAY_MS, false),
            (0, (DAY_MS / 8) as i64 - 1, DAY_MS, false),
            (0, (DAY_MS / 8) as i64, DAY_MS, true),
            (0, 250, 2000, true),
            (0, 249, 2000, false),
            (100, 50, 2000, false),
        ];
        for (written, now, max_age, expected) in cases {
            assert_eq!(
                needs_refresh(written, now, max_age),
                expected,
                "{written} {now} {max_age}"
            );
        }
    }

    #[test]
    fn a_number_without_either_setting_has_nothing_to_do() {
        let mut number = Record::new(
            Kind::PhoneNumber,
            "PN1".into(),
            "AC1".into(),
            0,
            json!({"switchboard_last_known_good": false, "switchboard_last_resort_twiml": null}),
        );
        assert_eq!(Resilience::of_settings(&number.doc), None);
        number.doc["switchboard_last_resort_twiml"] = json!("<Response><Say>x</Say></Response>");
        let resilience = Resilience::of_settings(&number.doc).expect("a last resort is set");
        assert!(!resilience.last_known_good);
        assert_eq!(
            resilience.last_resort_twiml.as_deref(),
            Some("<Response><Say>x</Say></Response>")
        );
        number.doc["switchboard_last_known_good"] = json!(true);
        number.doc["switchboard_last_resort_twiml"] = json!("");
        let resilience = Resilience::of_settings(&number.doc).expect("last-known-good is on");
        assert!(resilience.last_known_good);
        assert_eq!(resilience.last_resort_twiml, None);
    }

    #[test]
    fn a_stored_row_reads_back_as_the_entry_it_was_written_from() {
        let doc =
            json!({"url": "https://a.example/voice", "document": "<Response/>", "seen_ms": 42});
        let entry = entry_of(&doc).expect("a complete row");
        assert_eq!(entry.url, "https://a.example/voice");
        assert_eq!(&*entry.document, "<Response/>");
        assert_eq!(entry.seen_ms, 42);
        assert_eq!(entry_of(&json!({"url": "x"})), None);
    }
}
