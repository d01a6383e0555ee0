//! Orders and lines that waited for the seller, taken in once the seller acts, in the
//! caller's transaction: an approved order (it was over the quantity caps) and lines a new
//! mapping now matches. Their units are made and allocated as intake does (`units.rs`) and
//! are due for email at once: the send loop takes them, as it takes a resend.

use std::collections::BTreeSet;

use super::allocation::clear_alert;
use super::batch::{Deferred, refresh_orders};
use super::units::{Line, line_item_id, make_units};
use super::*;
use crate::domain::intake::match_stored_line;
use crate::domain::ledger::{DeliveryPolicy, audit};
use crate::domain::review::{
    APPROVED, NEEDS_REVIEW, ORDER_NEEDS_REVIEW_ALERT, approval_refused, approval_too_large,
    units_to_deliver,
};
use crate::store::pipeline::{ApplyOutcome, UnitRef};

/// Unmapped lines one call matches at most; the next mapping change takes the rest.
const UNMAPPED_PER_CALL: i64 = 1_000;

/// An order's identity as its units are keyed.
#[derive(sqlx::FromRow)]
struct OrderKeyRow {
    status: String,
    platform: String,
    platform_order_id: String,
    connection_id: String,
}

/// An unmapped line with its order's identity and status.
#[derive(sqlx::FromRow)]
struct UnmappedLine {
    item_id: String,
    order_id: String,
    quantity: i64,
    refunded_quantity: i64,
    platform_line: String,
    status: String,
    platform: String,
    platform_order_id: String,
    connection_id: String,
}

/// A line that waits: `(item id, product id, product type, quantity, refunded, platform line)`.
type WaitingItem = (
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<String>,
);

/// Approves an order waiting for review (see `LedgerStore::approve_order`).
pub(super) async fn approve_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Option<Vec<UnitRef>>> {
    let sql = format!(
        "SELECT status, platform, platform_order_id, connection_id FROM orders \
         WHERE tenant_id = $1 AND id = $2{LOCK_ROW}"
    );
    let order: Option<OrderKeyRow> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(order) = order else { return Ok(None) };
    if let Some(reason) = approval_refused(&order.status) {
        return Err(StoreError::NotInReview(reason));
    }
    let total: (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(quantity - refunded_quantity), 0) AS BIGINT) FROM order_items \
         WHERE tenant_id = $1 AND order_id = $2 AND product_id IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(reason) = approval_too_large(total.0) {
        return Err(StoreError::TooLarge(reason));
    }
    sqlx::query(
        "UPDATE orders SET status = 'processing', status_reason = NULL, updated_at = $1 \
         WHERE id = $2",
    )
    .bind(now)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    let items: Vec<WaitingItem> = sqlx::query_as(
        "SELECT id, product_id, product_type, quantity, refunded_quantity, platform_line \
         FROM order_items WHERE tenant_id = $1 AND order_id = $2 AND delivery_status = $3 \
         ORDER BY id",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(NEEDS_REVIEW)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE order_items SET delivery_status = 'pending' \
         WHERE tenant_id = $1 AND order_id = $2 AND delivery_status = $3",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(NEEDS_REVIEW)
    .execute(&mut **tx)
    .await?;
    let mut deferred = Deferred::default();
    let mut outcome = ApplyOutcome::default();
    let mut units = 0;
    for (item_id, product_id, product_type, quantity, refunded, platform_line) in &items {
        let (Some(product_id), Some(product_type)) = (product_id, product_type) else {
            continue;
        };
        let line_id = line_item_id(platform_line.as_deref(), item_id);
        let line = Line {
            tenant_id,
            order_id,
            item_id,
            product_id,
            product_type,
            platform: &order.platform,
            platform_order_id: &order.platform_order_id,
            connection_id: &order.connection_id,
            line_item_id: &line_id,
            units: units_to_deliver(*quantity, *refunded),
        };
        units += line.units;
        // No lease: the send loop takes the allocated units at once.
        make_units(tx, &mut deferred, &line, policy, now, None, &mut outcome).await?;
    }
    let detail = serde_json::json!({ "units": units });
    deferred.audit(tenant_id, order_id, APPROVED, detail.to_string());
    deferred.write(tx, now).await?;
    clear_alert(tx, tenant_id, ORDER_NEEDS_REVIEW_ALERT, order_id).await?;
    refresh_orders(tx, &[(tenant_id.to_owned(), order_id.to_owned())], now).await?;
    let allocated = outcome.allocated.into_iter();
    let refs = allocated.map(|id| (tenant_id.to_owned(), order_id.to_owned(), id));
    Ok(Some(refs.collect()))
}

