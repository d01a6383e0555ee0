//! WooCommerce order payloads: webhook deliveries (`order.created` / `order.updated`) and the
//! REST orders list the reconciliation poller reads. Both carry the same REST v3 order shape.

use serde_json::{Value, json};
use shared::internal::Platform;

use super::client::PlatformError;
use super::outbound::{BaseUrl, Outbound};
use super::refusal::{Refusal, answer_or_refusal};
use super::{ParseError, field, id_string, non_empty, parse_json, quantity};
use crate::domain::events::platform_identity;
use crate::domain::orders::{ListingRef, OrderState, PlatformItem, PlatformOrder};

/// Products and their variations, for the listing picker.
pub mod products;

/// An order as one delivery or poll saw it, with what identifies that observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WooOrderEvent {
    pub order: PlatformOrder,
    /// WooCommerce's own `status` (processing, completed, refunded, …).
    pub status: String,
    /// `date_modified_gmt`: two deliveries of the same state carry the same value.
    pub modified_gmt: String,
    /// The event identity ([`platform_identity`]): the key a webhook body of the same order
    /// state is stored under too.
    pub identity: String,
}

impl WooOrderEvent {
    /// The platform's identity of this event: order id + status + modification time.
    pub fn identity(&self) -> String {
        self.identity.clone()
    }
}

/// Reads one webhook body.
pub fn parse_order_webhook(body: &[u8]) -> Result<WooOrderEvent, ParseError> {
    read_order(&parse_json(body)?)
}

/// Reads a `GET /wp-json/wc/v3/orders` page (a JSON array of orders).
pub fn parse_orders_page(body: &[u8]) -> Result<Vec<WooOrderEvent>, ParseError> {
    match parse_json(body)? {
        Value::Array(orders) => orders.iter().map(read_order).collect(),
        _ => Err(field("(root)", "an array of orders")),
    }
}

