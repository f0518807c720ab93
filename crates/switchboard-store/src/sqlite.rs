//! The embedded default backend: SQLite in WAL mode, migrations applied at open.
//!
//! Writes go through one writer task that commits them in groups: whatever writes are waiting
//! when a commit starts share its transaction and its fsync (`synchronous=FULL`), and each caller
//! is answered only after that commit. One fsync per batch instead of one per write is what lets
//! concurrent creates scale while a 201 still means the row is on disk. A statement that fails
//! inside a batch (a taken phone number) fails alone: SQLite rolls back that statement, not the
//! transaction. Reads use a small pool of their own connections (WAL readers never block the
//! writer), behind the read cache of `cache.rs`, which the writer task keeps up to date as each
//! batch commits.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::backend::Write;
use crate::cache::{Answer, Entries, lock};
use crate::{Kind, ListQuery, Record, StoreError};

crate::backend::sql_functions!(sqlx::Sqlite);
// SQLite has one writer at a time: a claim needs no row lock to be exclusive.
crate::outbox::outbox_functions!(sqlx::Sqlite, "");
crate::schedule::schedule_functions!(sqlx::Sqlite, "");

/// Writes that may share one transaction.
const MAX_BATCH: usize = 256;

type Queue = mpsc::Sender<(Write, oneshot::Sender<Answer>)>;

/// The SQLite backend.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    readers: SqlitePool,
    writes: Mutex<Option<Queue>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    cache: Arc<Mutex<Entries>>,
    /// Reads that went to the database (the cache's tests count them).
    #[cfg(test)]
    pub(crate) database_reads: std::sync::atomic::AtomicUsize,
}

impl SqliteStore {
    pub(crate) async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // An in-memory database exists per connection, so readers and writer must share one.
        if in_memory {
            return Err(StoreError::UnsupportedUrl(format!(
                "{url} (in-memory SQLite; use a file)"
            )));
        }
        let mut connection = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut connection)
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let cache = Arc::new(Mutex::new(Entries::default()));
        let writer = tokio::spawn(write_batches(connection, receiver, cache.clone()));
        Ok(SqliteStore {
            readers,
            writes: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            cache,
            #[cfg(test)]
            database_reads: Default::default(),
        })
    }

    #[cfg(test)]
    pub(crate) fn cache_for_tests(&self) -> &Mutex<Entries> {
        &self.cache
    }

    async fn write(&self, write: Write) -> Answer {
        let sender = self
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(sender) = sender else {
            return Err(StoreError::Closed);
        };
        let (answer, answered) = oneshot::channel();
        sender
            .send((write, answer))
            .await
            .map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

/// The writer task: takes every waiting write, runs them in one transaction, commits, brings
/// the read cache up to date, answers.
async fn write_batches(
    mut connection: SqliteConnection,
    mut receiver: mpsc::Receiver<(Write, oneshot::Sender<Answer>)>,
    cache: Arc<Mutex<Entries>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let answers = run_batch(&mut connection, &mut batch).await;
        {
            let mut cache = lock(&cache);
            cache.begin_batch();
            for ((write, reply), answer) in batch.drain(..).zip(answers) {
                cache.committed(write, &answer);
                replies.push((reply, answer));
            }
        }
        for (reply, answer) in replies.drain(..) {
            reply.send(answer).ok();
        }
    }
    connection.close().await.ok();
}

