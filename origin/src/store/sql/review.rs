//! Orders and lines that waited for the seller, taken in once the seller acts, in the
//! caller's transaction: an approved order (it was over the quantity caps), an order given
//! the buyer address it lacked, and lines a new mapping now matches. Their units are made and allocated as intake does (`units.rs`) and
//! are due for email at once: the send loop takes them, as it takes a resend.

use std::collections::BTreeSet;

use super::allocation::{Purpose, clear_alert};
use super::batch::{Deferred, audit_in, refresh_orders};
use super::ledger::raise_hold;
use super::platform_delivery::{HeldOrder, hand_to_email_in};
use super::units::{Line, line_item_id, make_units};
use super::*;
use crate::domain::intake::match_stored_line;
use crate::domain::ledger::{DeliveryPolicy, audit};
use crate::domain::review::{
    APPROVED, BUYER_EMAIL_CHANGED, Hold, NEEDS_ADDRESS, NEEDS_REVIEW, ORDER_NEEDS_ADDRESS_ALERT,
    ORDER_NEEDS_REVIEW_ALERT, address_change_refused, address_hold, approval_refused,
    approval_too_large, is_held, units_to_deliver,
};
use crate::store::pipeline::{ApplyOutcome, UnitRef};

/// Unmapped lines one call matches at most; the next mapping change takes the rest.
const UNMAPPED_PER_CALL: i64 = 1_000;

