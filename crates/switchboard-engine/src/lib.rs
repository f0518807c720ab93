//! The engine: what runs calls and messages, owned by one `Engine` value.
//!
//! An `Engine` holds the call driver's and the messaging sessions' shared state (store, webhook
//! client, telephony, the sandbox network, the number directory, the live-call registry) and
//! every task it spawns (a task tracker), so two engines can live in one process and
//! `Engine::shutdown` drains calls and messages alike. The composition root
//! (`switchboard-server`) builds it from its parts and hands it to the HTTP layer, which reaches
//! it only through the methods here; the engine knows no HTTP wire format.
//!
//! - `voice`: one driver task per call leg around the pure `switchboard_flow::Call`.
//! - `messaging`: inbound message sessions around `switchboard_messaging::Session`, outbound
//!   delivery and message status callbacks.
//! - `session`: the one TwiML fetch-and-fail-over path both use.
//! - `last_resort`: what a call runs when both URLs fail (last-known-good, last resort).
//! - `scheduled`: messages sent later (`ScheduleType=fixed`), claimed when due by one node.
//! - `services`: what Messaging Services change about sending and receiving.
//! - `outbox`: status callbacks and debugger webhooks, written before they are sent and
//!   retried by any live node.
//! - `alerts`, `sandbox`, `numbers`, `account`: what both share.

pub mod account;
pub mod alerts;
pub mod caller_ids;
pub mod error;
mod last_resort;
mod membership;
pub mod messaging;
pub mod numbers;
mod outbox;
mod probes;
mod recovery;
pub mod sandbox;
mod scheduled;
pub mod services;
pub mod session;
mod shared_breakers;
pub mod voice;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{Record, Store};
use switchboard_webhook::{FallbackScope, WebhookClient};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use account::Account;
pub use error::{EngineError, EngineResult};
pub use last_resort::Resilience;
pub use membership::{CallOwner, Membership};
pub use recovery::Recovered;
pub use voice::{CallInput, FarEnd, LegEnd, LegStart, StatusCallback};

/// Settings of an engine that are not parts (plain values from the configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base of the absolute URLs the engine hands out (recordings, media), without a trailing
    /// slash.
    pub public_url: String,
    /// What callers hear when neither the URL nor its fallback gave usable TwiML.
    pub error_prompt: String,
    /// Whether fallback URLs apply to every TwiML fetch or only the first.
    pub fallback_scope: FallbackScope,
    /// This node's name (`--node-id`), written on every call and message it starts so that the
    /// work a crash leaves unfinished can be told apart by node.
    pub node_id: String,
    /// Whether this is the only node of its database (SQLite, or PostgreSQL with
    /// `--single-node`): then all unfinished work in it is this node's, whatever node id it
    /// carries.
    pub sole_node: bool,
    /// `--lkg-max-age`: how old a number's last-known-good document may be and still run.
    pub lkg_max_age: Duration,
    /// `--stream-retry-for`: how long a failed-over media stream is reopened for.
    pub stream_retry_for: Duration,
    /// A node whose heartbeat is older than this is dead (`--node-lease`).
    pub node_lease: Duration,
    /// How long a status callback or debugger webhook is retried (`--callback-retry-for`;
    /// zero: Twilio's single attempt).
    pub callback_retry_for: Duration,
    /// `--schedule-min-ahead`: how far ahead a scheduled message's `SendAt` must be at least
    /// (Twilio's 15 minutes by default).
    pub schedule_min_ahead: Duration,
}

/// What an engine is built from: the composition root opens and binds these.
pub struct Parts {
    pub store: Arc<dyn Store>,
    /// Sends every outbound webhook (TwiML fetches, callbacks, debugger events).
    pub webhooks: Arc<WebhookClient>,
    /// Real calls (SIP, RTP, speech); `None` with `--sip off`.
    pub telephony: Option<voice::sip::Telephony>,
    pub settings: Settings,
}

