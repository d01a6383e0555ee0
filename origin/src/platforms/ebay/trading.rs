//! eBay's Trading API `GetMyeBaySelling` (PLATFORMS.md §1.7): the seller's active listings,
//! with their variations, page by page. XML over `POST /ws/api.dll`, the seller's OAuth user
//! token in `X-EBAY-API-IAF-TOKEN`. The Inventory API cannot enumerate listings it did not
//! create, so this older API is the one that lists everything a seller has for sale.

use serde::Deserialize;
use shared::internal::Platform;

use super::EbayClient;
use crate::domain::listings::{Listing, ListingVariation};
use crate::platforms::client::PlatformError;
use crate::platforms::{ParseError, field};

/// Any recent level answers the same `ActiveList`.
const COMPATIBILITY_LEVEL: &str = "967";
/// The US site; listings of every site are the seller's all the same.
const SITE_ID: &str = "0";
/// The most entries GetMyeBaySelling answers a page.
pub const MAX_ENTRIES_PER_PAGE: u32 = 200;
/// Error codes that say the token was refused (invalid, expired, revoked).
const CREDENTIAL_ERRORS: [&str; 6] = ["931", "932", "16110", "17470", "21916984", "21917053"];

/// One page of the seller's active listings.
#[derive(Debug)]
pub struct ActiveListPage {
    pub listings: Vec<Listing>,
    pub total_pages: u32,
    pub total_entries: u32,
}

#[derive(Deserialize)]
struct Response {
    #[serde(rename = "Ack")]
    ack: String,
    #[serde(rename = "Errors", default)]
    errors: Vec<ErrorXml>,
    #[serde(rename = "ActiveList")]
    active_list: Option<ActiveList>,
}

#[derive(Deserialize)]
struct ErrorXml {
    #[serde(rename = "ErrorCode")]
    code: Option<String>,
    #[serde(rename = "SeverityCode")]
    severity: Option<String>,
}

#[derive(Deserialize)]
struct ActiveList {
    #[serde(rename = "ItemArray")]
    items: Option<ItemArray>,
    #[serde(rename = "PaginationResult")]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct ItemArray {
    #[serde(rename = "Item", default)]
    items: Vec<ItemXml>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(rename = "TotalNumberOfPages")]
    pages: Option<u32>,
    #[serde(rename = "TotalNumberOfEntries")]
    entries: Option<u32>,
}

#[derive(Deserialize)]
struct ItemXml {
    #[serde(rename = "ItemID")]
    item_id: Option<String>,
    #[serde(rename = "Title")]
    title: Option<String>,
    #[serde(rename = "SKU")]
    sku: Option<String>,
    #[serde(rename = "Variations")]
    variations: Option<Variations>,
}

#[derive(Deserialize)]
struct Variations {
    #[serde(rename = "Variation", default)]
    variations: Vec<VariationXml>,
}

#[derive(Deserialize)]
struct VariationXml {
    #[serde(rename = "SKU")]
    sku: Option<String>,
    #[serde(rename = "VariationSpecifics")]
    specifics: Option<Specifics>,
}

#[derive(Deserialize)]
struct Specifics {
    #[serde(rename = "NameValueList", default)]
    pairs: Vec<NameValue>,
}

#[derive(Deserialize)]
struct NameValue {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Value", default)]
    values: Vec<String>,
}

fn text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Reads a `GetMyeBaySellingResponse`. `Ack` Failure (eBay answers it with HTTP 200) is a
/// [`PlatformError::CallFailed`] with eBay's first error code; `Warning` is a success.
pub fn parse_active_list(body: &[u8]) -> Result<ActiveListPage, PlatformError> {
    let text_body =
        std::str::from_utf8(body).map_err(|_| field("GetMyeBaySellingResponse", "UTF-8 XML"))?;
    let response: Response = quick_xml::de::from_str(text_body)
        .map_err(|_| field("GetMyeBaySellingResponse", "a GetMyeBaySelling answer"))?;
    if !matches!(response.ack.trim(), "Success" | "Warning") {
        let code = response
            .errors
            .iter()
            .find(|e| e.severity.as_deref().map(str::trim) != Some("Warning"))
            .or(response.errors.first())
            .and_then(|e| e.code.as_deref())
            .map(str::trim)
            // Only digits are copied out of the answer.
            .filter(|c| !c.is_empty() && c.len() <= 12 && c.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("unknown")
            .to_owned();
        return Err(PlatformError::CallFailed {
            credentials: CREDENTIAL_ERRORS.contains(&code.as_str()),
            code,
        });
    }
    let Some(active) = response.active_list else {
        // A seller with nothing for sale gets no ActiveList at all.
        return Ok(ActiveListPage {
            listings: Vec::new(),
            total_pages: 0,
            total_entries: 0,
        });
    };
    let listings = active
        .items
        .map(|array| array.items)
        .unwrap_or_default()
        .into_iter()
        .map(read_item)
        .collect::<Result<Vec<_>, _>>()?;
    let pagination = active.pagination;
    Ok(ActiveListPage {
        total_pages: pagination.as_ref().and_then(|p| p.pages).unwrap_or(1),
        total_entries: pagination
            .and_then(|p| p.entries)
            .unwrap_or(listings.len() as u32),
        listings,
    })
}

fn read_item(item: ItemXml) -> Result<Listing, ParseError> {
    let listing_id = text(item.item_id)
        .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(field("Item.ItemID", "an item id"))?;
    let variations = item
        .variations
        .map(|v| v.variations)
        .unwrap_or_default()
        .into_iter()
        .map(|variation| ListingVariation {
            variation_id: None,
            sku: text(variation.sku),
            attributes: variation
                .specifics
                .map(|s| s.pairs)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|pair| {
                    let values: Vec<String> = pair
                        .values
                        .into_iter()
                        .filter_map(|v| text(Some(v)))
                        .collect();
                    Some((text(pair.name)?, values.join(", ")))
                })
                .collect(),
        })
        .collect();
    Ok(Listing {
        platform: Platform::Ebay,
        listing_id,
        title: text(item.title).unwrap_or_default(),
        sku: text(item.sku),
        variations,
    })
}

