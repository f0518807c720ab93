//! The read cache of the single-process SQLite backend (`sqlite.rs`).
//!
//! SQLite is the one-node store: the engine is the only writer of its file, so every change
//! passes through its writer task and the cache can never miss one. (Several nodes use
//! PostgreSQL, which has no such cache.) Reads by SID are most of the REST traffic and of a
//! call's own bookkeeping (a call's driver reads its row back before each status change);
//! serving them from memory is the difference between a worker-thread round trip plus a JSON
//! parse and a map lookup.
//!
//! Consistency:
//! - The writer task applies each committed batch here itself, in commit order and before it
//!   answers the callers: an inserted row (other than an alert) is kept with the `seq` the
//!   database returned, an updated row with the `seq` and `created_ms` of the cached copy (an
//!   update never changes them; a row not cached stays out), a deleted or failed one is
//!   dropped. A caller that gave up waiting (its request was cancelled) cannot leave the cache
//!   behind the database.
//! - Every applied batch advances a generation. A read that missed reads the generation before
//!   going to the database and caches its row only if no batch was applied meanwhile, so a read
//!   racing a write can never put the older row back.

use std::collections::{HashMap, VecDeque};

use crate::{Kind, Record};

/// Rows kept. A running call's row is read back at each of its status changes, so what matters
/// is covering the calls changing status at once, not every live call: 20,000 calls parked in
/// `<Pause>` would hold 20,000 cached rows (about 1.7 KB each) for nothing. Measured with
/// `voice-load`: 1,024 rows keep the throughput run free of reads, and 20,000 parked calls at
/// 384 MB of RSS (4,096 rows: 397 MB; 20,000: 468 MB).
const CAPACITY: usize = 1_024;

pub(crate) type Key = (Kind, String);

/// The cached rows, oldest first for eviction.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    pub(crate) generation: u64,
    records: HashMap<Key, Record>,
    order: VecDeque<Key>,
}

impl Entries {
    pub(crate) fn get(&self, key: &Key) -> Option<&Record> {
        self.records.get(key)
    }

    /// Caches a row read from the database at `generation`, unless a batch was applied since.
    pub(crate) fn put_read(&mut self, generation: u64, key: Key, record: Record) {
        if self.generation == generation && !self.records.contains_key(&key) {
            self.put(key, record);
        }
    }

    pub(crate) fn put(&mut self, key: Key, record: Record) {
        if self.records.len() >= CAPACITY && !self.records.contains_key(&key) {
            // `order` may name rows dropped since; evict the oldest row still cached.
            while let Some(oldest) = self.order.pop_front() {
                if self.records.remove(&oldest).is_some() {
                    break;
                }
            }
        }
        if self.records.insert(key.clone(), record).is_none() {
            self.order.push_back(key);
        }
        // Dropped keys linger in `order`; drop them before it outgrows the map.
        if self.order.len() > 2 * CAPACITY {
            let Entries { records, order, .. } = self;
            order.retain(|key| records.contains_key(key));
        }
    }

    pub(crate) fn remove(&mut self, key: &Key) {
        self.records.remove(key);
    }

