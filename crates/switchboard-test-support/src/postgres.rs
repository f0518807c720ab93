//! Throw-away PostgreSQL databases for tests, named uniquely per run and dropped afterwards.

use sqlx::{Connection, PgConnection};

/// The server named by `SWITCHBOARD_TEST_POSTGRES`, or `None` (the Postgres suites then print a
/// loud SKIPPED line). `.ci/run` always sets it.
pub fn server_url(suite: &str) -> Option<String> {
    match std::env::var("SWITCHBOARD_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{suite}: SWITCHBOARD_TEST_POSTGRES must be set under CI (.ci/run sets it)"
            );
            eprintln!(
                "!!!!! SKIPPED {suite} on Postgres: SWITCHBOARD_TEST_POSTGRES is not set !!!!!"
            );
            None
        }
    }
}

/// A database created for one test; call `drop_database` when done.
#[derive(Debug)]
pub struct TestDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates `switchboard_test_<random>` on the server at `server_url`.
    pub async fn create(server_url: &str) -> anyhow::Result<TestDatabase> {
        let name = format!("switchboard_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(server_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let base = server_url
            .rsplit_once('/')
            .map_or(server_url, |(base, _)| base);
        Ok(TestDatabase {
            server_url: server_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database, ending any connection still open to it.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.server_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(())
    }
}
