//! eBay notifications (what arrives at the webhook) and Fulfillment API orders (what we fetch
//! for an `ORDER_CONFIRMATION`: the notification itself names no buyer). The reconciliation
//! poll's `getOrders` pages are read in `ebay_orders`.

use serde_json::Value;
use shared::internal::Platform;

use super::client::PlatformError;
use super::ebay_orders::{PolledEbayOrder, read_polled};
use super::oauth::{TokenAnswer, TokenError, token_request};
use super::outbound::{BaseUrl, Outbound};
use super::refusal::{Refusal, answer_or_refusal};
use super::{ParseError, field, non_empty, parse_json, quantity};
use crate::domain::orders::{ListingRef, OrderState, PlatformItem, PlatformOrder};

/// The Trading API's `GetMyeBaySelling`, for the listing picker.
pub mod trading;

/// The consent flow's code exchange and the seller's notification subscription.
pub mod consent;

/// A notification, identified by eBay's `notificationId` (retries reuse it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbayNotification {
    pub notification_id: String,
    pub topic: String,
    pub kind: NotificationKind,
}

/// The topics we act on; anything else is stored and acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    /// A buyer completed checkout: fetch the order and deliver it.
    OrderConfirmation {
        seller_user_id: Option<String>,
        seller_username: Option<String>,
        order_id: String,
        line_item_ids: Vec<String>,
    },
    /// An eBay user closed their account: erase what we hold about them.
    AccountDeletion {
        user_id: String,
        username: Option<String>,
    },
    /// The seller revoked our access: the connection goes inactive.
    AuthorizationRevocation {
        user_id: String,
        username: Option<String>,
    },
    Other,
}

pub fn parse_notification(body: &[u8]) -> Result<EbayNotification, ParseError> {
    let value = parse_json(body)?;
    let topic =
        non_empty(&value["metadata"]["topic"]).ok_or(field("metadata.topic", "a string"))?;
    let notification = &value["notification"];
    let notification_id = non_empty(&notification["notificationId"])
        .ok_or(field("notification.notificationId", "a string"))?;
    let data = &notification["data"];
    let kind = match topic.as_str() {
        "ORDER_CONFIRMATION" => NotificationKind::OrderConfirmation {
            seller_user_id: non_empty(&data["user"]["userId"]),
            seller_username: non_empty(&data["user"]["username"]),
            order_id: non_empty(&data["order"]["orderId"])
                .ok_or(field("notification.data.order.orderId", "a string"))?,
            line_item_ids: data["order"]["orderLineItems"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| non_empty(&item["orderLineItemId"]))
                        .collect()
                })
                .unwrap_or_default(),
        },
        "MARKETPLACE_ACCOUNT_DELETION" => NotificationKind::AccountDeletion {
            user_id: non_empty(&data["userId"])
                .ok_or(field("notification.data.userId", "a string"))?,
            username: non_empty(&data["username"]),
        },
        "AUTHORIZATION_REVOCATION" => NotificationKind::AuthorizationRevocation {
            user_id: non_empty(&data["userId"])
                .ok_or(field("notification.data.userId", "a string"))?,
            username: non_empty(&data["username"]),
        },
        _ => NotificationKind::Other,
    };
    Ok(EbayNotification {
        notification_id,
        topic,
        kind,
    })
}

/// Reads `GET /sell/fulfillment/v1/order/{orderId}`.
pub fn parse_order(body: &[u8]) -> Result<PlatformOrder, ParseError> {
    read_order(&parse_json(body)?)
}

/// Reads one Fulfillment API `Order` (what `getOrder` answers and `getOrders` lists).
pub(super) fn read_order(order: &Value) -> Result<PlatformOrder, ParseError> {
    let order_id = non_empty(&order["orderId"]).ok_or(field("orderId", "a string"))?;
    let items = order["lineItems"]
        .as_array()
        .ok_or(field("lineItems", "an array"))?
        .iter()
        .map(read_line_item)
        .collect::<Result<_, _>>()?;
    let buyer = &order["buyer"];
    let registration = &buyer["buyerRegistrationAddress"];
    // The registration address is the documented place; shipTo carries the same relay address.
    let ship_to = &order["fulfillmentStartInstructions"][0]["shippingStep"]["shipTo"];
    let currency = non_empty(&order["pricingSummary"]["total"]["currency"]);
    Ok(PlatformOrder {
        platform: Platform::Ebay,
        order_id,
        state: state_of(order),
        buyer_email: non_empty(&registration["email"]).or_else(|| non_empty(&ship_to["email"])),
        buyer_name: non_empty(&registration["fullName"])
            .or_else(|| non_empty(&ship_to["fullName"])),
        buyer_id: non_empty(&buyer["username"]),
        currency,
        items,
        refunds_to_read: Vec::new(),
    })
}

