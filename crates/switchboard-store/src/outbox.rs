//! The delivery outbox (product.md "Several nodes"): every status callback and debugger webhook
//! is a row here before it is sent, so whichever node is alive delivers it, at least once.
//!
//! A row is `pending` until it is `delivered` or `failed` (given up). A pending row may be
//! owned by a node (`owner`) that is sending it right now; an unowned pending row is due at
//! `next_attempt_ms`, and any node may claim it then. A node's rows are released when it dies
//! (the survivor that takes it over releases them) or restarts, never by a timer: a node that is
//! alive finishes its own attempts, which its webhook client bounds.
//!
//! Deliveries live in a table of their own rather than as `resources` rows: they are written
//! and updated once per callback, so they stay narrow, outside the read cache, and outside the
//! row notifications that invalidate other nodes' caches.
//!
//! The statements are the same on both backends but for the claim's row lock; they are written
//! once as a macro over the database type, as `backend.rs` does.

/// One delivery as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Insertion order, assigned by the database (0 before insertion).
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    /// The call, message or alert it is about.
    pub resource_sid: Option<String>,
    /// `call-status`, `message-status`, `recording-status` or `debugger`.
    pub kind: String,
    /// The URL as configured (userinfo and override fragment included; rendered redacted).
    pub url: String,
    /// Its `scheme://host:port` while it waits for that origin to answer at all (its last
    /// attempt got no answer, or none was made yet); `None` once the origin answered with a
    /// failure (a 5xx, a 429 with its `Retry-After`), which its coming back does not cure.
    pub origin: Option<String>,
    pub method: String,
    /// The form parameters, a JSON array of `[name, value]` pairs, exactly as every attempt
    /// sends them.
    pub params: String,
    /// `voice` or `messaging`: the product the request's alerts are about.
    pub channel: String,
    /// The `I-Twilio-Idempotency-Token` every attempt carries.
    pub idempotency_token: String,
    pub status: String,
    pub attempts: i64,
    pub last_error_code: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    /// When a pending row is due (epoch milliseconds).
    pub next_attempt_ms: i64,
    /// No attempt starts after this (created plus `--callback-retry-for`).
    pub deadline_ms: i64,
    /// The node sending it now, if any.
    pub owner: Option<String>,
    pub created_ms: i64,
}

/// What an attempt (or a replay) leaves in a delivery's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub sid: String,
    pub status: String,
    pub attempts: i64,
    pub last_error_code: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    pub next_attempt_ms: i64,
    pub deadline_ms: i64,
    /// `None` releases the row to whichever node finds it due.
    pub owner: Option<String>,
    /// The origin it waits for (see `Delivery::origin`).
    pub origin: Option<String>,
}

/// The deliveries of one account, one page at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub account_sid: String,
    pub status: Option<String>,
    pub order: crate::Order,
    /// Keyset paging: only rows after this `seq` in `order`.
    pub after_seq: Option<i64>,
    /// Offset paging (used only without `after_seq`).
    pub offset: i64,
    pub limit: i64,
}

/// A delivery write that the SQLite writer commits with the other writes of its batch.
#[derive(Debug)]
pub(crate) enum DeliveryWrite {
    Insert(Box<Delivery>),
    Update(Box<DeliveryUpdate>),
}

impl DeliveryWrite {
    pub(crate) fn sid(&self) -> &str {
        match self {
            DeliveryWrite::Insert(delivery) => &delivery.sid,
            DeliveryWrite::Update(update) => &update.sid,
        }
    }
}

/// Every column, in the order `row_to_delivery` reads them.
pub(crate) const DELIVERY_COLUMNS: &str = "seq, sid, account_sid, resource_sid, kind, url, origin, method, \
     params, channel, idempotency_token, status, attempts, last_error_code, last_attempt_ms, \
     next_attempt_ms, deadline_ms, owner, created_ms";

