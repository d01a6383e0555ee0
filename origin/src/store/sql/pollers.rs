//! The platform pollers' rows: one per active Etsy, WooCommerce or eBay connection, leased to
//! run under a claim token, finished (by the newest claim only) with their checkpoint.

use async_trait::async_trait;

use super::*;
use crate::ids::new_id;
use crate::store::pipeline::{PollerOutcome, PollerRow, PollerStore};

#[async_trait]
impl PollerStore for Backend {
    async fn ensure_pollers(&self, _now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "INSERT INTO pollers (id, tenant_id, connection_id, platform, checkpoint, \
             next_run_at, lease_until, runs) \
             SELECT 'pol_' || id, tenant_id, id, platform, 0, 0, 0, 0 FROM connections \
             WHERE status = 'active' AND platform IN ('etsy', 'woocommerce', 'ebay') \
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
        per_tenant: i64,
    ) -> StoreResult<Vec<PollerRow>> {
        let _writer = self.write_gate().await;
        // Each tenant's due pollers take turns (its first, then everyone's second, ...), and
        // a tenant's turns count the pollers it already has running. The outer condition
        // is checked again on the row itself, so two workers never hold one poller.
        Ok(sqlx::query_as(
            "UPDATE pollers SET lease_until = $1, claim_token = $2 \
             WHERE next_run_at <= $3 AND lease_until <= $3 AND id IN (SELECT id FROM ( \
             SELECT p.id, p.next_run_at, \
             ROW_NUMBER() OVER (PARTITION BY p.tenant_id ORDER BY p.next_run_at, p.id) AS turn, \
             (SELECT COUNT(*) FROM pollers q WHERE q.tenant_id = p.tenant_id \
             AND q.lease_until > $3) AS running \
             FROM pollers p WHERE p.next_run_at <= $3 AND p.lease_until <= $3 \
             AND p.connection_id IN (SELECT id FROM connections WHERE status = 'active') \
             ) due WHERE turn + running <= $4 ORDER BY turn, next_run_at, id LIMIT $5) \
             RETURNING *",
        )
        .bind(now + lease_ms)
        .bind(new_id("clm"))
        .bind(now)
        .bind(per_tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish_poller(
        &self,
        poller_id: &str,
        claim_token: &str,
        outcome: &PollerOutcome,
        now: i64,
    ) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let written = sqlx::query(
            "UPDATE pollers SET checkpoint = $1, continuation = $2, high_water = $3, \
             next_run_at = $4, lease_until = 0, runs = runs + 1, last_run_at = $5, \
             last_error = $6 WHERE id = $7 AND claim_token = $8",
        )
        .bind(outcome.checkpoint)
        .bind(outcome.continuation)
        .bind(outcome.high_water)
        .bind(outcome.next_run_at)
        .bind(now)
        .bind(outcome.error.as_deref())
        .bind(poller_id)
        .bind(claim_token)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(written == 1)
    }
}