fn state_of(order: &Value) -> OrderState {
    if order["cancelStatus"]["cancelState"].as_str() == Some("CANCELED") {
        return OrderState::Cancelled;
    }
    match order["orderPaymentStatus"].as_str() {
        Some("PAID") | Some("PARTIALLY_REFUNDED") => OrderState::Paid,
        Some("FULLY_REFUNDED") => OrderState::Refunded,
        _ => OrderState::Unpaid,
    }
}

fn read_line_item(item: &Value) -> Result<PlatformItem, ParseError> {
    Ok(PlatformItem {
        line_item_id: non_empty(&item["lineItemId"])
            .ok_or(field("lineItems[].lineItemId", "a string"))?,
        listing: ListingRef {
            product_id: non_empty(&item["legacyItemId"])
                .ok_or(field("lineItems[].legacyItemId", "a string"))?,
            variation_id: non_empty(&item["legacyVariationId"]),
        },
        title: non_empty(&item["title"]).unwrap_or_default(),
        sku: non_empty(&item["sku"]),
        quantity: quantity(&item["quantity"], "lineItems[].quantity")?,
        refunded: 0,
    })
    .map(|mut line| {
        line.refunded = refunded_units(item, line.quantity);
        line
    })
}

/// The units of a line its `refunds[]` take back: eBay names a refund's amount, not its units,
/// so whole units of the line's price (`lineItemCost` over `quantity`) the refunds add up to.
/// A refund smaller than one unit's price (a goodwill amount) takes back no unit.
fn refunded_units(item: &Value, quantity: u32) -> u32 {
    let refunded: i64 = item["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|refund| cents(&refund["amount"]["value"]))
        .map(i64::abs)
        .sum();
    let Some(line_cost) = cents(&item["lineItemCost"]["value"]).filter(|c| *c > 0) else {
        return 0;
    };
    // refunded / (line_cost / quantity), in integers.
    let units = refunded.saturating_mul(i64::from(quantity)) / line_cost;
    u32::try_from(units).unwrap_or(u32::MAX).min(quantity)
}

/// An eBay amount (`"24.99"`) in cents.
fn cents(value: &Value) -> Option<i64> {
    let text = value.as_str()?.trim();
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = format!("{fraction:0<2}");
    let cents: i64 = fraction.get(..2)?.parse().ok()?;
    let whole: u32 = whole.parse().ok()?;
    Some(sign * (i64::from(whole) * 100 + cents))
}

/// The id goes into a path: only what eBay order ids are made of.
fn check_order_id(order_id: &str) -> Result<(), PlatformError> {
    if order_id.is_empty()
        || !order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(PlatformError::Unreadable(field(
            "orderId",
            "an eBay order id",
        )));
    }
    Ok(())
}

/// Who a user token belongs to (`GET /commerce/identity/v1/user/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbayUser {
    /// eBay's immutable public id of the user: what notifications name in `userId`.
    pub user_id: String,
    pub username: Option<String>,
}

/// Reads `GET /commerce/identity/v1/user/`.
pub fn parse_user(body: &[u8]) -> Result<EbayUser, ParseError> {
    let user = parse_json(body)?;
    Ok(EbayUser {
        user_id: non_empty(&user["userId"]).ok_or(field("userId", "a string"))?,
        username: non_empty(&user["username"]),
    })
}

/// eBay's Fulfillment API (and, on its own base, the Identity API), called with the seller's
/// user token.
pub struct EbayClient {
    pub(super) http: Outbound,
    pub(super) base_url: BaseUrl,
}

impl EbayClient {
    /// A client of eBay at `base_url`, refused if the URL is not one the origin calls.
    pub fn new(http: Outbound, base_url: &str) -> Result<Self, PlatformError> {
        let base_url = http.base_url(base_url)?;
        Ok(EbayClient { http, base_url })
    }

