//! The multi-node backend: PostgreSQL, migrations applied at open. Every statement runs on the
//! pool; PostgreSQL's own commit is durable.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::{Kind, ListQuery, Record, StoreError};

crate::backend::sql_functions!(sqlx::Postgres);

/// The PostgreSQL backend.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    async fn insert(&self, record: &Record) -> Result<i64, StoreError> {
        insert_with(&self.pool, record).await
    }

    async fn get(&self, kind: Kind, sid: &str) -> Result<Option<Record>, StoreError> {
        get_with(&self.pool, kind, sid).await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        update_with(&self.pool, record).await
    }

    async fn delete(&self, kind: Kind, sid: &str) -> Result<bool, StoreError> {
        delete_with(&self.pool, kind, sid).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        list_with(&self.pool, query).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
