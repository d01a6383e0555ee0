//! How an order's marketplace was told it is done, as `GET /api/v1/orders/{id}` shows it in
//! `fulfilment`: one entry per platform call (`domain::fulfilment`), with its status and the
//! platform's error when it refused.

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::state::AppState;
use crate::ids::rfc3339;
use crate::store::fulfilment::FulfilmentRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct FulfilmentOut {
    /// `ebay` (createShippingFulfillment of a line), `etsy` (createReceiptShipment of the
    /// receipt) or `woocommerce` (the order set to `completed`).
    pub platform: String,
    /// `mark` (the platform told the order is done) or `deliver` (the delivery itself made
    /// through the platform: an Etsy order without a usable buyer email gets its codes and
    /// links in the note of its shipment, which Etsy emails to the buyer; its units are
    /// charged only once Etsy takes it).
    pub kind: String,
    /// The eBay line the call is about; absent for a whole order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_item_id: Option<String>,
    /// Units the call reports delivered (0 for a `deliver` call: its units are the order's).
    pub quantity: i64,
    /// `pending` (due, or retried after a failure), `done`, `refused` (the platform said no
    /// for good, or it kept failing for days) or `skipped` (the connection's
    /// `mark_fulfilled` setting was off).
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt did not succeed, with the platform's own error when it gave one.
    pub error: Option<String>,
    /// What the platform calls the result (eBay's fulfillment id).
    pub reference: Option<String>,
    /// When a pending call is tried next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub done_at: Option<String>,
    pub updated_at: String,
}

fn fulfilment_out(row: FulfilmentRow) -> FulfilmentOut {
    let pending = row.status == crate::domain::fulfilment::PENDING;
    FulfilmentOut {
        line_item_id: (!row.target.is_empty()).then_some(row.target),
        platform: row.platform,
        kind: row.kind,
        quantity: row.quantity,
        status: row.status,
        attempts: row.attempts,
        error: row.last_error,
        reference: row.platform_ref,
        next_attempt_at: pending.then(|| rfc3339(row.next_attempt_at)),
        done_at: row.done_at.map(rfc3339),
        updated_at: rfc3339(row.updated_at),
    }
}

/// The order's fulfilment calls, oldest first.
pub async fn of_order(
    state: &AppState,
    tenant_id: &str,
    order_id: &str,
) -> Result<Vec<FulfilmentOut>, ApiError> {
    let rows = state.store.order_fulfilments(tenant_id, order_id).await?;
    Ok(rows.into_iter().map(fulfilment_out).collect())
}
