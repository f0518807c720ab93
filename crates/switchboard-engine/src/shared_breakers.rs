//! Circuit breakers shared by the nodes of a cluster (issue 15 item 7, product.md "Beyond
//! Twilio": "Breaker state is shared by all nodes").
//!
//! Each node keeps its breakers in its webhook client, where admitting a request costs a lock
//! and a map lookup, never a database round trip. What changes them is shared through the
//! store: the client hands every opening and closing to this task (`share_breakers`), which
//! writes it as the origin's row; and once a second the task reads the rows other nodes changed
//! since its last look and has the client adopt them. So when one node opens an origin's
//! breaker, the others skip that origin within about a second, without failing requests of
//! their own first; when a probe closes it anywhere, it closes everywhere.
//!
//! What is not shared: the count of consecutive failures before an opening (each node counts
//! its own; the first node to reach `--breaker-failures` opens it for all) and the half-open
//! probe (after the cooloff, each node lets one probe through; the first answer closes the
//! breaker everywhere).

use std::time::Duration;

use switchboard_webhook::breaker::Shared;

use crate::Engine;

/// How often a node reads the other nodes' breaker changes.
const POLL: Duration = Duration::from_secs(1);
/// How far back each read looks past the last one: a change committed late, with a database
/// time just before the last read, is still found (a change read twice is taken over twice,
/// which changes nothing).
const OVERLAP_MS: i64 = 2_000;

impl Engine {
    /// Shares this node's circuit breakers with the other nodes of its database, until
    /// shutdown. Nothing to share on a database with one node.
    pub fn share_breakers(&self) {
        if self.sole_node {
            return;
        }
        let mut changes = self.webhooks.share_breakers();
        let engine = self.clone();
        self.spawn(async move {
            let mut since = 0_i64;
            let mut poll = tokio::time::interval(POLL);
            loop {
                tokio::select! {
                    () = engine.closed() => break,
                    Some(change) = changes.recv() => {
                        let open = match change.change {
                            Shared::Opened { remaining_ms, last } => Some((
                                i64::try_from(remaining_ms).unwrap_or(i64::MAX),
                                i64::from(last.code),
                            )),
                            Shared::Closed => None,
                        };
                        if let Err(error) = engine
                            .store
                            .store_breaker(&change.origin, open, &engine.node_id)
                            .await
                        {
                            tracing::warn!(?error, origin = %change.origin, "sharing a breaker change failed");
                        }
                    }
                    _ = poll.tick() => {
                        match engine.store.breakers_since(since.saturating_sub(OVERLAP_MS)).await {
                            Ok((rows, now)) => {
                                for row in rows.iter().filter(|row| *row.updated_by != *engine.node_id) {
                                    engine.webhooks.adopt_breaker(&row.origin, shared_of(row));
                                }
                                since = now;
                            }
                            Err(error) => tracing::warn!(?error, "reading shared breakers failed"),
                        }
                    }
                }
            }
        });
    }
}

/// A stored row as the change it shares.
fn shared_of(row: &switchboard_store::BreakerRow) -> Shared {
    if !row.open {
        return Shared::Closed;
    }
    let last = row
        .last_error_code
        .and_then(|code| u32::try_from(code).ok())
        .and_then(switchboard_core::ErrorCode::lookup)
        .unwrap_or(switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE);
    Shared::Opened {
        remaining_ms: u64::try_from(row.remaining_ms).unwrap_or(0),
        last,
    }
}
