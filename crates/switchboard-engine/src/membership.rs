//! This node in its cluster (product.md "Several nodes"): it registers in the database when it
//! starts, renews its heartbeat every third of the lease (`--node-lease`), says `draining` once
//! shutdown begins, and watches for dead nodes: a node whose heartbeat is older than the lease
//! by the database's clock is claimed by exactly one survivor (the store's conditional claim),
//! which finishes its calls and resumes its deliveries as a restart would (`recovery.rs`).
//!
//! On SQLite there is one node: it registers and beats (so `switchboard nodes` shows it), and
//! its own restart finishes its work; nobody takes anything over.

use std::time::Duration;

use switchboard_store::{Kind, NodeBeat};

use crate::voice::leg;
use crate::{Engine, EngineResult, now_ms};

/// Which node answers a request about a call (product.md "Several nodes": a live-call request
/// sent to any node reaches the owner and answers exactly as the owner would).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOwner {
    /// This node: the call runs here, ran here, was taken over by this node, is unknown, or the
    /// database has one node.
    Here,
    /// Another live node, reached at its base URL.
    Node { id: String, url: String },
}

/// How often a request about a call of a dead node looks whether a survivor has taken it over.
const TAKEOVER_POLL: Duration = Duration::from_millis(200);

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

    /// Who answers a request about the call `sid`: the node running it, or (its node dead) the
    /// node that took it over. While a dead owner is not yet taken over and the call is not
    /// finished, this waits for the takeover (at most the lease plus 5 s), so such a request
    /// answers with the call's final state, never hangs and never acts on a call no node runs.
    pub async fn call_owner(&self, sid: &str) -> EngineResult<CallOwner> {
        if self.sole_node || self.live.is_live(sid) {
            return Ok(CallOwner::Here);
        }
        let lease_ms = i64::try_from(self.node_lease.as_millis()).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + self.node_lease + Duration::from_secs(5);
        loop {
            let Some(record) = self.store.get_shared(Kind::Call, sid).await? else {
                return Ok(CallOwner::Here);
            };
            let Some(owner) = record.doc["engine_node"].as_str() else {
                return Ok(CallOwner::Here);
            };
            if owner == &*self.node_id {
                return Ok(CallOwner::Here);
            }
            let nodes = self.store.nodes(lease_ms).await?;
            let find = |id: &str| nodes.iter().find(|node| node.id == id);
            let Some(node) = find(owner) else {
                return Ok(CallOwner::Here);
            };
            if node.status != "dead" {
                return Ok(CallOwner::Node {
                    id: node.id.clone(),
                    url: node.address.clone(),
                });
            }
            match node.taken_over_by.as_deref() {
                Some(heir) if heir == &*self.node_id => return Ok(CallOwner::Here),
                Some(heir) => {
                    return Ok(match find(heir) {
                        Some(node) if node.status != "dead" => CallOwner::Node {
                            id: node.id.clone(),
                            url: node.address.clone(),
                        },
                        _ => CallOwner::Here,
                    });
                }
                None => {
                    let finished = leg::is_terminal(record.status.as_deref().unwrap_or_default());
                    if finished || tokio::time::Instant::now() >= deadline {
                        return Ok(CallOwner::Here);
                    }
                }
            }
            tokio::time::sleep(TAKEOVER_POLL).await;
        }
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
