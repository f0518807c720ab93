//! The read cache both backends keep of rows by SID, and the rules that keep it from serving a
//! row a committed write replaced or deleted.
//!
//! Reads by SID are most of the REST traffic and of a call's own bookkeeping (a call's driver
//! reads its row back before each status change); serving them from memory is the difference
//! between a database round trip plus a JSON parse and a map lookup. Rows are kept as
//! `Arc<Record>`: a hit costs a map lookup by `&str` and a reference-count increment, never a
//! copy of the JSON document, and a write wraps the row it stored once.
//!
//! The cache is keyed by SID alone: `sid` is unique across kinds in both schemas, so a cached row
//! of another kind answers "no such row" exactly as `WHERE sid = $1 AND kind = $2` would.
//!
//! On its own it is only correct while this process is the only writer of the database: one
//! engine on its SQLite file, or a single PostgreSQL node. Several PostgreSQL nodes add the
//! invalidation of `postgres/listener.rs` (other nodes' writes drop rows here, and a hit is
//! served only once this node has heard every write acknowledged before the read began).
//!
//! Consistency, for both backends:
//! - A finished write brings the cache up to date in commit order, before its caller is
//!   answered: an inserted row (other than an alert) is kept with the `seq` the database
//!   returned, an updated row with the `seq` and `created_ms` of the cached copy (an update never
//!   changes them; a row not cached stays out), a deleted or failed one is dropped. SQLite gets
//!   commit order from its single writer task; PostgreSQL writes run concurrently, so a write
//!   that overlapped another write of the same SID cannot know which committed last and drops
//!   the row instead (`begin_write`/`finish_write`).
//! - Every write advances a generation. A read that missed reads the generation before going to
//!   the database and caches its row only if no write began or finished meanwhile and none of
//!   that SID is still running, so a read racing a write can never put the older row back.
//! - A write whose outcome is unknown (PostgreSQL: the connection broke, or its task was dropped)
//!   may still commit at any later time, so its SID stays marked as being written for good and
//!   is never cached again (`abandon_write`); past `CAPACITY` abandoned writes the cache turns
//!   itself off.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::Write;
use crate::{Kind, Record, StoreError};

#[cfg(test)]
mod tests;

/// Rows kept. A running call's row is read back at each of its status changes, so what matters
/// is covering the calls changing status at once, not every live call: 20,000 calls parked in
/// `<Pause>` would hold 20,000 cached rows (about 1.7 KB each) for nothing. Measured with
/// `voice-load` on SQLite: 1,024 rows keep the throughput run free of reads, and 20,000 parked
/// calls at 384 MB of RSS (4,096 rows: 397 MB; 20,000: 468 MB).
const CAPACITY: usize = 1_024;

/// A write's answer: an insert's `seq`, or 1/0 for an update or delete that found its row or not.
pub(crate) type Answer = Result<i64, StoreError>;

/// The cached rows by SID, oldest first for eviction.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    generation: u64,
    records: HashMap<String, Arc<Record>>,
    order: VecDeque<String>,
    /// SIDs a write is changing right now (PostgreSQL only: SQLite's writer applies whole
    /// batches under the lock).
    writing: HashMap<String, Writing>,
    /// Writes whose outcome is unknown; their SIDs stay in `writing`.
    abandoned: usize,
    /// Set once too many writes were abandoned: nothing is cached any more.
    off: bool,
    /// Set while a PostgreSQL node is not listening for other nodes' writes: nothing is cached.
    suspended: bool,
}

/// The writes of one SID that are running.
#[derive(Debug, Default)]
struct Writing {
    running: u32,
    /// Two writes of the SID ran at once, so no single one of them knows the committed row.
    overlapped: bool,
}

