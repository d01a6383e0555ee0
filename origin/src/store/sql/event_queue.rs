//! The worker's queue of stored events: leased in arrival order, finished, failed with a
//! retry time (or dead), replayed.

use async_trait::async_trait;

use super::*;
use crate::store::EventRow;
use crate::store::pipeline::{ClaimedEvent, EventQueueStore};

#[async_trait]
impl EventQueueStore for Backend {
    async fn claim_events(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let _writer = self.write_gate().await;
        let sql = format!(
            "UPDATE events SET lease_until = $1 WHERE id IN (SELECT id FROM events \
             WHERE status IN ('received', 'failed') AND next_attempt_at <= $2 \
             AND lease_until <= $2 ORDER BY next_attempt_at, id LIMIT $3{SKIP_LOCKED}) \
             RETURNING *"
        );
        let mut claimed: Vec<ClaimedEvent> = sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        // RETURNING follows no ORDER BY: ids are time-ordered, so this is arrival order.
        claimed.sort_by(|a, b| a.event.id.cmp(&b.event.id));
        Ok(claimed)
    }

    async fn finish_event(&self, event_id: &str) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE events SET status = 'processed', lease_until = 0, last_error = NULL \
             WHERE id = $1",
        )
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ignore_event(&self, event_id: &str, reason: &str) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE events SET status = 'ignored', lease_until = 0, last_error = $1 WHERE id = $2",
        )
        .bind(reason)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn fail_event(
        &self,
        event_id: &str,
        attempts: i64,
        retry_at: Option<i64>,
        error: &str,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let status = if retry_at.is_some() { "failed" } else { "dead" };
        sqlx::query(
            "UPDATE events SET status = $1, process_attempts = $2, next_attempt_at = $3, \
             lease_until = 0, last_error = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(attempts)
        .bind(retry_at.unwrap_or(0))
        .bind(error)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn replay_event(&self, tenant_id: &str, event_id: &str) -> StoreResult<Option<EventRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE events SET status = 'received', process_attempts = 0, next_attempt_at = 0, \
             lease_until = 0 WHERE tenant_id = $1 AND id = $2 AND body_pruned_at IS NULL \
             RETURNING *",
        )
        .bind(tenant_id)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
