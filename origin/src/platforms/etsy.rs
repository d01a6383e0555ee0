//! Etsy shop receipts, as `getShopReceipts` answers them to the poller and `getShopReceipt`
//! answers one to a webhook's fetch.

use std::time::Duration;

use serde_json::Value;
use shared::internal::Platform;

use super::client::PlatformError;
use super::oauth::{TokenAnswer, TokenError, token_request};
use super::outbound::{BaseUrl, Outbound};
use super::refusal::{Refusal, answer_or_refusal};
use super::{ParseError, field, id_string, non_empty, parse_json, quantity};
use crate::domain::events::platform_identity;
use crate::domain::orders::{ListingRef, OrderState, PlatformItem, PlatformOrder};

/// Shop listings and their inventory, for the listing picker.
pub mod listings;

/// The connect flow's code exchange and who connected.
pub mod connect;

/// One page of receipts; `total` is how many match the query overall, not the page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptsPage {
    pub total: u64,
    pub receipts: Vec<EtsyReceipt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtsyReceipt {
    pub order: PlatformOrder,
    /// Etsy's `status` as sent (`Paid`, `Completed`, `Canceled`, …).
    pub status: String,
    /// `update_timestamp`, unix seconds: the poller's checkpoint advances over it.
    pub updated_at: u64,
    /// The event identity ([`platform_identity`]).
    pub identity: String,
    /// `is_shipped`: a shipment was recorded for it (by this app or the seller).
    pub shipped: bool,
}

impl EtsyReceipt {
    /// Receipt id + status: a receipt seen again unchanged dedupes, a cancellation does not.
    pub fn identity(&self) -> String {
        self.identity.clone()
    }
}

pub fn parse_receipts_page(body: &[u8]) -> Result<ReceiptsPage, ParseError> {
    let value = parse_json(body)?;
    let total = value["count"]
        .as_u64()
        .ok_or(field("count", "an integer"))?;
    let receipts = value["results"]
        .as_array()
        .ok_or(field("results", "an array"))?
        .iter()
        .map(read_receipt)
        .collect::<Result<_, _>>()?;
    Ok(ReceiptsPage { total, receipts })
}

fn read_receipt(receipt: &Value) -> Result<EtsyReceipt, ParseError> {
    let order_id =
        id_string(&receipt["receipt_id"]).ok_or(field("results[].receipt_id", "an id"))?;
    let status = non_empty(&receipt["status"]).ok_or(field("results[].status", "a string"))?;
    let identity =
        platform_identity(Platform::Etsy, receipt).ok_or(field("results[].receipt_id", "an id"))?;
    let updated_at = receipt["update_timestamp"]
        .as_u64()
        .or_else(|| receipt["updated_timestamp"].as_u64())
        .ok_or(field("results[].update_timestamp", "unix seconds"))?;
    let items = receipt["transactions"]
        .as_array()
        .ok_or(field("results[].transactions", "an array"))?
        .iter()
        .map(read_transaction)
        .collect::<Result<_, _>>()?;
    let state = match status.to_ascii_lowercase().as_str() {
        "canceled" | "cancelled" => OrderState::Cancelled,
        "fully refunded" | "refunded" => OrderState::Refunded,
        _ if receipt["is_paid"].as_bool() == Some(true) => OrderState::Paid,
        _ => OrderState::Unpaid,
    };
    Ok(EtsyReceipt {
        order: PlatformOrder {
            platform: Platform::Etsy,
            order_id,
            state,
            // null unless Etsy granted the app access to buyer emails
            buyer_email: non_empty(&receipt["buyer_email"]),
            buyer_name: non_empty(&receipt["name"]),
            buyer_id: id_string(&receipt["buyer_user_id"]),
            currency: non_empty(&receipt["grandtotal"]["currency_code"]),
            items,
            refunds_to_read: Vec::new(),
        },
        status,
        updated_at,
        identity,
        shipped: receipt["is_shipped"].as_bool() == Some(true),
    })
}

