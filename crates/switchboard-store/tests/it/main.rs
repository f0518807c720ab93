//! The store suite: the same cases against SQLite (always) and PostgreSQL (when
//! `SWITCHBOARD_TEST_POSTGRES` is set; CI sets it), each on a database of its own.

mod cases;
mod scheduled;
mod several_nodes;

use std::sync::Arc;

use switchboard_store::Store;
use switchboard_test_support::postgres::{TestDatabase, server_url};

async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.join("store.db").display());
    switchboard_store::open(&url).await.expect("open sqlite")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-store-{name}-{:016x}", rand_u64()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[tokio::test]
async fn store_suite_on_sqlite() {
    let dir = temp_dir("suite");
    let store = sqlite_store(&dir).await;
    cases::run_all(store.as_ref()).await;
    store.close().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn store_suite_on_postgres() {
    let Some(server) = server_url("store suite") else {
        return;
    };
    let database = TestDatabase::create(&server)
        .await
        .expect("create test database");
    let store = switchboard_store::open(&database.url)
        .await
        .expect("open postgres");
    cases::run_all(store.as_ref()).await;
    // Reopening runs the migrations again: they must be recorded as applied, not re-run.
    store.close().await;
    let reopened = switchboard_store::open(&database.url)
        .await
        .expect("reopen postgres");
    assert!(
        reopened
            .get(switchboard_store::Kind::Account, "ACnone")
            .await
            .unwrap()
            .is_none()
    );
    reopened.close().await;
    database.drop_database().await.expect("drop test database");
}

#[tokio::test]
async fn sqlite_rows_survive_reopening_the_file() {
    let dir = temp_dir("reopen");
    let store = sqlite_store(&dir).await;
    let record = cases::number("PN00000000000000000000000000000001", "AC1", "+15550001111");
    store.insert(&record).await.unwrap();
    store.close().await;
    drop(store);
    let reopened = sqlite_store(&dir).await;
    let got = reopened
        .get(record.kind, &record.sid)
        .await
        .unwrap()
        .expect("row after reopen");
    assert_eq!(got.doc, record.doc);
    reopened.close().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn unknown_database_urls_are_refused() {
    let error = switchboard_store::open("mysql://localhost/x")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("unsupported database url"),
        "{error}"
    );
}

/// 200 concurrent inserts, every fourth taking the phone number of the one before it: the
/// writes share transactions (both backends group-commit), and a conflict fails alone.
async fn concurrent_inserts_fail_alone(store: &Arc<dyn Store>) {
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = store.clone();
        // Every fourth write reuses the number of the one before it: exactly one of each pair wins.
        let number = if n % 4 == 3 { n - 1 } else { n };
        writes.spawn(async move {
            let record = cases::number(
                &format!("PN{n:032x}"),
                "ACbatch",
                &format!("+1555700{number:04}"),
            );
            store.insert(&record).await.map(|_| n)
        });
    }
    let mut stored = 0;
    let mut conflicts = 0;
    while let Some(result) = writes.join_next().await {
        match result.expect("task") {
            Ok(_) => stored += 1,
            Err(switchboard_store::StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((stored, conflicts), (150, 50));
    assert_eq!(store.list(&batch_numbers()).await.unwrap().len(), 150);
}

fn batch_numbers() -> switchboard_store::ListQuery {
    let mut query =
        switchboard_store::ListQuery::new(switchboard_store::Kind::PhoneNumber, "ACbatch");
    query.limit = 1000;
    query
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_fail_alone() {
    let dir = temp_dir("batch");
    let store = sqlite_store(&dir).await;
    concurrent_inserts_fail_alone(&store).await;
    store.close().await;
    let reopened = sqlite_store(&dir).await;
    assert_eq!(
        reopened.list(&batch_numbers()).await.unwrap().len(),
        150,
        "every acknowledged write is on disk"
    );
    reopened.close().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_fail_alone_on_postgres() {
    let Some(server) = server_url("group commit on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    let store = switchboard_store::open(&database.url).await.expect("open");
    concurrent_inserts_fail_alone(&store).await;
    store.close().await;
    database.drop_database().await.expect("drop test database");
}
