//! Storage of the calls that tell a marketplace an order is done (`domain::fulfilment`): one
//! row per call, made in the transaction that records the units sent (`sql/batch.rs`
//! `refresh_orders`), leased under a claim token, and finished with its audit row in one
//! transaction by the claim's holder only. Also the connection settings that turn them off.

use async_trait::async_trait;
use sqlx::FromRow;

use super::pipeline::UnitRef;
use super::{ConnectionRow, StoreResult};
use crate::domain::ledger::DeliveryPolicy;

#[derive(Debug, Clone, FromRow)]
pub struct FulfilmentRow {
    pub id: String,
    pub tenant_id: String,
    pub order_id: String,
    pub platform: String,
    pub platform_order_id: String,
    /// The order's WooCommerce connection; empty for eBay and Etsy.
    pub connection_id: String,
    /// The eBay line item id; empty for the whole order.
    pub target: String,
    pub quantity: i64,
    /// `pending`, `done`, `refused` or `skipped`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: i64,
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub platform_ref: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub done_at: Option<i64>,
    /// `mark` (tell the platform) or `deliver` (deliver through it: `domain::fulfilment`).
    pub kind: String,
}

/// What reserving the units of a delivery through the platform found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The units reserved (now, or by an earlier attempt): their codes and links taken and
    /// their tokens held; `earlier` when an earlier attempt reserved them (its call may have
    /// reached the platform).
    Reserved { units: Vec<UnitRef>, earlier: bool },
    /// Not every unit can be reserved yet (no stock, not enough tokens): nothing taken.
    NotYet(String),
    /// Nothing is to be delivered this way any more (the seller entered an address, the order
    /// was refunded, no line is mapped): why.
    Gone(String),
}

/// How a claimed call ended, as recorded on its row and in the order's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfilmentOutcome {
    /// The platform took it; what it calls the result, and a note (e.g. "already fulfilled").
    Done {
        platform_ref: Option<String>,
        note: Option<String>,
    },
    /// Tried again at `at` (unix ms); written to the audit trail when `audited` (the first
    /// failure: the row itself keeps the latest error, so a store down for days does not
    /// fill the trail).
    Retry {
        at: i64,
        error: String,
        audited: bool,
    },
    /// Not tried again.
    Refused { error: String },
    /// Not made at all (the connection's setting is off).
    Skipped { reason: String },
}

#[async_trait]
pub trait FulfilmentStore: Send + Sync {
    /// Leases up to `limit` pending calls that are due until `now + lease_ms`, under a fresh
    /// claim token (on each row); a call whose lease ran out is taken over, and its old
    /// holder can no longer record it. Each claim counts as an attempt.
    async fn claim_fulfilments(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<FulfilmentRow>>;
    /// Reserves the units of an order a `deliver` call is for (see [`Reservation`]), in one
    /// transaction: all of them or none.
    async fn reserve_for_platform_delivery(
        &self,
        tenant_id: &str,
        order_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Reservation>;
    /// Records a claimed call's outcome with its audit row, if `claim_token` still holds it;
    /// false (nothing written) otherwise. For a `deliver` call, in the same transaction: done
    /// charges the held tokens and records the reserved units sent; refused or skipped
    /// releases them (codes back in stock, tokens back on the balance).
    async fn finish_fulfilment(
        &self,
        id: &str,
        claim_token: &str,
        outcome: &FulfilmentOutcome,
        now: i64,
    ) -> StoreResult<bool>;
    /// The calls made (or due) for an order, oldest first.
    async fn order_fulfilments(
        &self,
        tenant_id: &str,
        order_id: &str,
    ) -> StoreResult<Vec<FulfilmentRow>>;
    /// Replaces a connection's settings (JSON); the connection after, None when missing.
    async fn set_connection_settings(
        &self,
        tenant_id: &str,
        id: &str,
        settings: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>>;
}
