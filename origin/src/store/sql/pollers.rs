//! The platform pollers' rows: one per active Etsy or WooCommerce connection, leased to
//! run, finished with their checkpoint.

use async_trait::async_trait;

use super::*;
use crate::store::pipeline::{PollerRow, PollerStore};

#[async_trait]
impl PollerStore for Backend {
    async fn ensure_pollers(&self, _now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "INSERT INTO pollers (id, tenant_id, connection_id, platform, checkpoint, \
             next_run_at, lease_until, runs) \
             SELECT 'pol_' || id, tenant_id, id, platform, 0, 0, 0, 0 FROM connections \
             WHERE status = 'active' AND platform IN ('etsy', 'woocommerce') \
             ON CONFLICT DO NOTHING",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_pollers(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<PollerRow>> {
        let _writer = self.write_gate().await;
        let sql = format!(
            "UPDATE pollers SET lease_until = $1 WHERE id IN (SELECT id FROM pollers \
             WHERE next_run_at <= $2 AND lease_until <= $2 \
             AND connection_id IN (SELECT id FROM connections WHERE status = 'active') \
             ORDER BY next_run_at LIMIT $3{SKIP_LOCKED}) RETURNING *"
        );
        Ok(sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn finish_poller(
        &self,
        poller_id: &str,
        checkpoint: i64,
        next_run_at: i64,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE pollers SET checkpoint = $1, next_run_at = $2, lease_until = 0, \
             runs = runs + 1, last_run_at = $3, last_error = $4 WHERE id = $5",
        )
        .bind(checkpoint)
        .bind(next_run_at)
        .bind(now)
        .bind(error)
        .bind(poller_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
