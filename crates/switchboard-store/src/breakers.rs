//! Circuit breakers shared by the nodes of a cluster (product.md "Beyond Twilio": "Breaker
//! state is shared by all nodes"): one row per origin holding its last change, `open` (until
//! when, after which failure) or `closed`, written by the node whose requests changed it and
//! read by the others, which take it over (`switchboard_webhook::breaker::Breakers::adopt`).
//!
//! Every time is the database's clock: the row keeps when the cooloff ends by that clock, and a
//! reader gets what is left of it, so nodes whose clocks disagree still skip for the same time.
//! The statements are the same on both backends but for the clock expression (as `nodes.rs`).

/// An origin's breaker as last changed by some node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerRow {
    pub origin: String,
    pub open: bool,
    /// What is left of an open breaker's cooloff, by the database's clock (0 when over).
    pub remaining_ms: i64,
    /// The failure that opened it.
    pub last_error_code: Option<i64>,
    /// When the change was written, by the database's clock (a reader's cursor).
    pub updated_ms: i64,
    /// The node that wrote it.
    pub updated_by: String,
}

macro_rules! breaker_functions {
    ($pool:ty, $clock:literal) => {
        /// Writes `origin`'s new state: open for `remaining_ms` after `last_error_code`, or
        /// closed.
        pub(crate) async fn store_breaker(
            pool: &$pool,
            origin: &str,
            open: Option<(i64, i64)>,
            by: &str,
        ) -> Result<(), $crate::StoreError> {
            let sql = concat!(
                "INSERT INTO breakers (origin, state, last_error_code, open_until_ms, updated_ms, updated_by) \
                 VALUES ($1, $2, $3, ", $clock, " + $4, ", $clock, ", $5) \
                 ON CONFLICT (origin) DO UPDATE SET state = excluded.state, \
                 last_error_code = excluded.last_error_code, open_until_ms = excluded.open_until_ms, \
                 updated_ms = excluded.updated_ms, updated_by = excluded.updated_by"
            );
            let (state, code, remaining) = match open {
                Some((remaining, code)) => ("open", Some(code), remaining),
                None => ("closed", None, 0),
            };
            sqlx::query(sql)
                .bind(origin)
                .bind(state)
                .bind(code)
                .bind(remaining)
                .bind(by)
                .execute(pool)
                .await?;
            Ok(())
        }

        /// The breaker rows changed at or after `since_ms` (the database's clock), and that
        /// clock now.
        pub(crate) async fn breakers_since(
            pool: &$pool,
            since_ms: i64,
        ) -> Result<(Vec<$crate::BreakerRow>, i64), $crate::StoreError> {
            use sqlx::Row;
            let now: i64 = sqlx::query_scalar(concat!("SELECT ", $clock)).fetch_one(pool).await?;
            let sql = concat!(
                "SELECT origin, state, last_error_code, open_until_ms - ", $clock,
                " AS remaining, updated_ms, updated_by FROM breakers WHERE updated_ms >= $1 ORDER BY updated_ms"
            );
            let rows = sqlx::query(sql).bind(since_ms).fetch_all(pool).await?;
            let rows = rows
                .into_iter()
                .map(|row| {
                    let state: String = row.try_get("state")?;
                    let remaining: i64 = row.try_get("remaining")?;
                    Ok($crate::BreakerRow {
                        origin: row.try_get("origin")?,
                        open: state == "open",
                        remaining_ms: remaining.max(0),
                        last_error_code: row.try_get("last_error_code")?,
                        updated_ms: row.try_get("updated_ms")?,
                        updated_by: row.try_get("updated_by")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok((rows, now))
        }
    };
}

pub(crate) use breaker_functions;