async fn run_batch(
    connection: &mut SqliteConnection,
    batch: &mut [(Write, oneshot::Sender<Answer>)],
) -> Vec<Answer> {
    let mut transaction = match connection.begin().await {
        Ok(transaction) => transaction,
        Err(error) => {
            return batch
                .iter()
                .map(|_| Err(StoreError::Database(clone_error(&error))))
                .collect();
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for (write, _) in batch.iter() {
        answers.push(write_with(&mut *transaction, write).await);
    }
    match transaction.commit().await {
        Ok(()) => answers,
        Err(error) => answers
            .into_iter()
            .map(|_| Err(StoreError::Database(clone_error(&error))))
            .collect(),
    }
}

/// A failed begin or commit fails every write of the batch; each caller gets its own copy.
fn clone_error(error: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("batch commit failed: {error}"))
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    async fn insert(&self, record: &Record) -> Result<i64, StoreError> {
        crate::text::check_record(record)?;
        self.write(Write::Insert(record.clone())).await
    }

    async fn get_shared(&self, kind: Kind, sid: &str) -> Result<Option<Arc<Record>>, StoreError> {
        if !crate::text::is_storable(sid) {
            return Ok(None);
        }
        let read = async {
            #[cfg(test)]
            self.database_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            get_with(&self.readers, kind, sid).await
        };
        crate::cache::read_through(&self.cache, kind, sid, read).await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        crate::text::check_record(record)?;
        self.write(Write::Update(record.clone()))
            .await
            .map(|n| n > 0)
    }

    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
        if !crate::text::is_storable(sid) {
            return Ok(false);
        }
        self.write(Write::Delete(kind, sid.to_owned()))
            .await
            .map(|n| n > 0)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        crate::text::check_query(query)?;
        if !crate::text::query_can_match(query) {
            return Ok(Vec::new());
        }
        list_with(&self.readers, query).await
    }

    async fn node_heartbeat(
        &self,
        beat: &crate::NodeBeat,
        register: bool,
    ) -> Result<(), StoreError> {
        membership::node_heartbeat(&self.readers, beat, register).await
    }

    async fn nodes(&self, lease_ms: i64) -> Result<Vec<crate::NodeRow>, StoreError> {
        membership::nodes(&self.readers, lease_ms).await
    }

    async fn claim_node(&self, dead: &str, by: &str, lease_ms: i64) -> Result<bool, StoreError> {
        membership::claim_node(&self.readers, dead, by, lease_ms).await
    }

    async fn store_breaker(
        &self,
        origin: &str,
        open: Option<(i64, i64)>,
        by: &str,
    ) -> Result<(), StoreError> {
        shared_breakers::store_breaker(&self.readers, origin, open, by).await
    }

    async fn breakers_since(
        &self,
        since_ms: i64,
    ) -> Result<(Vec<crate::BreakerRow>, i64), StoreError> {
        shared_breakers::breakers_since(&self.readers, since_ms).await
    }

    async fn insert_delivery(&self, delivery: &crate::Delivery) -> Result<i64, StoreError> {
        let write = crate::outbox::DeliveryWrite::Insert(Box::new(delivery.clone()));
        self.write(Write::Delivery(write)).await
    }

    async fn update_delivery(&self, update: &crate::DeliveryUpdate) -> Result<bool, StoreError> {
        let write = crate::outbox::DeliveryWrite::Update(Box::new(update.clone()));
        self.write(Write::Delivery(write)).await.map(|n| n > 0)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::Delivery>, StoreError> {
        claim_deliveries(&self.readers, owner, now_ms, limit).await
    }

    async fn release_deliveries(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        release_deliveries(&self.readers, owner).await
    }

    async fn replay_delivery(
        &self,
        sid: &str,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Result<bool, StoreError> {
        replay_delivery(&self.readers, sid, now_ms, deadline_ms).await
    }

    async fn hasten_deliveries(&self, origin: &str, now_ms: i64) -> Result<u64, StoreError> {
        hasten_deliveries(&self.readers, origin, now_ms).await
    }

    async fn get_delivery(&self, sid: &str) -> Result<Option<crate::Delivery>, StoreError> {
        get_delivery(&self.readers, sid).await
    }

    async fn list_deliveries(
        &self,
        query: &crate::DeliveryQuery,
    ) -> Result<Vec<crate::Delivery>, StoreError> {
        list_deliveries(&self.readers, query).await
    }

    async fn insert_scheduled(&self, row: &crate::ScheduledSend) -> Result<(), StoreError> {
        let write = crate::schedule::ScheduleWrite::Insert(row.clone());
        self.write(Write::Schedule(write)).await.map(|_| ())
    }

    async fn remove_scheduled(&self, sid: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        let write = crate::schedule::ScheduleWrite::Remove {
            sid: sid.to_owned(),
            owner: owner.map(str::to_owned),
        };
        self.write(Write::Schedule(write)).await.map(|n| n > 0)
    }

    async fn claim_scheduled(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::ScheduledSend>, StoreError> {
        claim_scheduled(&self.readers, owner, now_ms, limit).await
    }

    async fn release_scheduled(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        release_scheduled(&self.readers, owner).await
    }

    async fn next_scheduled_ms(&self) -> Result<Option<i64>, StoreError> {
        next_scheduled_ms(&self.readers).await
    }

    fn is_single_node(&self) -> bool {
        // An embedded file: one engine at a time.
        true
    }

    async fn close(&self) {
        // Dropping the sender lets the writer finish what is queued, then it closes its connection.
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer {
            writer.await.ok();
        }
        self.readers.close().await;
    }
}

/// Node membership's statements with this backend's clock (`nodes.rs`).
mod membership {
    crate::nodes::node_functions!(
        sqlx::SqlitePool,
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    );
}

/// Shared circuit breakers' statements with this backend's clock (`breakers.rs`).
mod shared_breakers {
    crate::breakers::breaker_functions!(
        sqlx::SqlitePool,
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    );
}
