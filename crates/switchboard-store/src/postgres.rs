//! The PostgreSQL backend, migrations applied at open. Reads run on the pool; writes commit in
//! groups, whatever writes are waiting sharing one transaction (`postgres/writer.rs`), as on
//! SQLite; PostgreSQL's own commit is durable.
//!
//! Read cache, correct with several nodes on one database (`ReadCache::Cluster`, what `open`
//! and a node opened with `Access::Shared` choose). `ReadCache::SingleNode` is the cache alone,
//! only correct while this process is the database's only writer: a node opened with
//! `Access::Exclusive` (`--single-node`), which PostgreSQL holds to that with an advisory lock
//! (`open_node`). `ReadCache::Off` remains for the cache's tests and measurements.
//!
//! Guarantee: a write that committed and was acknowledged (by any node) before a read by SID
//! begins on any node is seen by that read. How (`postgres/listener.rs`):
//! - Migration 0005's trigger notifies `switchboard_rows` with the SID of every updated or
//!   deleted row, in the writing transaction: only committed writes are announced, by every
//!   writer. Inserts are not: a SID is unique, so no node can hold a copy of a row not yet
//!   inserted (a delete before a re-insert was announced, and committed first).
//! - Each store listens on a connection of its own and drops each notified SID, advancing the
//!   cache's generation, so a read that raced the notification does not keep its row.
//! - The window: after another node's commit and before this node hears of it, the cached row
//!   is stale. So a hit is served only after a barrier: the store sends a token to a channel of
//!   its own from a pool connection and waits for it on the listening connection. PostgreSQL
//!   delivers notifications in commit order (a listener reads the queue in order and stops at an
//!   entry whose transaction has not ended), and a write acknowledged before the read began
//!   committed before the token was sent, so its notification was applied before the token
//!   arrived. After the barrier, any row still cached (or cached later by a read whose
//!   generation predates a notification) is at least as new as that write.
//! - A miss reads the database (which sees every committed write) and does not look at the
//!   cache again: a row another read put there meanwhile may predate a write not yet heard of.
//! - This node's own writes drop their row instead of storing it: another node's write of the
//!   SID may commit after it and be heard before this write's task applies its answer.
//! - A broken listening connection (or a token late by 2 s, which may mean a dead one) can have
//!   lost notifications: every row is dropped, nothing is cached until a new connection listens,
//!   then every row is dropped again and the generation advanced (a read that began before the
//!   new `LISTEN` may hold an old row). Barriers of the old connection give up, and their reads
//!   go to the database.
//!
//! Cost: a miss is one database read, as without a cache. A hit is a barrier: one `SELECT
//! pg_notify` round trip plus the delivery back, shared by every read waiting at once (a read
//! arriving while a token is on its way waits for the next one), so under load there are far
//! fewer barriers than hits; it saves the row's transfer and JSON parse, not the round trip. An
//! update or delete also queues one notification at commit (PostgreSQL serialises committing
//! notifiers on one lock). Own writes no longer fill the cache, so a row is cached by its
//! second read. Measured on this 2-core machine, local PostgreSQL, one row read by SID: a
//! database read 323 µs sequential, 177 µs per read with 16 concurrent readers; a cluster hit
//! 529 µs sequential (the barrier is dearer than a read when alone), 54 µs per read with 16
//! concurrent readers (shared barriers); a single-node hit under 1 µs.
//!
//! How the cache never serves a row a committed write replaced. SQLite has one writer task that
//! applies each committed batch in commit order; here writes run concurrently on a pool, so:
//! - Each write runs in a task of its own, which applies the database's answer to the cache and
//!   only then answers its caller. A caller that stops waiting (its HTTP request was dropped, a
//!   `select!` took another branch) does not stop the write: it runs to its end and updates the
//!   cache, as on SQLite. This was chosen over applying the change in the caller's future with a
//!   guard that drops the row if that future is dropped: a statement whose future is dropped can
//!   still commit afterwards (sqlx sends what the dropped future left in the connection's
//!   buffer when the connection is next used, and PostgreSQL finishes a statement it received
//!   whatever the client does), so a read between the guard and that late commit would cache
//!   the old row for good (with such a guard, `a_cancelled_write_still_reaches_the_cache_once_
//!   committed` saw the cache keep the old row in 2 of 6 runs). The task costs a spawn and one
//!   copy of an inserted or updated row, which the cache then keeps, wrapped once in an `Arc`.
//! - Commit order: the write marks its SID in the cache for as long as it runs
//!   (`Entries::begin_write`). A write that overlapped another write of the same SID cannot know
//!   which committed last and drops the row rather than storing its own; a read that raced a
//!   write is not cached (the generation check of `cache.rs`).
//! - Unknown outcomes: a write that ended on anything but an answer from the server (a broken
//!   connection) or a pool that never gave it a connection, or whose task was dropped (the
//!   runtime shutting down), may still commit later: its SID is dropped and stays marked for
//!   good (`Entries::abandon_write`).
//!
//! `close` refuses new writes, waits for the running ones (those of cancelled callers too), then
//! closes the pool.

