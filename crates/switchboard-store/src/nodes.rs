//! Node membership (product.md "Several nodes"): each node registers in the `nodes` table and
//! renews its heartbeat; a node whose heartbeat is older than the lease is dead, and exactly one
//! survivor claims it to finish its unfinished work.
//!
//! Every time here is the database's clock, never a node's: the heartbeat is written as the
//! database's "now", and a heartbeat's age is computed by the database too, so nodes whose
//! clocks disagree still agree on who is dead. The claim is one conditional `UPDATE` (only an
//! unclaimed node whose heartbeat is older than the lease), so two survivors racing for the same
//! dead node cannot both win.
//!
//! The statements are the same on both backends but for the clock expression; they are written
//! once as a macro over the pool type, as `backend.rs` does.

/// What a node writes about itself on each heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBeat {
    pub id: String,
    /// Where it serves HTTP (for operators; nodes do not call each other yet).
    pub address: String,
    /// `live` or `draining`.
    pub status: &'static str,
    /// Calls it is running.
    pub active_calls: i64,
    /// When it started (its own clock; informational).
    pub started_ms: i64,
}

/// A node as the database sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub address: String,
    /// `live`, `draining`, or `dead` (no heartbeat within the lease).
    pub status: String,
    pub active_calls: i64,
    /// The last heartbeat (the database's clock, epoch milliseconds).
    pub heartbeat_ms: i64,
    /// How long ago that was, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// The node that finished this one's work after it died, once one has claimed it.
    pub taken_over_by: Option<String>,
}

macro_rules! node_functions {
    ($pool:ty, $clock:literal) => {
        /// Registers the node (a new start: any earlier takeover claim is cleared) or renews its
        /// heartbeat.
        pub(crate) async fn node_heartbeat(
            pool: &$pool,
            beat: &$crate::nodes::NodeBeat,
            register: bool,
        ) -> Result<(), $crate::StoreError> {
            if register {
                let sql = concat!("INSERT INTO nodes (id, address, started_ms, heartbeat_ms, status, active_calls, taken_over_by) \
                     VALUES ($1, $2, $3, ", $clock, ", $4, $5, NULL) \
                     ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                     started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms, \
                     status = excluded.status, active_calls = excluded.active_calls, taken_over_by = NULL");
                sqlx::query(sql)
                    .bind(&beat.id)
                    .bind(&beat.address)
                    .bind(beat.started_ms)
                    .bind(beat.status)
                    .bind(beat.active_calls)
                    .execute(pool)
                    .await?;
            } else {
                let sql = concat!("UPDATE nodes SET heartbeat_ms = ", $clock, ", status = $2, active_calls = $3 WHERE id = $1");
                sqlx::query(sql)
                    .bind(&beat.id)
                    .bind(beat.status)
                    .bind(beat.active_calls)
                    .execute(pool)
                    .await?;
            }
            Ok(())
        }

        /// Every node, by id, with its status under `lease_ms`.
        pub(crate) async fn nodes(
            pool: &$pool,
            lease_ms: i64,
        ) -> Result<Vec<$crate::nodes::NodeRow>, $crate::StoreError> {
            use sqlx::Row;
            let sql = concat!("SELECT id, address, status, active_calls, heartbeat_ms, \
                 (", $clock, " - heartbeat_ms) AS age, taken_over_by FROM nodes ORDER BY id");
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| {
                    let age: i64 = row.try_get("age")?;
                    let stored: String = row.try_get("status")?;
                    Ok($crate::nodes::NodeRow {
                        id: row.try_get("id")?,
                        address: row.try_get("address")?,
                        status: if age > lease_ms { "dead".to_owned() } else { stored },
                        active_calls: row.try_get("active_calls")?,
                        heartbeat_ms: row.try_get("heartbeat_ms")?,
                        heartbeat_age_ms: age,
                        taken_over_by: row.try_get("taken_over_by")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err($crate::StoreError::from)
        }

        /// Claims the dead node `dead` for `by`: true for exactly one caller, and only while
        /// `dead`'s heartbeat is older than `lease_ms` and no one has claimed it since it last
        /// registered.
        pub(crate) async fn claim_node(
            pool: &$pool,
            dead: &str,
            by: &str,
            lease_ms: i64,
        ) -> Result<bool, $crate::StoreError> {
            let sql = concat!("UPDATE nodes SET taken_over_by = $2 WHERE id = $1 AND taken_over_by IS NULL \
                 AND (", $clock, " - heartbeat_ms) > $3");
            let done = sqlx::query(sql)
                .bind(dead)
                .bind(by)
                .bind(lease_ms)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        }
    };
}

pub(crate) use node_functions;
