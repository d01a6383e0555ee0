//! Connect attempts, and the connection a completed re-authorisation rewrites.

use async_trait::async_trait;

use super::*;
use crate::store::{ConnectAttemptRow, ConnectStore, ConnectionRow};

/// Expired attempts are kept a day (for the return page), then dropped.
const KEEP_EXPIRED_MS: i64 = 86_400_000;

#[async_trait]
impl ConnectStore for Backend {
    async fn insert_connect_attempt(&self, a: &ConnectAttemptRow, now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM connect_attempts WHERE expires_at < $1")
            .bind(now.saturating_sub(KEEP_EXPIRED_MS))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO connect_attempts (id, tenant_id, platform, connection_id, store_url, \
             code_verifier_sealed, created_at, expires_at, used_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&a.id)
        .bind(&a.tenant_id)
        .bind(&a.platform)
        .bind(a.connection_id.as_deref())
        .bind(a.store_url.as_deref())
        .bind(a.code_verifier_sealed.as_deref())
        .bind(a.created_at)
        .bind(a.expires_at)
        .bind(a.used_at)
        .bind(a.outcome.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_connect_attempt(&self, state: &str) -> StoreResult<Option<ConnectAttemptRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM connect_attempts WHERE id = $1")
                .bind(state)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn use_connect_attempt(&self, state: &str, now: i64) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let used = sqlx::query(
            "UPDATE connect_attempts SET used_at = $1 \
             WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(state)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(used == 1)
    }

    async fn finish_connect_attempt(
        &self,
        state: &str,
        outcome: &str,
        connection_id: Option<&str>,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE connect_attempts SET outcome = $1, \
             connection_id = COALESCE($2, connection_id) WHERE id = $3",
        )
        .bind(outcome)
        .bind(connection_id)
        .bind(state)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reauthorise_connection(
        &self,
        tenant_id: &str,
        id: &str,
        secrets_sealed: &str,
        account_id: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE connections SET secrets_sealed = $1, \
             account_id = COALESCE($2, account_id), status = 'active', last_error = NULL, \
             updated_at = $3 WHERE tenant_id = $4 AND id = $5 RETURNING *",
        )
        .bind(secrets_sealed)
        .bind(account_id)
        .bind(now)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(account_conflict)?)
    }
}
