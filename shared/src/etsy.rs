//! Etsy's webhook deliveries: the flat payload `{event_type, resource_url, shop_id}`, the
//! receipt its `resource_url` names, and the edge ↔ origin contract that routes a delivery to
//! the tenant whose connection has that shop.
//!
//! Etsy has one webhook endpoint per app (signed with Standard Webhooks, see
//! [`crate::standard_webhooks`]), so the shop is what tells tenants apart. `shop_id` is a JSON
//! number in the deliveries observed, a string in Etsy's AsyncAPI description: both are read.

use serde_json::Value;

/// The event a paid order sends; the only one the origin fetches a receipt for.
pub const ORDER_PAID: &str = "order.paid";

/// The hosts a `resource_url` may name. The origin never fetches the URL itself: it fetches
/// the receipt the path names from its configured Etsy base URL.
const RESOURCE_HOSTS: [&str; 2] = ["https://openapi.etsy.com", "https://api.etsy.com"];

/// A delivery's payload, as Etsy sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtsyWebhook {
    pub event_type: String,
    pub resource_url: String,
    /// Etsy's numeric shop id, as digits.
    pub shop_id: String,
}

/// Why a payload was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EtsyWebhookError {
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("event_type is missing or not a string")]
    EventType,
    #[error("resource_url is missing or not a string")]
    ResourceUrl,
    #[error("shop_id is missing or not a numeric shop id")]
    ShopId,
}

/// Reads the flat payload; other fields are ignored.
pub fn parse_etsy_webhook(body: &[u8]) -> Result<EtsyWebhook, EtsyWebhookError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| EtsyWebhookError::NotAnObject)?;
    let object = value.as_object().ok_or(EtsyWebhookError::NotAnObject)?;
    let text = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let event_type = text("event_type").ok_or(EtsyWebhookError::EventType)?;
    let resource_url = text("resource_url").ok_or(EtsyWebhookError::ResourceUrl)?;
    let shop_id = match object.get("shop_id") {
        Some(Value::Number(n)) => n.as_u64().map(|n| n.to_string()),
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        _ => None,
    }
    .filter(|s| is_plausible_shop_id(s))
    .ok_or(EtsyWebhookError::ShopId)?;
    Ok(EtsyWebhook {
        event_type,
        resource_url,
        shop_id,
    })
}

/// Whether `s` can be an Etsy shop (or receipt) id: 1 to 19 ASCII digits.
pub fn is_plausible_shop_id(s: &str) -> bool {
    (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The receipt a `resource_url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRef {
    pub shop_id: String,
    pub receipt_id: String,
}

/// The shop and receipt of `https://openapi.etsy.com/v3/application/shops/{shop}/receipts/{receipt}`
/// exactly (no query, no other path); None for anything else.
pub fn receipt_ref(resource_url: &str) -> Option<ReceiptRef> {
    let path = RESOURCE_HOSTS
        .iter()
        .find_map(|host| resource_url.strip_prefix(host))?;
    let rest = path.strip_prefix("/v3/application/shops/")?;
    let (shop_id, rest) = rest.split_once('/')?;
    let receipt_id = rest.strip_prefix("receipts/")?;
    (is_plausible_shop_id(shop_id) && is_plausible_shop_id(receipt_id)).then(|| ReceiptRef {
        shop_id: shop_id.to_owned(),
        receipt_id: receipt_id.to_owned(),
    })
}

impl EtsyWebhook {
    /// The receipt this delivery is about, if its `resource_url` names one of its own shop.
    pub fn receipt(&self) -> Option<ReceiptRef> {
        receipt_ref(&self.resource_url).filter(|r| r.shop_id == self.shop_id)
    }
}

/// `GET` — which tenant's connection has Etsy shop `shop_id`
/// ([`crate::internal::ConnectionRoute`]), 404 if none.
pub fn etsy_shop_route_path(shop_id: &str) -> String {
    format!("/internal/v1/etsy/shops/{shop_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBSERVED: &[u8] = br#"{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/12345/receipts/54321","shop_id":12345}"#;

    #[test]
    fn reads_the_observed_flat_payload() {
        let webhook = parse_etsy_webhook(OBSERVED).unwrap();
        assert_eq!(webhook.event_type, ORDER_PAID);
        assert_eq!(webhook.shop_id, "12345");
        assert_eq!(
            webhook.receipt(),
            Some(ReceiptRef {
                shop_id: "12345".into(),
                receipt_id: "54321".into()
            })
        );
    }

    #[test]
    fn a_shop_id_may_be_a_string() {
        let body = br#"{"event_type":"order.paid","resource_url":"x","shop_id":"12345"}"#;
        assert_eq!(parse_etsy_webhook(body).unwrap().shop_id, "12345");
        for bad in [
            &br#"{"event_type":"order.paid","resource_url":"x","shop_id":"12a"}"#[..],
            br#"{"event_type":"order.paid","resource_url":"x","shop_id":-1}"#,
            br#"{"event_type":"order.paid","resource_url":"x","shop_id":1.5}"#,
            br#"{"event_type":"order.paid","resource_url":"x"}"#,
        ] {
            assert_eq!(parse_etsy_webhook(bad), Err(EtsyWebhookError::ShopId));
        }
        assert_eq!(
            parse_etsy_webhook(br#"{"resource_url":"x","shop_id":1}"#),
            Err(EtsyWebhookError::EventType)
        );
        assert_eq!(
            parse_etsy_webhook(b"[1]"),
            Err(EtsyWebhookError::NotAnObject)
        );
    }

    #[test]
    fn only_a_receipt_of_the_delivery_s_own_shop_is_named() {
        for url in [
            "https://evil.example.com/v3/application/shops/12345/receipts/54321",
            "https://openapi.etsy.com.evil.example/v3/application/shops/12345/receipts/54321",
            "https://openapi.etsy.com/v3/application/shops/12345/receipts/54321?x=1",
            "https://openapi.etsy.com/v3/application/shops/12345/receipts/54321/transactions",
            "https://openapi.etsy.com/v3/application/shops/12345/receipts/",
            "https://openapi.etsy.com/v3/application/shops/12345/../receipts/1",
            "http://openapi.etsy.com/v3/application/shops/12345/receipts/54321",
        ] {
            assert_eq!(receipt_ref(url), None, "{url}");
        }
        let other_shop = EtsyWebhook {
            event_type: ORDER_PAID.into(),
            resource_url: "https://openapi.etsy.com/v3/application/shops/999/receipts/1".into(),
            shop_id: "12345".into(),
        };
        assert_eq!(other_shop.receipt(), None);
    }
}
