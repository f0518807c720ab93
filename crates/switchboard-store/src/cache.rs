//! A write-through read cache for the single-process SQLite backend.
//!
//! SQLite is the one-node store: the engine is the only writer of its file, so every change
//! passes through here and the cache can never miss one. (Several nodes use PostgreSQL, which is
//! not wrapped.) Reads by SID are most of the REST traffic; serving them from memory is the
//! difference between a fetch costing a worker-thread round trip and a map lookup.
//!
//! Consistency under concurrency: a global write generation is read before a database read and
//! the result is cached only if no write happened meanwhile, so a read racing an update can never
//! put the older row back after the update invalidated it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::{Kind, ListQuery, Record, Store, StoreError};

const CAPACITY: usize = 20_000;

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    records: HashMap<(Kind, String), Record>,
    order: VecDeque<(Kind, String)>,
}

/// `Store` wrapper caching `get` results until the next write of the same row.
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

    fn invalidate(&self, kind: Kind, sid: &str) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.records.remove(&(kind, sid.to_owned()));
    }
}

#[async_trait::async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        let result = self.inner.insert(record).await;
        self.invalidate(record.kind, &record.sid);
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
                if entries.records.len() >= CAPACITY
                    && let Some(oldest) = entries.order.pop_front()
                {
                    entries.records.remove(&oldest);
                }
                entries.order.push_back(key.clone());
                entries.records.insert(key, record.clone());
                // Invalidated keys linger in `order`; drop them before it outgrows the map.
                if entries.order.len() > 2 * CAPACITY {
                    let Entries { records, order, .. } = &mut *entries;
                    order.retain(|key| records.contains_key(key));
                }
            }
        }
        Ok(found)
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let result = self.inner.update(record).await;
        self.invalidate(record.kind, &record.sid);
        result
    }

    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
        let result = self.inner.delete(kind, sid).await;
        self.invalidate(kind, sid);
        result
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        self.inner.list(query).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