fn read_transaction(transaction: &Value) -> Result<PlatformItem, ParseError> {
    Ok(PlatformItem {
        line_item_id: id_string(&transaction["transaction_id"])
            .ok_or(field("transactions[].transaction_id", "an id"))?,
        listing: ListingRef {
            product_id: id_string(&transaction["listing_id"])
                .ok_or(field("transactions[].listing_id", "an id"))?,
            // The inventory product of a listing with variations; null on simple listings.
            variation_id: id_string(&transaction["product_id"]),
        },
        title: non_empty(&transaction["title"]).unwrap_or_default(),
        sku: non_empty(&transaction["sku"]),
        quantity: quantity(&transaction["quantity"], "transactions[].quantity")?,
        refunded: 0,
    })
}

/// Etsy's Open API v3 for one app (`x-api-key: keystring:shared_secret`).
pub struct EtsyClient {
    http: Outbound,
    base_url: BaseUrl,
    api_key: String,
    keystring: String,
}

/// What Etsy's headers say is left of the app's daily budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateBudget {
    pub per_day: Option<u64>,
    pub remaining_today: Option<u64>,
}

/// Receipts per request: Etsy's maximum.
pub const RECEIPTS_PER_PAGE: u32 = 100;

impl EtsyClient {
    /// A client of Etsy at `base_url`, refused if the URL is not one the origin calls.
    pub fn new(
        http: Outbound,
        base_url: &str,
        keystring: &str,
        shared_secret: &str,
    ) -> Result<Self, PlatformError> {
        let base_url = http.base_url(base_url)?;
        Ok(EtsyClient {
            http,
            base_url,
            api_key: format!("{keystring}:{shared_secret}"),
            keystring: keystring.to_owned(),
        })
    }

    /// Exchanges a refresh token for fresh tokens. Etsy rotates: the answer carries a new
    /// refresh token and the one sent is dead from now on.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenAnswer, TokenError> {
        let request = self
            .http
            .post(self.base_url.join(&["v3", "public", "oauth", "token"]))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", self.keystring.as_str()),
                ("refresh_token", refresh_token),
            ]);
        token_request(&self.http, request).await
    }

    /// `POST /v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking` without tracking
    /// code or carrier: Etsy marks the receipt shipped and emails the buyer, with
    /// `note_to_buyer` in that email when given.
    pub async fn create_receipt_shipment(
        &self,
        shop_id: &str,
        access_token: &str,
        receipt_id: &str,
        note_to_buyer: Option<&str>,
    ) -> Result<(), Refusal> {
        for (name, id) in [("shop_id", shop_id), ("receipt_id", receipt_id)] {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PlatformError::Unreadable(field(name, "a numeric Etsy id")).into());
            }
        }
        let request = self
            .http
            .post(self.base_url.join(&[
                "v3",
                "application",
                "shops",
                shop_id,
                "receipts",
                receipt_id,
                "tracking",
            ]))
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token)
            .json(&match note_to_buyer {
                // Etsy emails the note to the buyer with the shipment notice.
                Some(note) => serde_json::json!({ "note_to_buyer": note }),
                None => serde_json::json!({}),
            });
        answer_or_refusal(self.http.execute(request).await?).await?;
        Ok(())
    }

    /// Paid receipts of `shop_id` modified at or after `min_last_modified` (unix seconds), oldest
    /// update first so that new activity never shifts the pages being read.
    pub async fn paid_receipts_since(
        &self,
        shop_id: &str,
        access_token: &str,
        min_last_modified: u64,
        offset: u32,
    ) -> Result<(ReceiptsPage, RateBudget), PlatformError> {
        check_shop_id(shop_id)?;
        let request = self
            .http
            .get(
                self.base_url
                    .join(&["v3", "application", "shops", shop_id, "receipts"]),
            )
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token)
            .query(&[
                ("min_last_modified", min_last_modified.to_string()),
                ("was_paid", "true".to_owned()),
                ("sort_on", "updated".to_owned()),
                ("sort_order", "asc".to_owned()),
                ("limit", RECEIPTS_PER_PAGE.to_string()),
                ("offset", offset.to_string()),
            ]);
        let (headers, body) = self.http.send(request).await?;
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        };
        let budget = RateBudget {
            per_day: number("x-limit-per-day"),
            remaining_today: number("x-remaining-today"),
        };
        Ok((parse_receipts_page(&body)?, budget))
    }

    /// One receipt of `shop_id` (`getShopReceipt`), as a webhook names it: both ids must be
    /// Etsy's numeric ids, so nothing but that receipt's path is ever requested.
    pub async fn receipt(
        &self,
        shop_id: &str,
        receipt_id: &str,
        access_token: &str,
    ) -> Result<EtsyReceipt, PlatformError> {
        let numeric = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        if !numeric(shop_id) || !numeric(receipt_id) {
            return Err(PlatformError::Unreadable(field(
                "resource_url",
                "a receipt of a numeric Etsy shop",
            )));
        }
        let path = [
            "v3",
            "application",
            "shops",
            shop_id,
            "receipts",
            receipt_id,
        ];
        let request = self
            .http
            .get(self.base_url.join(&path))
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token);
        let (_, body) = self.http.send(request).await?;
        Ok(read_receipt(&parse_json(&body)?)?)
    }
}

