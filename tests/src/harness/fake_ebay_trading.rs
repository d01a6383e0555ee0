//! The fake eBay's Trading API `GetMyeBaySelling` (PLATFORMS.md §1.7): `POST /ws/api.dll`
//! with the call name, site id, compatibility level and the seller's OAuth token in
//! `X-EBAY-API-IAF-TOKEN`; an XML request paging `ActiveList`, an XML answer with `Ack`,
//! `ActiveList/ItemArray/Item` (variations included) and `PaginationResult`. Failures are
//! what Trading answers: HTTP 200, `Ack` Failure and an `Errors` element.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use quick_xml::escape::escape;
use serde::Deserialize;

use super::fake_ebay::SELLER_TOKEN;

/// A variation's specifics, `(name, value)` pairs.
pub type Specifics = Vec<(String, String)>;

/// A listing of the seller's active list.
#[derive(Debug, Clone)]
pub struct TradingItem {
    pub item_id: String,
    pub title: String,
    pub sku: Option<String>,
    /// (SKU, [(name, value)]) per variation.
    pub variations: Vec<(Option<String>, Specifics)>,
}

impl TradingItem {
    pub fn new(item_id: &str, title: &str, sku: Option<&str>) -> Self {
        TradingItem {
            item_id: item_id.to_owned(),
            title: title.to_owned(),
            sku: sku.map(str::to_owned),
            variations: Vec::new(),
        }
    }

    pub fn with_variation(mut self, sku: Option<&str>, specifics: &[(&str, &str)]) -> Self {
        self.variations.push((
            sku.map(str::to_owned),
            specifics
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        ));
        self
    }
}

/// The seller's active listings and what was asked of them.
#[derive(Clone, Default)]
pub struct ActiveListings(Arc<TradingState>);

#[derive(Default)]
struct TradingState {
    items: Mutex<Vec<TradingItem>>,
    /// (EntriesPerPage, PageNumber) of every GetMyeBaySelling call, in order.
    pages: Mutex<Vec<(u32, u32)>>,
}

impl ActiveListings {
    pub fn put(&self, item: TradingItem) {
        let mut items = self.0.items.lock().unwrap();
        items.retain(|i| i.item_id != item.item_id);
        items.push(item);
    }

    /// (EntriesPerPage, PageNumber) of every GetMyeBaySelling call so far.
    pub fn pages_requested(&self) -> Vec<(u32, u32)> {
        self.0.pages.lock().unwrap().clone()
    }
}

/// The route, merged into the fake eBay's router.
pub fn routes<S: Clone + Send + Sync + 'static>(listings: ActiveListings) -> Router<S> {
    Router::new()
        .route("/ws/api.dll", post(trading_call))
        .with_state(listings)
}

#[derive(Deserialize)]
struct RequestXml {
    #[serde(rename = "ActiveList")]
    active_list: Option<ActiveListXml>,
}

#[derive(Deserialize)]
struct ActiveListXml {
    #[serde(rename = "Pagination")]
    pagination: Option<PaginationXml>,
}

#[derive(Deserialize)]
struct PaginationXml {
    #[serde(rename = "EntriesPerPage")]
    entries_per_page: Option<u32>,
    #[serde(rename = "PageNumber")]
    page_number: Option<u32>,
}

const TIMESTAMP: &str = "2026-12-01T10:00:00.000Z";

