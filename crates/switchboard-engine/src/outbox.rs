//! Durable deliveries (product.md "Several nodes"): status callbacks and debugger webhooks go
//! through the store's outbox, so that none is lost to a crash or to a receiver that is down
//! for a while.
//!
//! A notification is written (`enqueue`) before the event that causes it is acknowledged,
//! owned by this node, and its first attempt is made at once by whoever wrote it (`attempt`),
//! in the order the caller keeps (a call's callbacks leave one after another). What the attempt
//! showed decides the row (`switchboard_webhook::retry`): delivered; pending again, due after a
//! backoff and released to any node; or failed. A worker on every node (`Engine::start_outbox`)
//! claims the released rows that are due and sends them the same way, so a retry may leave from
//! another node than the first attempt did. A node's rows are released when it restarts
//! (`recover`) or when a survivor takes it over, never by a timer: a live node ends its own
//! attempts, which the webhook client's total timeout bounds.
//!
//! Every attempt of a delivery sends the same parameters and the same
//! `I-Twilio-Idempotency-Token` (both are in its row), so a receiver can drop a repeat.
//! Alerts: the first attempt's failure is alerted as it always was (by the caller, which shows
//! it in the transcript); a delivery that is then retried and given up is alerted once more;
//! retries in between are not alerted one by one. A debugger webhook's failure is never
//! alerted (an alert about the alert pipe would loop). `--callback-retry-for 0` is Twilio's
//! single attempt, still through the outbox, so a crash before it does not lose it.

use std::time::Duration;

use switchboard_core::{Sid, SidKind};
use switchboard_store::{Delivery, DeliveryUpdate};
use switchboard_webhook::retry::{self, Next};
use switchboard_webhook::{
    Channel, CookieJar, Method, NotificationResult, WebhookRequest, send_notification,
};

use crate::error::EngineResult;
use crate::{Engine, account, alerts, now_ms};

/// What a delivery is (its `kind` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    CallStatus,
    MessageStatus,
    RecordingStatus,
    /// `transcribeCallback`: a `<Record>`'s transcription ended.
    Transcription,
    /// The outcome of a caller-ID verification (`crate::caller_ids`).
    VerificationStatus,
    /// `AsyncAmdStatusCallback`: answering-machine detection's verdict.
    AmdStatus,
    /// A conference's status callback (`voice::conference`).
    ConferenceStatus,
    /// A media stream's `statusCallback`.
    StreamStatus,
    Debugger,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::CallStatus => "call-status",
            Kind::MessageStatus => "message-status",
            Kind::RecordingStatus => "recording-status",
            Kind::Transcription => "transcription",
            Kind::VerificationStatus => "verification-status",
            Kind::AmdStatus => "amd-status",
            Kind::ConferenceStatus => "conference-status",
            Kind::StreamStatus => "stream-status",
            Kind::Debugger => "debugger",
        }
    }
}

/// The origins this node scheduled a retry for and has not seen answer since (bounded: past
/// `MAX_ORIGINS` it forgets them all, which only costs a slower drain).
#[derive(Debug, Default)]
pub(crate) struct RetryingOrigins(std::sync::Mutex<std::collections::HashSet<String>>);

const MAX_ORIGINS: usize = 10_000;

impl RetryingOrigins {
    fn note(&self, origin: &str) {
        let mut origins = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if origins.len() >= MAX_ORIGINS {
            origins.clear();
        }
        origins.insert(origin.to_owned());
    }

    /// Whether `origin` was noted (and no longer is).
    fn take(&self, origin: &str) -> bool {
        let mut origins = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !origins.is_empty() && origins.remove(origin)
    }
}

/// How often an idle worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries one worker sends at once.
const CONCURRENCY: usize = 64;

/// A delivery written and owned by this node, to be attempted now.
pub(crate) struct Pending {
    row: Delivery,
    request: WebhookRequest,
    channel: Channel,
    /// Whether the row is in the store (a store failure still gets the one attempt).
    stored: bool,
}