/// Matches the tenant's unmapped lines again (see `LedgerStore::resume_unmapped`).
pub(super) async fn resume_unmapped_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Vec<UnitRef>> {
    let products: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, product_type, mappings FROM products WHERE tenant_id = $1 AND status = 'active'",
    )
    .bind(tenant_id)
    .fetch_all(&mut **tx)
    .await?;
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let waiting: Vec<UnmappedLine> = sqlx::query_as(
        "SELECT i.id AS item_id, i.order_id, i.quantity, i.refunded_quantity, \
         i.platform_line, o.status, o.platform, o.platform_order_id, o.connection_id \
         FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE i.tenant_id = $1 AND i.delivery_status = 'unmapped' \
         AND i.platform_line IS NOT NULL ORDER BY i.id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(UNMAPPED_PER_CALL)
    .fetch_all(&mut **tx)
    .await?;
    let mut deferred = Deferred::default();
    let mut allocated = Vec::new();
    let mut touched = BTreeSet::new();
    for waiting in waiting {
        let UnmappedLine {
            item_id,
            order_id,
            quantity,
            refunded_quantity: refunded,
            platform_line,
            status,
            platform,
            platform_order_id: key,
            connection_id: scope,
        } = waiting;
        if matches!(status.as_str(), "refunded" | "cancelled") {
            continue;
        }
        let Some((product_id, product_type)) =
            match_stored_line(&platform, &platform_line, &products)
        else {
            continue;
        };
        // A line of an order waiting for review is mapped now and waits with its order.
        let held = status == NEEDS_REVIEW;
        let item_status = if held { NEEDS_REVIEW } else { "pending" };
        sqlx::query(
            "UPDATE order_items SET product_id = $1, product_type = $2, delivery_status = $3, \
             status_reason = NULL WHERE id = $4",
        )
        .bind(&product_id)
        .bind(&product_type)
        .bind(item_status)
        .bind(&item_id)
        .execute(&mut **tx)
        .await?;
        let line_id = line_item_id(Some(&platform_line), &item_id);
        let detail = serde_json::json!({
            "mapped": [{ "line_item_id": line_id, "product_id": product_id, "quantity": quantity }],
            "resumed": true,
        });
        deferred.audit(tenant_id, &order_id, audit::MAPPED, detail.to_string());
        if held {
            continue;
        }
        let line = Line {
            tenant_id,
            order_id: &order_id,
            item_id: &item_id,
            product_id: &product_id,
            product_type: &product_type,
            platform: &platform,
            platform_order_id: &key,
            connection_id: &scope,
            line_item_id: &line_id,
            units: units_to_deliver(quantity, refunded),
        };
        let mut outcome = ApplyOutcome::default();
        // No lease: the send loop takes the allocated units at once.
        make_units(tx, &mut deferred, &line, policy, now, None, &mut outcome).await?;
        let refs = outcome.allocated.into_iter();
        allocated.extend(refs.map(|id| (tenant_id.to_owned(), order_id.clone(), id)));
        touched.insert((tenant_id.to_owned(), order_id));
    }
    deferred.write(tx, now).await?;
    let touched: Vec<(String, String)> = touched.into_iter().collect();
    refresh_orders(tx, &touched, now).await?;
    Ok(allocated)
}
