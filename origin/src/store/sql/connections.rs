//! Platform connections: the tenant's CRUD, what ingest checks of every event, and what the
//! pipeline stamps on them (last event, warnings, rotated secrets, deactivation).

use async_trait::async_trait;

use super::*;
use crate::domain::connections::ConnectionState;
use crate::store::{ConnectionRow, ConnectionStore, PlatformAccount};

#[async_trait]
impl ConnectionStore for Backend {
    async fn insert_connection(&self, c: &ConnectionRow, max: i64) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let inserted = sqlx::query(
            "INSERT INTO connections (id, tenant_id, platform, status, store_url, shop_id, \
             endpoint_url, secrets_sealed, last_event_at, last_error, created_at, updated_at, \
             account_id, settings, access_expires_at, refresh_expires_at, refresh_due_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, $18 \
             WHERE (SELECT COUNT(*) FROM connections WHERE tenant_id = $2) < $14",
        )
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.platform)
        .bind(&c.status)
        .bind(c.store_url.as_deref())
        .bind(c.shop_id.as_deref())
        .bind(c.endpoint_url.as_deref())
        .bind(&c.secrets_sealed)
        .bind(c.last_event_at)
        .bind(c.last_error.as_deref())
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.account_id.as_deref())
        .bind(max)
        .bind(&c.settings)
        .bind(c.tokens.access_expires_at)
        .bind(c.tokens.refresh_expires_at)
        .bind(c.tokens.refresh_due_at)
        .execute(&self.pool)
        .await
        .map_err(account_conflict)?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn delete_connection(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM pollers WHERE tenant_id = $1 AND connection_id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM connections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn list_connections(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<ConnectionRow>> {
        fetch_page(&self.pool, tenant_query("connections", tenant_id), page).await
    }

    async fn all_connections(&self, tenant_id: &str) -> StoreResult<Vec<ConnectionRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM connections WHERE tenant_id = $1 ORDER BY id")
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn connection_states(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<Vec<ConnectionState>>> {
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT c.id, c.platform, c.status FROM tenants t \
             LEFT JOIN connections c ON c.tenant_id = t.id WHERE t.id = $1",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.into_iter()
                .filter_map(|(id, p, s)| Some((id?, p?, s?)))
                .collect(),
        ))
    }

    async fn get_connection(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConnectionRow>> {
        tenant_row(&self.pool, "connections", tenant_id, id).await
    }

    async fn set_connection_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE connections SET status = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND id = $4 RETURNING *",
        )
        .bind(status)
        .bind(now)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_connection_secrets(
        &self,
        connection_id: &str,
        sealed: &str,
        now: i64,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("UPDATE connections SET secrets_sealed = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now)
            .bind(connection_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn account_connections(
        &self,
        account: PlatformAccount<'_>,
    ) -> StoreResult<Vec<ConnectionRow>> {
        let (sql, id) = match account {
            PlatformAccount::EtsyShop(shop_id) => (
                "SELECT * FROM connections WHERE platform = 'etsy' AND shop_id = $1 ORDER BY id",
                shop_id,
            ),
            PlatformAccount::EbaySeller(user_id) => (
                "SELECT * FROM connections WHERE platform = 'ebay' AND account_id = $1 ORDER BY id",
                user_id,
            ),
        };
        Ok(sqlx::query_as(sql).bind(id).fetch_all(&self.pool).await?)
    }

    async fn touch_connection(&self, connection_id: &str, now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("UPDATE connections SET last_event_at = $1 WHERE id = $2")
            .bind(now)
            .bind(connection_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_connection_warning(
        &self,
        connection_id: &str,
        warning: Option<&str>,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("UPDATE connections SET last_error = $1 WHERE id = $2")
            .bind(warning)
            .bind(connection_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
