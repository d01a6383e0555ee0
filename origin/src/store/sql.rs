//! The SQL both backends run, written once. `impl_store!` expands to a `Store` implementation
//! for a backend type that has a `pool` field; both SQLite and PostgreSQL accept `$n`
//! placeholders, `ON CONFLICT`, `RETURNING` and partial indexes, so one text serves both.
//! Write transactions start with their first write (SQLite: `BEGIN IMMEDIATE`), so a
//! reader never has to upgrade its lock mid-transaction. The backends differ only in that
//! `BEGIN` and in row locking: PostgreSQL claims rows `FOR UPDATE SKIP LOCKED`, SQLite has a
//! single writer and needs none.

/// Whether a database error is a unique-constraint violation.
pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// `%`/`_`-escaped `LIKE` pattern matching `needle` anywhere, lower case.
pub(super) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// Appends `AND column = value` when the filter is set.
macro_rules! push_eq {
    ($query:ident, $column:literal, $value:expr) => {
        if let Some(value) = $value {
            $query
                .push(concat!(" AND ", $column, " = "))
                .push_bind(value);
        }
    };
}

/// Appends the keyset condition and order of a newest-first page.
macro_rules! push_page {
    ($query:ident, $page:expr) => {
        if let Some(after) = $page.after.as_deref() {
            $query.push(" AND id < ").push_bind(after);
        }
        $query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind($page.fetch);
    };
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal, $begin_write:literal, $skip_locked:literal) => {
        use async_trait::async_trait;
        use sqlx::QueryBuilder;

        use super::sql::{contains_pattern, is_unique_violation};
        use super::*;

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> StoreResult<()> {
                Self::migrator().run(&self.pool).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                $backend
            }

            async fn create_tenant(&self, tenant: &TenantRow, first_key: &ApiKeyRow) -> StoreResult<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query("INSERT INTO tenants (id, name, tokens, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&tenant.id)
                    .bind(&tenant.name)
                    .bind(tenant.tokens)
                    .bind(tenant.created_at)
                    .execute(&mut *tx)
                    .await?;
                insert_key(&mut *tx, first_key).await?;
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
                let balance: Option<(i64,)> = sqlx::query_as(
                    "UPDATE tenants SET tokens = tokens + $1 WHERE id = $2 AND tokens + $1 >= 0 RETURNING tokens",
                )
                .bind(amount)
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((balance,)) = balance else { return Ok(None) };
                // The low-tokens alert goes once the balance is back at the threshold it names.
                let alert: Option<(String, String)> =
                    sqlx::query_as("SELECT id, detail FROM alerts WHERE tenant_id = $1 AND kind = 'low_tokens'")
                        .bind(tenant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some((id, detail)) = alert {
                    let threshold = serde_json::from_str::<serde_json::Value>(&detail)
                        .ok()
                        .and_then(|d| d["threshold"].as_i64())
                        .unwrap_or(1);
                    if balance >= threshold {
                        sqlx::query("DELETE FROM alerts WHERE id = $1").bind(id).execute(&self.pool).await?;
                    }
                }
                Ok(Some(balance))
            }

            async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()> {
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

            async fn list_api_keys(&self, tenant_id: &str, page: &PageQuery) -> StoreResult<Vec<ApiKeyRow>> {
                fetch_page(&self.pool, tenant_query("api_keys", tenant_id), page).await
            }

            async fn revoke_api_key(
                &self,
                tenant_id: Option<&str>,
                key_id: &str,
                now: i64,
            ) -> StoreResult<Option<ApiKeyRow>> {
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
                let mut tx = self.pool.begin_with($begin_write).await?;
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

            async fn insert_connection(&self, c: &ConnectionRow) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO connections (id, tenant_id, platform, status, store_url, shop_id, \
                     endpoint_url, secrets_sealed, last_event_at, last_error, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_connections(&self, tenant_id: &str, page: &PageQuery) -> StoreResult<Vec<ConnectionRow>> {
                fetch_page(&self.pool, tenant_query("connections", tenant_id), page).await
            }

            async fn all_connections(&self, tenant_id: &str) -> StoreResult<Vec<ConnectionRow>> {
                Ok(sqlx::query_as("SELECT * FROM connections WHERE tenant_id = $1 ORDER BY id")
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn connection_states(&self, tenant_id: &str) -> StoreResult<Option<Vec<(String, String)>>> {
                let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT c.platform, c.status FROM tenants t LEFT JOIN connections c ON c.tenant_id = t.id \
                     WHERE t.id = $1",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                Ok(Some(rows.into_iter().filter_map(|(p, s)| p.zip(s)).collect()))
            }

            async fn get_connection(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ConnectionRow>> {
                tenant_row(&self.pool, "connections", tenant_id, id).await
            }

            async fn set_connection_status(
                &self,
                tenant_id: &str,
                id: &str,
                status: &str,
                now: i64,
            ) -> StoreResult<Option<ConnectionRow>> {
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

            async fn ingest_event(&self, event: &EventRow) -> StoreResult<(String, bool)> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let inserted = insert_events(&mut tx, std::slice::from_ref(event)).await?[0];
                if inserted {
                    sqlx::query(
                        "UPDATE connections SET last_event_at = $1 \
                         WHERE tenant_id = $2 AND platform = $3 AND status = 'active'",
                    )
                    .bind(event.stored_at)
                    .bind(&event.tenant_id)
                    .bind(&event.platform)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                if inserted {
                    return Ok((event.id.clone(), false));
                }
                Ok((existing_event_id(&self.pool, event).await?, true))
            }

            async fn record_dead_letter(&self, event: &EventRow) -> StoreResult<(String, bool)> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let inserted = insert_events(&mut tx, std::slice::from_ref(event)).await?[0];
                if inserted {
                    sqlx::query(
                        "UPDATE connections SET last_error = $1 WHERE tenant_id = $2 AND platform = $3",
                    )
                    .bind(event.last_error.as_deref())
                    .bind(&event.tenant_id)
                    .bind(&event.platform)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                if inserted {
                    return Ok((event.id.clone(), false));
                }
                Ok((existing_event_id(&self.pool, event).await?, true))
            }

            async fn list_events(&self, tenant_id: &str, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
                let mut query = tenant_query("events", tenant_id);
                super::sql::push_eq!(query, "status", f.status.as_deref());
                super::sql::push_eq!(query, "platform", f.platform.as_deref());
                fetch_page(&self.pool, query, &f.page).await
            }

            async fn insert_product(&self, p: &ProductRow) -> StoreResult<()> {
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

            async fn list_products(&self, tenant_id: &str, f: &ProductFilter) -> StoreResult<Vec<ProductRow>> {
                let mut query = tenant_query("products", tenant_id);
                super::sql::push_eq!(query, "product_type", f.product_type.as_deref());
                super::sql::push_eq!(query, "sku", f.sku.as_deref());
                super::sql::push_eq!(query, "status", f.status.as_deref());
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

            async fn code_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<CodeStock> {
                let (available, allocated): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(CASE WHEN status = 'available' THEN 1 END), \
                     COUNT(CASE WHEN status = 'allocated' THEN 1 END) \
                     FROM license_codes WHERE tenant_id = $1 AND product_id = $2",
                )
                .bind(tenant_id)
                .bind(product_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(CodeStock { available, allocated })
            }

            async fn import_codes(
                &self,
                tenant_id: &str,
                product_id: &str,
                codes: &[String],
                now: i64,
            ) -> StoreResult<u64> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let mut imported = 0;
                for chunk in codes.chunks(500) {
                    let mut query = QueryBuilder::<$db>::new(
                        "INSERT INTO license_codes (id, tenant_id, product_id, code, status, created_at) ",
                    );
                    query.push_values(chunk, |mut row, code| {
                        row.push_bind(crate::ids::new_id("code"))
                            .push_bind(tenant_id)
                            .push_bind(product_id)
                            .push_bind(code.as_str())
                            .push_bind("available")
                            .push_bind(now);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    imported += query.build().execute(&mut *tx).await?.rows_affected();
                }
                // The low-stock alert goes once the stock is above the product's threshold.
                sqlx::query(
                    "DELETE FROM alerts WHERE tenant_id = $1 AND kind = 'low_stock' AND subject = $2 \
                     AND (SELECT COUNT(*) FROM license_codes WHERE product_id = $2 AND status = 'available') \
                     > (SELECT low_stock_threshold FROM products WHERE id = $2)",
                )
                .bind(tenant_id)
                .bind(product_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(imported)
            }

            async fn insert_file(&self, f: &FileRow) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO product_files (id, tenant_id, product_id, filename, content_type, status, \
                     size_bytes, sha256, storage_key, created_at, uploaded_at) \
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

            async fn complete_file(&self, file_id: &str, size_bytes: i64, sha256: &str, now: i64) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE product_files SET status = 'uploaded', size_bytes = $1, sha256 = $2, \
                     uploaded_at = $3 WHERE id = $4",
                )
                .bind(size_bytes)
                .bind(sha256)
                .bind(now)
                .bind(file_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_files(&self, tenant_id: &str, product_id: &str) -> StoreResult<Vec<FileRow>> {
                tenant_rows(&self.pool, "product_files", "product_id", tenant_id, product_id).await
            }

            async fn insert_orders(&self, orders: &[(OrderRow, Vec<OrderItemRow>)]) -> StoreResult<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                for chunk in orders.chunks(200) {
                    let mut query = QueryBuilder::<$db>::new(
                        "INSERT INTO orders (id, tenant_id, platform, platform_order_id, status, buyer_email, \
                         buyer_name, currency, total_cents, created_at, updated_at) ",
                    );
                    query.push_values(chunk, |mut row, (o, _)| {
                        row.push_bind(&o.id)
                            .push_bind(&o.tenant_id)
                            .push_bind(&o.platform)
                            .push_bind(&o.platform_order_id)
                            .push_bind(&o.status)
                            .push_bind(o.buyer_email.to_lowercase())
                            .push_bind(o.buyer_name.as_deref())
                            .push_bind(o.currency.as_deref())
                            .push_bind(o.total_cents)
                            .push_bind(o.created_at)
                            .push_bind(o.updated_at);
                    });
                    query.build().execute(&mut *tx).await?;
                    let items: Vec<&OrderItemRow> = chunk.iter().flat_map(|(_, items)| items).collect();
                    if !items.is_empty() {
                        let mut query = QueryBuilder::<$db>::new(
                            "INSERT INTO order_items (id, tenant_id, order_id, product_id, product_type, name, \
                             quantity, delivery_status, license_code, delivered_at) ",
                        );
                        query.push_values(items, |mut row, i| {
                            row.push_bind(&i.id)
                                .push_bind(&i.tenant_id)
                                .push_bind(&i.order_id)
                                .push_bind(i.product_id.as_deref())
                                .push_bind(i.product_type.as_deref())
                                .push_bind(&i.name)
                                .push_bind(i.quantity)
                                .push_bind(&i.delivery_status)
                                .push_bind(i.license_code.as_deref())
                                .push_bind(i.delivered_at);
                        });
                        query.build().execute(&mut *tx).await?;
                    }
                    let mut query = QueryBuilder::<$db>::new(
                        "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) ",
                    );
                    query.push_values(chunk, |mut row, (o, _)| {
                        row.push_bind(crate::ids::new_id("aud"))
                            .push_bind(&o.tenant_id)
                            .push_bind(&o.id)
                            .push_bind(o.created_at)
                            .push_bind("order_created")
                            .push_bind("{}");
                    });
                    query.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_orders(&self, tenant_id: &str, f: &OrderFilter) -> StoreResult<Vec<OrderRow>> {
                // The page's ids come from an index alone (every order index ends in id), and
                // only those rows are read: a wide date range sorts ids, not whole rows.
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT * FROM orders WHERE id IN (SELECT id FROM orders WHERE tenant_id = ",
                );
                query.push_bind(tenant_id);
                super::sql::push_eq!(query, "platform", f.platform.as_deref());
                super::sql::push_eq!(query, "status", f.status.as_deref());
                super::sql::push_eq!(query, "buyer_email", f.buyer_email.as_ref().map(|e| e.to_lowercase()));
                if let Some(from) = f.created_from {
                    query.push(" AND created_at >= ").push_bind(from);
                }
                if let Some(to) = f.created_to {
                    query.push(" AND created_at < ").push_bind(to);
                }
                super::sql::push_page!(query, f.page);
                query.push(") ORDER BY id DESC");
                Ok(query.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn get_order(&self, tenant_id: &str, id: &str) -> StoreResult<Option<OrderRow>> {
                tenant_row(&self.pool, "orders", tenant_id, id).await
            }

            async fn order_items(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<OrderItemRow>> {
                tenant_rows(&self.pool, "order_items", "order_id", tenant_id, order_id).await
            }

            async fn order_audit(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<AuditRow>> {
                tenant_rows(&self.pool, "order_audit", "order_id", tenant_id, order_id).await
            }

            async fn resend_order(&self, tenant_id: &str, order_id: &str, now: i64) -> StoreResult<i64> {
                const ITEMS: &str = "(SELECT COUNT(*) FROM order_items WHERE tenant_id = $1 AND order_id = $2)";
                let mut tx = self.pool.begin_with($begin_write).await?;
                let charged: Option<(i64, i64)> = sqlx::query_as(&format!(
                    "UPDATE tenants SET tokens = tokens - {ITEMS} WHERE id = $1 AND tokens >= {ITEMS} \
                     RETURNING tokens, {ITEMS}"
                ))
                .bind(tenant_id)
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((balance, items)) = charged else {
                    let (balance, needed): (i64, i64) =
                        sqlx::query_as(&format!("SELECT tokens, {ITEMS} FROM tenants WHERE id = $1"))
                            .bind(tenant_id)
                            .bind(order_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    return Err(StoreError::InsufficientTokens { balance, needed });
                };
                sqlx::query("UPDATE order_items SET delivery_status = 'queued' WHERE tenant_id = $1 AND order_id = $2")
                    .bind(tenant_id)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
                // The pipeline sends every delivered unit again as a new generation.
                sqlx::query(
                    "UPDATE deliveries SET status = 'allocated', generation = generation + 1, lease_until = 0, \
                     next_attempt_at = 0, send_attempts = 0 WHERE tenant_id = $1 AND order_id = $2 \
                     AND status IN ('sent', 'failed')",
                )
                .bind(tenant_id)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "items": items, "tokens_charged": items }).to_string();
                insert_audit(&mut *tx, tenant_id, order_id, now, "resend_requested", &detail).await?;
                tx.commit().await?;
                Ok(balance)
            }

            async fn replace_item_code(
                &self,
                tenant_id: &str,
                order_id: &str,
                item_id: &str,
                now: i64,
            ) -> StoreResult<(OrderItemRow, i64)> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let charged: Option<(i64,)> = sqlx::query_as(
                    "UPDATE tenants SET tokens = tokens - 1 WHERE id = $1 AND tokens >= 1 RETURNING tokens",
                )
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((balance,)) = charged else {
                    let (balance,): (i64,) = sqlx::query_as("SELECT tokens FROM tenants WHERE id = $1")
                        .bind(tenant_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    return Err(StoreError::InsufficientTokens { balance, needed: 1 });
                };
                let item: OrderItemRow = sqlx::query_as(
                    "SELECT * FROM order_items WHERE tenant_id = $1 AND order_id = $2 AND id = $3",
                )
                .bind(tenant_id)
                .bind(order_id)
                .bind(item_id)
                .fetch_one(&mut *tx)
                .await?;
                let product_id = item.product_id.clone().unwrap_or_default();
                let fresh: Option<(String,)> = sqlx::query_as(
                    // Concurrent allocations skip a code another transaction holds instead of
                    // waiting for it and then finding it taken.
                    concat!(
                        "UPDATE license_codes SET status = 'allocated', order_item_id = $1, allocated_at = $2 \
                         WHERE id = (SELECT id FROM license_codes WHERE tenant_id = $3 AND product_id = $4 \
                         AND status = 'available' ORDER BY id LIMIT 1",
                        $skip_locked,
                        ") AND status = 'available' RETURNING code"
                    ),
                )
                .bind(item_id)
                .bind(now)
                .bind(tenant_id)
                .bind(&product_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((fresh,)) = fresh else {
                    return Err(StoreError::OutOfStock);
                };
                let old_code = item.license_code.clone().unwrap_or_default();
                if let Some(old) = item.license_code.as_deref() {
                    sqlx::query(
                        "UPDATE license_codes SET status = 'replaced' \
                         WHERE tenant_id = $1 AND product_id = $2 AND code = $3",
                    )
                    .bind(tenant_id)
                    .bind(&product_id)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                }
                let item: OrderItemRow = sqlx::query_as(
                    "UPDATE order_items SET license_code = $1, delivery_status = 'queued' \
                     WHERE tenant_id = $2 AND id = $3 RETURNING *",
                )
                .bind(&fresh)
                .bind(tenant_id)
                .bind(item_id)
                .fetch_one(&mut *tx)
                .await?;
                // The pipeline emails the unit that carried the old code again, with the new one.
                sqlx::query(
                    "UPDATE deliveries SET code = $1, license_code_id = (SELECT id FROM license_codes \
                     WHERE product_id = $2 AND code = $1), status = 'allocated', generation = generation + 1, \
                     lease_until = 0, next_attempt_at = 0, send_attempts = 0 \
                     WHERE tenant_id = $3 AND order_item_id = $5 AND status <> 'revoked' \
                     AND (code = $4 OR ($4 = '' AND unit = 0))",
                )
                .bind(&fresh)
                .bind(&product_id)
                .bind(tenant_id)
                .bind(&old_code)
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "item_id": item_id, "tokens_charged": 1 }).to_string();
                insert_audit(&mut *tx, tenant_id, order_id, now, "code_replaced", &detail).await?;
                tx.commit().await?;
                Ok((item, balance))
            }

            async fn save_template(&self, t: &TemplateRow, is_new: bool) -> StoreResult<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                if t.is_default == 1 {
                    sqlx::query("UPDATE templates SET is_default = 0 WHERE tenant_id = $1 AND id <> $2")
                        .bind(&t.tenant_id)
                        .bind(&t.id)
                        .execute(&mut *tx)
                        .await?;
                }
                let sql = if is_new {
                    "INSERT INTO templates (id, tenant_id, name, subject, body, is_default, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                } else {
                    "UPDATE templates SET name = $3, subject = $4, body = $5, is_default = $6, updated_at = $8 \
                     WHERE id = $1 AND tenant_id = $2 AND created_at = $7"
                };
                sqlx::query(sql)
                    .bind(&t.id)
                    .bind(&t.tenant_id)
                    .bind(&t.name)
                    .bind(&t.subject)
                    .bind(&t.body)
                    .bind(t.is_default)
                    .bind(t.created_at)
                    .bind(t.updated_at)
                    .execute(&mut *tx)
                    .await?;
                // The first template a tenant makes is its default until another one claims it.
                sqlx::query(
                    "UPDATE templates SET is_default = 1 WHERE id = $1 AND NOT EXISTS \
                     (SELECT 1 FROM templates WHERE tenant_id = $2 AND is_default = 1)",
                )
                .bind(&t.id)
                .bind(&t.tenant_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<TemplateRow>> {
                tenant_row(&self.pool, "templates", tenant_id, id).await
            }

            async fn list_templates(&self, tenant_id: &str, page: &PageQuery) -> StoreResult<Vec<TemplateRow>> {
                fetch_page(&self.pool, tenant_query("templates", tenant_id), page).await
            }
        }

        /// `SELECT *` of one tenant's rows in `table`, for a list query to add filters to.
        fn tenant_query<'a>(table: &str, tenant_id: &'a str) -> QueryBuilder<'a, $db> {
            let mut query = QueryBuilder::new(format!("SELECT * FROM {table} WHERE tenant_id = "));
            query.push_bind(tenant_id);
            query
        }

        /// Finishes a list query with the keyset page and runs it.
        async fn fetch_page<'a, R>(pool: &sqlx::Pool<$db>, mut query: QueryBuilder<'a, $db>, page: &'a PageQuery) -> StoreResult<Vec<R>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            super::sql::push_page!(query, page);
            Ok(query.build_query_as().fetch_all(pool).await?)
        }

        /// One row of a tenant by id; another tenant's id is the same as a missing one.
        async fn tenant_row<R>(pool: &sqlx::Pool<$db>, table: &str, tenant_id: &str, id: &str) -> StoreResult<Option<R>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2");
            Ok(sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_optional(pool).await?)
        }

        /// A tenant's rows in `table` whose `column` is `value`, oldest first.
        async fn tenant_rows<R>(
            pool: &sqlx::Pool<$db>,
            table: &str,
            column: &str,
            tenant_id: &str,
            value: &str,
        ) -> StoreResult<Vec<R>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND {column} = $2 ORDER BY id");
            Ok(sqlx::query_as(&sql).bind(tenant_id).bind(value).fetch_all(pool).await?)
        }

        fn sku_conflict(error: sqlx::Error) -> StoreError {
            if is_unique_violation(&error) {
                StoreError::DuplicateSku
            } else {
                StoreError::Database(error)
            }
        }

        async fn insert_key<'e, E>(executor: E, k: &ApiKeyRow) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
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

        /// Inserts unless the dedupe key or edge id is already stored; whether it inserted.
        /// Inserts events with one statement per chunk, each once per dedupe key (or edge id):
        /// per event, whether it was new. Duplicates within the batch are caught too: the rows
        /// of one insert are checked in order.
        async fn insert_events(
            tx: &mut sqlx::Transaction<'_, $db>,
            events: &[EventRow],
        ) -> StoreResult<Vec<bool>> {
            let mut new_ids = std::collections::BTreeSet::new();
            // Twelve binds per row: well under either backend's bind limit.
            for chunk in events.chunks(250) {
                let mut query = QueryBuilder::<$db>::new(
                    "INSERT INTO events (id, tenant_id, platform, status, dedupe_key, edge_event_id, headers, \
                     body, received_at, stored_at, attempts, last_error) ",
                );
                query.push_values(chunk, |mut row, e| {
                    row.push_bind(&e.id)
                        .push_bind(&e.tenant_id)
                        .push_bind(&e.platform)
                        .push_bind(&e.status)
                        .push_bind(&e.dedupe_key)
                        .push_bind(&e.edge_event_id)
                        .push_bind(&e.headers)
                        .push_bind(&e.body)
                        .push_bind(e.received_at)
                        .push_bind(e.stored_at)
                        .push_bind(e.attempts)
                        .push_bind(e.last_error.as_deref());
                });
                query.push(" ON CONFLICT DO NOTHING RETURNING id");
                let ids: Vec<(String,)> = query.build_query_as().fetch_all(&mut **tx).await?;
                new_ids.extend(ids.into_iter().map(|(id,)| id));
            }
            Ok(events.iter().map(|e| new_ids.contains(&e.id)).collect())
        }

        async fn existing_event_id(pool: &sqlx::Pool<$db>, e: &EventRow) -> StoreResult<String> {
            let (id,): (String,) = sqlx::query_as(
                "SELECT id FROM events WHERE tenant_id = $1 AND (dedupe_key = $2 OR edge_event_id = $3) \
                 ORDER BY id LIMIT 1",
            )
            .bind(&e.tenant_id)
            .bind(&e.dedupe_key)
            .bind(&e.edge_event_id)
            .fetch_one(pool)
            .await?;
            Ok(id)
        }

        async fn insert_audit<'e, E>(
            executor: E,
            tenant_id: &str,
            order_id: &str,
            at: i64,
            action: &str,
            detail: &str,
        ) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(crate::ids::new_id("aud"))
            .bind(tenant_id)
            .bind(order_id)
            .bind(at)
            .bind(action)
            .bind(detail)
            .execute(executor)
            .await?;
            Ok(())
        }
    };
}

pub(super) use {impl_store, push_eq, push_page};