/// An order's identity as its units are keyed.
#[derive(sqlx::FromRow)]
pub(super) struct OrderKeyRow {
    pub status: String,
    pub platform: String,
    pub platform_order_id: String,
    pub connection_id: String,
    pub buyer_email: String,
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

/// Approves an order waiting for review (see `LedgerStore::approve_order`). An order without
/// a usable address goes on to wait for one instead of being delivered.
pub(super) async fn approve_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Option<Vec<UnitRef>>> {
    let Some(order) = lock_order(tx, tenant_id, order_id).await? else {
        return Ok(None);
    };
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
    let detail = serde_json::json!({ "units": total.0 });
    let approved = (APPROVED, detail);
    if let Some(hold) = address_hold(&order.buyer_email) {
        let mut deferred = Deferred::default();
        deferred.audit(tenant_id, order_id, APPROVED, approved.1.to_string());
        rehold(tx, &mut deferred, tenant_id, order_id, &order, &hold, now).await?;
        deferred.write(tx, now).await?;
        clear_alert(tx, tenant_id, ORDER_NEEDS_REVIEW_ALERT, order_id).await?;
        return Ok(Some(Vec::new()));
    }
    let held = (NEEDS_REVIEW, ORDER_NEEDS_REVIEW_ALERT);
    let units = release_in(tx, tenant_id, order_id, &order, held, approved, policy, now).await?;
    Ok(Some(units))
}

/// Sets the buyer email of an order (see `LedgerStore::set_buyer_email`): an order that
/// waited for an address is delivered now.
pub(super) async fn set_buyer_email_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    buyer_email: &str,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Option<Vec<UnitRef>>> {
    let Some(order) = lock_order(tx, tenant_id, order_id).await? else {
        return Ok(None);
    };
    if let Some(reason) = address_change_refused(&order.status) {
        return Err(StoreError::OrderClosed(reason));
    }
    let buyer_email = buyer_email.trim().to_lowercase();
    sqlx::query("UPDATE orders SET buyer_email = $1, updated_at = $2 WHERE id = $3")
        .bind(&buyer_email)
        .bind(now)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    let changed = (
        BUYER_EMAIL_CHANGED,
        serde_json::json!({ "buyer_email": buyer_email }),
    );
    if order.status != NEEDS_ADDRESS {
        audit_in(tx, tenant_id, order_id, now, changed.0, &changed.1).await?;
        return Ok(Some(Vec::new()));
    }
    // Units reserved for a delivery through the platform go by email now.
    hand_to_email_in(tx, tenant_id, order_id, now).await?;
    let held = (NEEDS_ADDRESS, ORDER_NEEDS_ADDRESS_ALERT);
    let units = release_in(tx, tenant_id, order_id, &order, held, changed, policy, now).await?;
    Ok(Some(units))
}

/// The order, locked for the rest of the transaction on PostgreSQL.
pub(super) async fn lock_order(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
) -> StoreResult<Option<OrderKeyRow>> {
    let sql = format!(
        "SELECT status, platform, platform_order_id, connection_id, buyer_email FROM orders \
         WHERE tenant_id = $1 AND id = $2{LOCK_ROW}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// An order approved out of review that has no usable address: it and its waiting lines wait
/// for one now.
async fn rehold(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    tenant_id: &str,
    order_id: &str,
    order: &OrderKeyRow,
    hold: &Hold,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE orders SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4")
        .bind(hold.status)
        .bind(&hold.reason)
        .bind(now)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE order_items SET delivery_status = $1 \
         WHERE tenant_id = $2 AND order_id = $3 AND delivery_status = $4",
    )
    .bind(hold.status)
    .bind(tenant_id)
    .bind(order_id)
    .bind(NEEDS_REVIEW)
    .execute(&mut **tx)
    .await?;
    let held = HeldOrder {
        tenant_id,
        order_id,
        platform: &order.platform,
        platform_order_id: &order.platform_order_id,
        connection_id: &order.connection_id,
    };
    raise_hold(tx, deferred, &held, hold, now).await
}

/// Takes in an order that waited for the seller (`held`: its status and alert): its waiting
/// lines' units made, allocated and due for email at once; `done` is the audit row of what
/// the seller did. The units allocated.
#[allow(clippy::too_many_arguments)]
async fn release_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    order: &OrderKeyRow,
    (held, alert): (&str, &str),
    (action, detail): (&str, serde_json::Value),
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Vec<UnitRef>> {
    sqlx::query(
        "UPDATE orders SET status = 'processing', status_reason = NULL, updated_at = $1 \
         WHERE id = $2",
    )
    .bind(now)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    let mut deferred = Deferred::default();
    deferred.audit(tenant_id, order_id, action, detail.to_string());
    let mut outcome = ApplyOutcome::default();
    let waiting = WaitingOrder {
        tenant_id,
        order_id,
        order,
        held,
    };
    // No lease: the send loop takes the allocated units at once.
    let purpose = Purpose::Email(None);
    make_waiting_units(
        tx,
        &mut deferred,
        &waiting,
        purpose,
        policy,
        now,
        &mut outcome,
    )
    .await?;
    sqlx::query(
        "UPDATE order_items SET delivery_status = 'pending' \
         WHERE tenant_id = $1 AND order_id = $2 AND delivery_status = $3",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(held)
    .execute(&mut **tx)
    .await?;
    deferred.write(tx, now).await?;
    clear_alert(tx, tenant_id, alert, order_id).await?;
    refresh_orders(tx, &[(tenant_id.to_owned(), order_id.to_owned())], now).await?;
    let allocated = outcome.allocated.into_iter();
    let refs = allocated.map(|id| (tenant_id.to_owned(), order_id.to_owned(), id));
    Ok(refs.collect())
}

/// An order whose lines wait for the seller as `held`.
pub(super) struct WaitingOrder<'a> {
    pub tenant_id: &'a str,
    pub order_id: &'a str,
    pub order: &'a OrderKeyRow,
    pub held: &'a str,
}

/// Makes and allocates, for `purpose`, the units of the order's mapped lines that wait as
/// `held`; their items keep their status (the caller sets it).
pub(super) async fn make_waiting_units(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    waiting: &WaitingOrder<'_>,
    purpose: Purpose<'_>,
    policy: DeliveryPolicy,
    now: i64,
    outcome: &mut ApplyOutcome,
) -> StoreResult<()> {
    let WaitingOrder {
        tenant_id,
        order_id,
        order,
        held,
    } = *waiting;
    let items: Vec<WaitingItem> = sqlx::query_as(
        "SELECT id, product_id, product_type, quantity, refunded_quantity, platform_line \
         FROM order_items WHERE tenant_id = $1 AND order_id = $2 AND delivery_status = $3 \
         ORDER BY id",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(held)
    .fetch_all(&mut **tx)
    .await?;
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
        make_units(tx, deferred, &line, policy, now, purpose, outcome).await?;
    }
    Ok(())
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
        // A line of an order waiting for the seller is mapped now and waits with its order.
        let held = is_held(&status);
        let item_status = if held { status.as_str() } else { "pending" };
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
        make_units(
            tx,
            &mut deferred,
            &line,
            policy,
            now,
            Purpose::Email(None),
            &mut outcome,
        )
        .await?;
        let refs = outcome.allocated.into_iter();
        allocated.extend(refs.map(|id| (tenant_id.to_owned(), order_id.clone(), id)));
        touched.insert((tenant_id.to_owned(), order_id));
    }
    deferred.write(tx, now).await?;
    let touched: Vec<(String, String)> = touched.into_iter().collect();
    refresh_orders(tx, &touched, now).await?;
    Ok(allocated)
}
