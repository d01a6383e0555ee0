//! Email templates, at most one default per tenant (`domain::templates` decides which).

use async_trait::async_trait;

use super::*;
use crate::domain::templates::is_default_after_save;
use crate::store::{TemplateRow, TemplateStore};

#[async_trait]
impl TemplateStore for Backend {
    async fn save_template(&self, t: &TemplateRow, is_new: bool) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let asks_default = t.is_default == 1;
        let (another_is_default,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM templates \
             WHERE tenant_id = $1 AND id <> $2 AND is_default = 1)",
        )
        .bind(&t.tenant_id)
        .bind(&t.id)
        .fetch_one(&mut *tx)
        .await?;
        if asks_default && another_is_default {
            sqlx::query("UPDATE templates SET is_default = 0 WHERE tenant_id = $1 AND id <> $2")
                .bind(&t.tenant_id)
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
        }
        let is_default = is_default_after_save(asks_default, another_is_default);
        let sql = if is_new {
            "INSERT INTO templates (id, tenant_id, name, subject, body, is_default, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        } else {
            "UPDATE templates SET name = $3, subject = $4, body = $5, is_default = $6, \
             updated_at = $8 WHERE id = $1 AND tenant_id = $2 AND created_at = $7"
        };
        sqlx::query(sql)
            .bind(&t.id)
            .bind(&t.tenant_id)
            .bind(&t.name)
            .bind(&t.subject)
            .bind(&t.body)
            .bind(i64::from(is_default))
            .bind(t.created_at)
            .bind(t.updated_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<TemplateRow>> {
        tenant_row(&self.pool, "templates", tenant_id, id).await
    }

    async fn list_templates(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<TemplateRow>> {
        fetch_page(&self.pool, tenant_query("templates", tenant_id), page).await
    }
}
