//! The delivery ledger: paid orders taken in (order, items, a row per unit, each new unit
//! allocated and charged, the audit trail, the event processed), refunds and cancellations
//! revoking what was delivered, and waiting units resumed (`resume.rs`).

use async_trait::async_trait;

use super::allocation::{Purpose, raise_alert};
use super::batch::{Deferred, audit_in, finish_event_in, refresh_orders};
use super::platform_delivery::{HeldOrder, queue_platform_delivery};
use super::refunds::{RefundedLines, refund_lines_in};
use super::resume::{resume_due, wake_awaiting_stock};
use super::review::{approve_in, resume_unmapped_in, set_buyer_email_in};
use super::units::{Line, make_units};
use super::*;
use crate::domain::fulfilment::delivers_through_platform;
use crate::domain::ledger::{DeliveryPolicy, IntakeItem, OrderIntake, audit};
use crate::domain::resumption::ResumeBackoff;
use crate::domain::review::{Hold, hold_for, units_to_deliver};
use crate::ids::new_id;
use crate::store::pipeline::{ApplyOutcome, LedgerStore, OrderKey, SendLease, UnitRef};

#[async_trait]
impl LedgerStore for Backend {
    async fn apply_orders(
        &self,
        orders: &[(OrderIntake, Option<String>)],
        policy: DeliveryPolicy,
        now: i64,
        lease: SendLease<'_>,
    ) -> StoreResult<Vec<ApplyOutcome>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let mut deferred = Deferred::default();
        let mut outcomes = Vec::with_capacity(orders.len());
        for (intake, event_id) in orders {
            let event_id = event_id.as_deref();
            let outcome =
                apply_order_in(&mut tx, &mut deferred, intake, event_id, policy, now, lease)
                    .await?;
            outcomes.push(outcome);
        }
        deferred.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn revoke_order(
        &self,
        key: OrderKey<'_>,
        status: &str,
        event_id: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let tenant_id = key.tenant_id;
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let order: Option<(String, String)> = sqlx::query_as(
            "SELECT id, status FROM orders WHERE tenant_id = $1 AND platform = $2 \
             AND connection_id = $3 AND platform_order_id = $4",
        )
        .bind(tenant_id)
        .bind(key.platform)
        .bind(key.connection_id)
        .bind(key.platform_order_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((order_id, previous)) = order else {
            finish_event_in(&mut tx, event_id).await?;
            tx.commit().await?;
            return Ok(None);
        };
        if previous == status {
            finish_event_in(&mut tx, event_id).await?;
            tx.commit().await?;
            return Ok(Some(order_id));
        }
        sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status)
            .bind(now)
            .bind(&order_id)
            .execute(&mut *tx)
            .await?;
        let codes = sqlx::query(
            "UPDATE license_codes SET status = 'revoked' \
             WHERE tenant_id = $1 AND status = 'allocated' \
             AND order_item_id IN (SELECT id FROM order_items WHERE order_id = $2)",
        )
        .bind(tenant_id)
        .bind(&order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let links = sqlx::query(
            "UPDATE download_links SET revoked_at = $1 WHERE revoked_at IS NULL \
             AND delivery_id IN (SELECT id FROM deliveries WHERE order_id = $2)",
        )
        .bind(now)
        .bind(&order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE deliveries SET status = 'revoked', lease_until = 0, updated_at = $1 \
             WHERE order_id = $2",
        )
        .bind(now)
        .bind(&order_id)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "event_id": event_id,
            "codes_revoked": codes,
            "links_revoked": links,
            "tokens_refunded": 0,
        });
        // The trail records a refund or cancellation under the order's new status.
        audit_in(&mut tx, tenant_id, &order_id, now, status, &detail).await?;
        let touched = [(tenant_id.to_owned(), order_id.clone())];
        refresh_orders(&mut tx, &touched, now).await?;
        finish_event_in(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok(Some(order_id))
    }

    async fn approve_order(
        &self,
        tenant_id: &str,
        order_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Option<Vec<UnitRef>>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let units = approve_in(&mut tx, tenant_id, order_id, policy, now).await?;
        tx.commit().await?;
        Ok(units)
    }

