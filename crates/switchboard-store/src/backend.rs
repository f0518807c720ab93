//! The SQL both backends share, written once as a macro over the concrete database type.
//!
//! A macro was chosen over code generic in `sqlx::Database`: the trait bounds for a generic
//! executor over two drivers are long and leak into every signature, while both dialects accept
//! the very same statements here (`$n` placeholders, `LIMIT/OFFSET`, `LIKE … ESCAPE`).

use crate::record::{Kind, Record};

/// One write, as the backends run it and the read cache applies it.
#[derive(Debug)]
pub(crate) enum Write {
    Insert(Record),
    Update(Record),
    Delete(Kind, String),
    /// An outbox row (`outbox.rs`): never in the read cache.
    Delivery(crate::outbox::DeliveryWrite),
    /// A scheduled message's row (`schedule.rs`): never in the read cache.
    Schedule(crate::schedule::ScheduleWrite),
}

impl Write {
    /// The SID of the row it changes.
    pub(crate) fn sid(&self) -> &str {
        match self {
            Write::Insert(record) | Write::Update(record) => &record.sid,
            Write::Delete(_, sid) => sid,
            Write::Delivery(write) => write.sid(),
            Write::Schedule(write) => write.sid(),
        }
    }
}

/// Every column, in the order `row_to_record` reads them.
pub(crate) const COLUMNS: &str = "seq, sid, kind, account_sid, parent_sid, unique_key, created_ms, \
     phone_number, from_number, friendly_name, status, date_key, doc";

pub(crate) fn kind_from_str(text: &str) -> Option<Kind> {
    [
        Kind::Account,
        Kind::ApiKey,
        Kind::PhoneNumber,
        Kind::Application,
        Kind::Call,
        Kind::Message,
        Kind::Media,
        Kind::Recording,
        Kind::Transcription,
        Kind::Alert,
        Kind::LastKnownGood,
        Kind::ConsoleSession,
        Kind::OutgoingCallerId,
        Kind::CallerIdVerification,
        Kind::MessagingService,
        Kind::ServicePhoneNumber,
        Kind::Conference,
        Kind::Queue,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == text)
}

/// Maps a unique-constraint violation to `Conflict`, everything else to `Database`.
pub(crate) fn map_insert_error(error: sqlx::Error, record: &Record) -> crate::StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => crate::StoreError::Conflict(
            record
                .unique_key
                .clone()
                .unwrap_or_else(|| record.sid.clone()),
        ),
        _ => crate::StoreError::Database(error),
    }
}

macro_rules! sql_functions {
    ($db:ty) => {
        fn row_to_record<R: sqlx::Row>(row: &R) -> Result<crate::Record, crate::StoreError>
        where
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> &'r str: sqlx::ColumnIndex<R>,
        {
            let kind: String = row.try_get("kind")?;
            let doc: String = row.try_get("doc")?;
            Ok(crate::Record {
                seq: row.try_get("seq")?,
                sid: row.try_get("sid")?,
                kind: crate::backend::kind_from_str(&kind)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown kind {kind:?}").into()))?,
                account_sid: row.try_get("account_sid")?,
                parent_sid: row.try_get("parent_sid")?,
                unique_key: row.try_get("unique_key")?,
                created_ms: row.try_get("created_ms")?,
                phone_number: row.try_get("phone_number")?,
                from_number: row.try_get("from_number")?,
                friendly_name: row.try_get("friendly_name")?,
                status: row.try_get("status")?,
                date_key: row.try_get("date_key")?,
                doc: serde_json::from_str(&doc)?,
            })
        }

        async fn insert_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            record: &crate::Record,
        ) -> Result<i64, crate::StoreError> {
            sqlx::query_scalar(
                "INSERT INTO resources (sid, kind, account_sid, parent_sid, unique_key, created_ms, \
                 phone_number, from_number, friendly_name, status, date_key, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
            )
            .bind(&record.sid)
            .bind(record.kind.as_str())
            .bind(&record.account_sid)
            .bind(&record.parent_sid)
            .bind(&record.unique_key)
            .bind(record.created_ms)
            .bind(&record.phone_number)
            .bind(&record.from_number)
            .bind(&record.friendly_name)
            .bind(&record.status)
            .bind(record.date_key)
            .bind(record.doc.to_string())
            .fetch_one(executor)
            .await
            .map_err(|error| crate::backend::map_insert_error(error, record))
        }

        async fn get_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            kind: crate::Kind,
            sid: &str,
        ) -> Result<Option<crate::Record>, crate::StoreError> {
            const SQL: &str = const_format::concatcp!(
                "SELECT ",
                crate::backend::COLUMNS,
                " FROM resources WHERE sid = $1 AND kind = $2"
            );
            let row = sqlx::query(SQL).bind(sid).bind(kind.as_str()).fetch_optional(executor).await?;
            row.as_ref().map(row_to_record).transpose()
        }

        async fn update_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            record: &crate::Record,
        ) -> Result<bool, crate::StoreError> {
            let result = sqlx::query(
                "UPDATE resources SET account_sid = $3, parent_sid = $4, unique_key = $5, \
                 phone_number = $6, from_number = $7, friendly_name = $8, status = $9, date_key = $10, \
                 doc = $11 WHERE sid = $1 AND kind = $2",
            )
            .bind(&record.sid)
            .bind(record.kind.as_str())
            .bind(&record.account_sid)
            .bind(&record.parent_sid)
            .bind(&record.unique_key)
            .bind(&record.phone_number)
            .bind(&record.from_number)
            .bind(&record.friendly_name)
            .bind(&record.status)
            .bind(record.date_key)
            .bind(record.doc.to_string())
            .execute(executor)
            .await
            .map_err(|error| crate::backend::map_insert_error(error, record))?;
            Ok(result.rows_affected() > 0)
        }

        async fn delete_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            kind: crate::Kind,
            sid: &str,
        ) -> Result<bool, crate::StoreError> {
            let result = sqlx::query("DELETE FROM resources WHERE sid = $1 AND kind = $2")
                .bind(sid)
                .bind(kind.as_str())
                .execute(executor)
                .await?;
            Ok(result.rows_affected() > 0)
        }

        /// Runs one write: an insert's `seq`, or 1/0 for an update or delete that found its row
        /// or did not.
        async fn write_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            write: &crate::backend::Write,
        ) -> crate::cache::Answer {
            match write {
                crate::backend::Write::Insert(record) => insert_with(executor, record).await,
                crate::backend::Write::Update(record) => {
                    update_with(executor, record).await.map(i64::from)
                }
                crate::backend::Write::Delete(kind, sid) => {
                    delete_with(executor, *kind, sid).await.map(i64::from)
                }
                crate::backend::Write::Delivery(write) => {
                    delivery_write_with(executor, write).await
                }
                crate::backend::Write::Schedule(write) => {
                    schedule_write_with(executor, write).await
                }
            }
        }

        async fn list_with<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            query: &crate::ListQuery,
        ) -> Result<Vec<crate::Record>, crate::StoreError> {
            let (tail, binds) = query.sql_tail();
            let sql = format!("SELECT {} FROM resources{tail}", crate::backend::COLUMNS);
            // The text holds only static fragments and placeholders (see `ListQuery::sql_tail`).
            let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
            for bind in binds {
                statement = match bind {
                    crate::record::Bind::Text(text) => statement.bind(text),
                    crate::record::Bind::Int(number) => statement.bind(number),
                };
            }
            let rows = statement.fetch_all(executor).await?;
            rows.iter().map(row_to_record).collect()
        }
    };
}

pub(crate) use sql_functions;
