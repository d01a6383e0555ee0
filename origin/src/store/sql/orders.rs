//! Orders as the API sees them: imports, lists, items, the audit trail, and what an operator
//! does to an order (resend, replace a code, erase a buyer). The pipeline's intake of orders
//! is the ledger's (`ledger.rs`).

use async_trait::async_trait;

use super::*;
use crate::domain::ledger::{self, TOKENS_PER_UNIT, audit};
use crate::domain::review::{redelivery_refused, resend_cost};
use crate::store::{AuditRow, OrderFilter, OrderItemRow, OrderRow, OrderStore, ResendOutcome};

#[async_trait]
impl OrderStore for Backend {
    async fn insert_orders(&self, orders: &[(OrderRow, Vec<OrderItemRow>)]) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        for chunk in orders.chunks(200) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO orders (id, tenant_id, platform, platform_order_id, status, \
                 buyer_email, buyer_name, currency, total_cents, created_at, updated_at) ",
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
                let mut query = QueryBuilder::<Db>::new(
                    "INSERT INTO order_items (id, tenant_id, order_id, product_id, product_type, \
                     name, quantity, delivery_status, license_code, delivered_at) ",
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
            insert_delivered_units(&mut tx, chunk).await?;
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) ",
            );
            query.push_values(chunk, |mut row, (o, _)| {
                row.push_bind(crate::ids::new_id("aud"))
                    .push_bind(&o.tenant_id)
                    .push_bind(&o.id)
                    .push_bind(o.created_at)
                    .push_bind(audit::ORDER_CREATED)
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
        let mut query = QueryBuilder::<Db>::new(
            "SELECT * FROM orders WHERE id IN (SELECT id FROM orders WHERE tenant_id = ",
        );
        query.push_bind(tenant_id);
        push_eq(&mut query, "platform", f.platform.as_deref());
        push_eq(&mut query, "status", f.status.as_deref());
        let email = f.buyer_email.as_ref().map(|e| e.to_lowercase());
        push_eq(&mut query, "buyer_email", email);
        if let Some(from) = f.created_from {
            query.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(to) = f.created_to {
            query.push(" AND created_at < ").push_bind(to);
        }
        push_page(&mut query, &f.page);
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

    async fn resend_order(
        &self,
        tenant_id: &str,
        order_id: &str,
        now: i64,
    ) -> StoreResult<ResendOutcome> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        refuse_closed(&mut tx, tenant_id, order_id).await?;
        let sql = format!("SELECT tokens FROM tenants WHERE id = $1{LOCK_ROW}");
        let (balance,): (i64,) = sqlx::query_as(&sql)
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        // Only units that went out, or whose email failed, are sent again; waiting, queued
        // and revoked units are not, and an unmapped line has no unit.
        let (items, sent, failed): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT order_item_id), \
             COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) \
             FROM deliveries WHERE tenant_id = $1 AND order_id = $2 \
             AND status IN ('sent', 'failed')",
        )
        .bind(tenant_id)
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
        let cost = resend_cost(sent);
        let balance = charge_in(&mut tx, tenant_id, balance, cost).await?;
        sqlx::query(
            "UPDATE order_items SET delivery_status = 'queued' \
             WHERE tenant_id = $1 AND order_id = $2 AND id IN (SELECT order_item_id \
             FROM deliveries WHERE tenant_id = $1 AND order_id = $2 \
             AND status IN ('sent', 'failed'))",
        )
        .bind(tenant_id)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        // The pipeline sends every delivered (or failed) unit again as a new generation.
        sqlx::query(
            "UPDATE deliveries SET status = 'allocated', generation = generation + 1, \
             lease_until = 0, next_attempt_at = 0, send_attempts = 0 \
             WHERE tenant_id = $1 AND order_id = $2 AND status IN ('sent', 'failed')",
        )
        .bind(tenant_id)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "items": items,
            "units_resent": sent,
            "failed_units_retried": failed,
            "tokens_charged": cost,
        })
        .to_string();
        let action = audit::RESEND_REQUESTED;
        insert_audit(&mut tx, tenant_id, order_id, now, action, &detail).await?;
        tx.commit().await?;
        Ok(ResendOutcome {
            items_queued: items,
            units_queued: sent + failed,
            tokens_charged: cost,
            token_balance: balance,
        })
    }

    async fn replace_item_code(
        &self,
        tenant_id: &str,
        order_id: &str,
        item_id: &str,
        now: i64,
    ) -> StoreResult<(OrderItemRow, i64)> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        refuse_closed(&mut tx, tenant_id, order_id).await?;
        let sql = format!("SELECT tokens FROM tenants WHERE id = $1{LOCK_ROW}");
        let (balance,): (i64,) = sqlx::query_as(&sql)
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        let balance = charge_in(&mut tx, tenant_id, balance, TOKENS_PER_UNIT).await?;
        let item: OrderItemRow = sqlx::query_as(
            "SELECT * FROM order_items WHERE tenant_id = $1 AND order_id = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(order_id)
        .bind(item_id)
        .fetch_one(&mut *tx)
        .await?;
        let product_id = item.product_id.clone().unwrap_or_default();
        // Concurrent allocations skip a code another transaction holds instead of waiting
        // for it and then finding it taken.
        let sql = format!(
            "UPDATE license_codes SET status = 'allocated', order_item_id = $1, allocated_at = $2 \
             WHERE id = (SELECT id FROM license_codes WHERE tenant_id = $3 AND product_id = $4 \
             AND status = 'available' ORDER BY id LIMIT 1{SKIP_LOCKED}) \
             AND status = 'available' RETURNING code"
        );
        let fresh: Option<(String,)> = sqlx::query_as(&sql)
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
        // Taking its claim away fences out an email of the old code still in flight: its
        // holder cannot mark the unit sent, so the new code always gets its own email.
        sqlx::query(
            "UPDATE deliveries SET code = $1, license_code_id = (SELECT id FROM license_codes \
             WHERE product_id = $2 AND code = $1), status = 'allocated', \
             generation = generation + 1, lease_until = 0, next_attempt_at = 0, \
             send_attempts = 0, send_claim = NULL \
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
        let detail = serde_json::json!({ "item_id": item_id, "tokens_charged": TOKENS_PER_UNIT })
            .to_string();
        let action = audit::CODE_REPLACED;
        insert_audit(&mut tx, tenant_id, order_id, now, action, &detail).await?;
        tx.commit().await?;
        Ok((item, balance))
    }
}