/// Writes a notification to the outbox for its first attempt by this node. A store failure is
/// logged and the notification is still attempted once (as without the outbox).
pub(crate) async fn enqueue(
    engine: &Engine,
    account_sid: &str,
    resource_sid: Option<&str>,
    kind: Kind,
    channel: Channel,
    mut request: WebhookRequest,
) -> Pending {
    let now = now_ms();
    let token = switchboard_webhook::request::new_idempotency_token();
    request.idempotency_token = Some(token.clone());
    let row = Delivery {
        seq: 0,
        sid: Sid::generate(SidKind::Delivery).into_string(),
        account_sid: account_sid.to_owned(),
        resource_sid: resource_sid.map(str::to_owned),
        kind: kind.as_str().to_owned(),
        url: request.url.clone(),
        origin: switchboard_webhook::breaker::origin_of(&request.url),
        method: request.method.as_str().to_owned(),
        params: serde_json::to_string(&request.params).unwrap_or_else(|_| "[]".to_owned()),
        channel: channel_name(channel).to_owned(),
        idempotency_token: token,
        status: "pending".to_owned(),
        attempts: 0,
        last_error_code: None,
        last_attempt_ms: None,
        next_attempt_ms: now,
        deadline_ms: now.saturating_add(engine.callback_retry_for_ms),
        owner: Some(engine.node_id.to_string()),
        created_ms: now,
    };
    let stored = match engine.store.insert_delivery(&row).await {
        Ok(_) => true,
        Err(error) => {
            tracing::error!(
                ?error,
                kind = row.kind,
                "writing a delivery to the outbox failed"
            );
            false
        }
    };
    Pending {
        row,
        request,
        channel,
        stored,
    }
}

/// Sends a pending delivery once and stores what became of it. Returns the attempt's result,
/// whose alerts the caller records (a first attempt) or `attempt_claimed` decides about.
pub(crate) async fn attempt(
    engine: &Engine,
    pending: Pending,
    auth_token: &str,
    cookies: &mut CookieJar,
) -> NotificationResult {
    attempt_once(engine, pending, auth_token, cookies).await.0
}

/// `attempt` with a fresh cookie jar, each alert of a failed attempt recorded about
/// `resource_sid` of `account_sid` (a failure to record one is logged).
pub(crate) async fn attempt_and_alert(
    engine: &Engine,
    pending: Pending,
    account_sid: &str,
    auth_token: &str,
    resource_sid: Option<&str>,
) {
    let result = attempt(engine, pending, auth_token, &mut CookieJar::default()).await;
    for alert in &result.alerts {
        if let Err(error) = crate::alerts::record(engine, account_sid, resource_sid, alert).await {
            tracing::error!(?error, "recording a callback's alert failed");
        }
    }
}

