//! API keys: stored by hash, found while usable, touched on use, revoked and rotated under
//! the tenant's cap; and the tenant audit log each change writes in its own transaction.

use async_trait::async_trait;

use super::*;
use crate::domain::keys::audit;
use crate::ids::rfc3339;
use crate::store::{ApiKeyRow, KeyChange, KeyStore, KeyWrite, TenantAuditRow};

#[async_trait]
impl KeyStore for Backend {
    async fn insert_api_key(
        &self,
        key: &ApiKeyRow,
        change: &KeyChange,
    ) -> StoreResult<KeyWrite<()>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        if let Some(usable) = full(&mut tx, &key.tenant_id, change).await? {
            return Ok(KeyWrite::LimitReached(usable));
        }
        insert_key(&mut *tx, key).await?;
        let detail = format!("name {:?}", key.name);
        insert_audit(
            &mut *tx,
            &TenantAuditRow::about(key, audit::CREATED, change, detail),
        )
        .await?;
        tx.commit().await?;
        Ok(KeyWrite::Done(()))
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
        change: &KeyChange,
    ) -> StoreResult<Option<ApiKeyRow>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let row: Option<ApiKeyRow> = sqlx::query_as(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND tenant_id = COALESCE($3, tenant_id) RETURNING *",
        )
        .bind(change.now)
        .bind(key_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(key) = &row {
            let entry = TenantAuditRow::about(key, audit::REVOKED, change, String::new());
            insert_audit(&mut *tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn rotate_api_key(
        &self,
        tenant_id: &str,
        old_key_id: &str,
        new_key: &ApiKeyRow,
        grace_until: i64,
        change: &KeyChange,
    ) -> StoreResult<KeyWrite<ApiKeyRow>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        // The old key stays usable through its grace period, so the new one needs a slot.
        if let Some(usable) = full(&mut tx, tenant_id, change).await? {
            return Ok(KeyWrite::LimitReached(usable));
        }
        let old: Option<ApiKeyRow> = sqlx::query_as(
            "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 \
             THEN $1 ELSE expires_at END \
             WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $4) RETURNING *",
        )
        .bind(grace_until)
        .bind(tenant_id)
        .bind(old_key_id)
        .bind(change.now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(old) = old else {
            return Ok(KeyWrite::Missing);
        };
        insert_key(&mut *tx, new_key).await?;
        let detail = format!(
            "replaces {}, which keeps working until {}",
            old.id,
            rfc3339(old.expires_at.unwrap_or(grace_until))
        );
        let entry = TenantAuditRow::about(new_key, audit::ROTATED, change, detail);
        insert_audit(&mut *tx, &entry).await?;
        tx.commit().await?;
        Ok(KeyWrite::Done(old))
    }

    async fn record_audit(&self, entry: &TenantAuditRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        insert_audit(&self.pool, entry).await
    }

    async fn list_audit(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<TenantAuditRow>> {
        fetch_page(&self.pool, tenant_query("tenant_audit", tenant_id), page).await
    }
}

/// Whether the tenant already holds as many usable keys as `change` allows: the count when
/// it does. Locks the tenant's row first (PostgreSQL; SQLite's write transaction is already
/// the only writer), so two concurrent changes cannot both take the last slot.
async fn full(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    change: &KeyChange<'_>,
) -> StoreResult<Option<i64>> {
    let Some(cap) = change.max_usable_keys else {
        return Ok(None);
    };
    sqlx::query(&format!("SELECT id FROM tenants WHERE id = $1{LOCK_ROW}"))
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?;
    let (usable,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(tenant_id)
    .bind(change.now)
    .fetch_one(&mut **tx)
    .await?;
    Ok((usable >= cap).then_some(usable))
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

/// Inserts an audit entry, in a transaction or on the pool.
pub(super) async fn insert_audit<'e, E>(executor: E, a: &TenantAuditRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "INSERT INTO tenant_audit (id, tenant_id, at, action, actor_key_id, key_id, key_prefix, \
         environment, scopes, reason, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&a.id)
    .bind(&a.tenant_id)
    .bind(a.at)
    .bind(&a.action)
    .bind(&a.actor_key_id)
    .bind(&a.key_id)
    .bind(&a.key_prefix)
    .bind(&a.environment)
    .bind(&a.scopes)
    .bind(&a.reason)
    .bind(&a.detail)
    .execute(executor)
    .await?;
    Ok(())
}
