//! The fake Etsy's listings (PLATFORMS.md §2.5): `getListingsByShop`
//! (`GET /v3/application/shops/{shop_id}/listings?state=&limit=&offset=`, answering
//! `{count, results}`) and `getListingInventory`
//! (`GET /v3/application/listings/{listing_id}/inventory`), behind the same `x-api-key` and
//! token checks as the rest of the fake.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::fake_etsy::{EtsyState, USER_ID, credentials_refused, etsy_error};

/// Shops' listings and the listings' inventories.
#[derive(Default)]
pub struct Shops {
    /// shop id → listings, in the order Etsy lists them.
    listings: Mutex<BTreeMap<String, Vec<Value>>>,
    inventories: Mutex<HashMap<u64, Value>>,
    /// Query strings of every listings request, in order.
    queries: Mutex<Vec<String>>,
}

impl Shops {
    /// Adds a listing (see [`listing`]) to `shop_id`.
    pub fn put_listing(&self, shop_id: &str, listing: Value) {
        let mut shops = self.listings.lock().unwrap();
        let listings = shops.entry(shop_id.to_owned()).or_default();
        listings.retain(|l| l["listing_id"] != listing["listing_id"]);
        listings.push(listing);
    }

    /// Gives `listing_id` an inventory of `products` (see [`product`]); a listing without one
    /// answers 404, as one never edited with the inventory tools does.
    pub fn put_inventory(&self, listing_id: u64, products: Vec<Value>) {
        self.inventories.lock().unwrap().insert(
            listing_id,
            json!({
                "products": products,
                "price_on_property": [],
                "quantity_on_property": [],
                "sku_on_property": [513],
            }),
        );
    }

    pub fn listing_queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// An active digital listing as `getListingsByShop` answers it (the fields that matter here).
pub fn listing(shop_id: u64, listing_id: u64, title: &str, skus: &[&str]) -> Value {
    json!({
        "listing_id": listing_id,
        "user_id": USER_ID.parse::<u64>().unwrap(),
        "shop_id": shop_id,
        "title": title,
        "description": title,
        "state": "active",
        "creation_timestamp": 1_741_000_000,
        "created_timestamp": 1_741_000_000,
        "ending_timestamp": 1_751_000_000,
        "original_creation_timestamp": 1_741_000_000,
        "last_modified_timestamp": 1_741_500_000,
        "updated_timestamp": 1_741_500_000,
        "state_timestamp": 1_741_000_000,
        "quantity": 999,
        "url": format!("https://www.etsy.com/listing/{listing_id}/item"),
        "listing_type": "download",
        "has_variations": skus.len() > 1,
        "skus": skus,
        "price": {"amount": 1200, "divisor": 100, "currency_code": "USD"},
    })
}

/// An inventory product with `properties` (`(name, value)`), as `getListingInventory` lists it.
pub fn product(product_id: u64, sku: &str, properties: &[(&str, &str)]) -> Value {
    let property_values: Vec<Value> = properties
        .iter()
        .map(|(name, value)| {
            json!({"property_id": 513, "property_name": name, "scale_id": null,
                   "scale_name": null, "value_ids": [product_id * 10], "values": [value]})
        })
        .collect();
    json!({
        "product_id": product_id,
        "sku": sku,
        "is_deleted": false,
        "offerings": [{"offering_id": product_id * 100, "quantity": 999, "is_enabled": true,
                        "is_deleted": false,
                        "price": {"amount": 1200, "divisor": 100, "currency_code": "USD"}}],
        "property_values": property_values,
    })
}

/// The routes, merged into the fake Etsy's router.
pub(super) fn routes() -> Router<Arc<EtsyState>> {
    Router::new()
        .route("/v3/application/shops/{shop_id}/listings", get(listings))
        .route(
            "/v3/application/listings/{listing_id}/inventory",
            get(inventory),
        )
}

#[derive(Deserialize)]
struct ListingsQuery {
    state: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn listings(
    State(state): State<Arc<EtsyState>>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    raw: axum::extract::RawQuery,
    Query(query): Query<ListingsQuery>,
) -> Response {
    let shops = &state.listings;
    shops
        .queries
        .lock()
        .unwrap()
        .push(raw.0.unwrap_or_default());
    if let Some(refusal) = credentials_refused(&state, &headers) {
        return refusal;
    }
    let limit = query.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return etsy_error(
            StatusCode::BAD_REQUEST,
            "Expected int limit to be between 1 and 100.",
        );
    }
    let wanted = query.state.as_deref().unwrap_or("active");
    if !["active", "inactive", "sold_out", "draft", "expired"].contains(&wanted) {
        return etsy_error(StatusCode::BAD_REQUEST, "Invalid state.");
    }
    let matching: Vec<Value> = shops
        .listings
        .lock()
        .unwrap()
        .get(&shop_id)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l["state"] == wanted)
        .collect();
    let count = matching.len();
    let results: Vec<Value> = matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(limit)
        .collect();
    Json(json!({ "count": count, "results": results })).into_response()
}

async fn inventory(
    State(state): State<Arc<EtsyState>>,
    Path(listing_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = credentials_refused(&state, &headers) {
        return refusal;
    }
    match state.listings.inventories.lock().unwrap().get(&listing_id) {
        Some(inventory) => Json(inventory.clone()).into_response(),
        None => etsy_error(
            StatusCode::NOT_FOUND,
            &format!("Listing {listing_id} has no inventory."),
        ),
    }
}