/// `attempt`, and what became of the delivery.
async fn attempt_once(
    engine: &Engine,
    pending: Pending,
    auth_token: &str,
    cookies: &mut CookieJar,
) -> (NotificationResult, Next) {
    let Pending {
        mut row,
        request,
        channel,
        stored,
    } = pending;
    let result = send_notification(&engine.webhooks, auth_token, cookies, request, channel).await;
    row.attempts += 1;
    let now = now_ms();
    let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
    let next = retry::next(
        result.attempt,
        attempts,
        now,
        row.deadline_ms,
        rand::random(),
    );
    // A retry that got no answer waits for its origin to come back; one the origin answered
    // (a 5xx, a 429) waits out its own delay.
    let origin = switchboard_webhook::breaker::origin_of(&row.url);
    let unreachable = result.event.http_status.is_none();
    if let Some(origin) = &origin {
        match next {
            Next::RetryAt(_) if unreachable => engine.retrying_origins.note(origin),
            // An origin that answered a retry, or that had deliveries waiting for it here, is
            // up: what waits for it need not wait out its backoff.
            Next::Delivered if row.attempts > 1 || engine.retrying_origins.take(origin) => {
                match engine.store.hasten_deliveries(origin, now).await {
                    Ok(0) => {}
                    Ok(hastened) => tracing::info!(
                        %origin,
                        hastened,
                        "an origin answers again: its waiting callbacks are due"
                    ),
                    Err(error) => tracing::warn!(?error, "hastening deliveries failed"),
                }
            }
            Next::RetryAt(_) | Next::Delivered | Next::GiveUp => {}
        }
    }
    metrics::counter!("switchboard_delivery_attempts_total", "outcome" => outcome_name(next))
        .increment(1);
    if stored {
        let (status, next_attempt_ms) = match next {
            Next::Delivered => ("delivered", row.next_attempt_ms),
            Next::RetryAt(at) => ("pending", at),
            Next::GiveUp => ("failed", row.next_attempt_ms),
        };
        let update = DeliveryUpdate {
            sid: row.sid.clone(),
            status: status.to_owned(),
            attempts: row.attempts,
            last_error_code: result.error_code.map(|code| i64::from(code.code)),
            last_attempt_ms: Some(now),
            next_attempt_ms,
            deadline_ms: row.deadline_ms,
            owner: None,
            origin: origin.filter(|_| unreachable),
        };
        if let Err(error) = engine.store.update_delivery(&update).await {
            // The row stays owned by this node: a restart or a takeover releases it, and it is
            // sent again (at least once).
            tracing::error!(?error, delivery = %row.sid, "storing a delivery attempt failed");
        }
    }
    (result, next)
}

/// Sends a delivery this node's worker claimed: the row is rebuilt into its request, its
/// account's current auth token signs it, and a delivery given up after retries is alerted.
async fn attempt_claimed(engine: &Engine, row: Delivery) {
    let account = match account::load(&*engine.store, &row.account_sid).await {
        Ok(account) => account,
        Err(error) => {
            tracing::error!(?error, delivery = %row.sid, "reading a delivery's account failed");
            release(engine, &row).await;
            return;
        }
    };
    let active = match &account {
        Some(account) => account::is_active(&*engine.store, account)
            .await
            .unwrap_or(true),
        None => false,
    };
    // A retry that waited past its deadline because no node was there to send it is still
    // sent once: its attempt's failure then ends it.
    let (Some(account), true) = (account, active) else {
        // Nothing of a removed or suspended account is sent.
        give_up_unsent(engine, &row).await;
        return;
    };
    let Some(request) = request_of(&row) else {
        tracing::error!(delivery = %row.sid, "a stored delivery cannot be read back");
        give_up_unsent(engine, &row).await;
        return;
    };
    let pending = Pending {
        channel: if row.channel == "messaging" {
            Channel::Messaging
        } else {
            Channel::Voice
        },
        row,
        request,
        stored: true,
    };
    let (kind, resource) = (pending.row.kind.clone(), pending.row.resource_sid.clone());
    let mut cookies = CookieJar::default();
    let (result, next) = attempt_once(engine, pending, &account.auth_token, &mut cookies).await;
    let gave_up = next == Next::GiveUp;
    if gave_up && kind != Kind::Debugger.as_str() {
        for alert in &result.alerts {
            if let Err(error) =
                alerts::record(engine, &account.sid, resource.as_deref(), alert).await
            {
                tracing::error!(?error, "recording a delivery's alert failed");
            }
        }
    }
}

/// The request a stored delivery sends: its URL, method, parameters and token as written.
fn request_of(row: &Delivery) -> Option<WebhookRequest> {
    let params: Vec<(String, String)> = serde_json::from_str(&row.params).ok()?;
    let mut request = WebhookRequest::form(row.url.clone(), Method::parse(&row.method)?, params);
    request.idempotency_token = Some(row.idempotency_token.clone());
    Some(request)
}

