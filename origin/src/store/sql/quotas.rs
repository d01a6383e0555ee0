//! A tenant's use of file storage, and an upload recorded only within the tenant's quota.

use async_trait::async_trait;

use super::*;
use crate::store::retention::{QuotaStore, StorageUsage};

#[async_trait]
impl QuotaStore for Backend {
    async fn storage_usage(
        &self,
        tenant_id: &str,
        pending_since: i64,
    ) -> StoreResult<StorageUsage> {
        usage_in(&self.pool, tenant_id, pending_since).await
    }

    async fn complete_file_within(
        &self,
        file_id: &str,
        size_bytes: i64,
        sha256: &str,
        now: i64,
        max_bytes: i64,
    ) -> StoreResult<Result<(), StorageUsage>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let (tenant_id, status): (String, String) =
            sqlx::query_as("SELECT tenant_id, status FROM product_files WHERE id = $1")
                .bind(file_id)
                .fetch_one(&mut *tx)
                .await?;
        // Another upload of this file was recorded first: its bytes are the file's.
        if status != "pending" {
            return Ok(Ok(()));
        }
        // The tenant's row is the lock two uploads of one tenant completing at once (on two
        // PostgreSQL connections) take in turn, so both cannot pass the same remaining room.
        sqlx::query(&format!("SELECT id FROM tenants WHERE id = $1{LOCK_ROW}"))
            .bind(&tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
        let usage = usage_in(&mut *tx, &tenant_id, now).await?;
        if usage.bytes.saturating_add(size_bytes) > max_bytes {
            return Ok(Err(usage));
        }
        sqlx::query(
            "UPDATE product_files SET status = 'uploaded', size_bytes = $1, sha256 = $2, \
             uploaded_at = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(size_bytes)
        .bind(sha256)
        .bind(now)
        .bind(file_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}

async fn usage_in<'e, E>(
    executor: E,
    tenant_id: &str,
    pending_since: i64,
) -> StoreResult<StorageUsage>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let (bytes, files): (Option<i64>, i64) = sqlx::query_as(
        "SELECT CAST(SUM(CASE WHEN status = 'uploaded' THEN COALESCE(size_bytes, 0) ELSE 0 END) \
         AS BIGINT), COUNT(*) FROM product_files WHERE tenant_id = $1 \
         AND (status = 'uploaded' OR (status = 'pending' AND created_at >= $2))",
    )
    .bind(tenant_id)
    .bind(pending_since)
    .fetch_one(executor)
    .await?;
    Ok(StorageUsage {
        bytes: bytes.unwrap_or(0),
        files,
    })
}
