//! The alerts the ledger raises, as the tenant reads them. Raising and clearing them is
//! done where the numbers change (`allocation.rs`, `codes.rs`, `tenants.rs`).

use async_trait::async_trait;

use super::*;
use crate::store::pipeline::{AlertRow, AlertStore};

#[async_trait]
impl AlertStore for Backend {
    async fn list_alerts(&self, tenant_id: &str) -> StoreResult<Vec<AlertRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM alerts WHERE tenant_id = $1 ORDER BY at DESC, id")
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
