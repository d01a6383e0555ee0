//! `GET /wp-json/wc/v3/products` and `…/products/{id}/variations` (PLATFORMS.md §3.3): the
//! store's published products and their variations, read into [`Listing`]s.

use serde_json::Value;
use shared::internal::Platform;

use super::WooRestClient;
use crate::domain::listings::{Listing, ListingVariation};
use crate::platforms::client::PlatformError;
use crate::platforms::{ParseError, field, id_string, non_empty, parse_json};

/// One page of published products; variable products' variations still to be read.
#[derive(Debug)]
pub struct ProductsPage {
    pub products: Vec<WooProduct>,
    /// `X-WP-TotalPages` (1 when absent).
    pub total_pages: u32,
}

#[derive(Debug)]
pub struct WooProduct {
    pub listing: Listing,
    /// A variable product: its variations are listed by [`WooRestClient::variations`].
    pub variable: bool,
}

/// Variations read per request: WooCommerce's maximum.
const VARIATIONS_PER_PAGE: u32 = 100;
/// The most variation pages read for one product (WooCommerce caps a product at 100
/// variations by default; 10 pages leave room for stores that raised it).
const MAX_VARIATION_PAGES: u32 = 10;

/// Reads a products list (a JSON array of products).
pub fn parse_products(body: &[u8]) -> Result<Vec<WooProduct>, ParseError> {
    let Value::Array(products) = parse_json(body)? else {
        return Err(field("(root)", "an array of products"));
    };
    products
        .iter()
        .map(|product| {
            let id = id_string(&product["id"]).ok_or(field("[].id", "a product id"))?;
            let variable = product["type"] == "variable"
                || product["variations"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty());
            Ok(WooProduct {
                listing: Listing {
                    platform: Platform::Woocommerce,
                    listing_id: id,
                    title: non_empty(&product["name"]).unwrap_or_default(),
                    sku: non_empty(&product["sku"]),
                    variations: Vec::new(),
                },
                variable,
            })
        })
        .collect()
}

/// Reads a variations list (a JSON array of variations).
pub fn parse_variations(body: &[u8]) -> Result<Vec<ListingVariation>, ParseError> {
    let Value::Array(variations) = parse_json(body)? else {
        return Err(field("(root)", "an array of variations"));
    };
    variations
        .iter()
        .map(|variation| {
            let id = id_string(&variation["id"]).ok_or(field("[].id", "a variation id"))?;
            let attributes = variation["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| Some((non_empty(&a["name"])?, non_empty(&a["option"])?)))
                .collect();
            Ok(ListingVariation {
                variation_id: Some(id),
                sku: non_empty(&variation["sku"]),
                attributes,
            })
        })
        .collect()
}

fn total_pages(headers: &reqwest::header::HeaderMap) -> u32 {
    headers
        .get("x-wp-totalpages")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

impl WooRestClient {
    /// Page `page` (from 1) of the published products, `per_page` (1..=100) a page, matching
    /// `search` when given (WooCommerce searches names and descriptions).
    pub async fn published_products(
        &self,
        page: u32,
        per_page: u32,
        search: Option<&str>,
    ) -> Result<ProductsPage, PlatformError> {
        let mut query = vec![
            ("per_page", per_page.to_string()),
            ("page", page.to_string()),
            ("status", "publish".to_owned()),
            ("orderby", "title".to_owned()),
            ("order", "asc".to_owned()),
        ];
        if let Some(search) = search {
            query.push(("search", search.to_owned()));
        }
        let request = self
            .http
            .get(self.store_url.join(&["wp-json", "wc", "v3", "products"]))
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .query(&query);
        let (headers, body) = self.http.send(request).await?;
        Ok(ProductsPage {
            products: parse_products(&body)?,
            total_pages: total_pages(&headers),
        })
    }

    /// Every variation of product `product_id`, page by page.
    pub async fn variations(
        &self,
        product_id: &str,
    ) -> Result<Vec<ListingVariation>, PlatformError> {
        let mut variations = Vec::new();
        let mut page = 1;
        loop {
            let request = self
                .http
                .get(self.store_url.join(&[
                    "wp-json",
                    "wc",
                    "v3",
                    "products",
                    product_id,
                    "variations",
                ]))
                .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
                .query(&[
                    ("per_page", VARIATIONS_PER_PAGE.to_string()),
                    ("page", page.to_string()),
                ]);
            let (headers, body) = self.http.send(request).await?;
            variations.extend(parse_variations(&body)?);
            if page >= total_pages(&headers) || page >= MAX_VARIATION_PAGES {
                return Ok(variations);
            }
            page += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_products_and_variations() {
        let products = parse_products(
            br#"[{"id":501,"name":"Plugin Pro","type":"variable","sku":"PBP","variations":[503,504]},
                 {"id":777,"name":"Rust in Production (eBook)","type":"simple","sku":"","variations":[]}]"#,
        )
        .unwrap();
        assert_eq!(products.len(), 2);
        assert!(products[0].variable);
        assert_eq!(products[0].listing.sku.as_deref(), Some("PBP"));
        assert!(!products[1].variable);
        assert_eq!(products[1].listing.sku, None, "an empty SKU is none");
        let variations = parse_variations(
            br#"[{"id":503,"sku":"PBP-1SITE","attributes":[{"id":1,"name":"Licence","option":"1 site"}]}]"#,
        )
        .unwrap();
        assert_eq!(variations[0].variation_id.as_deref(), Some("503"));
        assert_eq!(
            variations[0].attributes,
            [("Licence".to_owned(), "1 site".to_owned())]
        );
        assert_eq!(
            parse_products(b"{}").unwrap_err(),
            field("(root)", "an array of products")
        );
    }
}