    /// The row an update has just stored, when the cache holds the row's `seq` and `created_ms`.
    pub(crate) fn updated(&mut self, record: Record) {
        let key = (record.kind, record.sid.clone());
        if let Some(before) = self.records.get(&key) {
            let record = Record {
                seq: before.seq,
                created_ms: before.created_ms,
                ..record
            };
            self.put(key, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::json;

    use super::*;
    use crate::Store;
    use crate::sqlite::SqliteStore;

    /// A scratch directory, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    async fn store(name: &str) -> (SqliteStore, Scratch) {
        let dir = std::env::temp_dir().join(format!("sb-cache-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        (SqliteStore::open(&url).await.unwrap(), Scratch(dir))
    }

    fn call(sid: &str, status: &str) -> Record {
        let mut record = Record::new(
            Kind::Call,
            sid.to_owned(),
            "ACcache".to_owned(),
            1_700_000_000_000,
            json!({"sid": sid, "status": status}),
        );
        record.status = Some(status.to_owned());
        record
    }

    fn reads(store: &SqliteStore) -> usize {
        store.database_reads.load(Ordering::SeqCst)
    }

    /// What the database itself holds, past the cache.
    async fn stored(store: &SqliteStore, sid: &str) -> Option<Record> {
        let mut query = crate::ListQuery::new(Kind::Call, "ACcache");
        query.limit = 100;
        let rows = store.list(&query).await.unwrap();
        rows.into_iter().find(|row| row.sid == sid)
    }

    #[tokio::test]
    async fn inserted_and_updated_rows_are_served_from_memory_with_their_stored_seq() {
        let (store, _scratch) = store("through").await;
        let seq = store.insert(&call("CA1", "ringing")).await.unwrap();
        let mut read = store.get(Kind::Call, "CA1").await.unwrap().unwrap();
        assert_eq!(reads(&store), 0, "an inserted row is served from memory");
        assert_eq!(
            read,
            Record {
                seq,
                ..call("CA1", "ringing")
            }
        );
        assert_eq!(stored(&store, "CA1").await.as_ref(), Some(&read));

        read.doc["status"] = json!("in-progress");
        read.status = Some("in-progress".into());
        // An update built without the stored seq and creation time, as a handler may build it.
        let update = Record {
            seq: 0,
            created_ms: 1,
            ..read.clone()
        };
        assert!(store.update(&update).await.unwrap());
        let cached = store.get(Kind::Call, "CA1").await.unwrap().unwrap();
        assert_eq!(reads(&store), 0, "the updated row is served from memory");
        assert_eq!(
            cached, read,
            "with the stored seq and created_ms, not the update's"
        );
        assert_eq!(stored(&store, "CA1").await, Some(read));
    }

    #[tokio::test]
    async fn updates_of_rows_not_cached_failures_and_deletes_leave_reads_to_the_database() {
        let (store, _scratch) = store("misses").await;
        store.insert(&call("CA2", "ringing")).await.unwrap();
        // Forget it, as a full cache would.
        lock_entries(&store).remove(&(Kind::Call, "CA2".to_owned()));
        assert!(store.update(&call("CA2", "completed")).await.unwrap());
        let read = store.get(Kind::Call, "CA2").await.unwrap().unwrap();
        assert_eq!(
            (reads(&store), read.status.as_deref()),
            (1, Some("completed"))
        );
        assert!(read.seq > 0);

        // A second insert of the SID fails and must not replace the cached row.
        let mut clash = call("CA2", "queued");
        clash.doc["clash"] = json!(true);
        assert!(store.insert(&clash).await.is_err());
        let after = store.get(Kind::Call, "CA2").await.unwrap().unwrap();
        assert_eq!(after, read, "the failed insert changed nothing");

        assert!(!store.update(&call("CA3", "completed")).await.unwrap());
        assert!(store.get(Kind::Call, "CA3").await.unwrap().is_none());

        assert!(store.delete(Kind::Call, "CA2").await.unwrap());
        assert!(store.get(Kind::Call, "CA2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn inserted_alerts_are_not_kept() {
        let (store, _scratch) = store("alerts").await;
        let alert = Record::new(
            Kind::Alert,
            "NO1".to_owned(),
            "ACcache".to_owned(),
            1,
            json!({"response_body": "x".repeat(65_536)}),
        );
        store.insert(&alert).await.unwrap();
        assert!(store.get(Kind::Alert, "NO1").await.unwrap().is_some());
        assert_eq!(
            reads(&store),
            1,
            "read from the database, then cached as any read"
        );
        store.get(Kind::Alert, "NO1").await.unwrap();
        assert_eq!(reads(&store), 1);
    }

    /// A caller that stops waiting (its HTTP request was cancelled) does not stop its write:
    /// the writer commits it and brings the cache up to date all the same.
    #[tokio::test]
    async fn a_cancelled_write_still_reaches_the_cache_once_committed() {
        let (store, _scratch) = store("cancelled").await;
        store.insert(&call("CA6", "ringing")).await.unwrap();
        store.get(Kind::Call, "CA6").await.unwrap().unwrap();
        let mut update = store.get(Kind::Call, "CA6").await.unwrap().unwrap();
        update.status = Some("completed".into());
        update.doc["status"] = json!("completed");
        // Poll the update once (it is queued to the writer), then drop it.
        {
            let write = store.update(&update);
            futures_poll_once(write).await;
        }
        // A later write of another row is committed after the dropped one (the writer is FIFO).
        store.insert(&call("CA7", "ringing")).await.unwrap();
        let read = store.get(Kind::Call, "CA6").await.unwrap().unwrap();
        assert_eq!(read.status.as_deref(), Some("completed"));
        assert_eq!(stored(&store, "CA6").await.unwrap().status, read.status);
    }

    async fn futures_poll_once<F: std::future::Future>(future: F) {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|context| {
            let _ = future.as_mut().poll(context);
            std::task::Poll::Ready(())
        })
        .await;
    }

    fn lock_entries(store: &SqliteStore) -> std::sync::MutexGuard<'_, Entries> {
        store.cache_for_tests()
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut entries = Entries::default();
        for n in 0..3 * CAPACITY {
            let key = (Kind::Call, format!("CA{n}"));
            entries.put(key.clone(), call(&key.1, "ringing"));
            // Every other row is dropped and put back, leaving stale names in `order`.
            if n % 2 == 0 {
                entries.remove(&key);
                entries.put(key.clone(), call(&key.1, "in-progress"));
            }
            assert!(entries.records.len() <= CAPACITY);
        }
        assert!(entries.order.len() <= 2 * CAPACITY + 1);
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let key = (Kind::Call, "CA5".to_owned());
        let mut entries = Entries::default();
        let generation = entries.generation;
        // The writer applies a batch while the read is at the database.
        entries.generation += 1;
        entries.put_read(generation, key.clone(), call("CA5", "ringing"));
        assert!(entries.get(&key).is_none());
        entries.put_read(entries.generation, key.clone(), call("CA5", "ringing"));
        assert!(entries.get(&key).is_some());
    }
}
