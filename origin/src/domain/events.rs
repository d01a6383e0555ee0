//! Event identity: the key an event is stored under once per tenant. It comes from the
//! platform's own identity of what the event is about (never from a delivery header alone), so
//! the same change delivered twice — a retry, a replay, a second webhook, a reconciliation poll
//! that finds what a webhook already brought — is one event. [`platform_identity`] is the only
//! place the rule is written: ingest calls it on webhook bodies, the platform parsers on every
//! order or receipt a poller reads. [`event_key`] adds the connection where the platform's ids
//! are per store (WooCommerce): order #1287 of one store is not #1287 of another.

use serde_json::Value;
use shared::internal::Platform;

/// The dedupe key of an event body from `platform` brought by `connection_id`, or one built
/// from `edge_event_id` when the body does not carry the platform's identity (pings,
/// unparsable bodies).
pub fn dedupe_key(
    platform: Platform,
    connection_id: Option<&str>,
    body: &str,
    edge_event_id: &str,
) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| platform_identity(platform, &json))
        .map(|identity| event_key(platform, connection_id, &identity))
        .unwrap_or_else(|| format!("edge:{edge_event_id}"))
}

/// The key an observation with the platform's `identity` is stored under: the identity within
/// its order scope ([`order_scope`]). Webhook ingest and the pollers both key events with it.
pub fn event_key(platform: Platform, connection_id: Option<&str>, identity: &str) -> String {
    match order_scope(platform, connection_id) {
        "" => identity.to_owned(),
        scope => format!("{scope}:{identity}"),
    }
}

/// The connection part of an order's identity (stored as the order's `connection_id`):
/// WooCommerce order ids are numbered per store, so its orders are told apart by connection;
/// eBay and Etsy order ids are marketplace-wide, so theirs is empty (a reconnected account
/// delivers nothing twice).
pub fn order_scope(platform: Platform, connection_id: Option<&str>) -> &str {
    match platform {
        Platform::Woocommerce => connection_id.unwrap_or_default(),
        Platform::Ebay | Platform::Etsy => "",
    }
}

