//! Persistence for every REST resource: one `Store` trait, a SQLite and a PostgreSQL backend.
//!
//! Design: resources are stored as JSON documents (the API's own representation) in one table,
//! next to the handful of columns that need an index: SID, kind, owner account, parent resource,
//! a uniqueness key (a provisioned phone number), creation order and five filter columns.
//! This was chosen over one typed table per resource because the API owns the resource shapes
//! (dozens of Twilio fields each), both backends then share every SQL statement, and a new
//! resource needs no migration. Filters that are not indexed run in the API over a page.
//!
//! Durability: a write returns only after its transaction committed (SQLite in WAL mode with
//! `synchronous=FULL`, concurrent writes sharing one commit; PostgreSQL's default commit), so a
//! 201 means the row survives a crash.
//!
//! Reads by SID go through a read cache of shared rows (`cache.rs`) on both backends; see there
//! and `postgres.rs` for how it stays behind no committed write.

mod backend;
mod breakers;
mod cache;
mod nodes;
mod outbox;
mod postgres;
mod record;
mod schedule;
mod sqlite;
mod text;

use std::sync::Arc;

pub use breakers::BreakerRow;
pub use nodes::{NodeBeat, NodeRow};
pub use outbox::{Delivery, DeliveryQuery, DeliveryUpdate};
pub use record::{Column, Filter, Kind, ListQuery, Order, Record};
pub use schedule::ScheduledSend;
pub use text::{INDEXED_TEXT_MAX_BYTES, LIKE_PATTERN_MAX_BYTES};

/// What can go wrong in the store. Not finding a row is an answer (`Ok(None)`), not an error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness key (such as a phone number) or SID is already taken.
    #[error("conflict: {0} already exists")]
    Conflict(String),
    /// The database URL names no backend this engine has.
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A text of the record cannot be stored on every backend alike (`text.rs`): it holds a NUL
    /// character (U+0000), which PostgreSQL cannot store, or an indexed column is longer than
    /// PostgreSQL's index rows allow. `place` names the column or document path.
    #[error("{place} {problem}")]
    Unstorable {
        place: String,
        problem: &'static str,
    },
    /// A `LIKE` filter's pattern is longer than `LIKE_PATTERN_MAX_BYTES` (SQLite refuses
    /// patterns past 50,000 bytes, PostgreSQL does not; both refuse past this, alike).
    #[error("a LIKE filter longer than {LIKE_PATTERN_MAX_BYTES} bytes")]
    FilterTooLong,
    /// The store was closed (the engine is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The database is in use in a way this opening excludes (`Access`).
    #[error("{0}")]
    InUse(&'static str),
}

