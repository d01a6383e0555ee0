//! Tenants and their token balance: creating a tenant with its first key (audited as the
//! operator's; sign-up makes one with its owner instead, `accounts.rs`), topping up (which
//! clears a low-tokens alert the new balance answers and makes the units waiting for tokens
//! due at once).

use async_trait::async_trait;

use super::keys::{insert_audit, insert_key};
use super::resume::wake_awaiting_tokens;
use super::*;
use crate::domain::keys::audit;
use crate::domain::ledger::{alerts, low_tokens_clears, recorded_threshold};
use crate::store::{ApiKeyRow, KeyChange, TenantAuditRow, TenantRow, TenantStore};

#[async_trait]
impl TenantStore for Backend {
    async fn create_tenant(&self, tenant: &TenantRow, first_key: &ApiKeyRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        insert_tenant(&mut *tx, tenant).await?;
        insert_key(&mut *tx, first_key).await?;
        let change = KeyChange::by_operator(tenant.created_at);
        let detail = format!("name {:?}, the tenant's first key", first_key.name);
        let entry = TenantAuditRow::about(first_key, audit::CREATED, &change, detail);
        insert_audit(&mut *tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_tenant(&self, tenant_id: &str) -> StoreResult<Option<TenantRow>> {
        Ok(sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn add_tokens(&self, tenant_id: &str, amount: i64) -> StoreResult<Option<i64>> {
        let _writer = self.write_gate().await;
        // One transaction: the balance and the alert it clears change together.
        let mut tx = self.begin_write().await?;
        let balance: Option<(i64,)> = sqlx::query_as(
            "UPDATE tenants SET tokens = tokens + $1 WHERE id = $2 AND tokens + $1 >= 0 \
             RETURNING tokens",
        )
        .bind(amount)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((balance,)) = balance else {
            return Ok(None);
        };
        // Whoever adds the tokens (the operator's CLI, any API), the units that waited for
        // them are tried at once; in the same transaction, so the wake cannot be lost.
        if amount > 0 {
            wake_awaiting_tokens(&mut *tx, tenant_id).await?;
        }
        let alert: Option<(String, String)> =
            sqlx::query_as("SELECT id, detail FROM alerts WHERE tenant_id = $1 AND kind = $2")
                .bind(tenant_id)
                .bind(alerts::LOW_TOKENS)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((id, detail)) = alert
            && low_tokens_clears(balance, recorded_threshold(&detail))
        {
            sqlx::query("DELETE FROM alerts WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(balance))
    }
}

/// Inserts a tenant, in a transaction or on the pool (the CLI's and sign-up's).
pub(super) async fn insert_tenant<'e, E>(executor: E, tenant: &TenantRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query("INSERT INTO tenants (id, name, tokens, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(tenant.tokens)
        .bind(tenant.created_at)
        .execute(executor)
        .await?;
    Ok(())
}