    async fn set_buyer_email(
        &self,
        tenant_id: &str,
        order_id: &str,
        buyer_email: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Option<Vec<UnitRef>>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let units =
            set_buyer_email_in(&mut tx, tenant_id, order_id, buyer_email, policy, now).await?;
        tx.commit().await?;
        Ok(units)
    }

    async fn resume_unmapped(
        &self,
        tenant_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Vec<UnitRef>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let units = resume_unmapped_in(&mut tx, tenant_id, policy, now).await?;
        tx.commit().await?;
        Ok(units)
    }

    async fn resume_waiting(
        &self,
        policy: DeliveryPolicy,
        now: i64,
        lease: SendLease<'_>,
        limit: i64,
        backoff: ResumeBackoff,
    ) -> StoreResult<Vec<UnitRef>> {
        resume_due(self, policy, now, lease, limit, backoff).await
    }

    async fn wake_awaiting_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<()> {
        wake_awaiting_stock(self, tenant_id, product_id).await
    }
}

/// Takes one paid order in, in the caller's transaction: the order and its items (once), a
/// ledger row per unit (once), allocation and charging of each new unit, the audit trail,
/// and the event marked processed. An order over the quantity caps is stored waiting for
/// review, with no unit; an order already taken in only has its partial refunds applied.
async fn apply_order_in(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    i: &OrderIntake,
    event_id: Option<&str>,
    policy: DeliveryPolicy,
    now: i64,
    lease: SendLease<'_>,
) -> StoreResult<ApplyOutcome> {
    let hold = hold_for(&i.items, policy.caps, &i.buyer_email);
    let status = hold.as_ref().map_or("processing", |hold| hold.status);
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO orders (id, tenant_id, platform, platform_order_id, status, buyer_email, \
         buyer_name, currency, total_cents, created_at, updated_at, buyer_platform_id, \
         connection_id, status_reason) \
         VALUES ($1, $2, $3, $4, $11, $5, $6, $7, NULL, $8, $8, $9, $10, $12) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(new_id("ord"))
    .bind(&i.tenant_id)
    .bind(&i.platform)
    .bind(&i.platform_order_id)
    .bind(i.buyer_email.to_lowercase())
    .bind(i.buyer_name.as_deref())
    .bind(i.currency.as_deref())
    .bind(now)
    .bind(i.buyer_platform_id.as_deref())
    .bind(&i.connection_id)
    .bind(status)
    .bind(hold.as_ref().map(|hold| hold.reason.as_str()))
    .fetch_optional(&mut **tx)
    .await?;
    let mut outcome = ApplyOutcome::default();
    // An order already taken in has its items and ledger rows: a replayed or repeated event
    // changes nothing but what a partial refund takes back.
    let Some((order_id,)) = inserted else {
        refund_known_order(tx, deferred, i, event_id, now).await?;
        deferred.processed(event_id);
        return Ok(outcome);
    };
    // The trail reads in order: received, mapped, then each unit's allocation.
    let received = serde_json::json!({
        "platform": i.platform,
        "platform_order_id": i.platform_order_id,
        "event_id": event_id,
    });
    let (mapped, unmapped): (Vec<&IntakeItem>, Vec<&IntakeItem>) =
        i.items.iter().partition(|item| item.product.is_some());
    let mapped: Vec<serde_json::Value> = mapped
        .iter()
        .map(|item| {
            serde_json::json!({
                "line_item_id": item.line_item_id,
                "product_id": item.product.as_ref().map(|p| &p.0),
                "quantity": item.quantity,
                "refunded": item.refunded,
            })
        })
        .collect();
    let unmapped: Vec<&str> = unmapped
        .iter()
        .map(|item| item.line_item_id.as_str())
        .collect();
    let detail = serde_json::json!({ "mapped": mapped, "unmapped_line_items": unmapped });
    deferred.audit(
        &i.tenant_id,
        &order_id,
        audit::RECEIVED,
        received.to_string(),
    );
    deferred.audit(&i.tenant_id, &order_id, audit::MAPPED, detail.to_string());
    if let Some(hold) = &hold {
        let order = HeldOrder {
            tenant_id: &i.tenant_id,
            order_id: &order_id,
            platform: &i.platform,
            platform_order_id: &i.platform_order_id,
            connection_id: &i.connection_id,
        };
        raise_hold(tx, deferred, &order, hold, now).await?;
    }
    for item in &i.items {
        let item_id = new_id("itm");
        let status = match (&item.product, &hold) {
            (None, _) => "unmapped",
            (Some(_), Some(hold)) => hold.status,
            (Some(_), None) => "pending",
        };
        sqlx::query(
            "INSERT INTO order_items (id, tenant_id, order_id, product_id, product_type, name, \
             quantity, delivery_status, license_code, delivered_at, status_reason, \
             platform_line, refunded_quantity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10, $11)",
        )
        .bind(&item_id)
        .bind(&i.tenant_id)
        .bind(&order_id)
        .bind(item.product.as_ref().map(|p| p.0.as_str()))
        .bind(item.product.as_ref().map(|p| p.1.as_str()))
        .bind(&item.name)
        .bind(item.quantity)
        .bind(status)
        .bind(item.waiting_reason.as_deref())
        .bind(item.platform_line.as_deref())
        .bind(item.refunded)
        .execute(&mut **tx)
        .await?;
        let Some((product_id, product_type)) = &item.product else {
            continue;
        };
        if hold.is_some() {
            continue;
        }
        let line = Line {
            tenant_id: &i.tenant_id,
            order_id: &order_id,
            item_id: &item_id,
            product_id,
            product_type,
            platform: &i.platform,
            platform_order_id: &i.platform_order_id,
            connection_id: &i.connection_id,
            line_item_id: &item.line_item_id,
            units: units_to_deliver(item.quantity, item.refunded),
        };
        make_units(
            tx,
            deferred,
            &line,
            policy,
            now,
            Purpose::Email(Some(lease)),
            &mut outcome,
        )
        .await?;
    }
    // Allocated units are pending until their email is recorded, which refreshes the
    // statuses; only waiting units change them now.
    if outcome.waiting > 0 {
        refresh_orders(tx, &[(i.tenant_id.clone(), order_id.clone())], now).await?;
    }
    deferred.processed(event_id);
    outcome.order_id = Some(order_id);
    Ok(outcome)
}