impl EbayClient {
    /// Page `page` (from 1) of the seller's active listings, `per_page` (1..=200) a page.
    pub async fn active_listings(
        &self,
        user_token: &str,
        page: u32,
        per_page: u32,
    ) -> Result<ActiveListPage, PlatformError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <GetMyeBaySellingRequest xmlns=\"urn:ebay:apis:eBLBaseComponents\">\
             <ActiveList><Include>true</Include><Pagination>\
             <EntriesPerPage>{}</EntriesPerPage><PageNumber>{}</PageNumber>\
             </Pagination></ActiveList>\
             <DetailLevel>ReturnAll</DetailLevel>\
             </GetMyeBaySellingRequest>",
            per_page.clamp(1, MAX_ENTRIES_PER_PAGE),
            page.max(1),
        );
        let request = self
            .http
            .post(self.base_url.join(&["ws", "api.dll"]))
            .header("X-EBAY-API-CALL-NAME", "GetMyeBaySelling")
            .header("X-EBAY-API-SITEID", SITE_ID)
            .header("X-EBAY-API-COMPATIBILITY-LEVEL", COMPATIBILITY_LEVEL)
            .header("X-EBAY-API-IAF-TOKEN", user_token)
            .header("Content-Type", "text/xml")
            .body(body);
        let (_, answer) = self.http.send(request).await?;
        parse_active_list(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<GetMyeBaySellingResponse xmlns="urn:ebay:apis:eBLBaseComponents">
  <Timestamp>2026-12-01T10:00:00.000Z</Timestamp>
  <Ack>Success</Ack>
  <Version>1349</Version>
  <ActiveList>
    <ItemArray>
      <Item>
        <BuyItNowPrice currencyID="USD">0.0</BuyItNowPrice>
        <ItemID>296512345678</ItemID>
        <ListingType>FixedPriceItem</ListingType>
        <Quantity>100</Quantity>
        <Title>Plugin licence</Title>
        <SKU>PLUGIN</SKU>
        <Variations>
          <Variation>
            <SKU>PLUGIN-1</SKU>
            <Quantity>50</Quantity>
            <VariationSpecifics>
              <NameValueList><Name>Sites</Name><Value>1</Value></NameValueList>
            </VariationSpecifics>
          </Variation>
          <Variation>
            <Quantity>50</Quantity>
            <VariationSpecifics>
              <NameValueList><Name>Sites</Name><Value>5</Value></NameValueList>
            </VariationSpecifics>
          </Variation>
        </Variations>
      </Item>
      <Item><ItemID>296512345679</ItemID><Title>Rust eBook</Title><SKU>EBOOK-RUST-PDF</SKU></Item>
    </ItemArray>
    <PaginationResult><TotalNumberOfPages>3</TotalNumberOfPages><TotalNumberOfEntries>5</TotalNumberOfEntries></PaginationResult>
  </ActiveList>
</GetMyeBaySellingResponse>"#;

    #[test]
    fn reads_active_listings_with_variations() {
        let page = parse_active_list(PAGE.as_bytes()).unwrap();
        assert_eq!((page.total_pages, page.total_entries), (3, 5));
        assert_eq!(page.listings.len(), 2);
        let plugin = &page.listings[0];
        assert_eq!(plugin.listing_id, "296512345678");
        assert_eq!(plugin.sku.as_deref(), Some("PLUGIN"));
        assert_eq!(plugin.variations.len(), 2);
        assert_eq!(plugin.variations[0].sku.as_deref(), Some("PLUGIN-1"));
        assert_eq!(
            plugin.variations[1].attributes,
            [("Sites".to_owned(), "5".to_owned())]
        );
        assert!(page.listings[1].variations.is_empty());
    }

    #[test]
    fn a_failure_names_the_code_only() {
        let failure = r#"<?xml version="1.0" encoding="UTF-8"?>
<GetMyeBaySellingResponse xmlns="urn:ebay:apis:eBLBaseComponents">
  <Ack>Failure</Ack>
  <Errors><ShortMessage>Invalid IAF token.</ShortMessage><LongMessage>IAF token supplied is invalid.</LongMessage>
  <ErrorCode>21916984</ErrorCode><SeverityCode>Error</SeverityCode><ErrorClassification>RequestError</ErrorClassification></Errors>
</GetMyeBaySellingResponse>"#;
        match parse_active_list(failure.as_bytes()) {
            Err(PlatformError::CallFailed { code, credentials }) => {
                assert_eq!(code, "21916984");
                assert!(credentials);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_active_list(b"not xml"),
            Err(PlatformError::Unreadable(_))
        ));
        let empty = "<GetMyeBaySellingResponse><Ack>Success</Ack></GetMyeBaySellingResponse>";
        assert!(
            parse_active_list(empty.as_bytes())
                .unwrap()
                .listings
                .is_empty()
        );
    }
}
