//! An order as any platform describes it, reduced to what delivery needs. The platform
//! parsers produce it; intake matches its lines to products; pollers store it as events.

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
    /// The platform's ids of refunds the order names without saying which lines they take
    /// back (a WooCommerce order lists its refunds as `{id, reason, total}` only): their lines
    /// are read from the platform before the order is taken in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds_to_read: Vec<String>,
}

/// Whether an order should be delivered, left alone, or have its deliveries revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// Paid: deliver every mapped item (less the units of lines refunded on their own).
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
    /// How many of the line's units the platform says were refunded (partial refunds): they
    /// are revoked, or never delivered. Absent in events stored before it existed.
    #[serde(default)]
    pub refunded: u32,
}

/// The platform's product identity of a line: WooCommerce product/variation, eBay item and
/// variation, Etsy listing and inventory product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListingRef {
    pub product_id: String,
    pub variation_id: Option<String>,
}