fn read_order(order: &Value) -> Result<WooOrderEvent, ParseError> {
    let order_id = id_string(&order["id"]).ok_or(field("id", "an order id"))?;
    let status = non_empty(&order["status"]).ok_or(field("status", "a string"))?;
    let modified_gmt = non_empty(&order["date_modified_gmt"])
        .or_else(|| non_empty(&order["date_modified"]))
        .ok_or(field("date_modified_gmt", "a date"))?;
    let identity =
        platform_identity(Platform::Woocommerce, order).ok_or(field("id", "an order id"))?;
    let date_paid_set =
        non_empty(&order["date_paid_gmt"]).is_some() || non_empty(&order["date_paid"]).is_some();
    let mut items: Vec<PlatformItem> = order["line_items"]
        .as_array()
        .ok_or(field("line_items", "an array"))?
        .iter()
        .map(read_line_item)
        .collect::<Result<_, _>>()?;
    let refunds = order["refunds"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in &mut items {
        item.refunded = refunded_units(refunds, &item.line_item_id).min(item.quantity);
    }
    let billing = &order["billing"];
    let buyer_name = [
        non_empty(&billing["first_name"]),
        non_empty(&billing["last_name"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    Ok(WooOrderEvent {
        order: PlatformOrder {
            platform: Platform::Woocommerce,
            order_id,
            state: state_of(&status, date_paid_set),
            buyer_email: non_empty(&billing["email"]),
            buyer_name: (!buyer_name.is_empty()).then_some(buyer_name),
            buyer_id: id_string(&order["customer_id"]),
            currency: non_empty(&order["currency"]),
            items,
            refunds_to_read: refunds_without_lines(refunds),
        },
        status,
        modified_gmt,
        identity,
    })
}

/// Paid means `processing` or `completed` (virtual + downloadable orders skip straight to
/// `completed`), or any other open status once `date_paid` is set.
fn state_of(status: &str, date_paid_set: bool) -> OrderState {
    match status {
        "processing" | "completed" => OrderState::Paid,
        "refunded" => OrderState::Refunded,
        "cancelled" => OrderState::Cancelled,
        "failed" | "trash" | "checkout-draft" => OrderState::Unpaid,
        _ if date_paid_set => OrderState::Paid,
        _ => OrderState::Unpaid,
    }
}

/// The units of line `line_item_id` the refunds take back: each refund's line items (as
/// `GET …/orders/{id}/refunds` shows them: a negative `quantity` and the refunded line's id in
/// `refunded_item_id` or the `_refunded_item_id` meta) summed over every refund. A refund
/// without line items (an amount only) takes back no unit; a full refund is the order's
/// `refunded` status.
fn refunded_units(refunds: &[Value], line_item_id: &str) -> u32 {
    let refund_lines = refunds
        .iter()
        .filter_map(|refund| refund["line_items"].as_array())
        .flatten();
    let units: u64 = refund_lines
        .filter(|line| refunded_line_id(line).as_deref() == Some(line_item_id))
        .filter_map(|line| line["quantity"].as_i64())
        .map(i64::unsigned_abs)
        .sum();
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// The ids of the refunds an order lists without their line items: a real order (webhook
/// body or REST order) lists each refund as `{id, reason, total}` only.
fn refunds_without_lines(refunds: &[Value]) -> Vec<String> {
    refunds
        .iter()
        .filter(|refund| !refund["line_items"].is_array())
        .filter_map(|refund| id_string(&refund["id"]))
        .collect()
}

/// Reads a `GET /wp-json/wc/v3/orders/{id}/refunds` answer (a JSON array of refunds).
pub fn parse_refunds(body: &[u8]) -> Result<Vec<Value>, ParseError> {
    match parse_json(body)? {
        Value::Array(refunds) => Ok(refunds),
        _ => Err(field("(root)", "an array of refunds")),
    }
}

/// Takes in the refunds of `order` as the store lists them (every refund, with its line
/// items): each line's refunded units become what they say, never fewer than already known.
pub fn apply_refunds(order: &mut PlatformOrder, refunds: &[Value]) {
    for item in &mut order.items {
        let units = refunded_units(refunds, &item.line_item_id);
        item.refunded = item.refunded.max(units).min(item.quantity);
    }
    order.refunds_to_read.clear();
}

/// The original line a refund's line item refunds.
fn refunded_line_id(line: &Value) -> Option<String> {
    id_string(&line["refunded_item_id"]).or_else(|| {
        line["meta_data"]
            .as_array()?
            .iter()
            .find(|meta| meta["key"] == "_refunded_item_id")
            .and_then(|meta| id_string(&meta["value"]))
    })
}

fn read_line_item(item: &Value) -> Result<PlatformItem, ParseError> {
    Ok(PlatformItem {
        line_item_id: id_string(&item["id"]).ok_or(field("line_items[].id", "an id"))?,
        listing: ListingRef {
            product_id: id_string(&item["product_id"])
                .ok_or(field("line_items[].product_id", "a product id"))?,
            variation_id: id_string(&item["variation_id"]),
        },
        title: non_empty(&item["name"]).unwrap_or_default(),
        sku: non_empty(&item["sku"]),
        quantity: quantity(&item["quantity"], "line_items[].quantity")?,
        refunded: 0,
    })
}

/// A store's REST API, reached with a connection's consumer key pair.
pub struct WooRestClient {
    http: Outbound,
    store_url: BaseUrl,
    consumer_key: String,
    consumer_secret: String,
}

/// One page of the orders list, oldest modification first.
#[derive(Debug)]
pub struct OrdersPage {
    pub orders: Vec<WooOrderEvent>,
    pub total_pages: u32,
}

/// Orders per page: WooCommerce's maximum.
pub const ORDERS_PER_PAGE: u32 = 100;

impl WooRestClient {
    /// A client of the store at `store_url`, refused if the URL is not one the origin calls.
    pub fn new(
        http: Outbound,
        store_url: &str,
        consumer_key: &str,
        consumer_secret: &str,
    ) -> Result<Self, PlatformError> {
        let store_url = http.base_url(store_url)?;
        Ok(WooRestClient {
            http,
            store_url,
            consumer_key: consumer_key.to_owned(),
            consumer_secret: consumer_secret.to_owned(),
        })
    }

    /// Paid orders (`processing`, `completed`) modified after `after_gmt` (`YYYY-MM-DDTHH:MM:SS`,
    /// UTC), page `page` (from 1). Needs WooCommerce >= 5.8 for `modified_after`.
    pub async fn paid_orders_modified_after(
        &self,
        after_gmt: &str,
        page: u32,
    ) -> Result<OrdersPage, PlatformError> {
        let request = self
            .http
            .get(self.store_url.join(&["wp-json", "wc", "v3", "orders"]))
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .query(&[
                ("status", "processing,completed"),
                ("modified_after", after_gmt),
                ("dates_are_gmt", "true"),
                ("orderby", "modified"),
                ("order", "asc"),
                ("per_page", &ORDERS_PER_PAGE.to_string()),
                ("page", &page.to_string()),
            ]);
        let (headers, body) = self.http.send(request).await?;
        let total_pages = headers
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Ok(OrdersPage {
            orders: parse_orders_page(&body)?,
            total_pages,
        })
    }

    /// `GET /wp-json/wc/v3/orders/{order_id}/refunds`: every refund of the order, with the
    /// line items each takes back.
    pub async fn order_refunds(&self, order_id: &str) -> Result<Vec<Value>, PlatformError> {
        let request = self
            .http
            .get(
                self.store_url
                    .join(&["wp-json", "wc", "v3", "orders", order_id, "refunds"]),
            )
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .query(&[("per_page", ORDERS_PER_PAGE.to_string())]);
        let (_, body) = self.http.send(request).await?;
        Ok(parse_refunds(&body)?)
    }

    /// `PUT /wp-json/wc/v3/orders/{order_id}` with `{"status":"completed"}`.
    pub async fn complete_order(&self, order_id: &str) -> Result<(), Refusal> {
        let request = self
            .http
            .put(
                self.store_url
                    .join(&["wp-json", "wc", "v3", "orders", order_id]),
            )
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .json(&json!({ "status": "completed" }));
        answer_or_refusal(self.http.execute(request).await?).await?;
        Ok(())
    }

    /// `PUT /wp-json/wc/v3/webhooks/{id}`: the webhook signs with `secret` from now on.
    pub async fn update_webhook_secret(&self, id: u64, secret: &str) -> Result<(), PlatformError> {
        let id = id.to_string();
        let request = self
            .http
            .put(
                self.store_url
                    .join(&["wp-json", "wc", "v3", "webhooks", &id]),
            )
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .json(&json!({ "secret": secret }));
        self.http.send(request).await?;
        Ok(())
    }

    /// Registers a webhook for `topic` delivering to `delivery_url`, signed with `secret`.
    /// Returns the store's webhook id.
    pub async fn register_webhook(
        &self,
        topic: &str,
        delivery_url: &str,
        secret: &str,
    ) -> Result<u64, PlatformError> {
        let request = self
            .http
            .post(self.store_url.join(&["wp-json", "wc", "v3", "webhooks"]))
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .json(&json!({
                "name": format!("YourSender: {topic}"),
                "topic": topic,
                "delivery_url": delivery_url,
                "secret": secret,
                "status": "active",
            }));
        let (_, body) = self.http.send(request).await?;
        parse_json(&body)?["id"]
            .as_u64()
            .ok_or(PlatformError::Unreadable(field("id", "a webhook id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &[u8] = include_bytes!("../../../fixtures/woocommerce/order-created.body");
    const REFUNDED: &[u8] =
        include_bytes!("../../../fixtures/woocommerce/order-updated-refunded.body");
    const LIST: &[u8] = include_bytes!("../../../fixtures/woocommerce/rest-orders-list.json");

    #[test]
    fn reads_a_paid_order_with_a_variation() {
        let event = parse_order_webhook(CREATED).unwrap();
        let order = &event.order;
        assert_eq!(order.order_id, "1287");
        assert_eq!(order.state, OrderState::Paid);
        assert_eq!(
            order.buyer_email.as_deref(),
            Some("anna.keller@example.net")
        );
        assert_eq!(order.buyer_name.as_deref(), Some("Anna Keller"));
        assert_eq!(order.currency.as_deref(), Some("EUR"));
        assert_eq!(order.items.len(), 2);
        let variation = &order.items[0];
        assert_eq!(variation.line_item_id, "3301");
        assert_eq!(
            variation.listing,
            ListingRef {
                product_id: "501".into(),
                variation_id: Some("503".into())
            }
        );
        assert_eq!(variation.sku.as_deref(), Some("PBP-1SITE"));
        let simple = &order.items[1];
        assert_eq!(simple.listing.variation_id, None);
        assert_eq!(simple.quantity, 2);
    }

    #[test]
    fn a_refund_is_a_new_event_of_the_same_order() {
        let created = parse_order_webhook(CREATED).unwrap();
        let refunded = parse_order_webhook(REFUNDED).unwrap();
        assert_eq!(refunded.order.order_id, created.order.order_id);
        assert_eq!(refunded.order.state, OrderState::Refunded);
        assert_ne!(refunded.identity(), created.identity());
        assert_eq!(
            created.identity(),
            parse_order_webhook(CREATED).unwrap().identity()
        );
    }

    #[test]
    fn a_partial_refund_takes_back_the_units_of_its_lines() {
        let mut order: Value = serde_json::from_slice(CREATED).unwrap();
        order["refunds"] = json!([
            {"id": 1401, "reason": "one ebook", "total": "-13.86",
             "line_items": [{"id": 4001, "product_id": 777, "quantity": -1,
                             "meta_data": [{"key": "_refunded_item_id", "value": "3302"}]}]},
            {"id": 1402, "reason": "goodwill", "total": "-5.00"},
            {"id": 1403, "reason": "the other", "total": "-13.86",
             "line_items": [{"id": 4002, "quantity": -5, "refunded_item_id": 3302}]}
        ]);
        let event = read_order(&order).unwrap();
        assert_eq!(
            event.order.refunds_to_read,
            ["1402"],
            "only 1402 has no lines"
        );
        assert_eq!(event.order.state, OrderState::Paid, "still paid");
        assert_eq!(event.order.items[0].refunded, 0, "line 3301 untouched");
        assert_eq!(
            event.order.items[1].refunded, 2,
            "capped at the line's quantity"
        );
        let full = parse_order_webhook(REFUNDED).unwrap();
        assert!(
            full.order.items.iter().all(|i| i.refunded == 0),
            "an amount-only refund takes back no unit"
        );
    }

    #[test]
    fn refunds_listed_without_lines_take_their_lines_from_the_refunds_list() {
        let mut order: Value = serde_json::from_slice(CREATED).unwrap();
        order["refunds"] = json!([{"id": 1501, "reason": "wrong book", "total": "-13.86"}]);
        let mut event = read_order(&order).unwrap();
        assert_eq!(event.order.refunds_to_read, ["1501"]);
        assert!(event.order.items.iter().all(|i| i.refunded == 0));
        let listed =
            br#"[{"id":1501,"reason":"wrong book","amount":"13.86","refunded_payment":true,
            "line_items":[{"id":4101,"name":"Rust in Production (eBook)","product_id":777,
            "variation_id":0,"quantity":-1,"total":"-11.65",
            "meta_data":[{"id":5001,"key":"_refunded_item_id","value":"3302"}]}]}]"#;
        apply_refunds(&mut event.order, &parse_refunds(listed).unwrap());
        assert_eq!(event.order.items[0].refunded, 0);
        assert_eq!(event.order.items[1].refunded, 1);
        assert!(event.order.refunds_to_read.is_empty());
        assert_eq!(
            parse_refunds(b"{}"),
            Err(field("(root)", "an array of refunds"))
        );
    }

    #[test]
    fn reads_the_rest_orders_list() {
        let page = parse_orders_page(LIST).unwrap();
        let ids: Vec<_> = page.iter().map(|e| e.order.order_id.as_str()).collect();
        assert_eq!(ids, ["1288", "1287"]);
        assert!(page.iter().all(|e| e.order.state == OrderState::Paid));
    }

    #[test]
    fn paid_follows_status_then_date_paid() {
        assert_eq!(state_of("processing", false), OrderState::Paid);
        assert_eq!(state_of("completed", false), OrderState::Paid);
        assert_eq!(state_of("pending", false), OrderState::Unpaid);
        assert_eq!(state_of("on-hold", true), OrderState::Paid);
        assert_eq!(state_of("failed", true), OrderState::Unpaid);
        assert_eq!(state_of("refunded", true), OrderState::Refunded);
        assert_eq!(state_of("cancelled", false), OrderState::Cancelled);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        assert!(matches!(
            parse_order_webhook(b"webhook_id=1"),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(
            parse_order_webhook(br#"{"status":"processing"}"#),
            Err(field("id", "an order id"))
        );
        let zero_quantity =
            br#"{"id":1,"status":"processing","date_modified_gmt":"2025-01-01T00:00:00",
            "line_items":[{"id":2,"product_id":3,"quantity":0}]}"#;
        assert_eq!(
            parse_order_webhook(zero_quantity),
            Err(field("line_items[].quantity", "a positive integer"))
        );
        assert_eq!(
            parse_orders_page(b"{}"),
            Err(field("(root)", "an array of orders"))
        );
    }
}
