//! eBay's Fulfillment API `getOrders`, as the reconciliation poll reads it: the seller's
//! orders modified since a time, a page at a time by offset. Each order is read like a
//! `getOrder` answer and keyed with [`platform_identity`], so the same state of an order is
//! one event however often a poll sees it.

use serde_json::Value;
use shared::internal::Platform;

use super::client::PlatformError;
use super::ebay::{EbayClient, read_order};
use super::{ParseError, field, parse_json};
use crate::domain::events::platform_identity;
use crate::domain::orders::PlatformOrder;

/// Orders per request: the most `getOrders` accepts (more is refused with a 400).
pub const ORDERS_PER_PAGE: u32 = 200;

/// One order as `getOrders` lists it (or `getOrder` answers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledEbayOrder {
    /// The event identity ([`platform_identity`]).
    pub identity: String,
    pub order: PlatformOrder,
    /// `lastModifiedDate`, in Unix seconds: what moves the poll's checkpoint.
    pub modified_at: i64,
}

/// A page of `getOrders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbayOrdersPage {
    pub orders: Vec<PolledEbayOrder>,
    /// How many orders match the filter in all (`total`).
    pub total: u64,
    /// Whether eBay names a next page (`next`).
    pub has_next: bool,
}

/// Reads a `getOrders` answer: `{href, total, limit, offset, next?, prev?, orders[], warnings?}`.
pub fn parse_orders_page(body: &[u8]) -> Result<EbayOrdersPage, ParseError> {
    let page = parse_json(body)?;
    let orders = match &page["orders"] {
        // eBay leaves `orders` out of an empty page.
        Value::Null => Vec::new(),
        Value::Array(orders) => orders.iter().map(read_polled).collect::<Result<_, _>>()?,
        _ => return Err(field("orders", "an array")),
    };
    let total = page["total"]
        .as_u64()
        .ok_or(field("total", "a whole number"))?;
    let has_next = page["next"].as_str().is_some_and(|next| !next.is_empty());
    Ok(EbayOrdersPage {
        orders,
        total,
        has_next,
    })
}

/// Reads one Fulfillment API `Order` with its identity and modification time.
pub(super) fn read_polled(order: &Value) -> Result<PolledEbayOrder, ParseError> {
    let read = read_order(order)?;
    let identity =
        platform_identity(Platform::Ebay, order).ok_or(field("lastModifiedDate", "a date"))?;
    let modified_at = order["lastModifiedDate"]
        .as_str()
        .and_then(|date| chrono::DateTime::parse_from_rfc3339(date).ok())
        .map(|date| date.timestamp())
        .ok_or(field("lastModifiedDate", "an ISO 8601 date"))?;
    Ok(PolledEbayOrder {
        identity,
        order: read,
        modified_at,
    })
}

/// The `getOrders` filter for orders modified at or after `since_secs`, in the date format the
/// Fulfillment API requires (`YYYY-MM-DDThh:mm:ss.sssZ`, UTC).
pub fn modified_since_filter(since_secs: i64) -> String {
    let since = chrono::DateTime::from_timestamp(since_secs.max(0), 0).unwrap_or_default();
    format!(
        "lastmodifieddate:[{}..]",
        since.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

impl EbayClient {
    /// `GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[…..]&limit=200&offset=…`:
    /// the seller's orders modified since `since_secs`, whatever their state (cancellations
    /// and refunds are what the poll looks for too).
    pub async fn orders_modified_since(
        &self,
        user_token: &str,
        since_secs: i64,
        offset: u32,
    ) -> Result<EbayOrdersPage, PlatformError> {
        let request = self
            .http
            .get(self.base_url.join(&["sell", "fulfillment", "v1", "order"]))
            .bearer_auth(user_token)
            .query(&[
                ("filter", modified_since_filter(since_secs)),
                ("limit", ORDERS_PER_PAGE.to_string()),
                ("offset", offset.to_string()),
            ]);
        let (_, body) = self.http.send(request).await?;
        Ok(parse_orders_page(&body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::orders::OrderState;
    use serde_json::json;

    const ORDER: &str = include_str!("../../../fixtures/ebay/get-order.response.json");

    #[test]
    fn reads_a_page_of_orders_with_their_identity() {
        let mut cancelled: Value = serde_json::from_str(ORDER).unwrap();
        cancelled["orderId"] = "13-00001-00002".into();
        cancelled["lastModifiedDate"] = "2025-06-20T08:00:01.000Z".into();
        cancelled["cancelStatus"]["cancelState"] = "CANCELED".into();
        let page = json!({
            "href": "https://api.ebay.com/sell/fulfillment/v1/order?limit=200&offset=0",
            "total": 201, "limit": 200, "offset": 0,
            "next": "https://api.ebay.com/sell/fulfillment/v1/order?limit=200&offset=200",
            "orders": [serde_json::from_str::<Value>(ORDER).unwrap(), cancelled],
            "warnings": []
        });
        let page = parse_orders_page(page.to_string().as_bytes()).unwrap();
        assert_eq!((page.total, page.has_next), (201, true));
        assert_eq!(
            page.orders[0].identity,
            "ebay:order:13-12345-67890:2025-06-19T14:16:58.000Z"
        );
        assert_eq!(page.orders[0].modified_at, 1_750_342_618);
        assert_eq!(page.orders[0].order.items.len(), 2);
        assert_eq!(page.orders[1].order.state, OrderState::Cancelled);

        let last = json!({"href": "h", "total": 0, "limit": 200, "offset": 0, "orders": []});
        let last = parse_orders_page(last.to_string().as_bytes()).unwrap();
        assert!(last.orders.is_empty() && !last.has_next);
        let mut undated: Value = serde_json::from_str(ORDER).unwrap();
        undated.as_object_mut().unwrap().remove("lastModifiedDate");
        let undated = json!({"total": 1, "orders": [undated]});
        assert_eq!(
            parse_orders_page(undated.to_string().as_bytes()),
            Err(field("lastModifiedDate", "a date"))
        );
    }

    #[test]
    fn the_filter_uses_the_fulfillment_api_date_format() {
        assert_eq!(
            modified_since_filter(1_750_342_618),
            "lastmodifieddate:[2025-06-19T14:16:58.000Z..]"
        );
    }
}
