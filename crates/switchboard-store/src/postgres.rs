//! The multi-node backend: PostgreSQL, migrations applied at open.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::StoreError;

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

crate::backend::impl_store!(PgStore);