/// Marks a claimed delivery failed without sending it.
async fn give_up_unsent(engine: &Engine, row: &Delivery) {
    let update = DeliveryUpdate {
        sid: row.sid.clone(),
        status: "failed".to_owned(),
        attempts: row.attempts,
        last_error_code: row.last_error_code,
        last_attempt_ms: row.last_attempt_ms,
        next_attempt_ms: row.next_attempt_ms,
        deadline_ms: row.deadline_ms,
        owner: None,
        origin: row.origin.clone(),
    };
    if let Err(error) = engine.store.update_delivery(&update).await {
        tracing::error!(?error, delivery = %row.sid, "storing a delivery failed");
    }
}

/// Gives a claimed delivery back, unchanged, for a later look.
async fn release(engine: &Engine, row: &Delivery) {
    let update = DeliveryUpdate {
        sid: row.sid.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        last_error_code: row.last_error_code,
        last_attempt_ms: row.last_attempt_ms,
        next_attempt_ms: now_ms().saturating_add(i64::try_from(POLL.as_millis()).unwrap_or(0)),
        deadline_ms: row.deadline_ms,
        owner: None,
        origin: row.origin.clone(),
    };
    if let Err(error) = engine.store.update_delivery(&update).await {
        tracing::error!(?error, delivery = %row.sid, "releasing a delivery failed");
    }
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Voice => "voice",
        Channel::Messaging => "messaging",
    }
}

fn outcome_name(next: Next) -> &'static str {
    match next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retry",
        Next::GiveUp => "failed",
    }
}

impl Engine {
    /// Starts this node's outbox worker: until shutdown, it claims the deliveries that are due
    /// and not owned by a node (retries, and the rows of a node that died or restarted) and
    /// sends them, at most `CONCURRENCY` at once. Run it after `recover`.
    pub fn start_outbox(&self) {
        let engine = self.clone();
        self.spawn(async move {
            let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            loop {
                let free = permits.available_permits();
                let claimed = if free == 0 {
                    Vec::new()
                } else {
                    let limit = i64::try_from(free).unwrap_or(1);
                    match engine
                        .store
                        .claim_deliveries(&engine.node_id, now_ms(), limit)
                        .await
                    {
                        Ok(rows) => rows,
                        Err(error) => {
                            tracing::warn!(?error, "claiming due deliveries failed");
                            Vec::new()
                        }
                    }
                };
                let full = !claimed.is_empty() && claimed.len() == free;
                for row in claimed {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let worker = engine.clone();
                    engine.spawn(async move {
                        attempt_claimed(&worker, row).await;
                        drop(permit);
                    });
                }
                if full {
                    // More may be due: look again as soon as a sender is free.
                    tokio::select! {
                        () = engine.closed() => break,
                        _ = permits.clone().acquire_owned() => {}
                    }
                    continue;
                }
                tokio::select! {
                    () = engine.closed() => break,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }

    /// Queues the delivery `sid` of `account_sid` again (`POST …/Deliveries/{Sid}/Replay`):
    /// one that was delivered or given up is pending and due now, retried for
    /// `--callback-retry-for` from now; a pending one is left as it is. `None` when the
    /// account has no such delivery.
    pub async fn replay_delivery(
        &self,
        account_sid: &str,
        sid: &str,
    ) -> EngineResult<Option<Delivery>> {
        let found = self.store.get_delivery(sid).await?;
        if found.is_none_or(|row| row.account_sid != account_sid) {
            return Ok(None);
        }
        let now = now_ms();
        let deadline = now.saturating_add(self.callback_retry_for_ms);
        self.store.replay_delivery(sid, now, deadline).await?;
        Ok(self.store.get_delivery(sid).await?)
    }

    /// Gives back the pending deliveries a node held: this node's own after it restarted
    /// (`None` on a database with one node: every owned row), or a dead node's after this one
    /// took it over. They are due at once for whichever node claims them.
    pub(crate) async fn release_deliveries(&self, owner: Option<&str>) -> EngineResult<u64> {
        Ok(self.store.release_deliveries(owner).await?)
    }
}
