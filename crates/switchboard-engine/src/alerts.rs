//! Recording alerts: every webhook failure or warning is stored once (Monitor v1 Alerts and 2010
//! Notifications are two views of it) and pushed to the account's debugger webhook.
//!
//! The push is written to the outbox (`crate::outbox`) with the alert, then sent on its own
//! task: a slow or failing debugger endpoint never delays the call or message that raised the
//! alert, and the outbox retries it. Its own failure is logged, not alerted again (an alert
//! about the alert pipe would loop).
//!
//! Once stored, the alert goes to the engine's alert feed (a `tokio::sync::broadcast` owned by
//! the `Engine`, `Engine::subscribe_alerts`) as its stored record, `seq` included. The feed is a
//! wake-up with the record attached, not the source of truth: a subscriber that must not lose
//! alerts (the live stream) reads them from the store by `seq` (`after`), which also serves
//! backlogs after a reconnect and subscribers that lag behind the feed.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record, Store};
use switchboard_webhook::{
    AlertRecord, Channel, CookieJar, DebugEventContext, Method, WebhookRequest, debug_event_params,
};

use crate::error::EngineResult;
use crate::{Engine, now_ms, outbox};

/// The account's own number in the call or message `resource_sid`: the number called or
/// texted when it came in, the number it came from when it went out.
async fn own_number(engine: &Engine, resource_sid: &str) -> Option<String> {
    let kind = if resource_sid.starts_with("CA") {
        Kind::Call
    } else if resource_sid.starts_with("SM") || resource_sid.starts_with("MM") {
        Kind::Message
    } else {
        return None;
    };
    let record = engine.store.get_shared(kind, resource_sid).await.ok()??;
    let inbound = record.doc["direction"].as_str() == Some("inbound");
    if inbound {
        record.phone_number.clone()
    } else {
        record.from_number.clone()
    }
}

/// Stores `alert` for `account_sid` (about `resource_sid`, a CallSid or MessageSid) and pushes
/// it to the account's debugger webhook if one is set. Returns the alert's SID.
pub async fn record(
    state: &Engine,
    account_sid: &str,
    resource_sid: Option<&str>,
    alert: &AlertRecord,
) -> EngineResult<String> {
    let sid = Sid::generate(SidKind::Notification).into_string();
    let now = now_ms();
    let mut doc = serde_json::to_value(alert).map_err(switchboard_store::StoreError::from)?;
    doc["sid"] = json!(sid);
    doc["account_sid"] = json!(account_sid);
    doc["resource_sid"] = json!(resource_sid);
    doc["date_created"] = json!(now);
    let mut row = Record::new(Kind::Alert, sid.clone(), account_sid.to_owned(), now, doc);
    row.parent_sid = resource_sid.map(str::to_owned);
    row.status = Some(alert.level.monitor_name().to_owned());
    row.date_key = Some(now);
    // Indexed for the console's debugger filters: the code, and the account's own number in
    // the call or message the alert is about.
    row.friendly_name = Some(alert.error_code.to_string());
    row.phone_number = match resource_sid {
        Some(resource) => own_number(state, resource).await,
        None => None,
    };
    row.seq = state.store.insert(&row).await?;
    metrics::counter!("switchboard_alerts_total", "level" => alert.level.monitor_name())
        .increment(1);
    // No subscriber is not a failure: the alert is stored, and a stream that opens later reads
    // it from the store.
    let _ = state.alert_feed.send(Arc::new(row));
    if let Some(account) = crate::account::load(&*state.store, account_sid).await?
        && !account.debugger_webhook_url.is_empty()
    {
        let context = DebugEventContext {
            sid: sid.clone(),
            account_sid: account.sid.clone(),
            parent_account_sid: (!account.is_main()).then(|| account.owner_account_sid.clone()),
            timestamp: date::iso8601(now),
            resource_sid: resource_sid.map(str::to_owned),
            service_sid: None,
        };
        let request = WebhookRequest::form(
            account.debugger_webhook_url.clone(),
            Method::Post,
            debug_event_params(alert, &context),
        );
        let pending = outbox::enqueue(
            state,
            &account.sid,
            Some(&sid),
            outbox::Kind::Debugger,
            Channel::Voice,
            request,
        )
        .await;
        let engine = state.clone();
        let token = account.auth_token.clone();
        state.spawn(async move {
            let mut cookies = CookieJar::default();
            let result = outbox::attempt(&engine, pending, &token, &mut cookies).await;
            if let Some(code) = result.error_code {
                tracing::warn!(url = %result.event.url, %code, "debugger webhook failed");
            }
        });
    }
    Ok(sid)
}

/// The stored alert document's record, for the REST views.
pub fn alert_of(doc: &Value) -> Option<AlertRecord> {
    serde_json::from_value(doc.clone()).ok()
}

/// How many alerts the feed holds for a subscriber that has not read them yet.
pub const FEED_CAPACITY: usize = 1024;

/// Up to `limit` alerts of `account_sid` stored after `after_seq`, oldest first; only those of
/// `level` (`error`, `warning`) when given.
pub async fn after(
    store: &dyn Store,
    account_sid: &str,
    level: Option<&str>,
    after_seq: i64,
    limit: i64,
) -> EngineResult<Vec<Record>> {
    let mut query = ListQuery::new(Kind::Alert, account_sid);
    query.order = Order::Ascending;
    query.after_seq = Some(after_seq);
    query.limit = limit;
    if let Some(level) = level {
        query
            .filters
            .push(Filter::Equals(Column::Status, level.to_owned()));
    }
    Ok(store.list(&query).await?)
}

/// The `seq` of the newest alert of `account_sid` (0 when it has none): where a stream that
/// starts now begins.
pub async fn newest_seq(store: &dyn Store, account_sid: &str) -> EngineResult<i64> {
    let mut query = ListQuery::new(Kind::Alert, account_sid);
    query.order = Order::Descending;
    query.limit = 1;
    Ok(store
        .list(&query)
        .await?
        .first()
        .map_or(0, |record| record.seq))
}

/// The `seq` of the alert `sid` if it is one of `account_sid`'s: where a stream resumed after
/// it begins.
pub async fn seq_of(store: &dyn Store, account_sid: &str, sid: &str) -> EngineResult<Option<i64>> {
    Ok(store
        .get_shared(Kind::Alert, sid)
        .await?
        .filter(|record| record.account_sid == account_sid)
        .map(|record| record.seq))
}
