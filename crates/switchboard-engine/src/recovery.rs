//! Finishing what a crash left: when a node starts, the calls and messages it was running when
//! it died (kill -9, power loss, OOM) are still in the store as `ringing`, `in-progress`,
//! `queued`, `sending` or `sent`, and nothing would ever move them on. `Engine::recover` runs
//! before the node takes new work and gives each one its ending:
//!
//! - A call reaches a terminal status: `completed` if it had been answered (its duration runs to
//!   now, the end time the record gets), else `failed`. Its transcript is opened anew with an
//!   ERROR alert (12400), `hangup` `by: "engine"` and the final `status`, so the sandbox API
//!   answers for it again; and its final status callback is sent, when it had subscribed to
//!   `completed`, with a `SequenceNumber` past every one it could have sent before.
//! - An outbound message carries on from the status it was in to the handset's outcome, with
//!   its status callbacks, as if nothing had happened.
//! - The status callbacks and debugger webhooks the node was sending are given back to the
//!   outbox, where any node's worker sends them again (`crate::outbox`).
//! - The scheduled messages it had claimed are released, for the next claim to send
//!   (`crate::scheduled`).
//! - A transcription left `in-progress` (its audio was in memory) fails, with its WARNING alert
//!   and its `transcribeCallback` (`crate::voice::transcription`).
//!
//! Of an account that is no longer active (suspended meanwhile) nothing runs: its calls end
//! without a callback and its messages fail with 20005.
//!
//! Which rows are this node's: on a database with one node (SQLite, or PostgreSQL held with
//! `--single-node`) every unfinished row; on a shared one those that carry this node's
//! `--node-id` (`engine_node`), or no node at all (written before nodes were recorded). Taking over the work of another, dead node is the
//! cluster's job, not a restart's.

use serde_json::json;
use switchboard_core::{Sid, SidKind, error_code};
use switchboard_flow::{CallSetup, CallStatus, Direction, Initial, base_params};
use switchboard_store::{Column, Filter, Kind, ListQuery, Record};
use switchboard_webhook::{AlertLevel, Channel, CookieJar};

use crate::account::{self, Account};
use crate::error::EngineResult;
use crate::voice::call_recording;
use crate::voice::callbacks::{self, AlertTarget, StatusCallback};
use crate::voice::leg;
use crate::{Engine, alerts, messaging, now_ms, session};

/// The call statuses a running call is stored in.
const LIVE_CALL_STATUSES: [&str; 4] = ["queued", "initiated", "ringing", "in-progress"];

/// The message statuses of an outbound message still being delivered.
const DELIVERY_STATUSES: [&str; 4] = ["accepted", "queued", "sending", "sent"];

/// Rows read per query while scanning.
const PAGE: i64 = 500;

/// What `Engine::recover` found and finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Calls ended with a final status.
    pub calls: usize,
    /// Outbound messages whose delivery was resumed.
    pub messages: usize,
    /// Status callbacks and debugger webhooks the stopped node was sending, given back to the
    /// outbox to be sent again.
    pub deliveries: usize,
    /// Transcriptions left `in-progress`, failed with their callback.
    pub transcriptions: usize,
}

impl Engine {
    /// Ends the calls and resumes the message deliveries that this node left unfinished when
    /// it last stopped without draining (see the module documentation). Call it once, after
    /// building the engine and before it takes new work; the callbacks and deliveries go on as
    /// tasks of the engine, the store writes are done when it returns.
    pub async fn recover(&self) -> EngineResult<Recovered> {
        self.finish_orphans(Orphans::Own).await
    }

    /// Finishes the work of the dead node `dead` (whose claim this node won): its calls end and
    /// its deliveries resume here, as `recover` does for this node's own.
    pub(crate) async fn take_over(&self, dead: &str) -> EngineResult<Recovered> {
        self.finish_orphans(Orphans::Of(dead)).await
    }

