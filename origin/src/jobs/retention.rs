//! The retention job: every `RETENTION_INTERVAL_SECS` it prunes what is older than its
//! retention (event bodies of finished events, audit rows, expired or revoked download
//! links), a bounded batch per statement. Each batch passes the write gate on its own and the
//! job yields between batches, so it never holds the SQLite writer for long and intake and
//! sends go on beside it. Never in a request.
//!
//! What is kept: an event's row (dedupe key, edge id, status, times) stays, so a replayed old
//! event is still a duplicate and delivers nothing; an event still to be processed keeps its
//! body whatever its age; a dead or ignored event stays replayable until its body goes.

use std::time::Duration;

use super::Pipeline;
use crate::ids::now_ms;
use crate::store::StoreError;
use crate::store::retention::Prunable;

/// Pause between two batches: room for other writers at the gate.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What one run pruned, per kind.
pub type Pruned = Vec<(Prunable, u64)>;

impl Pipeline {
    pub(super) async fn retention_loop(self: std::sync::Arc<Self>) {
        loop {
            match self.prune_once().await {
                Ok(pruned) => {
                    if pruned.iter().any(|(_, n)| *n > 0) {
                        let summary: Vec<String> = pruned
                            .iter()
                            .map(|(what, n)| format!("{}={n}", what.as_str()))
                            .collect();
                        tracing::info!(pruned = %summary.join(" "), "retention run");
                    }
                }
                Err(error) => tracing::warn!(%error, "retention run failed"),
            }
            tokio::time::sleep(self.settings.retention.interval).await;
        }
    }

    /// One run: each kind pruned batch by batch until a batch comes back short.
    pub async fn prune_once(&self) -> Result<Pruned, StoreError> {
        let retention = &self.settings.retention;
        let mut pruned = Vec::with_capacity(Prunable::ALL.len());
        for what in Prunable::ALL {
            let keep_ms = match what {
                Prunable::EventBodies => retention.event_body_ms,
                Prunable::OrderAudit | Prunable::TenantAudit => retention.audit_ms,
                Prunable::DownloadLinks => retention.link_ms,
            };
            let mut total = 0;
            loop {
                let now = now_ms();
                let batch = self
                    .store
                    .prune(what, now.saturating_sub(keep_ms), now, retention.batch)
                    .await?;
                total += batch;
                if batch < u64::try_from(retention.batch).unwrap_or(u64::MAX) {
                    break;
                }
                tokio::time::sleep(BETWEEN_BATCHES).await;
            }
            pruned.push((what, total));
        }
        Ok(pruned)
    }
}
