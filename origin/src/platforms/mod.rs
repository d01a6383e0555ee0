//! What the three platforms send and answer, read into one shape the delivery pipeline uses.
//!
//! Parsing here is pure (bytes in, [`PlatformOrder`] out); the HTTP clients that fetch these
//! payloads sit beside the parsers. Every parser keeps the raw identifiers as strings: they are
//! matched against product mappings, never computed with.

pub mod client;
pub mod ebay;
pub mod etsy;
pub mod pollers;
pub mod woocommerce;

use serde::{Deserialize, Serialize};
use shared::internal::Platform;

/// An order as any platform describes it, reduced to what delivery needs. Serialisable: the
/// pollers store what they find in this shape as events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformOrder {
    pub platform: Platform,
    pub order_id: String,
    pub state: OrderState,
    pub buyer_email: Option<String>,
    pub buyer_name: Option<String>,
    /// The platform's id of the buyer (eBay username, Etsy user id, WooCommerce customer id),
    /// so that an account deletion can find their orders.
    pub buyer_id: Option<String>,
    pub currency: Option<String>,
    pub items: Vec<PlatformItem>,
}

/// Whether an order should be delivered, left alone, or have its deliveries revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// Paid: deliver every mapped item.
    Paid,
    /// Not paid yet (pending, on hold, failed): nothing to do until it is.
    Unpaid,
    /// Fully refunded: revoke what was delivered.
    Refunded,
    /// Cancelled: revoke what was delivered.
    Cancelled,
}

impl OrderState {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Paid => "paid",
            OrderState::Unpaid => "unpaid",
            OrderState::Refunded => "refunded",
            OrderState::Cancelled => "cancelled",
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformItem {
    /// The platform's id of the line (stable across redeliveries of the same order).
    pub line_item_id: String,
    /// What product mappings are matched against.
    pub listing: ListingRef,
    pub title: String,
    pub sku: Option<String>,
    pub quantity: u32,
}

/// The platform's product identity of a line: WooCommerce product/variation, eBay item and
/// variation, Etsy listing and inventory product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListingRef {
    pub product_id: String,
    pub variation_id: Option<String>,
}

/// Why a payload could not be read. Names the field so an operator can find the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("field `{field}` is missing or not {expected}")]
    Field {
        field: &'static str,
        expected: &'static str,
    },
}

pub(crate) fn field(field: &'static str, expected: &'static str) -> ParseError {
    ParseError::Field { field, expected }
}

/// A JSON id that platforms send as a number or a string; empty and zero mean "none".
pub(crate) fn id_string(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(n) if n.as_u64() != Some(0) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() && s != "0" => Some(s.clone()),
        _ => None,
    }
}

/// A non-empty trimmed string field.
pub(crate) fn non_empty(value: &serde_json::Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(crate) fn quantity(value: &serde_json::Value, name: &'static str) -> Result<u32, ParseError> {
    value
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
        .ok_or(field(name, "a positive integer"))
}

pub(crate) fn parse_json(body: &[u8]) -> Result<serde_json::Value, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))
}
