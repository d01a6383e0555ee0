//! A product's platform mappings: the one typed shape the API stores and intake matches
//! order lines against.

use serde::{Deserialize, Serialize};
use shared::internal::Platform;
use utoipa::ToSchema;

use super::orders::PlatformItem;

/// How the product is known on each platform; orders are matched to products through these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformMappings {
    pub woocommerce_product_id: Option<i64>,
    pub woocommerce_variation_id: Option<i64>,
    pub ebay_item_id: Option<String>,
    pub ebay_sku: Option<String>,
    pub etsy_listing_id: Option<i64>,
}

impl PlatformMappings {
    /// Reads stored mappings; unreadable ones map nothing.
    pub fn from_stored(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// How well a line of a `platform` order matches: 0 not at all; a higher score wins.
    /// A mapping naming a WooCommerce variation matches only that variation and beats one
    /// naming the parent product, which matches every variation of it; an eBay item id beats
    /// an eBay SKU.
    pub fn score(&self, platform: Platform, item: &PlatformItem) -> u8 {
        let same = |id: Option<i64>, wanted: &str| id.is_some_and(|id| id.to_string() == wanted);
        match platform {
            Platform::Woocommerce => match self.woocommerce_variation_id {
                Some(variation) => {
                    let wanted = item.listing.variation_id.as_deref();
                    u8::from(wanted.is_some_and(|v| same(Some(variation), v))) * 2
                }
                None => u8::from(same(self.woocommerce_product_id, &item.listing.product_id)),
            },
            Platform::Ebay => {
                if self.ebay_item_id.as_deref() == Some(item.listing.product_id.as_str()) {
                    2
                } else {
                    u8::from(item.sku.is_some() && self.ebay_sku.as_deref() == item.sku.as_deref())
                }
            }
            Platform::Etsy => u8::from(same(self.etsy_listing_id, &item.listing.product_id)),
        }
    }
}
