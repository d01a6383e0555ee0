//! API keys: stored by hash, found while usable, touched on use, revoked and rotated.

use async_trait::async_trait;

use super::*;
use crate::store::{ApiKeyRow, KeyStore};

#[async_trait]
impl KeyStore for Backend {
    async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        insert_key(&self.pool, key).await
    }

    async fn find_usable_api_key(&self, hash: &str, now: i64) -> StoreResult<Option<ApiKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn touch_api_key(&self, key_id: &str, now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_api_key(&self, tenant_id: &str, key_id: &str) -> StoreResult<Option<ApiKeyRow>> {
        tenant_row(&self.pool, "api_keys", tenant_id, key_id).await
    }

    async fn list_api_keys(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<ApiKeyRow>> {
        fetch_page(&self.pool, tenant_query("api_keys", tenant_id), page).await
    }

    async fn revoke_api_key(
        &self,
        tenant_id: Option<&str>,
        key_id: &str,
        now: i64,
    ) -> StoreResult<Option<ApiKeyRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND tenant_id = COALESCE($3, tenant_id) RETURNING *",
        )
        .bind(now)
        .bind(key_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn rotate_api_key(
        &self,
        tenant_id: &str,
        old_key_id: &str,
        new_key: &ApiKeyRow,
        grace_until: i64,
    ) -> StoreResult<Option<ApiKeyRow>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let old: Option<ApiKeyRow> = sqlx::query_as(
            "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 \
             THEN $1 ELSE expires_at END \
             WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL RETURNING *",
        )
        .bind(grace_until)
        .bind(tenant_id)
        .bind(old_key_id)
        .fetch_optional(&mut *tx)
        .await?;
        if old.is_none() {
            return Ok(None);
        }
        insert_key(&mut *tx, new_key).await?;
        tx.commit().await?;
        Ok(old)
    }
}

/// Inserts a key, in a transaction or on the pool.
pub(super) async fn insert_key<'e, E>(executor: E, k: &ApiKeyRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, environment, scopes, \
         created_at, last_used_at, revoked_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&k.id)
    .bind(&k.tenant_id)
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.key_hash)
    .bind(&k.environment)
    .bind(&k.scopes)
    .bind(k.created_at)
    .bind(k.last_used_at)
    .bind(k.revoked_at)
    .bind(k.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}