/// One engine. Cloning it is one reference count: every task of the engine holds a clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The engine's state, reached by its own modules through `Deref`.
pub struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) public_url: Box<str>,
    pub(crate) error_prompt: Box<str>,
    pub(crate) fallback_scope: FallbackScope,
    pub(crate) node_id: Box<str>,
    pub(crate) sole_node: bool,
    pub(crate) node_lease: Duration,
    pub(crate) lkg_max_age_ms: u64,
    pub(crate) stream_retry_for: Duration,
    pub(crate) callback_retry_for_ms: i64,
    pub(crate) schedule_min_ahead: Duration,
    /// Origins with status callbacks waiting for a retry (`outbox.rs`).
    pub(crate) retrying_origins: outbox::RetryingOrigins,
    /// The numbers' last-known-good documents (in front of their store rows).
    pub(crate) last_known_good: last_resort::LastKnownGood,
    pub(crate) webhooks: Arc<WebhookClient>,
    pub(crate) telephony: Option<Arc<voice::sip::Telephony>>,
    pub(crate) sandbox: sandbox::Sandbox,
    pub(crate) numbers: numbers::NumberIndex,
    pub(crate) live: voice::live::LiveCalls,
    /// The conferences running on this engine.
    pub(crate) conferences: voice::conference::Conferences,
    /// The call queues of this engine's accounts, with their waiting callers.
    pub(crate) queues: voice::queue::Queues,
    /// `<Record transcribe>`'s bounded pool (`voice::transcription`).
    pub(crate) transcriptions: Arc<voice::transcription::Pool>,
    /// Every alert this engine stores, as stored (with its `seq`), to whoever subscribed
    /// (`subscribe_alerts`): the live alert stream.
    pub(crate) alert_feed: tokio::sync::broadcast::Sender<Arc<Record>>,
    /// Every task the engine spawns, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled when shutdown begins: no new call or message starts after it.
    closing: CancellationToken,
}

impl Deref for Engine {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("public_url", &self.public_url)
            .field("live_calls", &self.live.count())
            .finish()
    }
}

/// What `Engine::shutdown` left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Calls that were running when shutdown began (each was asked to end).
    pub calls: usize,
    /// Whether every call and message task finished within the limit.
    pub complete: bool,
}

impl Engine {
    /// An engine over `parts`. It starts nothing by itself: calls and messages start when the
    /// HTTP layer or `serve_sip` asks.
    pub fn new(parts: Parts) -> Engine {
        let Parts {
            store,
            webhooks,
            telephony,
            settings,
        } = parts;
        Engine {
            inner: Arc::new(Inner {
                store,
                public_url: settings.public_url.trim_end_matches('/').into(),
                error_prompt: settings.error_prompt.into(),
                fallback_scope: settings.fallback_scope,
                node_id: settings.node_id.into(),
                sole_node: settings.sole_node,
                node_lease: settings.node_lease,
                lkg_max_age_ms: u64::try_from(settings.lkg_max_age.as_millis()).unwrap_or(u64::MAX),
                stream_retry_for: settings.stream_retry_for,
                callback_retry_for_ms: i64::try_from(settings.callback_retry_for.as_millis())
                    .unwrap_or(i64::MAX),
                schedule_min_ahead: settings.schedule_min_ahead,
                retrying_origins: outbox::RetryingOrigins::default(),
                last_known_good: last_resort::LastKnownGood::default(),
                webhooks,
                telephony: telephony.map(Arc::new),
                sandbox: sandbox::Sandbox::default(),
                numbers: numbers::NumberIndex::default(),
                live: voice::live::LiveCalls::default(),
                conferences: Default::default(),
                queues: Default::default(),
                transcriptions: Arc::new(voice::transcription::Pool::new(
                    voice::transcription::WORKERS,
                    voice::transcription::BACKLOG,
                )),
                alert_feed: tokio::sync::broadcast::channel(alerts::FEED_CAPACITY).0,
                tasks: TaskTracker::new(),
                closing: CancellationToken::new(),
            }),
        }
    }

    /// The speech recogniser of real calls, when `--asr` is on.
    pub(crate) fn recogniser(&self) -> Option<&switchboard_media::asr::Recogniser> {
        self.telephony.as_ref()?.asr.as_deref()
    }

    /// The store the engine writes calls, messages and alerts to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Base of the absolute URLs the engine hands out.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The virtual phone network: handsets and transcripts.
    pub fn sandbox(&self) -> &sandbox::Sandbox {
        &self.sandbox
    }

    /// The SIP address calls can be placed to, when telephony is on.
    pub fn sip_addr(&self) -> Option<std::net::SocketAddr> {
        self.telephony
            .as_ref()
            .map(|telephony| telephony.endpoint.local_addr())
    }

