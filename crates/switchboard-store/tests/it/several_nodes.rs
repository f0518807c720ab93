//! Several nodes on one PostgreSQL database: a write acknowledged by one store is seen by the
//! next read through another, whatever the other had cached, also across a lost listening
//! connection. Each test opens two stores (two nodes) on a fresh database.

use std::sync::Arc;

use serde_json::json;
use switchboard_store::{Kind, Record, Store};
use switchboard_test_support::postgres::{TestDatabase, server_url};

struct Cluster {
    database: TestDatabase,
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
}

async fn cluster(name: &str) -> Option<Cluster> {
    let server = server_url(name)?;
    let database = TestDatabase::create(&server)
        .await
        .expect("create database");
    let a = switchboard_store::open(&database.url)
        .await
        .expect("open a");
    let b = switchboard_store::open(&database.url)
        .await
        .expect("open b");
    Some(Cluster { database, a, b })
}

impl Cluster {
    async fn remove(self) {
        self.a.close().await;
        self.b.close().await;
        self.database.drop_database().await.expect("drop database");
    }
}

fn number(n: usize, version: u64) -> Record {
    let sid = format!("PN{n:032x}");
    let mut record = crate::cases::number(&sid, "ACnodes", &format!("+1555800{n:04}"));
    record.doc = json!({"sid": sid, "voice_url": format!("https://app.example/v{version}")});
    record
}

fn version(record: &Record) -> u64 {
    let url = record.doc["voice_url"].as_str().expect("voice_url");
    url.rsplit_once("/v")
        .expect("version")
        .1
        .parse()
        .expect("number")
}

/// Reads `n` through `store` twice, so that the second read is served from its cache if any.
async fn read_twice(store: &dyn Store, n: usize) -> Option<Record> {
    let sid = format!("PN{n:032x}");
    store.get(Kind::PhoneNumber, &sid).await.expect("read");
    store.get(Kind::PhoneNumber, &sid).await.expect("read")
}

#[tokio::test]
async fn a_node_reads_the_updates_and_deletes_another_node_acknowledged() {
    let Some(cluster) = cluster("several nodes: updates").await else {
        return;
    };
    let (a, b) = (cluster.a.as_ref(), cluster.b.as_ref());
    for n in 0..20 {
        a.insert(&number(n, 0)).await.unwrap();
        assert_eq!(read_twice(b, n).await.map(|r| version(&r)), Some(0));
        for round in 1..=10 {
            assert!(a.update(&number(n, round)).await.unwrap());
            let seen = read_twice(b, n).await.expect("row");
            assert_eq!(
                version(&seen),
                round,
                "row {n}: B read an update A had answered"
            );
        }
        assert!(
            a.delete(Kind::PhoneNumber, &format!("PN{n:032x}"))
                .await
                .unwrap()
        );
        assert!(
            read_twice(b, n).await.is_none(),
            "row {n}: B read a row A had deleted"
        );
    }
    cluster.remove().await;
}

#[tokio::test]
async fn concurrent_writers_on_one_node_never_leave_the_other_behind() {
    let Some(cluster) = cluster("several nodes: concurrent").await else {
        return;
    };
    for n in 0..8 {
        cluster.a.insert(&number(n, 0)).await.unwrap();
    }
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (a, b) = (cluster.a.clone(), cluster.b.clone());
        // Half the rows are written through B and read through A, the other half the reverse.
        let (writer, reader) = if n % 2 == 0 { (a, b) } else { (b, a) };
        writers.spawn(async move {
            for round in 1..=60 {
                assert!(writer.update(&number(n, round)).await.unwrap());
                let seen = read_twice(reader.as_ref(), n).await.expect("row");
                assert!(
                    version(&seen) >= round,
                    "row {n}: read version {} after {round} was acknowledged",
                    version(&seen)
                );
            }
        });
    }
    // A reader that keeps every row cached on both nodes while the writers run.
    let (a, b) = (cluster.a.clone(), cluster.b.clone());
    let churn = tokio::spawn(async move {
        loop {
            for n in 0..8 {
                read_twice(a.as_ref(), n).await;
                read_twice(b.as_ref(), n).await;
            }
            tokio::task::yield_now().await;
        }
    });
    while let Some(finished) = writers.join_next().await {
        finished.expect("writer");
    }
    churn.abort();
    cluster.remove().await;
}

#[tokio::test]
async fn a_lost_listening_connection_never_leaves_a_stale_row() {
    let Some(cluster) = cluster("several nodes: reconnect").await else {
        return;
    };
    let mut admin = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&cluster.database.url)
            .await
            .expect("connect")
    };
    let (a, b) = (cluster.a.as_ref(), cluster.b.as_ref());
    a.insert(&number(1, 0)).await.unwrap();
    for round in 1..=10 {
        assert!(read_twice(b, 1).await.is_some());
        listeners_back(&mut admin).await;
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() \
             AND application_name = 'switchboard-cache-listener'",
        )
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        assert_eq!(
            terminated,
            [true, true],
            "both nodes' listening connections"
        );
        assert!(a.update(&number(1, round)).await.unwrap());
        for _ in 0..20 {
            let seen = read_twice(b, 1).await.expect("row");
            assert_eq!(version(&seen), round, "B read a row A had replaced");
        }
    }
    drop(admin);
    cluster.remove().await;
}

/// Waits until both nodes listen again (after the previous round terminated their connections).
async fn listeners_back(admin: &mut sqlx::PgConnection) {
    for _ in 0..500 {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'switchboard-cache-listener' AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&mut *admin)
        .await
        .expect("count listeners");
        if listening == 2 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the nodes did not listen again within 5 s");
}

/// A `--single-node` store's writes announce nothing (nobody listens: migration 0009), while a
/// cluster node's update of the same row is announced as before.
#[tokio::test(flavor = "multi_thread")]
async fn only_cluster_nodes_announce_their_row_updates() {
    let Some(server) = server_url("only_cluster_nodes_announce_their_row_updates") else {
        return;
    };
    let database = TestDatabase::create(&server)
        .await
        .expect("create database");
    let single = switchboard_store::open_node(&database.url, switchboard_store::Access::Exclusive)
        .await
        .expect("open the single node");
    let mut listener = sqlx::postgres::PgListener::connect(&database.url)
        .await
        .expect("a listener");
    listener.listen("switchboard_rows").await.expect("listen");
    single.insert(&number(1, 1)).await.expect("insert");
    single.update(&number(1, 2)).await.expect("update");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), listener.recv()).await;
    assert!(
        quiet.is_err(),
        "a single node's update was announced: {quiet:?}"
    );
    single.close().await;
    let tool = switchboard_store::open(&database.url)
        .await
        .expect("open as a cluster node would");
    tool.update(&number(1, 3)).await.expect("update");
    let announced = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("a cluster node's update is announced")
        .expect("a notification");
    assert_eq!(announced.payload(), format!("PN{:032x}", 1));
    tool.close().await;
    drop(listener);
    database.drop_database().await.expect("drop database");
}