    async fn finish_orphans(&self, whose: Orphans<'_>) -> EngineResult<Recovered> {
        // The deliveries the stopped node was sending are given back first, before anything
        // below writes new ones that this node owns while it sends them.
        let released = match whose {
            Orphans::Own if self.sole_node => self.release_deliveries(None).await?,
            Orphans::Own => self.release_deliveries(Some(&self.node_id)).await?,
            Orphans::Of(dead) => self.release_deliveries(Some(dead)).await?,
        };
        // So are the scheduled messages it had claimed and not yet handed to delivery: they
        // are due, and the next claim (here or on any node) sends them.
        let node = match whose {
            Orphans::Own if self.sole_node => None,
            Orphans::Own => Some(&*self.node_id),
            Orphans::Of(dead) => Some(dead),
        };
        self.store.release_scheduled(node).await?;
        // Everything is read before anything is resumed: a resumed delivery moves on to the
        // next status at once, where a later scan would find it a second time.
        let calls = self
            .unfinished(Kind::Call, &LIVE_CALL_STATUSES, whose)
            .await?;
        let messages = self
            .unfinished(Kind::Message, &DELIVERY_STATUSES, whose)
            .await?;
        let transcriptions = self
            .unfinished(Kind::Transcription, &["in-progress"], whose)
            .await?;
        let mut recovered = Recovered {
            deliveries: usize::try_from(released).unwrap_or(usize::MAX),
            ..Recovered::default()
        };
        for record in calls {
            let Some(account) = account::load(&*self.store, &record.account_sid).await? else {
                continue;
            };
            end_orphaned_call(self, &account, record, whose).await?;
            recovered.calls += 1;
        }
        for record in messages {
            let outbound = record.doc["direction"]
                .as_str()
                .is_some_and(|direction| direction.starts_with("outbound"));
            if !outbound {
                continue;
            }
            let Some(account) = account::load(&*self.store, &record.account_sid).await? else {
                continue;
            };
            if account::is_active(&*self.store, &account).await? {
                messaging::resume_delivery(self, account, record);
            } else {
                // Nothing of a suspended account runs: the message fails, with no callback.
                messaging::fail_inactive(self, record).await?;
            }
            recovered.messages += 1;
        }
        for record in transcriptions {
            if let Some(account) = account::load(&*self.store, &record.account_sid).await? {
                crate::voice::transcription::fail_orphaned(self, &account, record).await;
                recovered.transcriptions += 1;
            }
        }
        if recovered != Recovered::default() {
            tracing::warn!(
                calls = recovered.calls,
                messages = recovered.messages,
                deliveries = recovered.deliveries,
                transcriptions = recovered.transcriptions,
                node = ?whose,
                "finished the work left by an unclean stop"
            );
        }
        Ok(recovered)
    }

    /// Every row of `kind` in one of `statuses` that is `whose`.
    async fn unfinished(
        &self,
        kind: Kind,
        statuses: &[&str],
        whose: Orphans<'_>,
    ) -> EngineResult<Vec<Record>> {
        let mut found = Vec::new();
        for status in statuses {
            let filter = Filter::Equals(Column::Status, (*status).to_owned());
            let rows = self.scan(kind, vec![filter], PAGE).await?;
            found.extend(rows.into_iter().filter(|record| self.owns(record, whose)));
        }
        Ok(found)
    }

    /// Whether an unfinished row is `whose`.
    fn owns(&self, record: &Record, whose: Orphans<'_>) -> bool {
        let node = record.doc["engine_node"].as_str();
        match whose {
            Orphans::Own => self.sole_node || node.is_none_or(|node| node == &*self.node_id),
            Orphans::Of(dead) => node == Some(dead),
        }
    }
}

/// Whose unfinished work is being finished.
#[derive(Clone, Copy, Debug)]
enum Orphans<'a> {
    /// This node's, after its own unclean stop.
    Own,
    /// A dead node's, after this node claimed it.
    Of(&'a str),
}