/// The ledger rows of imported items already delivered: one `sent` unit per unit of each
/// delivered item of a product, so that a resend of an imported order charges and sends
/// what the ledger says went out, as for any other order.
async fn insert_delivered_units(
    tx: &mut Tx<'_>,
    orders: &[(OrderRow, Vec<OrderItemRow>)],
) -> StoreResult<()> {
    let units: Vec<(&OrderRow, &OrderItemRow, &str, i64)> = orders
        .iter()
        .flat_map(|(o, items)| items.iter().map(move |i| (o, i)))
        .filter(|(_, i)| i.delivery_status == "delivered")
        .filter_map(|(o, i)| Some((o, i, i.product_id.as_deref()?)))
        .flat_map(|(o, i, product)| (0..i.quantity).map(move |unit| (o, i, product, unit)))
        .collect();
    // Fourteen binds a row: well under both backends' limits.
    for rows in units.chunks(ID_CHUNK) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO deliveries (id, tenant_id, order_id, order_item_id, product_id, \
             product_type, platform, platform_order_id, line_item_id, unit, status, \
             created_at, updated_at, sent_at) ",
        );
        query.push_values(rows, |mut row, (o, i, product, unit)| {
            row.push_bind(crate::ids::new_id("dlv"))
                .push_bind(&o.tenant_id)
                .push_bind(&o.id)
                .push_bind(&i.id)
                .push_bind(*product)
                .push_bind(i.product_type.as_deref().unwrap_or("FILE"))
                .push_bind(&o.platform)
                .push_bind(&o.platform_order_id)
                .push_bind(&i.id)
                .push_bind(*unit)
                .push_bind("sent")
                .push_bind(o.created_at)
                .push_bind(o.updated_at)
                .push_bind(i.delivered_at.unwrap_or(o.updated_at));
        });
        query.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Refuses (`OrderClosed`) a resend or replacement of a refunded or cancelled order, reading
/// its status in the caller's transaction (locked on PostgreSQL, so a refund cannot slip in).
async fn refuse_closed(tx: &mut Tx<'_>, tenant_id: &str, order_id: &str) -> StoreResult<()> {
    let sql = format!("SELECT status FROM orders WHERE tenant_id = $1 AND id = $2{LOCK_ROW}");
    let status: Option<(String,)> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    match status.and_then(|(status,)| redelivery_refused(&status)) {
        Some(reason) => Err(StoreError::OrderClosed(reason)),
        None => Ok(()),
    }
}

/// Charges `cost` tokens of a balance read (and locked) in this transaction, as the ledger
/// decides: the new balance, or nothing charged and the shortfall.
async fn charge_in(tx: &mut Tx<'_>, tenant_id: &str, balance: i64, cost: i64) -> StoreResult<i64> {
    let balance =
        ledger::charge(balance, cost).map_err(|short| StoreError::InsufficientTokens {
            balance: short.balance,
            needed: short.needed,
        })?;
    sqlx::query("UPDATE tenants SET tokens = tokens - $1 WHERE id = $2")
        .bind(cost)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(balance)
}

/// One audit row, written now.
async fn insert_audit(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    at: i64,
    action: &str,
    detail: &str,
) -> StoreResult<()> {
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}