/// Records why an order waits for the seller: its trail and its alert; an order its
/// platform can deliver itself (`domain::fulfilment::delivers_through_platform`) has that
/// delivery queued.
pub(super) async fn raise_hold(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    order: &HeldOrder<'_>,
    hold: &Hold,
    now: i64,
) -> StoreResult<()> {
    let detail = serde_json::json!({ "reason": hold.reason });
    deferred.audit(
        order.tenant_id,
        order.order_id,
        hold.status,
        detail.to_string(),
    );
    let through_platform = delivers_through_platform(order.platform, hold.status);
    let alert = serde_json::json!({
        "order_id": order.order_id,
        "platform": order.platform,
        "platform_order_id": order.platform_order_id,
        "reason": hold.reason,
        "delivering_through_platform": through_platform,
    });
    let (tenant_id, order_id) = (order.tenant_id, order.order_id);
    raise_alert(tx, tenant_id, hold.alert, order_id, &alert, now).await?;
    if through_platform {
        queue_platform_delivery(tx, order, now).await?;
    }
    Ok(())
}

/// A known order seen again: the lines it says were refunded on their own are revoked.
async fn refund_known_order(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    i: &OrderIntake,
    event_id: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let refunded: Vec<(&str, i64)> = i
        .items
        .iter()
        .filter(|item| item.refunded > 0)
        .map(|item| (item.line_item_id.as_str(), item.refunded))
        .collect();
    if refunded.is_empty() {
        return Ok(());
    }
    let order: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM orders WHERE tenant_id = $1 AND platform = $2 AND connection_id = $3 \
         AND platform_order_id = $4",
    )
    .bind(&i.tenant_id)
    .bind(&i.platform)
    .bind(&i.connection_id)
    .bind(&i.platform_order_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((order_id,)) = order else {
        return Ok(());
    };
    let lines = RefundedLines {
        tenant_id: &i.tenant_id,
        order_id: &order_id,
        event_id,
        lines: &refunded,
    };
    if refund_lines_in(tx, deferred, &lines, now).await? {
        refresh_orders(tx, &[(i.tenant_id.clone(), order_id.clone())], now).await?;
    }
    Ok(())
}
