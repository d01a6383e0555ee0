//! Deliveries made through the marketplace (`domain::fulfilment::DELIVER`): an Etsy order
//! without a usable buyer email gets its codes and links in the note of its shipment. Queued
//! when the order is held for its address; its units reserved (code and links taken, token
//! held, nothing charged) when the call is about to be made; charged and recorded sent when
//! the platform takes it, released when it refuses; or handed to the email path when the
//! seller enters an address first.

use super::allocation::{Purpose, clear_alert};
use super::batch::{Deferred, audit_in, refresh_orders};
use super::review::{WaitingOrder, lock_order, make_waiting_units};
use super::*;
use crate::domain::fulfilment::{DELIVER, PENDING, WHOLE_ORDER, audit as fulfilment_audit};
use crate::domain::ledger::{DeliveryPolicy, TOKENS_PER_UNIT, audit};
use crate::domain::review::{NEEDS_ADDRESS, ORDER_NEEDS_ADDRESS_ALERT};
use crate::ids::new_id;
use crate::store::fulfilment::Reservation;
use crate::store::pipeline::ApplyOutcome;

/// The order's identity, as a fulfilment row carries it.
pub(super) struct HeldOrder<'a> {
    pub tenant_id: &'a str,
    pub order_id: &'a str,
    pub platform: &'a str,
    pub platform_order_id: &'a str,
    pub connection_id: &'a str,
}

/// Queues the delivery of a held order through its platform, once (the whole order's
/// fulfilment row: the plain mark that would follow an email delivery is then this call).
pub(super) async fn queue_platform_delivery(
    tx: &mut Tx<'_>,
    order: &HeldOrder<'_>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO fulfilments (id, tenant_id, order_id, platform, platform_order_id, \
         connection_id, target, quantity, status, next_attempt_at, created_at, updated_at, \
         kind) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $9, $9, $10) \
         ON CONFLICT (tenant_id, order_id, target) DO NOTHING",
    )
    .bind(new_id("ful"))
    .bind(order.tenant_id)
    .bind(order.order_id)
    .bind(order.platform)
    .bind(order.platform_order_id)
    .bind(order.connection_id)
    .bind(WHOLE_ORDER)
    .bind(PENDING)
    .bind(now)
    .bind(DELIVER)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The ids of the order's reserved units.
async fn reserved_units(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM deliveries WHERE tenant_id = $1 AND order_id = $2 \
         AND status = 'reserved' ORDER BY id",
    )
    .bind(tenant_id)
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Reserves every unit of an order still waiting for its address, or none: the caller
/// commits only [`Reservation::Reserved`].
pub(super) async fn reserve_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<Reservation> {
    let Some(order) = lock_order(tx, tenant_id, order_id).await? else {
        return Ok(Reservation::Gone("the order was erased".to_owned()));
    };
    if order.status != NEEDS_ADDRESS {
        return Ok(Reservation::Gone(format!(
            "the order no longer waits for an address (it is {})",
            order.status
        )));
    }
    let earlier = reserved_units(tx, tenant_id, order_id).await?;
    let to_refs = |ids: Vec<String>| {
        ids.into_iter()
            .map(|id| (tenant_id.to_owned(), order_id.to_owned(), id))
            .collect()
    };
    if !earlier.is_empty() {
        return Ok(Reservation::Reserved {
            units: to_refs(earlier),
            earlier: true,
        });
    }
    let mut deferred = Deferred::default();
    let mut outcome = ApplyOutcome::default();
    let waiting = WaitingOrder {
        tenant_id,
        order_id,
        order: &order,
        held: NEEDS_ADDRESS,
    };
    let purpose = Purpose::ThroughPlatform;
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
    if outcome.waiting > 0 {
        return Ok(Reservation::NotYet(
            "not every unit can be reserved yet: a product is out of codes or the balance is \
             short of tokens"
                .to_owned(),
        ));
    }
    if outcome.allocated.is_empty() {
        return Ok(Reservation::Gone(
            "no line of the order is mapped to a product".to_owned(),
        ));
    }
    deferred.write(tx, now).await?;
    Ok(Reservation::Reserved {
        units: to_refs(outcome.allocated),
        earlier: false,
    })
}