mod listener;
mod writer;

use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

use listener::Listener;
use writer::Writer;

use crate::backend::Write;
use crate::cache::{Answer, Entries, lock};
use crate::{Kind, ListQuery, Record, StoreError};

crate::backend::sql_functions!(sqlx::Postgres);
crate::outbox::outbox_functions!(sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
crate::schedule::schedule_functions!(sqlx::Postgres, "FOR UPDATE SKIP LOCKED");

/// Whether reads by SID are served from this process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadCache {
    /// Only correct while this node is the only one writing the database.
    SingleNode,
    /// Correct with any number of nodes: other nodes' writes are heard (`listener.rs`), and a
    /// cached row is served only after a barrier.
    Cluster,
    /// Every read goes to the database, and writes run in their caller's future.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "kept to measure the cache against")
    )]
    Off,
}

/// The PostgreSQL backend.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// `None` with `ReadCache::Off`.
    cache: Option<Arc<Mutex<Entries>>>,
    /// `Some` with `ReadCache::Cluster`.
    listener: Option<Listener>,
    writes: watch::Sender<Writes>,
    /// Group commit of the writes (`writer.rs`); taken by `close`.
    writer: Mutex<Option<Writer>>,
    /// Whether this node has the database to itself (`Access::Exclusive`).
    single_node: bool,
    /// The connection holding the node lock (`open_node`), closed by `close`.
    node_lock: Mutex<Option<sqlx::PgConnection>>,
    /// Reads that went to the database (the cache's tests count them).
    #[cfg(test)]
    pub(crate) database_reads: std::sync::atomic::AtomicUsize,
    /// Taken by the next write through the cache (the cache's tests order writes with it).
    #[cfg(test)]
    pub(crate) hold_next_write: Mutex<Option<Hold>>,
}

/// The writes running, and whether `close` has begun.
#[derive(Debug, Default)]
struct Writes {
    running: usize,
    closed: bool,
}

/// One running write, counted until it is dropped.
struct RunningWrite(watch::Sender<Writes>);

impl Drop for RunningWrite {
    fn drop(&mut self) {
        self.0.send_modify(|writes| writes.running -= 1);
    }
}

