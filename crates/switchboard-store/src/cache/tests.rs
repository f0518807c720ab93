//! The read cache on both backends (PostgreSQL when `SWITCHBOARD_TEST_POSTGRES` is set), then
//! its bookkeeping alone.

use std::sync::atomic::Ordering;

use serde_json::json;
use switchboard_test_support::postgres::{TestDatabase, server_url};

use super::*;
use crate::Store;
use crate::postgres::{PgStore, ReadCache};
use crate::sqlite::SqliteStore;

/// A scratch directory, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A store under test, with what must be removed after it.
enum Backend {
    Sqlite(Arc<SqliteStore>, Scratch),
    Postgres(Arc<PgStore>, TestDatabase),
}

/// A fresh SQLite store, and a fresh PostgreSQL one when the suite has a server.
async fn backends(name: &str) -> Vec<Backend> {
    let dir = std::env::temp_dir().join(format!("sb-cache-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("db.sqlite").display());
    let sqlite = Arc::new(SqliteStore::open(&url).await.unwrap());
    let mut backends = vec![Backend::Sqlite(sqlite, Scratch(dir))];
    if let Some(server) = server_url(&format!("read cache case {name}")) {
        let database = TestDatabase::create(&server).await.unwrap();
        let store = PgStore::open(&database.url, ReadCache::SingleNode)
            .await
            .unwrap();
        backends.push(Backend::Postgres(Arc::new(store), database));
    }
    backends
}

impl Backend {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(store, _) => store.clone(),
            Backend::Postgres(store, _) => store.clone(),
        }
    }

    fn reads(&self) -> usize {
        match self {
            Backend::Sqlite(store, _) => store.database_reads.load(Ordering::SeqCst),
            Backend::Postgres(store, _) => store.database_reads.load(Ordering::SeqCst),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        match self {
            Backend::Sqlite(store, _) => lock(store.cache_for_tests()),
            Backend::Postgres(store, _) => lock(store.cache_for_tests().expect("cache on")),
        }
    }

    /// Waits until every write started so far, cancelled callers' included, is applied.
    async fn settled(&self) {
        match self {
            // The writer is FIFO: once a later write is answered, every earlier one is applied.
            Backend::Sqlite(store, _) => {
                store.delete(Kind::Call, "CAsettle").await.unwrap();
            }
            Backend::Postgres(store, _) => store.writes_settled().await,
        }
    }

    async fn remove(self) {
        match self {
            Backend::Sqlite(store, _scratch) => store.close().await,
            Backend::Postgres(store, database) => {
                store.close().await;
                database.drop_database().await.unwrap();
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(..) => "sqlite",
            Backend::Postgres(..) => "postgres",
        }
    }
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

/// What the database itself holds, past the cache.
async fn stored(store: &dyn Store, sid: &str) -> Option<Record> {
    let mut query = crate::ListQuery::new(Kind::Call, "ACcache");
    query.limit = 1_000;
    let rows = store.list(&query).await.unwrap();
    rows.into_iter().find(|row| row.sid == sid)
}

/// Polls a future `polls` times, letting other tasks run in between, then drops it, as a
/// caller cancelled at that point does.
async fn poll_and_drop<F: std::future::Future>(future: F, polls: usize) {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        let ready = std::future::poll_fn(|context| {
            std::task::Poll::Ready(future.as_mut().poll(context).is_ready())
        })
        .await;
        if ready {
            return;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn inserted_and_updated_rows_are_served_from_memory_with_their_stored_seq() {
    for backend in backends("through").await {
        let store = backend.store();
        let seq = store.insert(&call("CA1", "ringing")).await.unwrap();
        let mut read = store.get(Kind::Call, "CA1").await.unwrap().unwrap();
        assert_eq!(backend.reads(), 0, "{}: served from memory", backend.name());
        assert_eq!(
            read,
            Record {
                seq,
                ..call("CA1", "ringing")
            }
        );
        assert_eq!(stored(store.as_ref(), "CA1").await.as_ref(), Some(&read));

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
        assert_eq!(
            backend.reads(),
            0,
            "{}: updated row in memory",
            backend.name()
        );
        assert_eq!(cached, read, "with the stored seq and created_ms");
        assert_eq!(stored(store.as_ref(), "CA1").await, Some(read));
        backend.remove().await;
    }
}

#[tokio::test]
async fn hits_share_one_row_and_a_write_replaces_it_without_touching_the_old_one() {
    for backend in backends("shared").await {
        let store = backend.store();
        store.insert(&call("CA8", "ringing")).await.unwrap();
        let first = store.get_shared(Kind::Call, "CA8").await.unwrap().unwrap();
        let second = store.get_shared(Kind::Call, "CA8").await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "{}", backend.name());
        assert!(
            store
                .get_shared(Kind::Message, "CA8")
                .await
                .unwrap()
                .is_none(),
            "a cached row of another kind is not found"
        );
        assert_eq!(backend.reads(), 0);

        assert!(store.update(&call("CA8", "completed")).await.unwrap());
        let after = store.get_shared(Kind::Call, "CA8").await.unwrap().unwrap();
        assert_eq!(after.status.as_deref(), Some("completed"));
        assert_eq!(first.status.as_deref(), Some("ringing"), "a held row stays");
        backend.remove().await;
    }
}

#[tokio::test]
async fn updates_of_rows_not_cached_failures_and_deletes_leave_reads_to_the_database() {
    for backend in backends("misses").await {
        let store = backend.store();
        store.insert(&call("CA2", "ringing")).await.unwrap();
        // Forget it, as a full cache would.
        backend.entries().remove("CA2");
        assert!(store.update(&call("CA2", "completed")).await.unwrap());
        let read = store.get(Kind::Call, "CA2").await.unwrap().unwrap();
        assert_eq!(
            (backend.reads(), read.status.as_deref()),
            (1, Some("completed")),
            "{}",
            backend.name()
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
        backend.remove().await;
    }
}

#[tokio::test]
async fn inserted_alerts_are_not_kept() {
    for backend in backends("alerts").await {
        let store = backend.store();
        let alert = Record::new(
            Kind::Alert,
            "NO1".to_owned(),
            "ACcache".to_owned(),
            1,
            json!({"response_body": "x".repeat(65_536)}),
        );
        store.insert(&alert).await.unwrap();
        let first = store.get_shared(Kind::Alert, "NO1").await.unwrap().unwrap();
        assert_eq!(
            backend.reads(),
            1,
            "{}: read from the database",
            backend.name()
        );
        let second = store.get_shared(Kind::Alert, "NO1").await.unwrap().unwrap();
        assert_eq!(backend.reads(), 1, "then cached as any read");
        assert!(Arc::ptr_eq(&first, &second));
        backend.remove().await;
    }
}

/// A caller that stops waiting (its HTTP request was cancelled), wherever it stops, does not
/// stop its write: it commits and brings the cache up to date all the same, never leaving the
/// older row cached.
#[tokio::test]
async fn a_cancelled_write_still_reaches_the_cache_once_committed() {
    for backend in backends("cancelled").await {
        let store = backend.store();
        store.insert(&call("CA6", "ringing")).await.unwrap();
        for polls in 1..=6 {
            store.get(Kind::Call, "CA6").await.unwrap().unwrap();
            let status = format!("completed-{polls}");
            poll_and_drop(store.update(&call("CA6", &status)), polls).await;
            backend.settled().await;
            let read = store.get(Kind::Call, "CA6").await.unwrap().unwrap();
            let held = stored(store.as_ref(), "CA6").await.unwrap();
            assert_eq!(read, held, "{} after {polls} polls", backend.name());
            assert_eq!(read.status, Some(status), "the write was not stopped");
        }

        store.insert(&call("CA7", "ringing")).await.unwrap();
        store.get(Kind::Call, "CA7").await.unwrap().unwrap();
        poll_and_drop(store.delete(Kind::Call, "CA7"), 1).await;
        backend.settled().await;
        assert!(store.get(Kind::Call, "CA7").await.unwrap().is_none());
        assert_eq!(stored(store.as_ref(), "CA7").await, None);
        backend.remove().await;
    }
}

/// Writes of one row from many tasks at once: whichever committed last is what reads return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writes_of_one_row_leave_the_committed_row_readable() {
    for backend in backends("racing").await {
        let store = backend.store();
        store.insert(&call("CA9", "queued")).await.unwrap();
        for round in 0..20 {
            let mut writes = tokio::task::JoinSet::new();
            for n in 0..8 {
                let store = store.clone();
                writes.spawn(async move {
                    let status = format!("status-{round}-{n}");
                    store.update(&call("CA9", &status)).await.unwrap();
                    // Reads race the writes and may try to cache what they found.
                    store.get_shared(Kind::Call, "CA9").await.unwrap();
                });
            }
            while let Some(joined) = writes.join_next().await {
                joined.unwrap();
            }
            let read = store.get(Kind::Call, "CA9").await.unwrap();
            let held = stored(store.as_ref(), "CA9").await;
            assert_eq!(read, held, "{} round {round}", backend.name());
        }
        backend.remove().await;
    }
}

#[tokio::test]
async fn with_the_cache_off_postgres_reads_every_row_from_the_database() {
    let Some(server) = server_url("read cache off") else {
        return;
    };
    let database = TestDatabase::create(&server).await.unwrap();
    let store = PgStore::open(&database.url, ReadCache::Off).await.unwrap();
    store.insert(&call("CA10", "ringing")).await.unwrap();
    let first = store.get_shared(Kind::Call, "CA10").await.unwrap().unwrap();
    let second = store.get_shared(Kind::Call, "CA10").await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(store.database_reads.load(Ordering::SeqCst), 2);
    assert!(store.update(&call("CA10", "completed")).await.unwrap());
    assert!(store.delete(Kind::Call, "CA10").await.unwrap());
    assert!(store.get(Kind::Call, "CA10").await.unwrap().is_none());
    store.close().await;
    assert!(matches!(
        store.insert(&call("CA11", "ringing")).await,
        Err(StoreError::Closed)
    ));
    database.drop_database().await.unwrap();
}

/// Two writes of one row on PostgreSQL, the first held between its commit and the cache while
/// the second commits and finishes: the first must not put its older row back.
#[tokio::test]
async fn a_write_applied_after_a_later_commit_does_not_store_its_older_row() {
    let Some(server) = server_url("read cache commit order") else {
        return;
    };
    let database = TestDatabase::create(&server).await.unwrap();
    let store = Arc::new(
        PgStore::open(&database.url, ReadCache::SingleNode)
            .await
            .unwrap(),
    );
    store.insert(&call("CA12", "ringing")).await.unwrap();
    let (committed, first_committed) = tokio::sync::oneshot::channel();
    let (release_first, release) = tokio::sync::oneshot::channel();
    *store.hold_next_write.lock().unwrap() = Some(crate::postgres::Hold { committed, release });
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.update(&call("CA12", "first")).await }
    });
    first_committed.await.unwrap();
    assert!(store.update(&call("CA12", "second")).await.unwrap());
    let read = store.get_shared(Kind::Call, "CA12").await.unwrap().unwrap();
    assert_eq!(read.status.as_deref(), Some("second"));
    assert!(
        !lock(store.cache_for_tests().unwrap())
            .records
            .contains_key("CA12"),
        "nothing cached while the first write runs"
    );
    release_first.send(()).unwrap();
    assert!(first.await.unwrap().unwrap());

    let read = store.get(Kind::Call, "CA12").await.unwrap().unwrap();
    assert_eq!(read.status.as_deref(), Some("second"));
    assert_eq!(stored(store.as_ref(), "CA12").await, Some(read));
    store.close().await;
    database.drop_database().await.unwrap();
}

#[test]
fn the_cache_never_holds_more_than_its_capacity() {
    let mut entries = Entries::default();
    for n in 0..3 * CAPACITY {
        let sid = format!("CA{n}");
        entries.put(Arc::new(call(&sid, "ringing")));
        // Every other row is dropped and put back, leaving stale names in `order`.
        if n % 2 == 0 {
            entries.remove(&sid);
            entries.put(Arc::new(call(&sid, "in-progress")));
        }
        assert!(entries.records.len() <= CAPACITY);
    }
    assert!(entries.order.len() <= 2 * CAPACITY + 1);
}

/// Reads whose row reaches the cache, at `(read started, read ended)` around the writes of
/// `steps` (`b`/`f`/`a`: begin, finish or abandon a write of the row).
#[test]
fn a_read_that_raced_a_write_is_not_cached() {
    #[track_caller]
    fn check(steps: &str, cached: bool) {
        let mut entries = Entries::default();
        let mut generation = None;
        for step in steps.chars() {
            match step {
                'r' => generation = Some(entries.generation),
                'b' => entries.begin_write("CA5"),
                'f' => entries.finish_write(Write::Delete(Kind::Call, "CA5".into()), &Ok(0)),
                'a' => entries.abandon_write("CA5"),
                'B' => entries.begin_batch(),
                _ => unreachable!("step {step}"),
            }
        }
        entries.put_read(generation.unwrap(), Arc::new(call("CA5", "ringing")));
        assert_eq!(entries.records.contains_key("CA5"), cached, "{steps}");
    }
    check("r", true);
    check("bfr", true);
    check("rB", false);
    check("rb", false);
    check("brf", false);
    check("br", false);
    check("bbfr", false);
    check("bar", false);
    check("barbf", false);
}

/// Which row a write leaves cached after `steps` (`1`/`2`: begin write one or two, `F`/`G`:
/// finish write one or two, `A`: abandon write one).
#[test]
fn only_a_write_that_ran_alone_stores_its_row() {
    #[track_caller]
    fn check(steps: &str, expect: Option<&str>) {
        let mut entries = Entries::default();
        entries.put(Arc::new(call("CA4", "before")));
        let update = |status: &str| Write::Update(call("CA4", status));
        for step in steps.chars() {
            match step {
                '1' | '2' => entries.begin_write("CA4"),
                'F' => entries.finish_write(update("one"), &Ok(1)),
                'G' => entries.finish_write(update("two"), &Ok(1)),
                'A' => entries.abandon_write("CA4"),
                _ => unreachable!("step {step}"),
            }
        }
        let status = entries
            .records
            .get("CA4")
            .and_then(|row| row.status.clone());
        assert_eq!(status.as_deref(), expect, "{steps}");
    }
    check("", Some("before"));
    check("1", Some("before"));
    check("1F", Some("one"));
    check("1F2G", Some("two"));
    check("12FG", None);
    check("12GF", None);
    check("12G", None);
    check("1A", None);
    check("1A2G", None);
}

#[test]
fn too_many_abandoned_writes_switch_the_cache_off() {
    let mut entries = Entries::default();
    for n in 0..=CAPACITY {
        entries.begin_write(&format!("CA{n}"));
        entries.abandon_write(&format!("CA{n}"));
    }
    entries.put(Arc::new(call("CAother", "ringing")));
    assert!(entries.records.is_empty());
}