/// Gives a call left running by a crash its final status, transcript, alert and callback.
async fn end_orphaned_call(
    engine: &Engine,
    account: &Account,
    mut record: Record,
    whose: Orphans<'_>,
) -> EngineResult<()> {
    // Read again just before finishing it: another node may have finished it meanwhile.
    match engine.store.get(Kind::Call, &record.sid).await? {
        Some(now) if !leg::is_terminal(now.status.as_deref().unwrap_or_default()) => record = now,
        _ => return Ok(()),
    }
    let answered = record.status.as_deref() == Some("in-progress");
    let status = if answered {
        CallStatus::Completed
    } else {
        CallStatus::Failed
    };
    // An answered call's record was last written when it was answered.
    let answered_at = record.doc["date_updated"].as_i64().unwrap_or_else(now_ms);
    let duration_s = if answered {
        u64::try_from(now_ms().saturating_sub(answered_at) / 1000).unwrap_or(0)
    } else {
        0
    };
    let active = account::is_active(&*engine.store, account).await?;
    let sid = record.sid.clone();
    let log = engine.sandbox.open_log(&sid);
    let target = AlertTarget {
        state: engine.clone(),
        account_sid: account.sid.clone(),
        auth_token: account.auth_token.clone(),
        call_sid: sid.clone(),
        log: log.clone(),
    };
    // Nothing of a suspended account runs, its callbacks included.
    let callback =
        StatusCallback::from_json(&record.doc["engine_status_callback"]).filter(|_| active);
    let request = callback.as_ref().and_then(|callback| {
        let mut params = base_params(&setup_of(&record)?, status);
        params.push(("CallDuration".into(), duration_s.to_string()));
        // Past every callback the call could have sent before (one per other subscribed
        // event), so a receiver ordering by it puts this one last.
        let sequence = callback
            .events
            .iter()
            .filter(|event| *event != "completed")
            .count();
        callback.request(status, params, u32::try_from(sequence).unwrap_or(u32::MAX))
    });
    // The callback is written before the final status: a crash in between leaves the call
    // unfinished, to be finished (and called back) again, never finished without a callback.
    let pending = match request {
        Some(request) => Some(callbacks::enqueue(&target, request).await),
        None => None,
    };
    leg::set_status(engine, &mut record, status.as_str(), true, Some(duration_s)).await?;
    end_orphaned_recordings(engine, &target, active).await?;
    metrics::counter!("switchboard_calls_recovered_total").increment(1);

    let alert = session::session_alert(
        Channel::Voice,
        error_code::INTERNAL_FAILURE,
        AlertLevel::Error,
        {
            let phase = if answered {
                "in progress"
            } else {
                "being set up"
            };
            match whose {
                Orphans::Own => format!(
                    "The engine stopped without draining while this call was {phase}; it ended the call as {} when it started again",
                    status.as_str()
                ),
                Orphans::Of(dead) => format!(
                    "The node {dead} that ran this call stopped renewing its lease while the call was {phase}; node {} took over and ended the call as {}",
                    engine.node_id,
                    status.as_str()
                ),
            }
        },
        String::new(),
    );
    let alert_sid = alerts::record(engine, &account.sid, Some(&sid), &alert).await?;
    log.push(
        "alert",
        json!({"sid": alert_sid, "error_code": alert.error_code, "level": "error"}),
    );
    log.push("hangup", json!({"by": "engine"}));
    log.push("status", json!({"status": status.as_str()}));
    engine.spawn(async move {
        if let Some(pending) = pending {
            callbacks::send(&target, &mut CookieJar::default(), pending).await;
        }
        target.log.finish();
    });
    Ok(())
}

/// The parameters a call's callbacks carry, rebuilt from its record.
fn setup_of(record: &Record) -> Option<CallSetup> {
    let text = |name: &str| record.doc[name].as_str().map(str::to_owned);
    let direction = match text("direction")?.as_str() {
        "inbound" => Direction::Inbound,
        "outbound-api" => Direction::OutboundApi,
        _ => Direction::OutboundDial,
    };
    let mut setup = CallSetup::new(
        Sid::parse(SidKind::Call, &record.sid)?,
        Sid::parse(SidKind::Account, &record.account_sid)?,
        text("from").unwrap_or_default(),
        text("to").unwrap_or_default(),
        direction,
        Initial::Inline(Default::default()),
    );
    setup.caller_name = text("caller_name");
    setup.forwarded_from = text("forwarded_from");
    setup.parent_call_sid = text("parent_call_sid").and_then(|sid| Sid::parse(SidKind::Call, &sid));
    Some(setup)
}

/// The recordings a crash left running on a call: their audio was in the driver's memory and
/// is lost, so each ends `absent` (duration 0), with its `absent` callback when subscribed.
async fn end_orphaned_recordings(
    engine: &Engine,
    target: &AlertTarget,
    active: bool,
) -> EngineResult<()> {
    for status in ["in-progress", "paused"] {
        let mut query = ListQuery::new(Kind::Recording, &target.account_sid);
        query.parent_sid = Some(target.call_sid.clone());
        query.filters = vec![Filter::Equals(Column::Status, status.to_owned())];
        query.limit = 1_000;
        for mut recording in engine.store.list(&query).await? {
            let request =
                call_recording::callback_request(engine, &recording.doc, "absent", Some(0))
                    .filter(|_| active);
            if let Some(request) = request {
                let pending = callbacks::enqueue_recording(target, request).await;
                let target = target.clone();
                engine.spawn(async move {
                    callbacks::send(&target, &mut CookieJar::default(), pending).await;
                });
            }
            recording.doc["status"] = json!("absent");
            recording.doc["duration"] = json!("0");
            recording.doc["date_updated"] = json!(now_ms());
            recording.status = Some("absent".into());
            engine.store.update(&recording).await?;
        }
    }
    Ok(())
}
