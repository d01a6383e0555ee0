//! From a platform's order to what the ledger takes in: line items matched to the tenant's
//! products through their platform mappings, and the retry schedule of failed work.

use serde_json::Value;
use shared::internal::Platform;

use crate::domain::ledger::{IntakeItem, OrderIntake};
use crate::platforms::{PlatformItem, PlatformOrder};

/// Waits before retrying failed work (event processing, email sends): 1 s, 5 s, 30 s,
/// 5 min, 30 min; after the last one the work is dead (events) or failed (sends).
pub const RETRY_DELAYS_MS: [i64; 5] = [1_000, 5_000, 30_000, 300_000, 1_800_000];

/// When to retry after the `attempts`-th failure (from 1), or None when no retry is left.
pub fn retry_at(attempts: i64, now: i64) -> Option<i64> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_DELAYS_MS.get(index).map(|delay| now + delay)
}

/// The order with each line matched to a product: `products` are `(id, type, mappings JSON)`.
pub fn intake(
    tenant_id: &str,
    order: &PlatformOrder,
    products: &[(String, String, String)],
) -> OrderIntake {
    let mappings: Vec<(&str, &str, Value)> = products
        .iter()
        .map(|(id, kind, json)| {
            (
                id.as_str(),
                kind.as_str(),
                serde_json::from_str(json).unwrap_or(Value::Null),
            )
        })
        .collect();
    let items = order
        .items
        .iter()
        .map(|item| IntakeItem {
            line_item_id: item.line_item_id.clone(),
            name: if item.title.is_empty() {
                format!("Item {}", item.line_item_id)
            } else {
                item.title.clone()
            },
            quantity: i64::from(item.quantity),
            product: match_product(order.platform, item, &mappings)
                .map(|(id, kind)| (id.to_owned(), kind.to_owned())),
        })
        .collect();
    OrderIntake {
        tenant_id: tenant_id.to_owned(),
        platform: order.platform.as_str().to_owned(),
        platform_order_id: order.order_id.clone(),
        buyer_email: order.buyer_email.clone().unwrap_or_default(),
        buyer_name: order.buyer_name.clone(),
        buyer_platform_id: order.buyer_id.clone(),
        currency: order.currency.clone(),
        items,
    }
}

/// The product a line maps to. A mapping naming a variation matches only that variation and
/// wins over one naming the parent product, which matches every variation of it.
fn match_product<'p>(
    platform: Platform,
    item: &PlatformItem,
    products: &'p [(&'p str, &'p str, Value)],
) -> Option<(&'p str, &'p str)> {
    let id_eq = |value: &Value, wanted: &str| match value {
        Value::Number(n) => n.to_string() == wanted,
        Value::String(s) => s == wanted,
        _ => false,
    };
    let variation = item.listing.variation_id.as_deref();
    let score = |m: &Value| -> u8 {
        match platform {
            Platform::Woocommerce => {
                let variation_field = &m["woocommerce_variation_id"];
                if !variation_field.is_null() {
                    return u8::from(variation.is_some_and(|v| id_eq(variation_field, v))) * 2;
                }
                u8::from(id_eq(
                    &m["woocommerce_product_id"],
                    &item.listing.product_id,
                ))
            }
            Platform::Ebay => {
                if id_eq(&m["ebay_item_id"], &item.listing.product_id) {
                    2
                } else {
                    u8::from(
                        item.sku
                            .as_deref()
                            .is_some_and(|s| id_eq(&m["ebay_sku"], s)),
                    )
                }
            }
            Platform::Etsy => u8::from(id_eq(&m["etsy_listing_id"], &item.listing.product_id)),
        }
    };
    products
        .iter()
        .map(|(id, kind, m)| (score(m), *id, *kind))
        .filter(|(score, _, _)| *score > 0)
        .max_by_key(|(score, _, _)| *score)
        .map(|(_, id, kind)| (id, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::woocommerce::parse_order_webhook;

    const WOO: &[u8] = include_bytes!("../../../fixtures/woocommerce/order-created.body");

    fn product(id: &str, mappings: Value) -> (String, String, String) {
        (id.into(), "CODE".into(), mappings.to_string())
    }

    #[test]
    fn woocommerce_lines_map_by_variation_then_product() {
        let order = parse_order_webhook(WOO).unwrap().order;
        let products = [
            product(
                "prd_parent",
                serde_json::json!({"woocommerce_product_id": 501}),
            ),
            product(
                "prd_variation",
                serde_json::json!({"woocommerce_product_id": 501, "woocommerce_variation_id": 503}),
            ),
        ];
        let intake = intake("ten_1", &order, &products);
        assert_eq!(
            intake.items[0].product.as_ref().map(|p| p.0.as_str()),
            Some("prd_variation")
        );
        assert_eq!(
            intake.items[1].product, None,
            "the second line is not mapped"
        );
        assert_eq!(intake.buyer_email, "anna.keller@example.net");
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(retry_at(1, 0), Some(1_000));
        assert_eq!(retry_at(5, 0), Some(1_800_000));
        assert_eq!(retry_at(6, 0), None);
        assert_eq!(retry_at(0, 0), None);
    }
}
