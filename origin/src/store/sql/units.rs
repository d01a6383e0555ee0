//! A line's units in the ledger, made in the caller's transaction: a row per unit (once: the
//! ledger's unique key), each new one allocated and charged. Intake, an approved order and a
//! line a new mapping resumes all make their units here.

use super::allocation::{Purpose, allocate_unit};
use super::batch::Deferred;
use super::*;
use crate::domain::ledger::{Allocation, DeliveryPolicy};
use crate::domain::orders::PlatformItem;
use crate::ids::new_id;
use crate::store::pipeline::{ApplyOutcome, DeliveryRow};

/// One mapped line of an order, as its units are keyed and delivered.
pub(super) struct Line<'a> {
    pub tenant_id: &'a str,
    pub order_id: &'a str,
    pub item_id: &'a str,
    pub product_id: &'a str,
    pub product_type: &'a str,
    pub platform: &'a str,
    pub platform_order_id: &'a str,
    pub connection_id: &'a str,
    pub line_item_id: &'a str,
    /// How many units to make (the quantity less the units refunded).
    pub units: i64,
}

/// Makes the line's units that do not exist yet and allocates each for `purpose`; the
/// outcome counts the allocated and the waiting ones.
pub(super) async fn make_units(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    line: &Line<'_>,
    policy: DeliveryPolicy,
    now: i64,
    purpose: Purpose<'_>,
    outcome: &mut ApplyOutcome,
) -> StoreResult<()> {
    for unit in 0..line.units {
        let delivery: Option<DeliveryRow> = sqlx::query_as(
            "INSERT INTO deliveries (id, tenant_id, order_id, order_item_id, product_id, \
             product_type, platform, platform_order_id, line_item_id, unit, status, \
             created_at, updated_at, connection_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11, $12) \
             ON CONFLICT DO NOTHING RETURNING *",
        )
        .bind(new_id("dlv"))
        .bind(line.tenant_id)
        .bind(line.order_id)
        .bind(line.item_id)
        .bind(line.product_id)
        .bind(line.product_type)
        .bind(line.platform)
        .bind(line.platform_order_id)
        .bind(line.line_item_id)
        .bind(unit)
        .bind(now)
        .bind(line.connection_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(delivery) = delivery else { continue };
        match allocate_unit(tx, deferred, &delivery, policy, now, purpose).await? {
            Allocation::Allocated => outcome.allocated.push(delivery.id),
            _ => outcome.waiting += 1,
        }
    }
    Ok(())
}

/// The platform's line id of a stored item (`order_items.platform_line`), the ledger's key of
/// its units; the item's own id for an item stored without it.
pub(super) fn line_item_id(platform_line: Option<&str>, item_id: &str) -> String {
    platform_line
        .and_then(|json| serde_json::from_str::<PlatformItem>(json).ok())
        .map_or_else(|| item_id.to_owned(), |line| line.line_item_id)
}
