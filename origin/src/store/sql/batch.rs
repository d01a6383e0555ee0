//! What a pipeline transaction writes set-based, at its end: the tokens charged (one write
//! per tenant), the audit rows (one insert per chunk), the events processed, and the items'
//! and orders' delivery status recomputed from the ledger (a statement per step and tenant).

use std::collections::BTreeMap;

use super::*;
use crate::domain::ledger::TenantCharges;
use crate::ids::new_id;

/// What a transaction collects while it runs and writes once, at its end.
#[derive(Default)]
pub(super) struct Deferred {
    /// `(tenant id, order id, action, detail JSON)`.
    audit: Vec<(String, String, String, String)>,
    processed: Vec<String>,
    charges: TenantCharges,
}

impl Deferred {
    /// The tenant's balance in this transaction. The first read locks the tenant's row
    /// (`FOR UPDATE` on PostgreSQL; SQLite's write transaction holds the whole database),
    /// so charges counted here are exact when written at the end.
    pub(super) async fn balance(&mut self, tx: &mut Tx<'_>, tenant_id: &str) -> StoreResult<i64> {
        if let Some(balance) = self.charges.balance(tenant_id) {
            return Ok(balance);
        }
        let sql = format!("SELECT tokens FROM tenants WHERE id = $1{LOCK_ROW}");
        let (balance,): (i64,) = sqlx::query_as(&sql)
            .bind(tenant_id)
            .fetch_one(&mut **tx)
            .await?;
        self.charges.open(tenant_id, balance);
        Ok(balance)
    }

    /// Charges one unit of a balance read by [`Deferred::balance`]; the new balance.
    pub(super) fn charge_unit(&mut self, tenant_id: &str) -> i64 {
        self.charges.charge_unit(tenant_id)
    }

    pub(super) fn audit(&mut self, tenant_id: &str, order_id: &str, action: &str, detail: String) {
        self.audit.push((
            tenant_id.to_owned(),
            order_id.to_owned(),
            action.to_owned(),
            detail,
        ));
    }

    pub(super) fn processed(&mut self, event_id: Option<&str>) {
        self.processed.extend(event_id.map(str::to_owned));
    }

    /// Writes everything collected, in the order it was collected.
    pub(super) async fn write(self, tx: &mut Tx<'_>, at: i64) -> StoreResult<()> {
        for (tenant_id, charged) in self.charges.totals() {
            sqlx::query("UPDATE tenants SET tokens = tokens - $1 WHERE id = $2")
                .bind(charged)
                .bind(tenant_id)
                .execute(&mut **tx)
                .await?;
        }
        // Rows per insert: six binds each.
        for rows in self.audit.chunks(ID_CHUNK) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) ",
            );
            query.push_values(rows, |mut row, (tenant_id, order_id, action, detail)| {
                row.push_bind(new_id("aud"))
                    .push_bind(tenant_id)
                    .push_bind(order_id)
                    .push_bind(at)
                    .push_bind(action)
                    .push_bind(detail);
            });
            query.build().execute(&mut **tx).await?;
        }
        for ids in self.processed.chunks(ID_CHUNK) {
            let mut query = QueryBuilder::<Db>::new(
                "UPDATE events SET status = 'processed', lease_until = 0, last_error = NULL \
                 WHERE 1 = 1",
            );
            push_id_list(&mut query, "id", ids);
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Marks the event (when there is one) processed, in the caller's transaction.
pub(super) async fn finish_event_in(tx: &mut Tx<'_>, event_id: Option<&str>) -> StoreResult<()> {
    let mut deferred = Deferred::default();
    deferred.processed(event_id);
    deferred.write(tx, 0).await
}

/// One audit row, written now in the caller's transaction.
pub(super) async fn audit_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    at: i64,
    action: &str,
    detail: &serde_json::Value,
) -> StoreResult<()> {
    let mut deferred = Deferred::default();
    deferred.audit(tenant_id, order_id, action, detail.to_string());
    deferred.write(tx, at).await
}

/// Recomputes the items' and the orders' delivery status from the ledger (units a partial
/// refund revoked count as done: the rest of a line or order is still delivered), for
/// `(tenant id, order id)` pairs: a statement per step and tenant, not per order. The
/// marketplace calls a line or order is now due are made in the same transaction.
pub(super) async fn refresh_orders(
    tx: &mut Tx<'_>,
    orders: &[(String, String)],
    now: i64,
) -> StoreResult<()> {
    let mut by_tenant: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (tenant_id, order_id) in orders {
        by_tenant
            .entry(tenant_id)
            .or_default()
            .push(order_id.clone());
    }
    for (tenant_id, order_ids) in &by_tenant {
        for ids in order_ids.chunks(ID_CHUNK) {
            let mut query = QueryBuilder::<Db>::new(
                "UPDATE order_items SET \
                 delivery_status = COALESCE((SELECT CASE \
                   WHEN SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed' \
                   WHEN SUM(CASE WHEN d.status = 'awaiting_stock' THEN 1 ELSE 0 END) > 0 \
                     THEN 'awaiting_stock' \
                   WHEN SUM(CASE WHEN d.status = 'awaiting_tokens' THEN 1 ELSE 0 END) > 0 \
                     THEN 'awaiting_tokens' \
                   WHEN SUM(CASE WHEN d.status = 'revoked' THEN 1 ELSE 0 END) = COUNT(*) \
                     THEN 'revoked' \
                   WHEN SUM(CASE WHEN d.status IN ('sent', 'revoked') THEN 1 ELSE 0 END) \
                     = COUNT(*) THEN 'delivered' \
                   ELSE 'queued' END \
                   FROM deliveries d WHERE d.order_item_id = order_items.id \
                   HAVING COUNT(*) > 0), delivery_status), \
                 license_code = COALESCE((SELECT MIN(d.code) FROM deliveries d \
                   WHERE d.order_item_id = order_items.id), license_code), \
                 delivered_at = (SELECT MAX(d.sent_at) FROM deliveries d \
                   WHERE d.order_item_id = order_items.id) \
                 WHERE tenant_id = ",
            );
            query.push_bind(*tenant_id);
            push_id_list(&mut query, "order_id", ids);
            query.build().execute(&mut **tx).await?;
            let mut query = QueryBuilder::<Db>::new("UPDATE orders SET updated_at = ");
            query.push_bind(now).push(
                ", status = COALESCE((SELECT CASE \
                   WHEN SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed' \
                   WHEN SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) > 0 \
                     AND SUM(CASE WHEN d.status IN ('sent', 'revoked') THEN 1 ELSE 0 END) \
                     = COUNT(*) THEN 'delivered' \
                   ELSE 'processing' END \
                   FROM deliveries d WHERE d.order_id = orders.id HAVING COUNT(*) > 0), status) \
                 WHERE status NOT IN ('refunded', 'cancelled') AND tenant_id = ",
            );
            query.push_bind(*tenant_id);
            push_id_list(&mut query, "id", ids);
            query.build().execute(&mut **tx).await?;
            super::fulfilments::queue_fulfilments(tx, tenant_id, ids, now).await?;
        }
    }
    Ok(())
}