/// The platform took the delivery: the reserved units are charged (their tokens were held)
/// and recorded sent, and the order leaves `needs_address`.
pub(super) async fn settle_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    platform: &str,
    now: i64,
) -> StoreResult<()> {
    let sent: Vec<(String,)> = sqlx::query_as(
        "UPDATE deliveries SET status = 'sent', sent_at = $1, updated_at = $1, \
         send_attempts = send_attempts + 1 \
         WHERE tenant_id = $2 AND order_id = $3 AND status = 'reserved' RETURNING id",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    if sent.is_empty() {
        // Handed to the email path (the seller entered an address) while the call was made.
        return Ok(());
    }
    let units = charge_held(tx, tenant_id, order_id, sent, now).await?;
    let delivered = serde_json::json!({ "platform": platform, "units": units });
    let action = fulfilment_audit::DELIVERED_THROUGH_PLATFORM;
    audit_in(tx, tenant_id, order_id, now, action, &delivered).await?;
    leave_address_hold(tx, tenant_id, order_id, now).await?;
    refresh_orders(tx, &[(tenant_id.to_owned(), order_id.to_owned())], now).await
}

/// The order and its waiting lines out of `needs_address`, and its alert cleared.
async fn leave_address_hold(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE orders SET status = 'processing', status_reason = NULL, updated_at = $1 \
         WHERE tenant_id = $2 AND id = $3 AND status = $4",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(order_id)
    .bind(NEEDS_ADDRESS)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE order_items SET delivery_status = 'pending' \
         WHERE tenant_id = $1 AND order_id = $2 AND delivery_status = $3",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(NEEDS_ADDRESS)
    .execute(&mut **tx)
    .await?;
    clear_alert(tx, tenant_id, ORDER_NEEDS_ADDRESS_ALERT, order_id).await
}

/// The platform refused the delivery (or it is not to be made): the reserved units are
/// undone, their codes back in stock and their held tokens back on the balance; the order
/// keeps waiting for an address.
pub(super) async fn release_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    why: &str,
    now: i64,
) -> StoreResult<()> {
    let reserved = "SELECT id FROM deliveries WHERE tenant_id = $1 AND order_id = $2 \
                    AND status = 'reserved'";
    sqlx::query(
        "UPDATE license_codes SET status = 'available', order_item_id = NULL, \
         allocated_at = NULL WHERE id IN (SELECT license_code_id FROM deliveries \
         WHERE tenant_id = $1 AND order_id = $2 AND status = 'reserved' \
         AND license_code_id IS NOT NULL) AND status = 'allocated'",
    )
    .bind(tenant_id)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM download_links WHERE delivery_id IN ({reserved})"
    ))
    .bind(tenant_id)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    let released = sqlx::query(
        "DELETE FROM deliveries WHERE tenant_id = $1 AND order_id = $2 AND status = 'reserved'",
    )
    .bind(tenant_id)
    .bind(order_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if released == 0 {
        return Ok(());
    }
    let units = i64::try_from(released).unwrap_or(i64::MAX);
    sqlx::query("UPDATE tenants SET tokens = tokens + $1 WHERE id = $2")
        .bind(units * TOKENS_PER_UNIT)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    let detail = serde_json::json!({
        "units": units,
        "tokens_released": units * TOKENS_PER_UNIT,
        "reason": why,
    });
    audit_in(
        tx,
        tenant_id,
        order_id,
        now,
        fulfilment_audit::RELEASED,
        &detail,
    )
    .await
}

/// The seller entered an address before the platform took the delivery: the reserved units
/// go out by email instead (charged now from their held tokens, with the codes they hold), and
/// the delivery call is dropped (the plain mark follows the email as usual). A call already
/// under way can no longer record anything; if it reaches the buyer, it is with the same
/// codes, never charged twice.
pub(super) async fn hand_to_email_in(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM fulfilments WHERE tenant_id = $1 AND order_id = $2 AND kind = $3 \
         AND status = $4",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(DELIVER)
    .bind(PENDING)
    .execute(&mut **tx)
    .await?;
    let allocated: Vec<(String,)> = sqlx::query_as(
        "UPDATE deliveries SET status = 'allocated', next_attempt_at = $1, lease_until = 0, \
         updated_at = $1 WHERE tenant_id = $2 AND order_id = $3 AND status = 'reserved' \
         RETURNING id",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    charge_held(tx, tenant_id, order_id, allocated, now).await?;
    Ok(())
}

/// Records the charge of units whose tokens were held when they were reserved (the balance
/// already shows it); how many.
async fn charge_held(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_id: &str,
    units: Vec<(String,)>,
    now: i64,
) -> StoreResult<usize> {
    let (balance,): (i64,) = sqlx::query_as("SELECT tokens FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(&mut **tx)
        .await?;
    let mut ids: Vec<String> = units.into_iter().map(|(id,)| id).collect();
    ids.sort();
    for id in &ids {
        let charged = serde_json::json!({
            "delivery_id": id,
            "tokens_charged": TOKENS_PER_UNIT,
            "token_balance": balance,
        });
        audit_in(tx, tenant_id, order_id, now, audit::CHARGED, &charged).await?;
    }
    Ok(ids.len())
}