    /// `GET /sell/fulfillment/v1/order/{orderId}`: line items and the buyer's (relay) email.
    pub async fn get_order(
        &self,
        user_token: &str,
        order_id: &str,
    ) -> Result<PlatformOrder, PlatformError> {
        Ok(self.get_order_observed(user_token, order_id).await?.order)
    }

    /// [`EbayClient::get_order`], with the identity of the order's state as read (the one
    /// the reconciliation poll's `getOrders` gives it).
    pub async fn get_order_observed(
        &self,
        user_token: &str,
        order_id: &str,
    ) -> Result<PolledEbayOrder, PlatformError> {
        check_order_id(order_id)?;
        let request = self
            .http
            .get(
                self.base_url
                    .join(&["sell", "fulfillment", "v1", "order", order_id]),
            )
            .bearer_auth(user_token);
        let (_, body) = self.http.send(request).await?;
        Ok(read_polled(&parse_json(&body)?)?)
    }

    /// `POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` for `quantity` units of
    /// one line, shipped at `shipped_date` (`YYYY-MM-DDTHH:MM:SS.SSSZ`), without carrier or
    /// tracking (a digital item). eBay answers 201 and the new fulfilment's URL in `Location`:
    /// its last segment, the fulfilment id, is answered.
    pub async fn create_shipping_fulfillment(
        &self,
        user_token: &str,
        order_id: &str,
        line_item_id: &str,
        quantity: i64,
        shipped_date: &str,
    ) -> Result<Option<String>, Refusal> {
        check_order_id(order_id)?;
        let request = self
            .http
            .post(self.base_url.join(&[
                "sell",
                "fulfillment",
                "v1",
                "order",
                order_id,
                "shipping_fulfillment",
            ]))
            .bearer_auth(user_token)
            .json(&serde_json::json!({
                "lineItems": [{ "lineItemId": line_item_id, "quantity": quantity }],
                "shippedDate": shipped_date,
            }));
        let (headers, _) = answer_or_refusal(self.http.execute(request).await?).await?;
        Ok(headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| location.trim_end_matches('/').rsplit('/').next())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(str::to_owned))
    }

    /// `POST /identity/v1/oauth2/token` with `grant_type=refresh_token`: a new user access
    /// token for `refresh_token`, with the app's Basic auth and no `scope` (all the consented
    /// scopes). eBay answers no new refresh token: the one the seller consented with stays.
    pub async fn refresh_user_token(
        &self,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<TokenAnswer, TokenError> {
        let request = self
            .http
            .post(self.base_url.join(&["identity", "v1", "oauth2", "token"]))
            .basic_auth(client_id, Some(client_secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ]);
        token_request(&self.http, request).await
    }

    /// `GET /commerce/identity/v1/user/`: whose token this is (the client's base must be the
    /// Identity API's, `apiz.ebay.com` in production).
    pub async fn get_user(&self, user_token: &str) -> Result<EbayUser, PlatformError> {
        // The trailing empty segment keeps eBay's trailing `/`.
        let request = self
            .http
            .get(
                self.base_url
                    .join(&["commerce", "identity", "v1", "user", ""]),
            )
            .bearer_auth(user_token);
        let (_, body) = self.http.send(request).await?;
        Ok(parse_user(&body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER_CONFIRMATION: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-order-confirmation.body");
    const DELETION: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-account-deletion.body");
    const REVOCATION: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-authorization-revocation.body");
    const ORDER: &[u8] = include_bytes!("../../../fixtures/ebay/get-order.response.json");

    #[test]
    fn a_line_refunded_in_whole_units_takes_them_back() {
        use serde_json::json;
        let mut order: Value = serde_json::from_slice(ORDER).unwrap();
        order["orderPaymentStatus"] = "PARTIALLY_REFUNDED".into();
        order["lineItems"][1]["lineItemCost"] = json!({"value": "30.00", "currency": "USD"});
        order["lineItems"][1]["quantity"] = 3.into();
        order["lineItems"][1]["refunds"] = json!([
            {"amount": {"value": "10.00", "currency": "USD"}, "refundId": "5001"},
            {"amount": {"value": "14.99", "currency": "USD"}, "refundId": "5002"}
        ]);
        order["lineItems"][0]["refunds"] =
            json!([{"amount": {"value": "1.5", "currency": "USD"}, "refundId": "5003"}]);
        let read = parse_order(order.to_string().as_bytes()).unwrap();
        assert_eq!(read.state, OrderState::Paid);
        assert_eq!(read.items[0].refunded, 0, "a goodwill amount takes no unit");
        assert_eq!(
            read.items[1].refunded, 2,
            "24.99 of 10.00 a unit: two units"
        );
        assert_eq!(cents(&json!("24.9")), Some(2490));
        assert_eq!(cents(&json!("7")), Some(700));
        assert_eq!(cents(&json!("-1.50")), Some(-150));
        assert_eq!(cents(&json!("x")), None);
    }

    #[test]
    fn reads_an_order_confirmation() {
        let n = parse_notification(ORDER_CONFIRMATION).unwrap();
        // Ingest keys the notification by its id (`domain::events`), as eBay's retries reuse it.
        let body = std::str::from_utf8(ORDER_CONFIRMATION).unwrap();
        assert_eq!(
            crate::domain::events::dedupe_key(Platform::Ebay, None, body, "evt_x"),
            "ebay:5d0c1f3e-8a62-4b7d-9e1a-2c4f6b8d0e13_7a9b1c2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d"
        );
        assert_eq!(
            n.kind,
            NotificationKind::OrderConfirmation {
                seller_user_id: Some("Qp3mV8sLkTw".into()),
                seller_username: Some("pixelforge_digital".into()),
                order_id: "13-12345-67890".into(),
                line_item_ids: vec!["10071234567813".into(), "10071234567913".into()],
            }
        );
    }

    #[test]
    fn reads_account_deletion_and_revocation() {
        let deletion = parse_notification(DELETION).unwrap();
        assert_eq!(
            deletion.kind,
            NotificationKind::AccountDeletion {
                user_id: "ma8vp1jySJC".into(),
                username: Some("test_user".into())
            }
        );
        let revocation = parse_notification(REVOCATION).unwrap();
        assert!(matches!(
            revocation.kind,
            NotificationKind::AuthorizationRevocation { ref user_id, .. } if user_id == "Qp3mV8sLkTw"
        ));
        let other = br#"{"metadata":{"topic":"ITEM_SOLD"},"notification":{"notificationId":"n1","data":{}}}"#;
        assert_eq!(
            parse_notification(other).unwrap().kind,
            NotificationKind::Other
        );
    }

    #[test]
    fn reads_the_fulfillment_order() {
        let order = parse_order(ORDER).unwrap();
        assert_eq!(order.order_id, "13-12345-67890");
        assert_eq!(order.state, OrderState::Paid);
        assert_eq!(
            order.buyer_email.as_deref(),
            Some("0a1b2c3d4e5f60718293@members.ebay.com")
        );
        assert_eq!(order.buyer_name.as_deref(), Some("Jordan Buyer"));
        assert_eq!(order.currency.as_deref(), Some("USD"));
        assert_eq!(order.items.len(), 2);
        assert_eq!(order.items[0].listing.product_id, "296512345678");
        assert_eq!(
            order.items[0].listing.variation_id.as_deref(),
            Some("600123456789")
        );
        assert_eq!(order.items[1].listing.variation_id, None);
        assert_eq!(order.items[1].quantity, 2);
        assert_eq!(order.items[1].sku.as_deref(), Some("EBOOK-RUST-PDF"));
    }

    #[test]
    fn refunds_and_cancellations_are_read() {
        let mut order: Value = serde_json::from_slice(ORDER).unwrap();
        order["orderPaymentStatus"] = "FULLY_REFUNDED".into();
        assert_eq!(state_of(&order), OrderState::Refunded);
        order["cancelStatus"]["cancelState"] = "CANCELED".into();
        assert_eq!(state_of(&order), OrderState::Cancelled);
        order["cancelStatus"]["cancelState"] = "NONE_REQUESTED".into();
        order["orderPaymentStatus"] = "PENDING".into();
        assert_eq!(state_of(&order), OrderState::Unpaid);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        assert_eq!(
            parse_notification(br#"{"metadata":{"topic":"ORDER_CONFIRMATION"},"notification":{"notificationId":"n","data":{}}}"#),
            Err(field("notification.data.order.orderId", "a string"))
        );
        assert_eq!(
            parse_notification(br#"{"notification":{}}"#),
            Err(field("metadata.topic", "a string"))
        );
        assert_eq!(parse_order(b"{}"), Err(field("orderId", "a string")));
    }
}
