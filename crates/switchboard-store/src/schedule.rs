//! Scheduled messages waiting for their time (product.md "More of Twilio's REST surface"):
//! one narrow row per message stored `scheduled`, which some live node claims when it is due
//! and sends exactly once.
//!
//! A row is unowned until its `send_at_ms` has come and a node claims it (`owner`); the claim
//! is one conditional `UPDATE … WHERE owner IS NULL` (on PostgreSQL over rows picked `FOR
//! UPDATE SKIP LOCKED`), so two nodes claiming at once never get the same row. The claiming
//! node moves the message on to `queued` and then removes the row; a cancel removes the row
//! only while it is unowned, so a message is either canceled or sent, never both. Rows a node
//! held when it stopped are released when it restarts or when a survivor takes it over, as the
//! outbox's deliveries are.
//!
//! The rows live in a table of their own rather than in `resources`, for the reasons the outbox
//! does (`outbox.rs`): narrow, written once and removed once, outside the read cache and the
//! row notifications. The message itself (its document, its `scheduled` status) stays a
//! resource row.

/// One scheduled message waiting for its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledSend {
    /// The message's SID.
    pub sid: String,
    pub account_sid: String,
    /// When it is to be sent (epoch milliseconds).
    pub send_at_ms: i64,
    /// The node sending it now, if any.
    pub owner: Option<String>,
}

/// A schedule write that the batched writers commit with the other writes of their batch.
#[derive(Debug)]
pub(crate) enum ScheduleWrite {
    Insert(ScheduledSend),
    /// Removes the row of `sid` if it is held by `owner` (unowned when `None`).
    Remove {
        sid: String,
        owner: Option<String>,
    },
}

impl ScheduleWrite {
    pub(crate) fn sid(&self) -> &str {
        match self {
            ScheduleWrite::Insert(row) => &row.sid,
            ScheduleWrite::Remove { sid, .. } => sid,
        }
    }
}

macro_rules! schedule_functions {
    ($db:ty, $skip_locked:literal) => {
        /// Runs one schedule write: 1 when it inserted or removed a row, else 0.
        async fn schedule_write_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            write: &$crate::schedule::ScheduleWrite,
        ) -> Result<i64, $crate::StoreError> {
            let done = match write {
                $crate::schedule::ScheduleWrite::Insert(row) => {
                    sqlx::query(
                        "INSERT INTO scheduled_sends (sid, account_sid, send_at_ms, owner) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&row.sid)
                    .bind(&row.account_sid)
                    .bind(row.send_at_ms)
                    .bind(&row.owner)
                    .execute(executor)
                    .await?
                }
                $crate::schedule::ScheduleWrite::Remove { sid, owner } => {
                    sqlx::query(
                        "DELETE FROM scheduled_sends WHERE sid = $1 \
                         AND (($2 IS NULL AND owner IS NULL) OR owner = $2)",
                    )
                    .bind(sid)
                    .bind(owner)
                    .execute(executor)
                    .await?
                }
            };
            Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
        }

        /// Claims for `owner` up to `limit` unowned scheduled messages due by `now_ms`, the
        /// earliest first; see the module documentation for why no row is claimed twice.
        pub(crate) async fn claim_scheduled(
            executor: &sqlx::Pool<$db>,
            owner: &str,
            now_ms: i64,
            limit: i64,
        ) -> Result<Vec<$crate::ScheduledSend>, $crate::StoreError> {
            const SQL: &str = const_format::concatcp!(
                "UPDATE scheduled_sends SET owner = $1 WHERE owner IS NULL AND sid IN (SELECT sid \
                 FROM scheduled_sends WHERE owner IS NULL AND send_at_ms <= $2 \
                 ORDER BY send_at_ms LIMIT $3 ",
                $skip_locked,
                ") RETURNING sid, account_sid, send_at_ms, owner"
            );
            let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(SQL)
                .bind(owner)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(executor)
                .await?;
            let mut rows: Vec<$crate::ScheduledSend> = rows
                .into_iter()
                .map(
                    |(sid, account_sid, send_at_ms, owner)| $crate::ScheduledSend {
                        sid,
                        account_sid,
                        send_at_ms,
                        owner,
                    },
                )
                .collect();
            // RETURNING follows no ORDER BY: the earliest are sent first all the same.
            rows.sort_by_key(|row| row.send_at_ms);
            Ok(rows)
        }

        /// Releases the scheduled messages `owner` held (every held one when `None`); how many.
        pub(crate) async fn release_scheduled<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            owner: Option<&str>,
        ) -> Result<u64, $crate::StoreError> {
            let done = sqlx::query(
                "UPDATE scheduled_sends SET owner = NULL WHERE owner IS NOT NULL \
                 AND ($1 IS NULL OR owner = $1)",
            )
            .bind(owner)
            .execute(executor)
            .await?;
            Ok(done.rows_affected())
        }

        /// When the earliest unowned scheduled message is due, if any is waiting.
        pub(crate) async fn next_scheduled_ms<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
        ) -> Result<Option<i64>, $crate::StoreError> {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT send_at_ms FROM scheduled_sends WHERE owner IS NULL \
                 ORDER BY send_at_ms LIMIT 1",
            )
            .fetch_optional(executor)
            .await?;
            Ok(next)
        }
    };
}

pub(crate) use schedule_functions;
