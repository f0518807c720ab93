//! A write-through read cache for the single-process SQLite backend.
//!
//! SQLite is the one-node store: the engine is the only writer of its file, so every change
//! passes through here and the cache can never miss one. (Several nodes use PostgreSQL, which is
//! not wrapped.) Reads by SID are most of the REST traffic and of a call's own bookkeeping (a
//! call's driver reads its row back before each status change); serving them from memory is the
//! difference between a worker-thread round trip plus a JSON parse and a map lookup.
//!
//! Consistency under concurrency:
//! - A global write generation is read before a database read, and the result is cached only if
//!   no write finished meanwhile, so a read racing an update can never put the older row back.
//! - A successful insert or update puts its own record in the cache (an insert with the `seq`
//!   the database returned; an update with the stored `seq` and `created_ms`, which it never
//!   changes, taken from the cached copy) only when no other write of the same row overlapped
//!   it: with two in flight, commit order is not known here, so the row is dropped from the
//!   cache and the next read goes to the database. An update of a row that is not cached, a
//!   delete and any failure drop the row too.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::{Kind, ListQuery, Record, Store, StoreError};

/// Rows kept. A running call's row is read back at each of its status changes, so what matters
/// is covering the calls changing status at once, not every live call: 20,000 calls parked in
/// `<Pause>` would hold 20,000 cached rows (about 1.7 KB each) for nothing. Measured with
/// `voice-load`: 1,024 rows keep the throughput run free of reads, and 20,000 parked calls at
/// 384 MB of RSS (4,096 rows: 397 MB; 20,000: 468 MB).
const CAPACITY: usize = 1_024;

type Key = (Kind, String);

/// Writes of one row that have started and not finished.
#[derive(Debug, Default)]
struct InFlight {
    count: u32,
    /// Another write of the row started while one was in flight.
    overlapped: bool,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    records: HashMap<Key, Record>,
    order: VecDeque<Key>,
    writing: HashMap<Key, InFlight>,
}

impl Entries {
    fn put(&mut self, key: Key, record: Record) {
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
        // Invalidated keys linger in `order`; drop them before it outgrows the map.
        if self.order.len() > 2 * CAPACITY {
            let Entries { records, order, .. } = self;
            order.retain(|key| records.contains_key(key));
        }
    }

    fn begin_write(&mut self, key: &Key) {
        let in_flight = self.writing.entry(key.clone()).or_default();
        in_flight.overlapped |= in_flight.count > 0;
        in_flight.count += 1;
    }

    /// Ends a write of `key`; `written` is the row as now stored when the write succeeded and
    /// the caller knows it whole.
    fn end_write(&mut self, key: Key, written: Option<Record>) {
        self.generation += 1;
        let alone = match self.writing.get_mut(&key) {
            Some(in_flight) if in_flight.count > 1 => {
                in_flight.count -= 1;
                false
            }
            Some(_) => !self.writing.remove(&key).is_some_and(|w| w.overlapped),
            None => false,
        };
        match written {
            Some(record) if alone => self.put(key, record),
            _ => {
                self.records.remove(&key);
            }
        }
    }
}

/// `Store` wrapper caching rows read by SID and rows it has just updated.
#[derive(Debug)]
pub(crate) struct CachedStore<S> {
    inner: S,
    entries: Mutex<Entries>,
}

impl<S: Store> CachedStore<S> {
    pub(crate) fn new(inner: S) -> CachedStore<S> {
        CachedStore {
            inner,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn begin_write(&self, kind: Kind, sid: &str) -> Key {
        let key = (kind, sid.to_owned());
        self.entries().begin_write(&key);
        key
    }
}

#[async_trait::async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn insert(&self, record: &Record) -> Result<i64, StoreError> {
        let key = self.begin_write(record.kind, &record.sid);
        let result = self.inner.insert(record).await;
        let written = result.as_ref().ok().map(|&seq| Record {
            seq,
            ..record.clone()
        });
        self.entries().end_write(key, written);
        result
    }

    async fn get(&self, kind: Kind, sid: &str) -> Result<Option<Record>, StoreError> {
        let key = (kind, sid.to_owned());
        let generation = {
            let entries = self.entries();
            if let Some(record) = entries.records.get(&key) {
                return Ok(Some(record.clone()));
            }
            entries.generation
        };
        let found = self.inner.get(kind, sid).await?;
        if let Some(record) = &found {
            let mut entries = self.entries();
            if entries.generation == generation && !entries.records.contains_key(&key) {
                entries.put(key, record.clone());
            }
        }
        Ok(found)
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let key = self.begin_write(record.kind, &record.sid);
        let result = self.inner.update(record).await;
        let mut entries = self.entries();
        let written = match (&result, entries.records.get(&key)) {
            (Ok(true), Some(before)) => Some(Record {
                seq: before.seq,
                created_ms: before.created_ms,
                ..record.clone()
            }),
            _ => None,
        };
        entries.end_write(key, written);
        result
    }

    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
        let key = self.begin_write(kind, sid);
        let result = self.inner.delete(kind, sid).await;
        self.entries().end_write(key, None);
        result
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        self.inner.list(query).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::sqlite::SqliteStore;