/// The persistence contract every backend fulfils identically (the store test suite runs the
/// same cases against each).
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Inserts a new resource and returns the `seq` the database gave it; `Conflict` when its
    /// SID or uniqueness key is taken, `Unstorable` when a text holds a NUL.
    async fn insert(&self, record: &Record) -> Result<i64, StoreError>;
    /// The resource of `kind` with `sid`, if any, as a copy of its own.
    ///
    /// Callers are moving to `get_shared`, which does not copy a row read from the cache; this
    /// method will then go.
    async fn get(&self, kind: Kind, sid: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.get_shared(kind, sid).await?.map(Arc::unwrap_or_clone))
    }
    /// The resource of `kind` with `sid`, if any, shared with the read cache: a cached row costs
    /// a reference-count increment, not a copy of its document.
    async fn get_shared(&self, kind: Kind, sid: &str) -> Result<Option<Arc<Record>>, StoreError>;
    /// Replaces a resource's columns and document; `false` when it does not exist,
    /// `Unstorable` when a text holds a NUL.
    async fn update(&self, record: &Record) -> Result<bool, StoreError>;
    /// Deletes a resource; `false` when it did not exist.
    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError>;
    /// One page of resources matching `query`, in its order.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError>;
    /// Closes the connections (waits for in-flight statements).
    async fn close(&self);
    /// Whether only one engine can use this database at a time (an embedded SQLite file), so
    /// everything in it is that engine's; a PostgreSQL database may be shared by several nodes.
    fn is_single_node(&self) -> bool;
    /// Registers this node (`register`: a new start) or renews its heartbeat (`nodes.rs`).
    async fn node_heartbeat(&self, beat: &NodeBeat, register: bool) -> Result<(), StoreError>;
    /// Every node with its status under `lease_ms`, by the database's clock.
    async fn nodes(&self, lease_ms: i64) -> Result<Vec<NodeRow>, StoreError>;
    /// Claims the dead node `dead` for `by` (true for exactly one caller).
    async fn claim_node(&self, dead: &str, by: &str, lease_ms: i64) -> Result<bool, StoreError>;
    /// Writes the new state of `origin`'s circuit breaker for the other nodes: open for
    /// `(remaining_ms, last_error_code)`, or closed (`None`); `by` is this node.
    async fn store_breaker(
        &self,
        origin: &str,
        open: Option<(i64, i64)>,
        by: &str,
    ) -> Result<(), StoreError>;
    /// The breakers changed at or after `since_ms`, and the database's clock now.
    async fn breakers_since(&self, since_ms: i64) -> Result<(Vec<BreakerRow>, i64), StoreError>;
    /// Writes a new delivery to the outbox (`outbox.rs`); its `seq`. Returns once committed.
    async fn insert_delivery(&self, delivery: &Delivery) -> Result<i64, StoreError>;
    /// Stores what an attempt or a replay left; `false` when no such delivery exists.
    async fn update_delivery(&self, update: &DeliveryUpdate) -> Result<bool, StoreError>;
    /// Claims for `owner` up to `limit` unowned pending deliveries due by `now_ms`.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Releases the pending deliveries `owner` held (every owned one when `None`); how many.
    async fn release_deliveries(&self, owner: Option<&str>) -> Result<u64, StoreError>;
    async fn get_delivery(&self, sid: &str) -> Result<Option<Delivery>, StoreError>;
    /// Makes every unowned pending delivery to `origin` due at `now_ms`; how many.
    async fn hasten_deliveries(&self, origin: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// Queues a delivered or failed delivery again, due at `now_ms` until `deadline_ms`;
    /// `false` when it does not exist or is still pending.
    async fn replay_delivery(
        &self,
        sid: &str,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Result<bool, StoreError>;
    /// One page of an account's deliveries, newest first.
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;
    /// Writes the row of a message scheduled for later (`schedule.rs`). Returns once committed.
    async fn insert_scheduled(&self, row: &ScheduledSend) -> Result<(), StoreError>;
    /// Removes the row of `sid` if `owner` holds it (unowned when `None`): `false` when there
    /// is no such row, or someone else holds it.
    async fn remove_scheduled(&self, sid: &str, owner: Option<&str>) -> Result<bool, StoreError>;
    /// Claims for `owner` up to `limit` unowned scheduled messages due by `now_ms`.
    async fn claim_scheduled(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<ScheduledSend>, StoreError>;
    /// Releases the scheduled messages `owner` held (every held one when `None`); how many.
    async fn release_scheduled(&self, owner: Option<&str>) -> Result<u64, StoreError>;
    /// When the earliest unowned scheduled message is due, if any waits.
    async fn next_scheduled_ms(&self) -> Result<Option<i64>, StoreError>;
}

/// How an engine node uses a PostgreSQL database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// One of any number of nodes: reads by SID served from the cache pass the cross-node
    /// barrier (`postgres.rs`).
    Shared,
    /// The only node (`--single-node`): rows are cached as on SQLite, with no barrier, which is
    /// only correct while no other engine writes the database. PostgreSQL enforces it: a node
    /// holds an advisory lock for as long as it runs, shared by `Shared` nodes, exclusive here,
    /// so neither opening succeeds while the other kind holds the database.
    Exclusive,
}

/// Opens the database of an engine node: on PostgreSQL with `access` enforced for as long as
/// the store is open (an embedded SQLite file is one node's by nature).
pub async fn open_node(url: &str, access: Access) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open_node(url, access).await?));
    }
    open(url).await
}

/// Opens the backend a URL names (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`) and
/// applies its migrations; on PostgreSQL as a tool or a test does, taking no node lock.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::open(url, postgres::ReadCache::Cluster).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
