//! The retention job's statements: each prunes one bounded batch in one short write
//! transaction (the write gate is held for that statement only), oldest rows first. Rows are
//! taken with `SKIP LOCKED` on PostgreSQL, so replicas pruning at once share the work.

use async_trait::async_trait;

use super::*;
use crate::store::retention::{BuyerErasure, ErasureReport, Prunable, RetentionStore};

/// The statuses of events done with: their bodies may go once they are old enough.
const FINISHED: &str = "('processed', 'ignored', 'dead')";

#[async_trait]
impl RetentionStore for Backend {
    async fn prune(&self, what: Prunable, before: i64, now: i64, limit: i64) -> StoreResult<u64> {
        let sql = match what {
            // The status is checked again by the UPDATE itself: an event replayed meanwhile
            // (back to `received`) keeps its body.
            Prunable::EventBodies => format!(
                "UPDATE events SET body = '', body_pruned_at = $3 WHERE id IN (SELECT id \
                 FROM events WHERE body_pruned_at IS NULL AND stored_at < $1 \
                 AND status IN {FINISHED} ORDER BY stored_at LIMIT $2{SKIP_LOCKED}) \
                 AND status IN {FINISHED}"
            ),
            Prunable::OrderAudit => format!(
                "DELETE FROM order_audit WHERE id IN (SELECT id FROM order_audit \
                 WHERE at < $1 ORDER BY at LIMIT $2{SKIP_LOCKED})"
            ),
            Prunable::TenantAudit => format!(
                "DELETE FROM tenant_audit WHERE id IN (SELECT id FROM tenant_audit \
                 WHERE at < $1 ORDER BY at LIMIT $2{SKIP_LOCKED})"
            ),
            Prunable::DownloadLinks => format!(
                "DELETE FROM download_links WHERE id IN (SELECT id FROM download_links \
                 WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2{SKIP_LOCKED})"
            ),
        };
        let mut query = sqlx::query(&sql).bind(before).bind(limit);
        if what == Prunable::EventBodies {
            query = query.bind(now);
        }
        let _writer = self.write_gate().await;
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    async fn event_body_pruned_at(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<i64>> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT body_pruned_at FROM events WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(at,)| at))
    }

    async fn erase_buyer(&self, erasure: BuyerErasure<'_>, now: i64) -> StoreResult<ErasureReport> {
        super::erasure::erase_buyer(self, erasure, now).await
    }
}
