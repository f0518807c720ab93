//! This node in its cluster (product.md "Several nodes"): it registers in the database when it
//! starts, renews its heartbeat every third of the lease (`--node-lease`), says `draining` once
//! shutdown begins, and watches for dead nodes: a node whose heartbeat is older than the lease
//! by the database's clock is claimed by exactly one survivor (the store's conditional claim),
//! which finishes its calls and resumes its deliveries as a restart would (`recovery.rs`).
//!
//! On SQLite there is one node: it registers and beats (so `switchboard nodes` shows it), and
//! its own restart finishes its work; nobody takes anything over.

use std::time::Duration;

use switchboard_store::NodeBeat;

use crate::{Engine, EngineResult, now_ms};

/// How this node joins its cluster.
#[derive(Clone, Debug)]
pub struct Membership {
    /// Where this node serves HTTP (shown to operators).
    pub address: String,
    /// A node whose heartbeat is older than this is dead.
    pub lease: Duration,
}

/// The longest pause between two looks for dead nodes: with a long lease, a death is still
/// noticed within a couple of seconds of the lease running out.
const MAX_WATCH_INTERVAL: Duration = Duration::from_secs(2);

impl Engine {
    /// Registers this node (a new start) and starts its heartbeat and its watch for dead
    /// nodes, on a task of the engine that ends when shutdown begins.
    pub async fn join_cluster(&self, membership: Membership) -> EngineResult<()> {
        let started_ms = now_ms();
        self.store
            .node_heartbeat(&self.beat(&membership, started_ms), true)
            .await?;
        let engine = self.clone();
        self.spawn(async move {
            let beat_every = membership.lease / 3;
            let watch_every = beat_every.min(MAX_WATCH_INTERVAL);
            let mut next_beat = tokio::time::Instant::now() + beat_every;
            loop {
                tokio::select! {
                    () = engine.closing() => break,
                    () = tokio::time::sleep(watch_every) => {}
                }
                if tokio::time::Instant::now() >= next_beat {
                    next_beat += beat_every;
                    let beat = engine.beat(&membership, started_ms);
                    if let Err(error) = engine.store.node_heartbeat(&beat, false).await {
                        tracing::error!(?error, "renewing this node's lease failed");
                    }
                }
                if !engine.sole_node
                    && let Err(error) = engine.take_over_dead(membership.lease).await
                {
                    tracing::error!(?error, "taking over a dead node failed");
                }
            }
            // Draining: the cluster (and `switchboard nodes`) sees it at once.
            let beat = engine.beat(&membership, started_ms);
            if let Err(error) = engine.store.node_heartbeat(&beat, false).await {
                tracing::warn!(?error, "reporting this node as draining failed");
            }
        });
        Ok(())
    }

    fn beat(&self, membership: &Membership, started_ms: i64) -> NodeBeat {
        NodeBeat {
            id: self.node_id.to_string(),
            address: membership.address.clone(),
            status: if self.is_closing() {
                "draining"
            } else {
                "live"
            },
            active_calls: i64::try_from(self.live.count()).unwrap_or(i64::MAX),
            started_ms,
        }
    }

    /// Claims every dead, unclaimed node and finishes its work.
    async fn take_over_dead(&self, lease: Duration) -> EngineResult<()> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        for node in self.store.nodes(lease_ms).await? {
            if node.status != "dead" || node.taken_over_by.is_some() || node.id == *self.node_id {
                continue;
            }
            if !self
                .store
                .claim_node(&node.id, &self.node_id, lease_ms)
                .await?
            {
                continue;
            }
            let finished = self.take_over(&node.id).await?;
            tracing::warn!(
                dead = %node.id,
                calls = finished.calls,
                messages = finished.messages,
                "took over a dead node's work"
            );
            metrics::counter!("switchboard_node_takeovers_total").increment(1);
        }
        Ok(())
    }
}