    /// Alerts stored from now on, each as its stored record (with its `seq`), in the order they
    /// were stored on this engine. A receiver that falls more than `alerts::FEED_CAPACITY`
    /// behind gets `RecvError::Lagged` and re-reads what it missed from the store by `seq`
    /// (`alerts::after`). Alerts stored by other nodes of a shared database are not in it.
    pub fn subscribe_alerts(&self) -> tokio::sync::broadcast::Receiver<Arc<Record>> {
        self.alert_feed.subscribe()
    }

    /// Whether shutdown has begun.
    pub fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// Runs `task` on the runtime as a task of this engine: shutdown waits for it.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Starts a call leg: stores it, opens its transcript and runs its driver.
    pub async fn start_call(
        &self,
        start: LegStart,
    ) -> EngineResult<(Record, tokio::sync::oneshot::Receiver<LegEnd>)> {
        if self.is_closing() {
            return Err(EngineError::ShuttingDown);
        }
        if !account::is_active(&*self.store, &start.account).await? {
            return Err(EngineError::AccountNotActive);
        }
        voice::start_leg(self, start).await
    }

    /// A sandbox caller calls `number` (a provisioned number row); returns the call's SID and
    /// status (`failed` at once when the number's account is not active).
    pub async fn inbound_call(
        &self,
        account: &Account,
        number: &Record,
        call: voice::InboundCall,
    ) -> EngineResult<voice::InboundStarted> {
        if self.is_closing() {
            return Err(EngineError::ShuttingDown);
        }
        voice::inbound(self, account, number, call).await
    }

    /// Who an outbound call of `account_sid` to `to` reaches: a SIP URI (or a number through
    /// the SIP gateway) gets a real INVITE, other numbers that account's sandbox handset.
    /// `None`: `to` is a SIP address and SIP is off.
    pub fn far_end(
        &self,
        account_sid: &str,
        to: &str,
        sip_auth: Option<(String, String)>,
        ring_timeout_s: u32,
    ) -> Option<FarEnd> {
        match self
            .telephony
            .as_ref()
            .and_then(|telephony| telephony.route(to))
        {
            Some(uri) => Some(FarEnd::Sip {
                uri,
                auth: sip_auth,
                ring_timeout_s,
            }),
            None if to.starts_with("sip:") => None,
            None => Some(FarEnd::Handset {
                handset: self.sandbox.handset(account_sid, to),
                ring_timeout_s,
            }),
        }
    }

    /// Audio a sandbox caller plays into a call, fetched from `url` (signed with
    /// `auth_token`) and decoded like `<Play>` audio: WAV (PCM, µ-law, A-law) or MP3.
    pub async fn fetch_caller_audio(
        &self,
        url: &str,
        auth_token: &str,
    ) -> Result<voice::recording::Clip, voice::CallerAudioError> {
        voice::recording::fetch_caller_audio(self, url, auth_token).await
    }

    /// Delivers `input` to the live call `sid`; `false` when it does not run here.
    pub fn send_input(&self, sid: &str, input: CallInput) -> bool {
        self.live.send(sid, input)
    }

    /// Whether the call `sid` runs on this engine.
    pub fn is_live(&self, sid: &str) -> bool {
        self.live.is_live(sid)
    }

    /// A node whose heartbeat is older than this is dead (`--node-lease`).
    pub fn node_lease(&self) -> Duration {
        self.node_lease
    }

    /// Every row of `kind` across every account matching `filters`, read in pages of `page`
    /// rows (engine-internal scans: recovery, probes).
    pub(crate) async fn scan(
        &self,
        kind: switchboard_store::Kind,
        filters: Vec<switchboard_store::Filter>,
        page: i64,
    ) -> EngineResult<Vec<Record>> {
        let mut query = switchboard_store::ListQuery::new(kind, "");
        query.account_sid = None;
        query.filters = filters;
        query.limit = page;
        let mut rows = Vec::new();
        loop {
            let found = self.store.list(&query).await?;
            let full = found.len() as i64 == page;
            query.after_seq = found.last().map(|record| record.seq);
            rows.extend(found);
            if !full {
                return Ok(rows);
            }
        }
    }

