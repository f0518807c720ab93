//! Scheduled messages (`ScheduleType=fixed`, `SendAt`): stored `scheduled` with a row in the
//! store's schedule table, and sent at their time by exactly one node.
//!
//! A worker on every node (`Engine::start_scheduler`) claims the rows that are due
//! (`Store::claim_scheduled`, one conditional `UPDATE`, so two nodes never claim one row) and,
//! for each, moves the message to `queued` under this node's name, removes the row, and hands
//! the message to the ordinary delivery (`messaging::resume_delivery`). The order of those
//! writes is what makes a crash harmless: a node that dies after the claim has its rows released
//! when it restarts or when a survivor takes it over (`recovery.rs`), and the message, still
//! `scheduled`, is sent then; one that dies after the message became `queued` is resumed by the
//! recovery of queued messages, and the row left behind is removed by whoever claims it next,
//! who finds the message no longer `scheduled` and sends nothing.
//!
//! A cancel (`cancel`) removes the row only while no node holds it, so each message is either
//! canceled or sent. The worker reads when the next unclaimed row is due every `POLL` (or sooner,
//! when that is sooner, and at once after a claim that came back full), and claims only when a row
//! is due: an idle worker only reads, so it never takes the database's write lock (on SQLite, the
//! one the batched writer of every call and message needs). A message leaves at most about
//! `POLL` after its time while the node keeps up.

use std::time::Duration;

use serde_json::{Map, Value, json};
use switchboard_store::{Kind, Record, ScheduledSend};
use switchboard_webhook::Channel;

use crate::account::{self, Account};
use crate::error::{EngineError, EngineResult};
use crate::messaging::{self, Outbound};
use crate::{Engine, now_ms, outbox};

/// How often an idle worker looks for due messages.
const POLL: Duration = Duration::from_millis(200);
/// Messages one claim takes (sent concurrently; their writes share the store's batches).
const BATCH: i64 = 512;

/// Stores a message to send at `send_at_ms` (validated by the caller) as `scheduled`; returns
/// its document.
pub(crate) async fn schedule(
    engine: &Engine,
    account: &Account,
    outbound: Outbound,
    send_at_ms: i64,
) -> EngineResult<Map<String, Value>> {
    if !account::is_active(&*engine.store, account).await? {
        return Err(EngineError::AccountNotActive);
    }
    let (mut doc, mut record) = messaging::outbound_record(engine, account, &outbound, "scheduled");
    doc.insert("engine_send_at".into(), json!(send_at_ms));
    record.doc["engine_send_at"] = json!(send_at_ms);
    engine.store.insert(&record).await?;
    messaging::insert_media(engine, &account.sid, &record.sid, &outbound.media).await?;
    let row = ScheduledSend {
        sid: record.sid.clone(),
        account_sid: account.sid.clone(),
        send_at_ms,
        owner: None,
    };
    if let Err(error) = engine.store.insert_scheduled(&row).await {
        // A message that no worker would ever send is not left `scheduled`.
        engine.store.delete(Kind::Message, &record.sid).await.ok();
        return Err(error.into());
    }
    metrics::counter!("switchboard_messages_status_total", "status" => "scheduled").increment(1);
    Ok(doc)
}

/// Cancels the scheduled message `record`: `Some` with its new row (status `canceled`), or
/// `None` when it is not waiting any more (already being sent, sent, or canceled).
pub(crate) async fn cancel(
    engine: &Engine,
    account: &Account,
    mut record: Record,
) -> EngineResult<Option<Record>> {
    if record.status.as_deref() != Some("scheduled")
        || !engine.store.remove_scheduled(&record.sid, None).await?
    {
        return Ok(None);
    }
    let callback = messaging::status_callback(account, &record, "canceled", None);
    messaging::set_status(engine, &mut record, "canceled", None).await?;
    if let Some(request) = callback {
        let pending = outbox::enqueue(
            engine,
            &account.sid,
            Some(&record.sid),
            outbox::Kind::MessageStatus,
            Channel::Messaging,
            request,
        )
        .await;
        let worker = engine.clone();
        let (account_sid, token, sid) = (
            account.sid.clone(),
            account.auth_token.clone(),
            record.sid.clone(),
        );
        engine.spawn(async move {
            outbox::attempt_and_alert(&worker, pending, &account_sid, &token, Some(&sid)).await;
        });
    }
    Ok(Some(record))
}

impl Engine {
    /// Sends every scheduled message when it is due, on a worker task of this engine, until
    /// shutdown (see the module documentation).
    pub fn start_scheduler(&self) {
        let engine = self.clone();
        self.spawn(async move {
            loop {
                let next = match engine.store.next_scheduled_ms().await {
                    Ok(next) => next,
                    Err(error) => {
                        tracing::warn!(?error, "reading the next scheduled message failed");
                        None
                    }
                };
                let now = now_ms();
                if next.is_some_and(|at| at <= now) {
                    let claimed = match engine
                        .store
                        .claim_scheduled(&engine.node_id, now, BATCH)
                        .await
                    {
                        Ok(rows) => rows,
                        Err(error) => {
                            tracing::warn!(?error, "claiming due scheduled messages failed");
                            Vec::new()
                        }
                    };
                    // Nothing claimed: another node took them; read again after a pause.
                    let claimed_any = !claimed.is_empty();
                    send_claimed(&engine, claimed).await;
                    if engine.is_closing() {
                        break;
                    }
                    if claimed_any {
                        continue;
                    }
                }
                let wait = match next {
                    Some(at) if at > now => {
                        Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(POLL)
                    }
                    _ => POLL,
                };
                tokio::select! {
                    () = engine.closed() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        });
    }
}

/// Sends the claimed messages concurrently and waits until each has been handed over.
async fn send_claimed(engine: &Engine, rows: Vec<ScheduledSend>) {
    let handles: Vec<_> = rows
        .into_iter()
        .map(|row| {
            let worker = engine.clone();
            engine.spawn(async move {
                let sid = row.sid.clone();
                if let Err(error) = send_one(&worker, row).await {
                    tracing::error!(?error, message = %sid, "sending a scheduled message failed");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.ok();
    }
}

/// Moves one claimed message to `queued` and on to its delivery; a message that is no longer
/// `scheduled` (canceled, deleted, or queued before a crash) only loses its row.
async fn send_one(engine: &Engine, row: ScheduledSend) -> EngineResult<()> {
    let record = engine.store.get(Kind::Message, &row.sid).await?;
    let waiting = record
        .filter(|record| record.status.as_deref() == Some("scheduled"))
        .map(|record| (record, row.account_sid.clone()));
    let Some((mut record, account_sid)) = waiting else {
        engine
            .store
            .remove_scheduled(&row.sid, Some(&engine.node_id))
            .await?;
        return Ok(());
    };
    let Some(account) = account::load(&*engine.store, &account_sid).await? else {
        engine.store.delete(Kind::Message, &row.sid).await?;
        engine
            .store
            .remove_scheduled(&row.sid, Some(&engine.node_id))
            .await?;
        return Ok(());
    };
    record.doc["engine_node"] = json!(&*engine.node_id);
    messaging::set_status(engine, &mut record, "queued", None).await?;
    engine
        .store
        .remove_scheduled(&row.sid, Some(&engine.node_id))
        .await?;
    if account::is_active(&*engine.store, &account).await? {
        metrics::counter!("switchboard_scheduled_messages_sent_total").increment(1);
        messaging::resume_delivery(engine, account, record);
    } else {
        messaging::fail_inactive(engine, record).await?;
    }
    Ok(())
}
