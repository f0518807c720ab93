//! Call status callbacks (§3.3): `initiated`, `ringing`, `answered`, `completed` to the
//! subscribed URL, with `SequenceNumber`, `Timestamp`, `CallbackSource` and `CallDuration`.
//!
//! Each callback is written to the outbox (`crate::outbox`) by the driver before the status
//! it reports is stored, so a crash cannot lose it. Its first attempt is posted by a small task
//! of the leg's own, one after another, so they arrive in `SequenceNumber` order and a slow
//! receiver never delays the call. The driver waits for that queue to drain before it declares
//! the call over, so "the call completed" implies "its callbacks were attempted (and alerted
//! when they failed)"; one that failed on the way is retried by the outbox from then on. A
//! failure is an ERROR alert (Decision 21).

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_core::date;
use switchboard_flow::CallStatus;
use switchboard_webhook::{Channel, CookieJar, Endpoint, Method, WebhookRequest};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::{self, Pending};
use crate::sandbox::Log;
use crate::{Engine, alerts, now_ms};

/// Where and for which events a leg's status callbacks go.
#[derive(Clone, Debug)]
pub struct StatusCallback {
    pub endpoint: Endpoint,
    /// `initiated`, `ringing`, `answered`, `completed`.
    pub events: Vec<String>,
}

impl StatusCallback {
    /// A callback for `events` (only `completed` when none are given, as Twilio defaults).
    pub fn new(url: String, method: Method, events: Vec<String>) -> StatusCallback {
        let events = if events.is_empty() {
            vec!["completed".to_owned()]
        } else {
            events
        };
        StatusCallback {
            endpoint: Endpoint::new(url, method),
            events,
        }
    }

    /// As kept in a call's record (`engine_status_callback`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "url": self.endpoint.url,
            "method": self.endpoint.method.as_str(),
            "events": self.events,
        })
    }

    /// Read back from a call's record; `None` for anything else.
    pub(crate) fn from_json(value: &Value) -> Option<StatusCallback> {
        let url = value.get("url")?.as_str()?;
        let method = Method::parse(value.get("method")?.as_str()?)?;
        let events = value
            .get("events")?
            .as_array()?
            .iter()
            .filter_map(|event| event.as_str().map(str::to_owned))
            .collect();
        Some(StatusCallback::new(url.to_owned(), method, events))
    }

    /// The callback request for `status` (the leg's `sequence`th), when its event is subscribed.
    pub(crate) fn request(
        &self,
        status: CallStatus,
        mut params: Vec<(String, String)>,
        sequence: u32,
    ) -> Option<WebhookRequest> {
        let event = status.callback_event()?;
        if !self.events.iter().any(|wanted| wanted == event) {
            return None;
        }
        params.push(("CallbackSource".into(), "call-progress-events".into()));
        params.push(("SequenceNumber".into(), sequence.to_string()));
        params.push(("Timestamp".into(), date::rfc2822(now_ms())));
        Some(WebhookRequest::form(
            self.endpoint.url.clone(),
            self.endpoint.method,
            params,
        ))
    }
}

/// A leg's callback sender.
pub(crate) struct CallbackQueue {
    callback: Option<StatusCallback>,
    sequence: u32,
    sender: Option<mpsc::UnboundedSender<Pending>>,
    task: Option<JoinHandle<()>>,
}

/// Whom the alerts of failed callbacks are about.
#[derive(Clone)]
pub(crate) struct AlertTarget {
    pub state: Engine,
    pub account_sid: String,
    pub auth_token: String,
    pub call_sid: String,
    pub log: Arc<Log>,
}

impl CallbackQueue {
    pub(crate) fn new(callback: Option<StatusCallback>) -> CallbackQueue {
        CallbackQueue {
            callback,
            sequence: 0,
            sender: None,
            task: None,
        }
    }

    /// Writes the callback for `status` to the outbox if its event is subscribed, and queues
    /// its first attempt.
    pub(crate) async fn status_changed(
        &mut self,
        target: &AlertTarget,
        status: CallStatus,
        params: Vec<(String, String)>,
    ) {
        let Some(callback) = &self.callback else {
            return;
        };
        let Some(request) = callback.request(status, params, self.sequence) else {
            return;
        };
        self.sequence += 1;
        let pending = enqueue(target, request).await;
        self.queue(target, pending);
    }

    /// Writes a recording status callback to the outbox and queues its first attempt after
    /// the call's callbacks written before it.
    pub(crate) async fn push_recording(&mut self, target: &AlertTarget, request: WebhookRequest) {
        let pending = enqueue_recording(target, request).await;
        self.queue(target, pending);
    }

    /// Queues a written callback's first attempt on the leg's sender task.
    fn queue(&mut self, target: &AlertTarget, pending: Pending) {
        let sender = self.sender.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            self.task = Some(target.state.spawn(deliver(
                receiver,
                AlertTarget {
                    state: target.state.clone(),
                    account_sid: target.account_sid.clone(),
                    auth_token: target.auth_token.clone(),
                    call_sid: target.call_sid.clone(),
                    log: target.log.clone(),
                },
            )));
            sender
        });
        // The receiving task only ends after the sender is dropped (in `drain`).
        let _ = sender.send(pending);
    }

    /// Sends the callbacks still to come to `endpoint` (a REST update's `StatusCallback`): the
    /// subscribed events stay, and a call that had no callback gets `completed`'s.
    pub(crate) fn redirect(&mut self, endpoint: Endpoint) -> &StatusCallback {
        let events = self
            .callback
            .take()
            .map(|callback| callback.events)
            .unwrap_or_default();
        self.callback
            .insert(StatusCallback::new(endpoint.url, endpoint.method, events))
    }

    /// Waits until every queued callback was sent.
    pub(crate) async fn drain(&mut self) {
        self.sender = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn deliver(mut requests: mpsc::UnboundedReceiver<Pending>, target: AlertTarget) {
    let mut cookies = CookieJar::default();
    while let Some(pending) = requests.recv().await {
        send(&target, &mut cookies, pending).await;
    }
}

/// Writes a status callback about the call to the outbox.
pub(crate) async fn enqueue(target: &AlertTarget, request: WebhookRequest) -> Pending {
    outbox::enqueue(
        &target.state,
        &target.account_sid,
        Some(&target.call_sid),
        outbox::Kind::CallStatus,
        Channel::Voice,
        request,
    )
    .await
}

/// Writes a recording status callback about the call to the outbox.
pub(crate) async fn enqueue_recording(target: &AlertTarget, request: WebhookRequest) -> Pending {
    outbox::enqueue(
        &target.state,
        &target.account_sid,
        Some(&target.call_sid),
        outbox::Kind::RecordingStatus,
        Channel::Voice,
        request,
    )
    .await
}

/// Posts a written status callback once; a failure is an alert about the call, shown in its
/// transcript (the outbox retries it from then on).
pub(crate) async fn send(target: &AlertTarget, cookies: &mut CookieJar, pending: Pending) {
    let result = outbox::attempt(&target.state, pending, &target.auth_token, cookies).await;
    for alert in &result.alerts {
        match alerts::record(
            &target.state,
            &target.account_sid,
            Some(&target.call_sid),
            alert,
        )
        .await
        {
            Ok(sid) => target.log.push(
                "alert",
                json!({"sid": sid, "error_code": alert.error_code, "level": alert.level.monitor_name()}),
            ),
            Err(error) => tracing::error!(?error, "recording a status-callback alert failed"),
        }
    }
}