    /// Whether this is the only node of its database (SQLite, or PostgreSQL with
    /// `--single-node`): no call runs anywhere else.
    pub fn is_sole_node(&self) -> bool {
        self.sole_node
    }

    /// This node's name (`--node-id`).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// How many calls run on this engine.
    pub fn live_calls(&self) -> usize {
        self.live.count()
    }

    /// The number provisioned as `number` (E.164 or a SIP user part), if any.
    pub async fn find_number(&self, number: &str) -> EngineResult<Option<Record>> {
        numbers::find(self, number).await
    }

    /// Where a number's (or an application's) calls go.
    pub async fn voice_handler(
        &self,
        settings: &serde_json::Value,
    ) -> EngineResult<voice::VoiceHandler> {
        voice::number_handler(self, settings).await
    }

    /// Sends an outbound message (REST `Messages.json` or a TwiML reply): stores it `queued`
    /// and delivers it on a task of the engine; returns its document.
    pub async fn send_message(
        &self,
        account: &Account,
        outbound: messaging::Outbound,
    ) -> EngineResult<serde_json::Map<String, serde_json::Value>> {
        if self.is_closing() {
            return Err(EngineError::ShuttingDown);
        }
        messaging::send(self, account, outbound).await
    }

    /// Stores an outbound message to be sent at `send_at_ms` (status `scheduled`); the
    /// scheduler of whichever node claims it when due sends it. Returns its document.
    pub async fn schedule_message(
        &self,
        account: &Account,
        outbound: messaging::Outbound,
        send_at_ms: i64,
    ) -> EngineResult<serde_json::Map<String, serde_json::Value>> {
        if self.is_closing() {
            return Err(EngineError::ShuttingDown);
        }
        scheduled::schedule(self, account, outbound, send_at_ms).await
    }

    /// Cancels a scheduled message (its stored row): its row as `canceled`, or `None` when it
    /// is not waiting to be sent any more.
    pub async fn cancel_message(
        &self,
        account: &Account,
        record: Record,
    ) -> EngineResult<Option<Record>> {
        scheduled::cancel(self, account, record).await
    }

    /// How far ahead a scheduled message's `SendAt` must be at least (`--schedule-min-ahead`).
    pub fn schedule_min_ahead(&self) -> Duration {
        self.schedule_min_ahead
    }

    /// A message arrives from the sandbox network for `number`; returns its SID and status.
    pub async fn receive_message(
        &self,
        account: &Account,
        number: &Record,
        inbound: messaging::Inbound,
    ) -> EngineResult<messaging::Received> {
        if self.is_closing() {
            return Err(EngineError::ShuttingDown);
        }
        messaging::receive(self, account, number, inbound).await
    }

    /// Accepts the INVITEs the SIP endpoint hands over, until shutdown.
    pub fn serve_sip(
        &self,
        incoming: tokio::sync::mpsc::Receiver<switchboard_sip_ua::IncomingCall>,
    ) {
        voice::sip::serve_incoming(self.clone(), incoming);
    }

    /// Stops starting calls and messages, asks every running call to end (answered calls hang
    /// up, others are canceled), and waits up to `limit` for every task of the engine (calls,
    /// message sessions and deliveries, callbacks, alert pushes) to finish; then closes SIP.
    pub async fn shutdown(&self, limit: Duration) -> Drained {
        self.closing.cancel();
        if let Some(telephony) = &self.telephony {
            telephony.endpoint.drain();
        }
        let calls = self.live.end_all();
        self.tasks.close();
        let complete = tokio::time::timeout(limit, self.tasks.wait()).await.is_ok();
        if let Some(telephony) = &self.telephony {
            telephony.endpoint.shutdown().await;
        }
        Drained { calls, complete }
    }

    /// Resolves when shutdown begins.
    pub(crate) async fn closed(&self) {
        self.closing.cancelled().await;
    }

    /// Resolves when shutdown begins: what waits on the engine for a client (a long-poll)
    /// answers then with what it has.
    pub async fn closing(&self) {
        self.closed().await;
    }

    /// Resolves when shutdown has begun and no call is left running: what relays events into
    /// calls can stop then.
    pub(crate) async fn drained(&self) {
        self.closed().await;
        self.live.wait_idle().await;
    }
}

/// Milliseconds since the Unix epoch, the engine's timestamp unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
