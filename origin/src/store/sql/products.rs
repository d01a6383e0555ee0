//! Products (with the mappings the intake matches against) and their downloadable files.

use async_trait::async_trait;

use super::*;
use crate::store::{FileRow, FileStore, ProductFilter, ProductRow, ProductStore};

#[async_trait]
impl ProductStore for Backend {
    async fn insert_product(&self, p: &ProductRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "INSERT INTO products (id, tenant_id, sku, name, product_type, status, template_id, \
             low_stock_threshold, mappings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&p.id)
        .bind(&p.tenant_id)
        .bind(&p.sku)
        .bind(&p.name)
        .bind(&p.product_type)
        .bind(&p.status)
        .bind(p.template_id.as_deref())
        .bind(p.low_stock_threshold)
        .bind(&p.mappings)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .map_err(sku_conflict)?;
        Ok(())
    }

    async fn update_product(&self, p: &ProductRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE products SET sku = $1, name = $2, status = $3, template_id = $4, \
             low_stock_threshold = $5, mappings = $6, updated_at = $7 \
             WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&p.sku)
        .bind(&p.name)
        .bind(&p.status)
        .bind(p.template_id.as_deref())
        .bind(p.low_stock_threshold)
        .bind(&p.mappings)
        .bind(p.updated_at)
        .bind(&p.tenant_id)
        .bind(&p.id)
        .execute(&self.pool)
        .await
        .map_err(sku_conflict)?;
        Ok(())
    }

    async fn get_product(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProductRow>> {
        tenant_row(&self.pool, "products", tenant_id, id).await
    }

    async fn list_products(
        &self,
        tenant_id: &str,
        f: &ProductFilter,
    ) -> StoreResult<Vec<ProductRow>> {
        let mut query = tenant_query("products", tenant_id);
        push_eq(&mut query, "product_type", f.product_type.as_deref());
        push_eq(&mut query, "sku", f.sku.as_deref());
        push_eq(&mut query, "status", f.status.as_deref());
        if let Some(search) = f.search.as_deref() {
            let pattern = contains_pattern(search);
            query
                .push(" AND (LOWER(name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR LOWER(sku) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        fetch_page(&self.pool, query, &f.page).await
    }

    async fn mappable_products(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, product_type, mappings FROM products \
             WHERE tenant_id = $1 AND status = 'active'",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[async_trait]
impl FileStore for Backend {
    async fn insert_file(&self, f: &FileRow) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "INSERT INTO product_files (id, tenant_id, product_id, filename, content_type, \
             status, size_bytes, sha256, storage_key, created_at, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&f.id)
        .bind(&f.tenant_id)
        .bind(&f.product_id)
        .bind(&f.filename)
        .bind(&f.content_type)
        .bind(&f.status)
        .bind(f.size_bytes)
        .bind(f.sha256.as_deref())
        .bind(&f.storage_key)
        .bind(f.created_at)
        .bind(f.uploaded_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_file(&self, file_id: &str) -> StoreResult<Option<FileRow>> {
        Ok(sqlx::query_as("SELECT * FROM product_files WHERE id = $1")
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_files(&self, tenant_id: &str, product_id: &str) -> StoreResult<Vec<FileRow>> {
        tenant_rows(
            &self.pool,
            "product_files",
            "product_id",
            tenant_id,
            product_id,
        )
        .await
    }
}