fn xml(body: String) -> Response {
    (
        [("content-type", "text/xml;charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

/// `Ack` Failure with one error, as Trading answers a refused call (HTTP 200).
fn failure(code: &str, short: &str, long: &str, classification: &str) -> Response {
    xml(format!(
        "<GetMyeBaySellingResponse xmlns=\"urn:ebay:apis:eBLBaseComponents\">\
         <Timestamp>{TIMESTAMP}</Timestamp><Ack>Failure</Ack>\
         <Errors><ShortMessage>{short}</ShortMessage><LongMessage>{long}</LongMessage>\
         <ErrorCode>{code}</ErrorCode><SeverityCode>Error</SeverityCode>\
         <ErrorClassification>{classification}</ErrorClassification></Errors>\
         <Version>1349</Version><Build>E1349_CORE_APISELLING_19187371_R1</Build>\
         </GetMyeBaySellingResponse>"
    ))
}

async fn trading_call(
    State(listings): State<ActiveListings>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-ebay-api-call-name") != Some("GetMyeBaySelling") {
        return failure(
            "2",
            "Unsupported API call.",
            "The API call \"\" is invalid or not supported in this release.",
            "RequestError",
        );
    }
    if header("x-ebay-api-siteid").is_none() || header("x-ebay-api-compatibility-level").is_none() {
        return failure(
            "10012",
            "Invalid value.",
            "Invalid value for header \"X-EBAY-API-SITEID\" or \"X-EBAY-API-COMPATIBILITY-LEVEL\".",
            "RequestError",
        );
    }
    if header("x-ebay-api-iaf-token") != Some(SELLER_TOKEN) {
        return failure(
            "21916984",
            "Invalid IAF token.",
            "IAF token supplied is invalid.",
            "RequestError",
        );
    }
    let request: Option<RequestXml> = quick_xml::de::from_str(&body).ok();
    let pagination = request
        .and_then(|r| r.active_list)
        .and_then(|a| a.pagination);
    let per_page = pagination
        .as_ref()
        .and_then(|p| p.entries_per_page)
        .unwrap_or(25)
        .clamp(1, 200);
    let page = pagination
        .as_ref()
        .and_then(|p| p.page_number)
        .unwrap_or(1)
        .max(1);
    listings.0.pages.lock().unwrap().push((per_page, page));
    let items = listings.0.items.lock().unwrap().clone();
    let total = items.len();
    let pages = total.div_ceil(per_page as usize);
    let shown: String = items
        .iter()
        .skip((page as usize - 1) * per_page as usize)
        .take(per_page as usize)
        .map(item_xml)
        .collect();
    let item_array = if shown.is_empty() {
        String::new()
    } else {
        format!("<ItemArray>{shown}</ItemArray>")
    };
    xml(format!(
        "<GetMyeBaySellingResponse xmlns=\"urn:ebay:apis:eBLBaseComponents\">\
         <Timestamp>{TIMESTAMP}</Timestamp><Ack>Success</Ack><Version>1349</Version>\
         <Build>E1349_CORE_APISELLING_19187371_R1</Build>\
         <ActiveList>{item_array}<PaginationResult><TotalNumberOfPages>{pages}</TotalNumberOfPages>\
         <TotalNumberOfEntries>{total}</TotalNumberOfEntries></PaginationResult></ActiveList>\
         </GetMyeBaySellingResponse>"
    ))
}

fn item_xml(item: &TradingItem) -> String {
    let sku = item
        .sku
        .as_deref()
        .map(|s| format!("<SKU>{}</SKU>", escape(s)))
        .unwrap_or_default();
    let variations = if item.variations.is_empty() {
        String::new()
    } else {
        let each: String = item
            .variations
            .iter()
            .map(|(sku, specifics)| {
                let sku = sku
                    .as_deref()
                    .map(|s| format!("<SKU>{}</SKU>", escape(s)))
                    .unwrap_or_default();
                let pairs: String = specifics
                    .iter()
                    .map(|(n, v)| {
                        format!(
                            "<NameValueList><Name>{}</Name><Value>{}</Value></NameValueList>",
                            escape(n),
                            escape(v)
                        )
                    })
                    .collect();
                format!(
                    "<Variation>{sku}<Quantity>50</Quantity>\
                     <VariationSpecifics>{pairs}</VariationSpecifics>\
                     <SellingStatus><QuantitySold>0</QuantitySold></SellingStatus></Variation>"
                )
            })
            .collect();
        format!("<Variations>{each}</Variations>")
    };
    format!(
        "<Item><BuyItNowPrice currencyID=\"USD\">0.0</BuyItNowPrice><ItemID>{id}</ItemID>\
         <ListingDetails><StartTime>2026-11-01T10:00:00.000Z</StartTime>\
         <ViewItemURL>https://www.ebay.com/itm/{id}</ViewItemURL></ListingDetails>\
         <ListingDuration>GTC</ListingDuration><ListingType>FixedPriceItem</ListingType>\
         <Quantity>100</Quantity>\
         <SellingStatus><CurrentPrice currencyID=\"USD\">24.99</CurrentPrice>\
         <QuantitySold>0</QuantitySold></SellingStatus>\
         <TimeLeft>P30D</TimeLeft><Title>{title}</Title><QuantityAvailable>100</QuantityAvailable>\
         {sku}{variations}</Item>",
        id = escape(&item.item_id),
        title = escape(&item.title),
    )
}
