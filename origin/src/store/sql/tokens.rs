//! Token sets and their refresh claims on `connections`: a token set saved in one statement
//! (compare-and-swap on the generation for a refresh), refreshes leased under a claim token
//! (one per connection at a time, across processes: on PostgreSQL the claim's condition is
//! checked again on the locked row), and `needs_reconnect` with its alert in one transaction.

use async_trait::async_trait;

use super::allocation::raise_alert;
use super::*;
use crate::domain::tokens::{NEEDS_RECONNECT, NEEDS_RECONNECT_ALERT};
use crate::store::ConnectionRow;
use crate::store::tokens::{Reconnect, RefreshDeferred, SaveTokens, TokenSet, TokenStore};

#[async_trait]
impl TokenStore for Backend {
    async fn save_tokens(
        &self,
        tenant_id: &str,
        connection_id: &str,
        set: TokenSet<'_>,
        how: SaveTokens<'_>,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let _writer = self.write_gate().await;
        let (condition, generation) = match how {
            // A new consent makes the connection whole again.
            SaveTokens::Replace => (", status = 'active' WHERE tenant_id = $6 AND id = $7", None),
            // Not on the claim: whoever got tokens from a rotating platform must keep them, or
            // they are lost; the generation says whether they are still the newest.
            SaveTokens::Refreshed { generation, .. } => (
                " WHERE tenant_id = $6 AND id = $7 AND token_generation = $8 \
                 AND status = 'active'",
                Some(generation),
            ),
        };
        let sql = format!(
            "UPDATE connections SET secrets_sealed = $1, access_expires_at = $2, \
             refresh_expires_at = $3, refresh_due_at = $4, updated_at = $5, \
             token_generation = token_generation + 1, refresh_failures = 0, \
             refresh_claim = NULL, refresh_lease_until = 0{condition} \
             RETURNING token_generation"
        );
        let mut query = sqlx::query_as::<_, (i64,)>(&sql)
            .bind(set.secrets_sealed)
            .bind(set.times.access_expires_at)
            .bind(set.times.refresh_expires_at)
            .bind(set.times.refresh_due_at)
            .bind(now)
            .bind(tenant_id)
            .bind(connection_id);
        if let Some(generation) = generation {
            query = query.bind(generation);
        }
        let mut tx = self.begin_write().await?;
        let saved = query
            .fetch_optional(&mut *tx)
            .await
            .map_err(account_conflict)?
            .map(|(g,)| g);
        // A new consent mends the connection: its reconnect alert goes.
        if saved.is_some() && matches!(how, SaveTokens::Replace) {
            sqlx::query("DELETE FROM alerts WHERE tenant_id = $1 AND kind = $2 AND subject = $3")
                .bind(tenant_id)
                .bind(NEEDS_RECONNECT_ALERT)
                .bind(connection_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(saved)
    }

    async fn claim_due_refreshes(
        &self,
        claim: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRow>> {
        let _writer = self.write_gate().await;
        let sql = format!(
            "UPDATE connections SET refresh_claim = $1, refresh_lease_until = $2 \
             WHERE status = 'active' AND refresh_due_at <= $3 AND refresh_lease_until <= $3 \
             AND id IN (SELECT id FROM connections WHERE status = 'active' \
             AND platform IN ('ebay', 'etsy') AND refresh_due_at IS NOT NULL \
             AND refresh_due_at <= $3 AND refresh_lease_until <= $3 \
             ORDER BY refresh_due_at, id LIMIT $4{SKIP_LOCKED}) RETURNING *"
        );
        Ok(sqlx::query_as(&sql)
            .bind(claim)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn claim_refresh(
        &self,
        tenant_id: &str,
        connection_id: &str,
        claim: &str,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<ConnectionRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE connections SET refresh_claim = $1, refresh_lease_until = $2 \
             WHERE tenant_id = $3 AND id = $4 AND status = 'active' \
             AND refresh_lease_until <= $5 RETURNING *",
        )
        .bind(claim)
        .bind(now + lease_ms)
        .bind(tenant_id)
        .bind(connection_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn defer_refresh(
        &self,
        connection_id: &str,
        deferred: RefreshDeferred<'_>,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE connections SET refresh_due_at = $1, refresh_failures = refresh_failures + 1, \
             refresh_claim = NULL, refresh_lease_until = 0 \
             WHERE id = $2 AND refresh_claim = $3",
        )
        .bind(deferred.retry_at)
        .bind(connection_id)
        .bind(deferred.claim)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_refresh(&self, connection_id: &str, claim: &str) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE connections SET refresh_claim = NULL, refresh_lease_until = 0 \
             WHERE id = $1 AND refresh_claim = $2",
        )
        .bind(connection_id)
        .bind(claim)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_needs_reconnect(
        &self,
        tenant_id: &str,
        which: Reconnect<'_>,
        detail: &serde_json::Value,
        now: i64,
    ) -> StoreResult<u64> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let marked: Vec<(String,)> = match which {
            Reconnect::Warning { connection_id } => vec![(connection_id.to_owned(),)],
            Reconnect::Connection {
                connection_id,
                generation,
            } => {
                let sql = stop_active("id = $3 AND ($4 IS NULL OR token_generation = $4)");
                sqlx::query_as(&sql)
                    .bind(now)
                    .bind(tenant_id)
                    .bind(connection_id)
                    .bind(generation)
                    .fetch_all(&mut *tx)
                    .await?
            }
            Reconnect::Account {
                platform,
                account_id,
            } => {
                let sql = stop_active("platform = $3 AND account_id = $4");
                sqlx::query_as(&sql)
                    .bind(now)
                    .bind(tenant_id)
                    .bind(platform)
                    .bind(account_id)
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        for (id,) in &marked {
            let mut detail = detail.clone();
            detail["connection_id"] = id.clone().into();
            raise_alert(&mut tx, tenant_id, NEEDS_RECONNECT_ALERT, id, &detail, now).await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(marked.len()).unwrap_or(u64::MAX))
    }
}

/// The statement that marks the tenant's (`$2`) active connections matching `condition`
/// (on `$3`, `$4`) `needs_reconnect` at `$1`, dropping any refresh claim: their ids.
fn stop_active(condition: &str) -> String {
    format!(
        "UPDATE connections SET status = '{NEEDS_RECONNECT}', updated_at = $1, \
         refresh_claim = NULL, refresh_lease_until = 0 \
         WHERE tenant_id = $2 AND status = 'active' AND {condition} RETURNING id"
    )
}
