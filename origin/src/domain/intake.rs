//! From a platform's order to what the ledger takes in: line items matched to the tenant's
//! products through their platform mappings, and when failed work is retried.

use shared::internal::Platform;

use super::events::order_scope;
use super::ledger::{IntakeItem, OrderIntake};
use super::mappings::PlatformMappings;
use super::orders::{PlatformItem, PlatformOrder};
use super::review::unmapped_reason;

/// When to retry after the `attempts`-th failure (from 1) of event processing, or None when
/// no retry is left and the event is dead. The schedule is the one the edge retries forwards
/// on (`shared::retry`); delivery emails retry for days instead (`config::sending`).
pub fn retry_at(attempts: i64, now: i64) -> Option<i64> {
    let attempt = u32::try_from(attempts).ok()?;
    shared::retry::scheduled_retry_delay_secs(attempt).map(|delay| now + i64::from(delay) * 1000)
}

/// The order with each line matched to a product: `products` are `(id, type, mappings JSON)`.
/// `connection_id` is the connection that brought it (its scope is part of its identity).
pub fn intake(
    tenant_id: &str,
    connection_id: Option<&str>,
    order: &PlatformOrder,
    products: &[(String, String, String)],
) -> OrderIntake {
    let mappings = read_mappings(products);
    let items = order
        .items
        .iter()
        .map(|item| {
            let product = match_product(order.platform, item, &mappings)
                .map(|(id, kind)| (id.to_owned(), kind.to_owned()));
            IntakeItem {
                line_item_id: item.line_item_id.clone(),
                name: if item.title.is_empty() {
                    format!("Item {}", item.line_item_id)
                } else {
                    item.title.clone()
                },
                quantity: i64::from(item.quantity),
                refunded: i64::from(item.refunded),
                waiting_reason: product
                    .is_none()
                    .then(|| unmapped_reason(order.platform, item)),
                product,
                platform_line: serde_json::to_string(item).ok(),
            }
        })
        .collect();
    OrderIntake {
        tenant_id: tenant_id.to_owned(),
        platform: order.platform.as_str().to_owned(),
        connection_id: order_scope(order.platform, connection_id).to_owned(),
        platform_order_id: order.order_id.clone(),
        buyer_email: order.buyer_email.clone().unwrap_or_default(),
        buyer_name: order.buyer_name.clone(),
        buyer_platform_id: order.buyer_id.clone(),
        currency: order.currency.clone(),
        items,
    }
}

/// The product a stored line (`IntakeItem::platform_line`) of a `platform` order maps to now,
/// among `products` (`(id, type, mappings JSON)`): how an unmapped line resumes.
pub fn match_stored_line(
    platform: &str,
    platform_line: &str,
    products: &[(String, String, String)],
) -> Option<(String, String)> {
    let platform: Platform = serde_json::from_value(platform.into()).ok()?;
    let item: PlatformItem = serde_json::from_str(platform_line).ok()?;
    let mappings = read_mappings(products);
    match_product(platform, &item, &mappings).map(|(id, kind)| (id.to_owned(), kind.to_owned()))
}

/// The id of the product a `platform` order line like `item` would be matched to now, among
/// `products` (`(id, type, mappings JSON)`): what a listing picker says an entry is mapped to.
pub fn product_for_line(
    platform: Platform,
    item: &PlatformItem,
    products: &[(String, String, String)],
) -> Option<String> {
    let mappings = read_mappings(products);
    match_product(platform, item, &mappings).map(|(id, _)| id.to_owned())
}

/// `(id, type, mappings JSON)` as `(id, type, mappings)`.
fn read_mappings(products: &[(String, String, String)]) -> Vec<(&str, &str, PlatformMappings)> {
    products
        .iter()
        .map(|(id, kind, json)| {
            (
                id.as_str(),
                kind.as_str(),
                PlatformMappings::from_stored(json),
            )
        })
        .collect()
}

/// The product a line maps to: the best-scoring mapping (see [`PlatformMappings::score`]).
fn match_product<'p>(
    platform: Platform,
    item: &PlatformItem,
    products: &'p [(&'p str, &'p str, PlatformMappings)],
) -> Option<(&'p str, &'p str)> {
    products
        .iter()
        .map(|(id, kind, mappings)| (mappings.score(platform, item), *id, *kind))
        .filter(|(score, _, _)| *score > 0)
        .max_by_key(|(score, _, _)| *score)
        .map(|(_, id, kind)| (id, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::orders::{ListingRef, OrderState};

    /// The order of `fixtures/woocommerce/order-created.body`, as the parser reads it (the
    /// parser's own tests check that; domain does not import platforms).
    fn fixture_order() -> PlatformOrder {
        let item = |line: &str, product: &str, variation: Option<&str>, quantity| PlatformItem {
            line_item_id: line.into(),
            listing: ListingRef {
                product_id: product.into(),
                variation_id: variation.map(str::to_owned),
            },
            title: format!("Line {line}"),
            sku: None,
            quantity,
            refunded: 0,
        };
        PlatformOrder {
            platform: Platform::Woocommerce,
            order_id: "1287".into(),
            state: OrderState::Paid,
            buyer_email: Some("anna.keller@example.net".into()),
            buyer_name: Some("Anna Keller".into()),
            buyer_id: None,
            currency: Some("EUR".into()),
            items: vec![
                item("3301", "501", Some("503"), 1),
                item("3302", "777", None, 2),
            ],
            refunds_to_read: Vec::new(),
        }
    }

    fn product(id: &str, mappings: serde_json::Value) -> (String, String, String) {
        (id.into(), "CODE".into(), mappings.to_string())
    }

    #[test]
    fn woocommerce_lines_map_by_variation_then_product() {
        let order = fixture_order();
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
        let intake = intake("ten_1", Some("con_1"), &order, &products);
        assert_eq!(
            intake.items[0].product.as_ref().map(|p| p.0.as_str()),
            Some("prd_variation")
        );
        assert_eq!(
            intake.items[1].product, None,
            "the second line is not mapped"
        );
        assert_eq!(intake.buyer_email, "anna.keller@example.net");
        let waiting = intake.items[1].waiting_reason.as_deref().unwrap();
        assert!(waiting.contains("WooCommerce product 777"), "{waiting}");
        assert_eq!(intake.items[0].waiting_reason, None);
    }

    #[test]
    fn a_stored_unmapped_line_matches_a_mapping_added_later() {
        let order = fixture_order();
        let line = intake("ten_1", None, &order, &[]).items[1]
            .platform_line
            .clone()
            .unwrap();
        let platform = "woocommerce";
        assert_eq!(match_stored_line(platform, &line, &[]), None);
        let products = [product(
            "prd_ebook",
            serde_json::json!({"woocommerce_product_id": 777}),
        )];
        assert_eq!(
            match_stored_line(platform, &line, &products),
            Some(("prd_ebook".into(), "CODE".into()))
        );
        assert_eq!(match_stored_line(platform, "not json", &products), None);
        assert_eq!(match_stored_line("shopify", &line, &products), None);
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(retry_at(1, 0), Some(1_000));
        assert_eq!(retry_at(5, 0), Some(1_800_000));
        assert_eq!(retry_at(6, 0), None);
        assert_eq!(retry_at(0, 0), None);
    }
}