/// The platform's identity of one observation of a resource, from its JSON as the platform
/// sends it:
/// * WooCommerce (a webhook body, or one order of a REST orders page): id + status +
///   modification time. Two deliveries of the same order state are one event; a later change
///   is a new one. (`X-WC-Webhook-Delivery-ID` is not used: two deliveries in one second
///   share it.)
/// * eBay (a notification): `notification.notificationId`, which eBay's retries reuse.
/// * eBay (a Fulfillment API order, as `getOrder` answers it and `getOrders` lists it): order
///   id + `lastModifiedDate`, so an order the reconciliation poll reads again unchanged is one
///   event and its cancellation or refund another. An `ORDER_CONFIRMATION`'s `getOrder`
///   answer is stored under it too, so the notification and the poll reading the same state
///   of an order make one event (and the ledger, one row per marketplace order id, delivers
///   it once whatever the states read).
/// * Etsy (a receipt, as `getShopReceipts` lists it or as fetched for a webhook): receipt id +
///   status, so a receipt seen again unchanged is one event and its cancellation another. A
///   webhook delivery (`{event_type, resource_url, shop_id}`) is keyed by the receipt it names
///   and its event type, so Etsy's retries of it are one event; the receipt it makes the
///   origin fetch is then stored under the receipt's own identity, the one the poller gives it.
pub fn platform_identity(platform: Platform, json: &Value) -> Option<String> {
    match platform {
        Platform::Woocommerce => {
            let id = json.get("id").and_then(scalar)?;
            let modified = json
                .get("date_modified_gmt")
                .and_then(scalar)
                .or_else(|| json.get("date_modified").and_then(scalar))?;
            let status = json.get("status").and_then(scalar).unwrap_or_default();
            Some(format!("woocommerce:{id}:{status}:{modified}"))
        }
        Platform::Ebay => match json.get("notification") {
            Some(notification) => notification
                .get("notificationId")
                .and_then(scalar)
                .map(|id| format!("ebay:{id}")),
            None => {
                let id = json.get("orderId").and_then(scalar)?;
                let modified = json.get("lastModifiedDate").and_then(scalar)?;
                Some(format!("ebay:order:{id}:{modified}"))
            }
        },
        Platform::Etsy if json.get("receipt_id").is_none() => {
            let event_type = json.get("event_type").and_then(scalar)?;
            let url = json.get("resource_url").and_then(Value::as_str)?;
            let receipt = shared::etsy::receipt_ref(url)?;
            Some(format!("etsy:{}:webhook:{event_type}", receipt.receipt_id))
        }
        Platform::Etsy => {
            let receipt = json.get("receipt_id").and_then(scalar)?;
            let status = json.get("status").and_then(scalar)?;
            Some(format!("etsy:{receipt}:{}", status.to_ascii_lowercase()))
        }
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WOO: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
    const WOO_REFUNDED: &str =
        include_str!("../../../fixtures/woocommerce/order-updated-refunded.body");
    const EBAY: &str = include_str!("../../../fixtures/ebay/notification-order-confirmation.body");

    const WOO_A: Option<&str> = Some("con_a");

    #[test]
    fn woocommerce_orders_are_keyed_by_connection_id_status_and_modification() {
        let key = dedupe_key(Platform::Woocommerce, WOO_A, WOO, "evt_a");
        assert!(
            key.starts_with("con_a:woocommerce:1287:processing:"),
            "{key}"
        );
        assert_eq!(
            key,
            dedupe_key(Platform::Woocommerce, WOO_A, WOO, "evt_b"),
            "edge id is not identity"
        );
        assert_ne!(
            key,
            dedupe_key(Platform::Woocommerce, WOO_A, WOO_REFUNDED, "evt_a")
        );
        assert_ne!(
            key,
            dedupe_key(Platform::Woocommerce, Some("con_b"), WOO, "evt_a"),
            "another store's #1287 is another order"
        );
    }

    #[test]
    fn ebay_notifications_are_keyed_by_notification_id() {
        let key = dedupe_key(Platform::Ebay, Some("con_e"), EBAY, "evt_a");
        assert!(key.starts_with("ebay:5d0c1f3e-"), "{key}");
        assert_eq!(order_scope(Platform::Etsy, Some("con_e")), "");
    }

    #[test]
    fn ebay_orders_are_keyed_by_order_id_and_modification() {
        let order: Value = serde_json::from_str(include_str!(
            "../../../fixtures/ebay/get-order.response.json"
        ))
        .unwrap();
        assert_eq!(
            platform_identity(Platform::Ebay, &order).as_deref(),
            Some("ebay:order:13-12345-67890:2025-06-19T14:16:58.000Z")
        );
        let mut refunded = order.clone();
        refunded["lastModifiedDate"] = "2025-06-21T09:00:00.000Z".into();
        assert_ne!(
            platform_identity(Platform::Ebay, &order),
            platform_identity(Platform::Ebay, &refunded)
        );
        let notification: Value = serde_json::from_str(EBAY).unwrap();
        assert!(
            platform_identity(Platform::Ebay, &notification)
                .unwrap()
                .starts_with("ebay:5d0c1f3e-")
        );
    }

    #[test]
    fn an_etsy_webhook_is_keyed_by_its_receipt_and_event_apart_from_the_receipt() {
        let webhook = r#"{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/12345/receipts/54321","shop_id":12345}"#;
        let key = dedupe_key(Platform::Etsy, Some("con_e"), webhook, "evt_a");
        assert_eq!(key, "etsy:54321:webhook:order.paid");
        assert_eq!(key, dedupe_key(Platform::Etsy, None, webhook, "evt_b"));
        let receipt = r#"{"receipt_id":54321,"status":"Paid"}"#;
        assert_eq!(
            dedupe_key(Platform::Etsy, Some("con_e"), receipt, "evt_c"),
            "etsy:54321:paid"
        );
    }

    #[test]
    fn bodies_without_identity_fall_back_to_the_edge_id() {
        assert_eq!(
            dedupe_key(
                Platform::Woocommerce,
                WOO_A,
                r#"{"webhook_id":42}"#,
                "evt_1"
            ),
            "edge:evt_1"
        );
        assert_eq!(
            dedupe_key(Platform::Ebay, None, "not json", "evt_2"),
            "edge:evt_2"
        );
    }
}