/// How long to wait before polling again: the normal interval while the daily budget is
/// healthy, longer as it runs down, so the app never spends its last requests on polling.
pub fn next_poll_delay(interval: Duration, budget: RateBudget) -> Duration {
    let (Some(per_day), Some(remaining)) = (budget.per_day, budget.remaining_today) else {
        return interval;
    };
    if per_day == 0 || remaining == 0 {
        return interval * 12;
    }
    match remaining * 100 / per_day {
        0..=4 => interval * 12,
        5..=9 => interval * 6,
        10..=24 => interval * 2,
        _ => interval,
    }
}

/// A shop id goes into a path: only digits, as Etsy's ids are.
pub(super) fn check_shop_id(shop_id: &str) -> Result<(), PlatformError> {
    if shop_id.is_empty() || !shop_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PlatformError::Unreadable(field(
            "shop_id",
            "a numeric Etsy shop id",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &[u8] = include_bytes!("../../../fixtures/etsy/get-shop-receipts.response.json");

    #[test]
    fn reads_a_page_of_receipts() {
        let page = parse_receipts_page(PAGE).unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.receipts.len(), 2);
        let first = &page.receipts[0];
        assert_eq!(first.order.order_id, "3456789012");
        assert_eq!(first.order.state, OrderState::Paid);
        assert_eq!(
            first.order.buyer_email.as_deref(),
            Some("jamie.rivera@example.org")
        );
        assert_eq!(first.updated_at, 1_741_946_471);
        assert_eq!(first.identity(), "etsy:3456789012:paid");
        let second = &page.receipts[1];
        assert_eq!(second.order.state, OrderState::Paid, "Completed and paid");
        assert_eq!(second.order.items.len(), 2);
        assert_eq!(
            second.order.items[0].listing.variation_id.as_deref(),
            Some("18765432101")
        );
        assert_eq!(
            second.order.items[1].listing.variation_id, None,
            "product_id null"
        );
        assert_eq!(second.order.items[1].quantity, 2);
    }

    #[test]
    fn cancelled_and_unpaid_receipts_are_not_paid() {
        let mut value: Value = serde_json::from_slice(PAGE).unwrap();
        value["results"][0]["status"] = "Canceled".into();
        value["results"][1]["is_paid"] = false.into();
        value["results"][1]["status"] = "Open".into();
        let page = parse_receipts_page(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(page.receipts[0].order.state, OrderState::Cancelled);
        assert_eq!(page.receipts[1].order.state, OrderState::Unpaid);
        assert_eq!(page.receipts[0].identity(), "etsy:3456789012:canceled");
    }

    #[test]
    fn polling_slows_down_as_the_daily_budget_runs_out() {
        let five = Duration::from_secs(300);
        let budget = |remaining| RateBudget {
            per_day: Some(10_000),
            remaining_today: Some(remaining),
        };
        assert_eq!(next_poll_delay(five, RateBudget::default()), five);
        assert_eq!(next_poll_delay(five, budget(9_987)), five);
        assert_eq!(next_poll_delay(five, budget(2_000)), five * 2);
        assert_eq!(next_poll_delay(five, budget(600)), five * 6);
        assert_eq!(next_poll_delay(five, budget(100)), five * 12);
        assert_eq!(next_poll_delay(five, budget(0)), five * 12);
    }

    #[test]
    fn bad_pages_name_the_field() {
        assert_eq!(
            parse_receipts_page(b"{}"),
            Err(field("count", "an integer"))
        );
        assert_eq!(
            parse_receipts_page(br#"{"count":1,"results":[{"receipt_id":1}]}"#),
            Err(field("results[].status", "a string"))
        );
    }
}