    /// The real SQLite backend, counting the reads that reach it.
    #[derive(Debug)]
    struct Counting {
        inner: SqliteStore,
        gets: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Store for Counting {
        async fn insert(&self, record: &Record) -> Result<i64, StoreError> {
            self.inner.insert(record).await
        }
        async fn get(&self, kind: Kind, sid: &str) -> Result<Option<Record>, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.inner.get(kind, sid).await
        }
        async fn update(&self, record: &Record) -> Result<bool, StoreError> {
            self.inner.update(record).await
        }
        async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
            self.inner.delete(kind, sid).await
        }
        async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
            self.inner.list(query).await
        }
        async fn close(&self) {
            self.inner.close().await;
        }
    }

    async fn store(name: &str) -> CachedStore<Counting> {
        let dir = std::env::temp_dir().join(format!("sb-cache-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&path);
        let url = format!("sqlite://{}", path.display());
        CachedStore::new(Counting {
            inner: SqliteStore::open(&url).await.unwrap(),
            gets: AtomicUsize::new(0),
        })
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

    fn gets(store: &CachedStore<Counting>) -> usize {
        store.inner.gets.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn inserted_and_updated_rows_are_served_from_memory_with_their_stored_seq() {
        let store = store("through").await;
        let seq = store.insert(&call("CA1", "ringing")).await.unwrap();
        let mut read = store.get(Kind::Call, "CA1").await.unwrap().unwrap();
        assert_eq!(gets(&store), 0, "an inserted row is served from memory");
        assert_eq!(
            read,
            Record {
                seq,
                ..call("CA1", "ringing")
            }
        );
        assert_eq!(
            store
                .inner
                .inner
                .get(Kind::Call, "CA1")
                .await
                .unwrap()
                .as_ref(),
            Some(&read)
        );

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
        assert_eq!(gets(&store), 0, "the updated row is served from memory");
        assert_eq!(
            cached, read,
            "with the stored seq and created_ms, not the update's"
        );
        assert_eq!(
            store.inner.inner.get(Kind::Call, "CA1").await.unwrap(),
            Some(read)
        );
    }

    #[tokio::test]
    async fn updates_of_rows_not_cached_and_deletes_leave_reads_to_the_database() {
        let store = store("misses").await;
        store.insert(&call("CA2", "ringing")).await.unwrap();
        // Forget it, as a full cache would.
        store.entries().records.clear();
        assert!(store.update(&call("CA2", "completed")).await.unwrap());
        let read = store.get(Kind::Call, "CA2").await.unwrap().unwrap();
        assert_eq!(
            (gets(&store), read.status.as_deref()),
            (1, Some("completed"))
        );
        assert!(read.seq > 0);

        assert!(!store.update(&call("CA3", "completed")).await.unwrap());
        assert!(store.get(Kind::Call, "CA3").await.unwrap().is_none());

        assert!(store.delete(Kind::Call, "CA2").await.unwrap());
        assert!(store.get(Kind::Call, "CA2").await.unwrap().is_none());
        assert_eq!(gets(&store), 3);
    }

    #[test]
    fn overlapping_writes_of_one_row_drop_it_whatever_order_they_finish_in() {
        let key = (Kind::Call, "CA4".to_owned());
        let mut entries = Entries::default();
        entries.put(key.clone(), call("CA4", "ringing"));
        entries.begin_write(&key);
        entries.begin_write(&key);
        entries.end_write(key.clone(), Some(call("CA4", "in-progress")));
        assert!(!entries.records.contains_key(&key));
        entries.end_write(key.clone(), Some(call("CA4", "completed")));
        assert!(
            !entries.records.contains_key(&key),
            "the database may hold either"
        );
        assert!(entries.writing.is_empty());

        // Once both are done, a write alone is trusted again.
        entries.begin_write(&key);
        entries.end_write(key.clone(), Some(call("CA4", "completed")));
        assert_eq!(entries.records[&key].status.as_deref(), Some("completed"));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut entries = Entries::default();
        for n in 0..3 * CAPACITY {
            let key = (Kind::Call, format!("CA{n}"));
            entries.put(key.clone(), call(&key.1, "ringing"));
            // Every other row is dropped by a write and put back, leaving stale names in `order`.
            if n % 2 == 0 {
                entries.begin_write(&key);
                entries.end_write(key.clone(), None);
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
        entries.begin_write(&key);
        entries.end_write(key.clone(), None);
        assert_ne!(
            entries.generation, generation,
            "get() compares this before caching"
        );
    }
}