macro_rules! outbox_functions {
    ($db:ty, $skip_locked:literal) => {
        fn row_to_delivery<R: sqlx::Row>(row: &R) -> Result<$crate::Delivery, sqlx::Error>
        where
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> &'r str: sqlx::ColumnIndex<R>,
        {
            Ok($crate::Delivery {
                seq: row.try_get("seq")?,
                sid: row.try_get("sid")?,
                account_sid: row.try_get("account_sid")?,
                resource_sid: row.try_get("resource_sid")?,
                kind: row.try_get("kind")?,
                url: row.try_get("url")?,
                origin: row.try_get("origin")?,
                method: row.try_get("method")?,
                params: row.try_get("params")?,
                channel: row.try_get("channel")?,
                idempotency_token: row.try_get("idempotency_token")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_error_code: row.try_get("last_error_code")?,
                last_attempt_ms: row.try_get("last_attempt_ms")?,
                next_attempt_ms: row.try_get("next_attempt_ms")?,
                deadline_ms: row.try_get("deadline_ms")?,
                owner: row.try_get("owner")?,
                created_ms: row.try_get("created_ms")?,
            })
        }

        /// Runs one delivery write: an insert's `seq`, or 1/0 for an update that found its row
        /// or did not.
        async fn delivery_write_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            write: &$crate::outbox::DeliveryWrite,
        ) -> Result<i64, $crate::StoreError> {
            match write {
                $crate::outbox::DeliveryWrite::Insert(delivery) => {
                    let seq = sqlx::query_scalar(
                        "INSERT INTO deliveries (sid, account_sid, resource_sid, kind, url, method, \
                         params, channel, idempotency_token, status, attempts, last_error_code, \
                         last_attempt_ms, next_attempt_ms, deadline_ms, owner, created_ms, origin) VALUES \
                         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                         RETURNING seq",
                    )
                    .bind(&delivery.sid)
                    .bind(&delivery.account_sid)
                    .bind(&delivery.resource_sid)
                    .bind(&delivery.kind)
                    .bind(&delivery.url)
                    .bind(&delivery.method)
                    .bind(&delivery.params)
                    .bind(&delivery.channel)
                    .bind(&delivery.idempotency_token)
                    .bind(&delivery.status)
                    .bind(delivery.attempts)
                    .bind(delivery.last_error_code)
                    .bind(delivery.last_attempt_ms)
                    .bind(delivery.next_attempt_ms)
                    .bind(delivery.deadline_ms)
                    .bind(&delivery.owner)
                    .bind(delivery.created_ms)
                    .bind(&delivery.origin)
                    .fetch_one(executor)
                    .await?;
                    Ok(seq)
                }
                $crate::outbox::DeliveryWrite::Update(update) => {
                    let done = sqlx::query(
                        "UPDATE deliveries SET status = $2, attempts = $3, last_error_code = $4, \
                         last_attempt_ms = $5, next_attempt_ms = $6, deadline_ms = $7, owner = $8, \
                         origin = $9 WHERE sid = $1",
                    )
                    .bind(&update.sid)
                    .bind(&update.status)
                    .bind(update.attempts)
                    .bind(update.last_error_code)
                    .bind(update.last_attempt_ms)
                    .bind(update.next_attempt_ms)
                    .bind(update.deadline_ms)
                    .bind(&update.owner)
                    .bind(&update.origin)
                    .execute(executor)
                    .await?;
                    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
                }
            }
        }

        /// Claims for `owner` up to `limit` unowned pending deliveries due by `now_ms`, most
        /// overdue first. Two nodes claiming at once never get the same row: the claim is one
        /// `UPDATE` whose condition includes `owner IS NULL` (and, on PostgreSQL, the rows are
        /// picked with `FOR UPDATE SKIP LOCKED`, so a second claimer passes over them instead of
        /// waiting).
        pub(crate) async fn claim_deliveries(
            executor: &sqlx::Pool<$db>,
            owner: &str,
            now_ms: i64,
            limit: i64,
        ) -> Result<Vec<$crate::Delivery>, $crate::StoreError> {
            // Most looks find nothing due: a read answers them without taking a write lock
            // (on SQLite, the one the batched writer needs).
            let due: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM deliveries WHERE status = 'pending' AND owner IS NULL \
                 AND next_attempt_ms <= $1 LIMIT 1",
            )
            .bind(now_ms)
            .fetch_optional(executor)
            .await?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            const SQL: &str = const_format::concatcp!(
                "UPDATE deliveries SET owner = $1 WHERE owner IS NULL AND seq IN (SELECT seq FROM \
                 deliveries WHERE status = 'pending' AND owner IS NULL AND next_attempt_ms <= $2 \
                 ORDER BY next_attempt_ms LIMIT $3 ",
                $skip_locked,
                ") RETURNING ",
                $crate::outbox::DELIVERY_COLUMNS
            );
            let rows = sqlx::query(SQL)
                .bind(owner)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(executor)
                .await?;
            rows.iter()
                .map(row_to_delivery)
                .collect::<Result<_, _>>()
                .map_err($crate::StoreError::from)
        }

        /// Releases the pending deliveries `owner` held (every owned one when `None`), so any
        /// node may send them; how many.
        pub(crate) async fn release_deliveries<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            owner: Option<&str>,
        ) -> Result<u64, $crate::StoreError> {
            let done = sqlx::query(
                "UPDATE deliveries SET owner = NULL WHERE status = 'pending' \
                 AND owner IS NOT NULL AND ($1 IS NULL OR owner = $1)",
            )
            .bind(owner)
            .execute(executor)
            .await?;
            Ok(done.rows_affected())
        }

        /// Queues a delivery that is over (delivered or failed) again: pending, due at `now_ms`,
        /// with a new `deadline_ms`, unowned. `false` when there is no such delivery or it is
        /// still pending (then it is already on its way).
        pub(crate) async fn replay_delivery<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            sid: &str,
            now_ms: i64,
            deadline_ms: i64,
        ) -> Result<bool, $crate::StoreError> {
            let done = sqlx::query(
                "UPDATE deliveries SET status = 'pending', next_attempt_ms = $2, deadline_ms = $3, \
                 owner = NULL WHERE sid = $1 AND status <> 'pending'",
            )
            .bind(sid)
            .bind(now_ms)
            .bind(deadline_ms)
            .execute(executor)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        /// Makes every unowned pending delivery waiting for `origin` due at `now_ms` (the origin
        /// answered again); how many.
        pub(crate) async fn hasten_deliveries<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            origin: &str,
            now_ms: i64,
        ) -> Result<u64, $crate::StoreError> {
            let done = sqlx::query(
                "UPDATE deliveries SET next_attempt_ms = $2 WHERE origin = $1 \
                 AND status = 'pending' AND owner IS NULL AND next_attempt_ms > $2",
            )
            .bind(origin)
            .bind(now_ms)
            .execute(executor)
            .await?;
            Ok(done.rows_affected())
        }

        pub(crate) async fn get_delivery<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            sid: &str,
        ) -> Result<Option<$crate::Delivery>, $crate::StoreError> {
            const SQL: &str = const_format::concatcp!(
                "SELECT ",
                $crate::outbox::DELIVERY_COLUMNS,
                " FROM deliveries WHERE sid = $1"
            );
            let row = sqlx::query(SQL).bind(sid).fetch_optional(executor).await?;
            Ok(row.as_ref().map(row_to_delivery).transpose()?)
        }

        pub(crate) async fn list_deliveries<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            query: &$crate::DeliveryQuery,
        ) -> Result<Vec<$crate::Delivery>, $crate::StoreError> {
            const NEWEST_FIRST: &str = const_format::concatcp!(
                "SELECT ",
                $crate::outbox::DELIVERY_COLUMNS,
                " FROM deliveries WHERE account_sid = $1 AND ($2 IS NULL OR status = $2) \
                 AND ($3 IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4 OFFSET $5"
            );
            const OLDEST_FIRST: &str = const_format::concatcp!(
                "SELECT ",
                $crate::outbox::DELIVERY_COLUMNS,
                " FROM deliveries WHERE account_sid = $1 AND ($2 IS NULL OR status = $2) \
                 AND ($3 IS NULL OR seq > $3) ORDER BY seq LIMIT $4 OFFSET $5"
            );
            let sql = match query.order {
                $crate::Order::Descending => NEWEST_FIRST,
                $crate::Order::Ascending => OLDEST_FIRST,
            };
            let offset = if query.after_seq.is_some() { 0 } else { query.offset };
            let rows = sqlx::query(sql)
                .bind(&query.account_sid)
                .bind(&query.status)
                .bind(query.after_seq)
                .bind(query.limit)
                .bind(offset)
                .fetch_all(executor)
                .await?;
            rows.iter()
                .map(row_to_delivery)
                .collect::<Result<_, _>>()
                .map_err($crate::StoreError::from)
        }
    };
}

pub(crate) use outbox_functions;
