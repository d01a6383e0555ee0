//! The fake eBay's Fulfillment API `getOrders` (`GET /sell/fulfillment/v1/order`), answering
//! as the Fulfillment API does (PLATFORMS.md §1.6): `filter` (`lastmodifieddate`,
//! `creationdate` as `[from..to]` ranges with either end open, `orderfulfillmentstatus` as
//! `{A|B}`), `limit` (default 50, at most 200), `offset`; the page as `{href, total, limit,
//! offset, next?, prev?, orders[], warnings}`, newest order first, `next` only while orders
//! remain. Orders are the ones a test adds. Errors in eBay's `{"errors":[…]}` envelope: a
//! limit over 200 or a malformed filter is a 400, a token other than the seller's a 401. (The
//! filter errors' ids are the Fulfillment API's `30700`/`30800`/`30810`; the ids given to a bad
//! limit or offset are this fake's own, PLATFORMS.md naming only the 400.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::fake_ebay::SELLER_TOKEN;

/// The orders `getOrders` lists and what it was asked.
#[derive(Default)]
pub struct EbayOrders {
    orders: Mutex<Vec<Value>>,
    queries: Mutex<Vec<String>>,
    /// Requests still to refuse with a 401, as eBay does once a user token has expired.
    refuse: AtomicUsize,
}

impl EbayOrders {
    /// Adds an order (a Fulfillment API `Order`), or replaces the one with its `orderId`.
    pub fn put_order(&self, order: Value) {
        let mut orders = self.orders.lock().unwrap();
        orders.retain(|o| o["orderId"] != order["orderId"]);
        orders.push(order);
    }

    /// The raw query strings of every `getOrders` request, in order.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }

    /// The next `n` requests get eBay's 401 for an expired access token.
    pub fn refuse_next(&self, n: usize) {
        self.refuse.store(n, Ordering::SeqCst);
    }
}

/// The `getOrders` route, to be merged into the fake eBay's router.
pub fn routes<S: Clone + Send + Sync + 'static>(orders: Arc<EbayOrders>) -> Router<S> {
    Router::new()
        .route("/sell/fulfillment/v1/order", get(get_orders))
        .with_state(orders)
}

fn error(status: StatusCode, error_id: u32, category: &str, message: &str) -> Response {
    let domain = if error_id == 1001 {
        "OAuth"
    } else {
        "API_FULFILLMENT"
    };
    let body = json!({ "errors": [{ "errorId": error_id, "domain": domain,
        "category": category, "message": message }]});
    (status, Json(body)).into_response()
}

fn bad_request(error_id: u32, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, error_id, "REQUEST", message)
}

/// A date as the Fulfillment API takes it: `YYYY-MM-DDThh:mm:ss.sssZ`, UTC. Being fixed-width,
/// such dates compare as strings.
fn is_ebay_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// One filter of `filter=` and whether an order passes it.
enum Filter {
    Range {
        field: &'static str,
        from: Option<String>,
        to: Option<String>,
    },
    Status(Vec<String>),
}

impl Filter {
    fn admits(&self, order: &Value) -> bool {
        match self {
            Filter::Range { field, from, to } => {
                let date = order[*field].as_str().unwrap_or_default();
                from.as_deref().is_none_or(|from| date >= from)
                    && to.as_deref().is_none_or(|to| date <= to)
            }
            Filter::Status(statuses) => statuses
                .iter()
                .any(|s| order["orderFulfillmentStatus"].as_str() == Some(s)),
        }
    }
}

/// The filters of `filter=`, or the 400 eBay answers (error id and message).
fn parse_filters(filter: &str) -> Result<Vec<Filter>, (u32, String)> {
    let mut filters = Vec::new();
    for part in filter.split(',').filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| (30700, format!("Invalid filter name: {part}")))?;
        let invalid_value = || {
            (
                30800,
                format!("Invalid filter value {value} for filter {name}"),
            )
        };
        let field = match name {
            "lastmodifieddate" => "lastModifiedDate",
            "creationdate" => "creationDate",
            "orderfulfillmentstatus" => {
                let inner = value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .ok_or_else(invalid_value)?;
                filters.push(Filter::Status(
                    inner.split('|').map(str::to_owned).collect(),
                ));
                continue;
            }
            _ => return Err((30700, format!("Invalid filter name: {name}"))),
        };
        let (from, to) = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .and_then(|v| v.split_once(".."))
            .ok_or_else(invalid_value)?;
        let end = |date: &str| -> Result<Option<String>, (u32, String)> {
            match date {
                "" => Ok(None),
                d if is_ebay_date(d) => Ok(Some(d.to_owned())),
                _ => Err((30810, "Invalid date format".to_owned())),
            }
        };
        filters.push(Filter::Range {
            field,
            from: end(from)?,
            to: end(to)?,
        });
    }
    Ok(filters)
}

fn number(value: Option<&str>, default: u64) -> Option<u64> {
    value.map_or(Some(default), |v| v.parse().ok())
}

async fn get_orders(
    State(state): State<Arc<EbayOrders>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    state
        .queries
        .lock()
        .unwrap()
        .push(query.unwrap_or_default());
    let expected = format!("Bearer {SELLER_TOKEN}");
    let refused = state
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refused
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return error(
            StatusCode::UNAUTHORIZED,
            1001,
            "REQUEST",
            "Invalid access token",
        );
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(limit) = number(param("limit"), 50).filter(|l| (1..=200).contains(l)) else {
        return bad_request(30900, "Invalid limit. The maximum value is 200.");
    };
    let Some(offset) = number(param("offset"), 0) else {
        return bad_request(30910, "Invalid offset.");
    };
    let filters = match parse_filters(param("filter").unwrap_or_default()) {
        Ok(filters) => filters,
        Err((error_id, message)) => return bad_request(error_id, &message),
    };
    let mut matching: Vec<Value> = state
        .orders
        .lock()
        .unwrap()
        .iter()
        .filter(|order| filters.iter().all(|f| f.admits(order)))
        .cloned()
        .collect();
    // Newest first (eBay lists by creation date, descending), ties by id for a stable order.
    matching.sort_by(|a, b| {
        let key = |o: &Value| (o["creationDate"].to_string(), o["orderId"].to_string());
        key(b).cmp(&key(a))
    });
    let total = matching.len() as u64;
    let page: Vec<Value> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(200))
        .collect();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let filter = param("filter")
        .map(|f| format!("filter={}&", encode(f)))
        .unwrap_or_default();
    let href_at = |offset: u64| {
        format!("http://{host}/sell/fulfillment/v1/order?{filter}limit={limit}&offset={offset}")
    };
    let mut body = json!({
        "href": href_at(offset),
        "total": total,
        "limit": limit,
        "offset": offset,
        "orders": page,
        "warnings": [],
    });
    if offset + limit < total {
        body["next"] = href_at(offset + limit).into();
    }
    if offset > 0 {
        body["prev"] = href_at(offset.saturating_sub(limit)).into();
    }
    Json(body).into_response()
}

/// Percent-encodes a query value as eBay's own `href`s carry it.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