/// Locks the cache. The methods of `Entries` only move rows and counters between maps and do
/// not panic, so a poisoned lock (a panic elsewhere while it was held) is taken over as it is.
pub(crate) fn lock(cache: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A read by SID through `cache`: a hit is a reference-count increment; a miss awaits `read`
/// (the database) and keeps what it found unless a write raced it.
pub(crate) async fn read_through(
    cache: &Mutex<Entries>,
    kind: Kind,
    sid: &str,
    read: impl Future<Output = Result<Option<Record>, StoreError>>,
) -> Result<Option<Arc<Record>>, StoreError> {
    match cached(cache, kind, sid) {
        Some(hit) => Ok(hit),
        None => read_and_keep(cache, read).await,
    }
}

/// The cached answer for `sid` (`Some(None)`: cached under another kind), without the database.
pub(crate) fn cached(cache: &Mutex<Entries>, kind: Kind, sid: &str) -> Option<Option<Arc<Record>>> {
    let entries = lock(cache);
    let record = entries.records.get(sid)?;
    Some((record.kind == kind).then(|| record.clone()))
}

/// Awaits `read` (the database) and keeps what it found unless a write or an invalidation began
/// or finished meanwhile.
pub(crate) async fn read_and_keep(
    cache: &Mutex<Entries>,
    read: impl Future<Output = Result<Option<Record>, StoreError>>,
) -> Result<Option<Arc<Record>>, StoreError> {
    let generation = lock(cache).generation;
    let found = read.await?.map(Arc::new);
    if let Some(record) = &found {
        lock(cache).put_read(generation, record.clone());
    }
    Ok(found)
}

impl Entries {
    /// Caches a row read from the database at `generation`, unless a write began or finished
    /// since or one of its SID is still running.
    fn put_read(&mut self, generation: u64, record: Arc<Record>) {
        if self.generation == generation
            && !self.writing.contains_key(&record.sid)
            && !self.records.contains_key(&record.sid)
        {
            self.put(record);
        }
    }

    fn put(&mut self, record: Arc<Record>) {
        if self.off || self.suspended {
            return;
        }
        if self.records.len() >= CAPACITY && !self.records.contains_key(&record.sid) {
            // `order` may name rows dropped since; evict the oldest row still cached.
            while let Some(oldest) = self.order.pop_front() {
                if self.records.remove(&oldest).is_some() {
                    break;
                }
            }
        }
        let sid = record.sid.clone();
        if self.records.insert(sid.clone(), record).is_none() {
            self.order.push_back(sid);
        }
        // Dropped SIDs linger in `order`; drop them before it outgrows the map.
        if self.order.len() > 2 * CAPACITY {
            let Entries { records, order, .. } = self;
            order.retain(|sid| records.contains_key(sid));
        }
    }

    pub(crate) fn remove(&mut self, sid: &str) {
        self.records.remove(sid);
    }

    /// Starts a batch of writes that committed (SQLite's writer): `committed` follows for each.
    pub(crate) fn begin_batch(&mut self) {
        self.generation += 1;
    }

    /// What one committed (or failed) write leaves in the cache, applied in commit order.
    pub(crate) fn committed(&mut self, write: Write, answer: &Answer) {
        match (write, answer) {
            // Alerts are written far more than read back by SID, and one can carry 64 KiB of
            // the failing response: a storm of them would fill the cache with rows nobody reads.
            (Write::Insert(record), Ok(seq)) if record.kind != Kind::Alert => {
                self.put(Arc::new(Record {
                    seq: *seq,
                    ..record
                }));
            }
            (Write::Update(record), Ok(1)) => self.updated(record),
            (Write::Insert(record) | Write::Update(record), _) => self.remove(&record.sid),
            (Write::Delete(_, sid), _) => self.remove(&sid),
            (Write::Delivery(_) | Write::Schedule(_), _) => {}
        }
    }

    /// The row an update has just stored, kept when the cache holds the row's `seq` and
    /// `created_ms`.
    fn updated(&mut self, record: Record) {
        if let Some(before) = self.records.get(&record.sid) {
            let record = Record {
                seq: before.seq,
                created_ms: before.created_ms,
                ..record
            };
            self.put(Arc::new(record));
        }
    }

    /// A write of `sid` is about to run (PostgreSQL, where writes run concurrently).
    pub(crate) fn begin_write(&mut self, sid: &str) {
        self.generation += 1;
        let writing = self.writing.entry(sid.to_owned()).or_default();
        writing.overlapped |= writing.running > 0;
        writing.running += 1;
    }

    /// A write begun with `begin_write` has its answer from the database: it is applied as
    /// `committed` would, unless another write of the SID overlapped it (then which of them
    /// committed last is unknown, and the row is dropped).
    pub(crate) fn finish_write(&mut self, write: Write, answer: &Answer) {
        self.generation += 1;
        let sid = write.sid();
        let alone = match self.writing.get_mut(sid) {
            Some(writing) => {
                writing.running -= 1;
                let alone = !writing.overlapped;
                if writing.running == 0 {
                    self.writing.remove(sid);
                }
                alone
            }
            None => false,
        };
        if alone {
            self.committed(write, answer);
        } else {
            self.remove(sid);
        }
    }

    /// A write begun with `begin_write` has its answer, and the row is dropped whatever it was
    /// (several nodes: another node's write of the SID may have committed after this one).
    pub(crate) fn finish_write_dropping(&mut self, sid: &str) {
        self.generation += 1;
        if let Some(writing) = self.writing.get_mut(sid) {
            writing.running -= 1;
            if writing.running == 0 {
                self.writing.remove(sid);
            }
        }
        self.remove(sid);
    }

    /// Another node changed `sid`: its row is dropped, and no read already running keeps its
    /// answer.
    pub(crate) fn invalidate(&mut self, sid: &str) {
        self.generation += 1;
        self.remove(sid);
    }

    /// Stops (`true`) or restarts (`false`) caching while another node's writes may go unheard;
    /// either way every row is dropped and no read already running keeps its answer.
    pub(crate) fn set_suspended(&mut self, suspended: bool) {
        self.generation += 1;
        self.suspended = suspended;
        self.records.clear();
        self.order.clear();
    }

    /// A write begun with `begin_write` ended without a known outcome: it may still commit at
    /// any time, so its SID is dropped and stays marked as being written.
    pub(crate) fn abandon_write(&mut self, sid: &str) {
        self.generation += 1;
        self.remove(sid);
        if self.off {
            return;
        }
        self.writing.entry(sid.to_owned()).or_default().overlapped = true;
        self.abandoned += 1;
        if self.abandoned > CAPACITY {
            tracing::warn!(
                abandoned = self.abandoned,
                "read cache switched off after too many writes with unknown outcomes"
            );
            self.off = true;
            self.records.clear();
            self.order.clear();
            self.writing.clear();
        }
    }
}
