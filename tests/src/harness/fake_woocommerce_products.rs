//! The fake store's catalogue (PLATFORMS.md §3.3): `GET /wp-json/wc/v3/products` (published
//! products, `per_page` up to 100, `X-WP-Total` / `X-WP-TotalPages`, `search` over names and
//! descriptions) and `GET /wp-json/wc/v3/products/{id}/variations`, with the store's Basic
//! auth and REST error bodies.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fake_woocommerce::{GrantedKeys, key_authorised, rest_error};

/// The products and variations the store lists; shared by the fake's handlers and the test.
#[derive(Clone)]
pub struct Catalog(Arc<CatalogState>);

#[derive(Default)]
struct CatalogState {
    /// The store's granted keys, which list too.
    granted_keys: GrantedKeys,
    products: Mutex<Vec<Value>>,
    /// (parent product id, variation)
    variations: Mutex<Vec<(u64, Value)>>,
    /// The query string of every products list request, in order.
    queries: Mutex<Vec<String>>,
}

impl Catalog {
    /// An empty catalog whose routes take the store's `granted_keys` besides the fixture's.
    pub(super) fn new(granted_keys: GrantedKeys) -> Self {
        Catalog(Arc::new(CatalogState {
            granted_keys,
            ..CatalogState::default()
        }))
    }

    /// Adds (or replaces, by `id`) a product; see [`product`].
    pub fn put_product(&self, product: Value) {
        let mut products = self.0.products.lock().unwrap();
        products.retain(|p| p["id"] != product["id"]);
        products.push(product);
    }

    /// Adds a variation of `product_id` (see [`variation`]) and lists its id on the product.
    pub fn put_variation(&self, product_id: u64, variation: Value) {
        let id = variation["id"].clone();
        self.0
            .variations
            .lock()
            .unwrap()
            .push((product_id, variation));
        let mut products = self.0.products.lock().unwrap();
        if let Some(product) = products.iter_mut().find(|p| p["id"] == product_id) {
            product["type"] = "variable".into();
            if let Some(ids) = product["variations"].as_array_mut() {
                ids.push(id);
            }
        }
    }

    /// The query strings of the products list requests so far.
    pub fn product_queries(&self) -> Vec<String> {
        self.0.queries.lock().unwrap().clone()
    }
}

/// A published simple product as the REST API answers it (the fields that matter here).
pub fn product(id: u64, name: &str, sku: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "slug": name.to_lowercase().replace(' ', "-"),
        "permalink": format!("https://shop.example.com/product/{id}/"),
        "type": "simple",
        "status": "publish",
        "description": format!("<p>{name}</p>"),
        "short_description": "",
        "sku": sku,
        "price": "19.00",
        "virtual": true,
        "downloadable": true,
        "attributes": [],
        "variations": [],
    })
}

/// A variation with `attributes` (`(name, option)`) as the REST API answers it.
pub fn variation(id: u64, sku: &str, attributes: &[(&str, &str)]) -> Value {
    let attributes: Vec<Value> = attributes
        .iter()
        .enumerate()
        .map(|(n, (name, option))| json!({"id": n + 1, "name": name, "option": option}))
        .collect();
    json!({
        "id": id,
        "sku": sku,
        "status": "publish",
        "price": "19.00",
        "virtual": true,
        "downloadable": true,
        "attributes": attributes,
    })
}

/// The routes, merged into the fake store's router.
pub fn routes<S: Clone + Send + Sync + 'static>(catalog: Catalog) -> Router<S> {
    Router::new()
        .route("/wp-json/wc/v3/products", get(list_products))
        .route(
            "/wp-json/wc/v3/products/{id}/variations",
            get(list_variations),
        )
        .with_state(catalog)
}

#[derive(Deserialize)]
struct ListQuery {
    per_page: Option<usize>,
    page: Option<usize>,
    search: Option<String>,
    status: Option<String>,
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
}

/// One page of `items` with WooCommerce's paging headers; a page past the last is the 400
/// WordPress answers.
fn paged(items: Vec<Value>, query: &ListQuery) -> Response {
    let per_page = query.per_page.unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
        );
    }
    let page = query.page.unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page);
    if page > pages.max(1) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        );
    }
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    (
        [
            ("X-WP-Total", total.to_string()),
            ("X-WP-TotalPages", pages.to_string()),
        ],
        axum::Json(Value::Array(body)),
    )
        .into_response()
}

fn refused(catalog: &Catalog, headers: &HeaderMap, query: &ListQuery) -> Option<Response> {
    (!key_authorised(
        &catalog.0.granted_keys,
        headers,
        query.consumer_key.as_deref(),
        query.consumer_secret.as_deref(),
    ))
    .then(|| {
        rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        )
    })
}

async fn list_products(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    raw: axum::extract::RawQuery,
    Query(query): Query<ListQuery>,
) -> Response {
    catalog
        .0
        .queries
        .lock()
        .unwrap()
        .push(raw.0.unwrap_or_default());
    if let Some(refusal) = refused(&catalog, &headers, &query) {
        return refusal;
    }
    let status = query.status.as_deref().unwrap_or("any");
    let search = query.search.as_deref().map(str::to_lowercase);
    let mut products: Vec<Value> = catalog
        .0
        .products
        .lock()
        .unwrap()
        .iter()
        .filter(|p| status == "any" || p["status"] == status)
        .filter(|p| {
            search.as_deref().is_none_or(|q| {
                ["name", "description", "short_description"]
                    .iter()
                    .any(|f| {
                        p[*f]
                            .as_str()
                            .unwrap_or_default()
                            .to_lowercase()
                            .contains(q)
                    })
            })
        })
        .cloned()
        .collect();
    products.sort_by_key(|p| (p["name"].as_str().map(str::to_owned), p["id"].as_u64()));
    paged(products, &query)
}

async fn list_variations(
    State(catalog): State<Catalog>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(refusal) = refused(&catalog, &headers, &query) {
        return refusal;
    }
    if !catalog
        .0
        .products
        .lock()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id)
    {
        return rest_error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_product_invalid_id",
            "Invalid ID.",
        );
    }
    let variations: Vec<Value> = catalog
        .0
        .variations
        .lock()
        .unwrap()
        .iter()
        .filter(|(parent, _)| *parent == id)
        .map(|(_, v)| v.clone())
        .collect();
    paged(variations, &query)
}