impl PgStore {
    /// Opens the database for an engine node, holding the node lock `access` asks for (see
    /// `crate::Access`) on a connection of its own until the store is closed or the process
    /// ends (PostgreSQL releases it with the connection, a killed node's included).
    pub(crate) async fn open_node(url: &str, access: crate::Access) -> Result<PgStore, StoreError> {
        use sqlx::Connection;
        /// The advisory lock key of an engine node ("SWBD").
        const NODE_LOCK: i64 = 0x5357_4244;
        let mut connection = sqlx::PgConnection::connect(url).await?;
        let (sql, refusal, cache) = match access {
            crate::Access::Shared => (
                "SELECT pg_try_advisory_lock_shared($1)",
                "an engine started with --single-node uses this database; stop it first, or start this node with --single-node after it",
                ReadCache::Cluster,
            ),
            crate::Access::Exclusive => (
                "SELECT pg_try_advisory_lock($1)",
                "--single-node needs the database to itself, and another engine node is using it",
                ReadCache::SingleNode,
            ),
        };
        let locked: bool = sqlx::query_scalar(sql)
            .bind(NODE_LOCK)
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            return Err(StoreError::InUse(refusal));
        }
        let mut store = PgStore::open(url, cache).await?;
        store.single_node = access == crate::Access::Exclusive;
        store.node_lock = Mutex::new(Some(connection));
        Ok(store)
    }

    pub(crate) async fn open(url: &str, read_cache: ReadCache) -> Result<PgStore, StoreError> {
        let mut options: PgConnectOptions = url.parse()?;
        if read_cache == ReadCache::SingleNode {
            // Nobody else uses the database: its row notifications would reach no one
            // (migration 0009 skips them for connections that say so).
            options = options.options([("switchboard.announce", "off")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let cache = match read_cache {
            ReadCache::SingleNode | ReadCache::Cluster => {
                Some(Arc::new(Mutex::new(Entries::default())))
            }
            ReadCache::Off => None,
        };
        let listener = match (&cache, read_cache) {
            (Some(cache), ReadCache::Cluster) => {
                Some(Listener::start(&options, pool.clone(), cache.clone()).await?)
            }
            _ => None,
        };
        let writer = Writer::start(&pool);
        Ok(PgStore {
            pool,
            cache,
            listener,
            writes: watch::Sender::new(Writes::default()),
            writer: Mutex::new(Some(writer)),
            single_node: false,
            node_lock: Mutex::new(None),
            #[cfg(test)]
            database_reads: Default::default(),
            #[cfg(test)]
            hold_next_write: Mutex::new(None),
        })
    }

    #[cfg(test)]
    pub(crate) fn cache_for_tests(&self) -> Option<&Mutex<Entries>> {
        self.cache.as_deref()
    }

    /// Waits until no write is running (those of cancelled callers included).
    #[cfg(test)]
    pub(crate) async fn writes_settled(&self) {
        let mut writes = self.writes.subscribe();
        // `self` holds the sender, so the channel cannot close while this waits.
        writes.wait_for(|writes| writes.running == 0).await.ok();
    }

    /// Counts a write about to run; `Closed` once `close` has begun.
    fn start_write(&self) -> Result<RunningWrite, StoreError> {
        let started = self.writes.send_if_modified(|writes| {
            if writes.closed {
                return false;
            }
            writes.running += 1;
            true
        });
        if started {
            Ok(RunningWrite(self.writes.clone()))
        } else {
            Err(StoreError::Closed)
        }
    }

    /// The group-commit writer; `Closed` once `close` took it.
    fn writer(&self) -> Result<Writer, StoreError> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Runs an outbox write (never cached) in the next batch.
    async fn write_delivery(&self, write: crate::outbox::DeliveryWrite) -> Result<i64, StoreError> {
        let _running = self.start_write()?;
        match self.writer()?.write(Write::Delivery(write)).await {
            Some((_, answer)) => answer,
            None => Err(StoreError::Closed),
        }
    }

    /// Runs a scheduled message's write (never cached) in the next batch.
    async fn write_schedule(
        &self,
        write: crate::schedule::ScheduleWrite,
    ) -> Result<i64, StoreError> {
        let _running = self.start_write()?;
        match self.writer()?.write(Write::Schedule(write)).await {
            Some((_, answer)) => answer,
            None => Err(StoreError::Closed),
        }
    }

    /// Runs a write in its own task, which brings `cache` up to date.
    async fn write_through(&self, cache: &Arc<Mutex<Entries>>, write: Write) -> Answer {
        let running = self.start_write()?;
        let task = tokio::spawn(
            WriteTask {
                writer: self.writer()?,
                cache: cache.clone(),
                keeps_rows: self.listener.is_none(),
                write,
                _running: running,
                #[cfg(test)]
                hold: lock_hold(&self.hold_next_write).take(),
            }
            .run(),
        );
        match task.await {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down and dropped the task.
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Runs a write in the caller's future (the cache is off).
    async fn write_uncached<T>(
        &self,
        statement: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let _running = self.start_write()?;
        statement.await
    }

    /// A read by SID with several nodes: a cached row is served only after the barrier, which
    /// applies every other node's write acknowledged before this read began; a row that is not
    /// cached is read from the database and kept unless a write or notification raced it.
    async fn read_in_cluster(
        &self,
        cache: &Mutex<Entries>,
        listener: &Listener,
        kind: Kind,
        sid: &str,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        // A miss goes to the database without looking again: a row another read put in the
        // cache meanwhile may predate a write this node has not heard of yet.
        if crate::cache::cached(cache, kind, sid).is_none() {
            return crate::cache::read_and_keep(cache, self.read(kind, sid)).await;
        }
        if !listener.caught_up().await {
            return Ok(self.read(kind, sid).await?.map(Arc::new));
        }
        crate::cache::read_through(cache, kind, sid, self.read(kind, sid)).await
    }

    async fn read(&self, kind: Kind, sid: &str) -> Result<Option<Record>, StoreError> {
        #[cfg(test)]
        self.database_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        get_with(&self.pool, kind, sid).await
    }
}

/// A write's own task: marks its SID, runs the statement, applies the answer to the cache.
struct WriteTask {
    writer: Writer,
    cache: Arc<Mutex<Entries>>,
    /// Whether the written row is kept (a single node) or dropped (several nodes: another
    /// node's write of the SID may commit after this one and be heard before it is applied).
    keeps_rows: bool,
    write: Write,
    _running: RunningWrite,
    #[cfg(test)]
    hold: Option<Hold>,
}

impl WriteTask {
    async fn run(self) -> Answer {
        let marked = MarkedWrite::begin(self.cache, self.write.sid());
        let Some((write, answer)) = self.writer.write(self.write).await else {
            // Dropped with the runtime: `marked` abandons the SID (the outcome is unknown).
            return Err(StoreError::Closed);
        };
        #[cfg(test)]
        if let Some(hold) = self.hold {
            hold.committed.send(()).ok();
            hold.release.await.ok();
        }
        marked.finish(write, &answer, self.keeps_rows);
        answer
    }
}

/// A test's hold on the next write between its statement's answer and the cache.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Hold {
    /// Told once the statement has its answer (it committed, if it succeeded).
    pub(crate) committed: tokio::sync::oneshot::Sender<()>,
    /// Waited for before the write touches the cache.
    pub(crate) release: tokio::sync::oneshot::Receiver<()>,
}

#[cfg(test)]
fn lock_hold(hold: &Mutex<Option<Hold>>) -> std::sync::MutexGuard<'_, Option<Hold>> {
    hold.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A write's SID, marked in the cache until the write finishes; dropped before that (its task
/// was dropped mid-statement), the write is abandoned.
struct MarkedWrite {
    cache: Arc<Mutex<Entries>>,
    /// `None` once finished.
    sid: Option<String>,
}

impl MarkedWrite {
    fn begin(cache: Arc<Mutex<Entries>>, sid: &str) -> MarkedWrite {
        lock(&cache).begin_write(sid);
        MarkedWrite {
            cache,
            sid: Some(sid.to_owned()),
        }
    }

    fn finish(mut self, write: Write, answer: &Answer, keeps_rows: bool) {
        self.sid = None;
        let mut entries = lock(&self.cache);
        if outcome_known(answer) && !keeps_rows {
            entries.finish_write_dropping(write.sid());
        } else if outcome_known(answer) {
            entries.finish_write(write, answer);
        } else {
            entries.abandon_write(write.sid());
        }
    }
}

impl Drop for MarkedWrite {
    fn drop(&mut self) {
        if let Some(sid) = self.sid.take() {
            lock(&self.cache).abandon_write(&sid);
        }
    }
}

/// Whether a write can no longer change the database: it committed (sqlx answers after the
/// server's ReadyForQuery), the server refused it, or it never left this process. Anything else
/// (a broken connection, a protocol error) may leave the statement still to commit.
fn outcome_known(answer: &Answer) -> bool {
    match answer {
        Ok(_) | Err(StoreError::Conflict(_) | StoreError::Corrupt(_) | StoreError::Closed) => true,
        Err(StoreError::Database(error)) => matches!(
            error,
            sqlx::Error::Database(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Encode(_)
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::RowNotFound
        ),
        Err(_) => false,
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    async fn insert(&self, record: &Record) -> Result<i64, StoreError> {
        crate::text::check_record(record)?;
        match &self.cache {
            Some(cache) => {
                let write = Write::Insert(record.clone());
                self.write_through(cache, write).await
            }
            None => self.write_uncached(insert_with(&self.pool, record)).await,
        }
    }

    async fn get_shared(&self, kind: Kind, sid: &str) -> Result<Option<Arc<Record>>, StoreError> {
        if !crate::text::is_storable(sid) {
            return Ok(None);
        }
        match (&self.cache, &self.listener) {
            (Some(cache), Some(listener)) => self.read_in_cluster(cache, listener, kind, sid).await,
            (Some(cache), None) => {
                crate::cache::read_through(cache, kind, sid, self.read(kind, sid)).await
            }
            (None, _) => Ok(self.read(kind, sid).await?.map(Arc::new)),
        }
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        crate::text::check_record(record)?;
        match &self.cache {
            Some(cache) => {
                let write = Write::Update(record.clone());
                self.write_through(cache, write).await.map(|n| n > 0)
            }
            None => self.write_uncached(update_with(&self.pool, record)).await,
        }
    }

    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
        if !crate::text::is_storable(sid) {
            return Ok(false);
        }
        match &self.cache {
            Some(cache) => {
                let write = Write::Delete(kind, sid.to_owned());
                self.write_through(cache, write).await.map(|n| n > 0)
            }
            None => {
                self.write_uncached(delete_with(&self.pool, kind, sid))
                    .await
            }
        }
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        crate::text::check_query(query)?;
        if !crate::text::query_can_match(query) {
            return Ok(Vec::new());
        }
        list_with(&self.pool, query).await
    }

    async fn node_heartbeat(
        &self,
        beat: &crate::NodeBeat,
        register: bool,
    ) -> Result<(), StoreError> {
        membership::node_heartbeat(&self.pool, beat, register).await
    }

    async fn nodes(&self, lease_ms: i64) -> Result<Vec<crate::NodeRow>, StoreError> {
        membership::nodes(&self.pool, lease_ms).await
    }

    async fn claim_node(&self, dead: &str, by: &str, lease_ms: i64) -> Result<bool, StoreError> {
        membership::claim_node(&self.pool, dead, by, lease_ms).await
    }

    async fn store_breaker(
        &self,
        origin: &str,
        open: Option<(i64, i64)>,
        by: &str,
    ) -> Result<(), StoreError> {
        shared_breakers::store_breaker(&self.pool, origin, open, by).await
    }

    async fn breakers_since(
        &self,
        since_ms: i64,
    ) -> Result<(Vec<crate::BreakerRow>, i64), StoreError> {
        shared_breakers::breakers_since(&self.pool, since_ms).await
    }

    async fn insert_delivery(&self, delivery: &crate::Delivery) -> Result<i64, StoreError> {
        let write = crate::outbox::DeliveryWrite::Insert(Box::new(delivery.clone()));
        self.write_delivery(write).await
    }

    async fn update_delivery(&self, update: &crate::DeliveryUpdate) -> Result<bool, StoreError> {
        let write = crate::outbox::DeliveryWrite::Update(Box::new(update.clone()));
        self.write_delivery(write).await.map(|n| n > 0)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::Delivery>, StoreError> {
        claim_deliveries(&self.pool, owner, now_ms, limit).await
    }

    async fn release_deliveries(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        release_deliveries(&self.pool, owner).await
    }

    async fn replay_delivery(
        &self,
        sid: &str,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Result<bool, StoreError> {
        replay_delivery(&self.pool, sid, now_ms, deadline_ms).await
    }

    async fn hasten_deliveries(&self, origin: &str, now_ms: i64) -> Result<u64, StoreError> {
        hasten_deliveries(&self.pool, origin, now_ms).await
    }

    async fn get_delivery(&self, sid: &str) -> Result<Option<crate::Delivery>, StoreError> {
        get_delivery(&self.pool, sid).await
    }

    async fn list_deliveries(
        &self,
        query: &crate::DeliveryQuery,
    ) -> Result<Vec<crate::Delivery>, StoreError> {
        list_deliveries(&self.pool, query).await
    }

    async fn insert_scheduled(&self, row: &crate::ScheduledSend) -> Result<(), StoreError> {
        let write = crate::schedule::ScheduleWrite::Insert(row.clone());
        self.write_schedule(write).await.map(|_| ())
    }

    async fn remove_scheduled(&self, sid: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        let write = crate::schedule::ScheduleWrite::Remove {
            sid: sid.to_owned(),
            owner: owner.map(str::to_owned),
        };
        self.write_schedule(write).await.map(|n| n > 0)
    }

    async fn claim_scheduled(
        &self,
        owner: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::ScheduledSend>, StoreError> {
        claim_scheduled(&self.pool, owner, now_ms, limit).await
    }

    async fn release_scheduled(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        release_scheduled(&self.pool, owner).await
    }

    async fn next_scheduled_ms(&self) -> Result<Option<i64>, StoreError> {
        next_scheduled_ms(&self.pool).await
    }

    fn is_single_node(&self) -> bool {
        // A server: several nodes may share it, unless this node holds it exclusively.
        self.single_node
    }

    async fn close(&self) {
        self.writes.send_modify(|writes| writes.closed = true);
        let mut writes = self.writes.subscribe();
        // `self` holds the sender, so the channel cannot close while this waits.
        writes.wait_for(|writes| writes.running == 0).await.ok();
        // The writer tasks end with their last queue handle.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let node_lock = self
            .node_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(connection) = node_lock {
            use sqlx::Connection;
            connection.close().await.ok();
        }
        if let Some(listener) = &self.listener {
            listener.stop();
        }
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_write_task_dropped_mid_statement_leaves_its_row_uncached() {
        let cache = Arc::new(Mutex::new(Entries::default()));
        let row = Record::new(Kind::Call, "CA1".into(), "AC1".into(), 0, json!({}));
        lock(&cache).committed(Write::Insert(row.clone()), &Ok(1));
        drop(MarkedWrite::begin(cache.clone(), "CA1"));
        let database = async { Ok(Some(row)) };
        let read = crate::cache::read_through(&cache, Kind::Call, "CA1", database).await;
        assert!(
            read.unwrap().is_some(),
            "dropped, then read from the database"
        );
        let gone = async { Ok(None) };
        let again = crate::cache::read_through(&cache, Kind::Call, "CA1", gone).await;
        assert!(again.unwrap().is_none(), "and what was read was not cached");
    }

    #[test]
    fn only_answers_from_the_server_or_the_pool_settle_a_write() {
        #[track_caller]
        fn check(answer: Answer, known: bool) {
            assert_eq!(outcome_known(&answer), known, "{answer:?}");
        }
        check(Ok(1), true);
        check(Err(StoreError::Conflict("number:+1".into())), true);
        check(Err(StoreError::Closed), true);
        check(Err(sqlx::Error::PoolTimedOut.into()), true);
        check(Err(sqlx::Error::PoolClosed.into()), true);
        check(Err(sqlx::Error::RowNotFound.into()), true);
        let broken = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        check(Err(sqlx::Error::Io(broken).into()), false);
        check(
            Err(sqlx::Error::Protocol("unexpected".into()).into()),
            false,
        );
        check(Err(sqlx::Error::WorkerCrashed.into()), false);
    }
}

/// Node membership's statements with this backend's clock (`nodes.rs`).
mod membership {
    crate::nodes::node_functions!(
        sqlx::PgPool,
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    );
}

/// Shared circuit breakers' statements with this backend's clock (`breakers.rs`).
mod shared_breakers {
    crate::breakers::breaker_functions!(
        sqlx::PgPool,
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    );
}
