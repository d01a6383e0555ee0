//! `getListingsByShop` (active listings) and `getListingInventory` (PLATFORMS.md §2.5): a
//! shop's listings and the inventory products that are their variations.

use serde_json::Value;
use shared::internal::Platform;

use super::EtsyClient;
use crate::domain::listings::{Listing, ListingVariation};
use crate::platforms::client::PlatformError;
use crate::platforms::{ParseError, field, id_string, non_empty, parse_json};

/// Etsy's largest `limit`.
pub const MAX_LISTINGS_PER_PAGE: u32 = 100;

/// One page of active listings; `total` counts every active listing of the shop.
#[derive(Debug)]
pub struct ListingsPage {
    pub total: u64,
    pub listings: Vec<Listing>,
}

/// Reads a `getListingsByShop` answer (`{count, results}`), variations still to be read.
pub fn parse_listings(body: &[u8]) -> Result<ListingsPage, ParseError> {
    let value = parse_json(body)?;
    let total = value["count"]
        .as_u64()
        .ok_or(field("count", "an integer"))?;
    let listings = value["results"]
        .as_array()
        .ok_or(field("results", "an array"))?
        .iter()
        .map(|listing| {
            let skus: Vec<String> = listing["skus"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(non_empty)
                .collect();
            Ok(Listing {
                platform: Platform::Etsy,
                listing_id: id_string(&listing["listing_id"])
                    .ok_or(field("results[].listing_id", "an id"))?,
                title: non_empty(&listing["title"]).unwrap_or_default(),
                sku: (skus.len() == 1).then(|| skus[0].clone()),
                variations: Vec::new(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ListingsPage { total, listings })
}

/// Reads a `getListingInventory` answer: its products with property values are the listing's
/// variations; a single product without them is the listing itself (its SKU the listing's).
pub fn parse_inventory(body: &[u8]) -> Result<(Option<String>, Vec<ListingVariation>), ParseError> {
    let value = parse_json(body)?;
    let products: Vec<&Value> = value["products"]
        .as_array()
        .ok_or(field("products", "an array"))?
        .iter()
        .filter(|p| p["is_deleted"].as_bool() != Some(true))
        .collect();
    let variations: Vec<ListingVariation> = products
        .iter()
        .map(|product| {
            let attributes = product["property_values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|property| {
                    let values: Vec<String> = property["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(non_empty)
                        .collect();
                    Some((non_empty(&property["property_name"])?, values.join(", ")))
                })
                .collect::<Vec<_>>();
            Ok(ListingVariation {
                variation_id: Some(
                    id_string(&product["product_id"])
                        .ok_or(field("products[].product_id", "an id"))?,
                ),
                sku: non_empty(&product["sku"]),
                attributes,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    match variations.as_slice() {
        [only] if only.attributes.is_empty() => Ok((only.sku.clone(), Vec::new())),
        _ => Ok((None, variations)),
    }
}

impl EtsyClient {
    /// `limit` active listings of `shop_id` from `offset`.
    pub async fn active_listings(
        &self,
        shop_id: &str,
        access_token: &str,
        limit: u32,
        offset: u64,
    ) -> Result<ListingsPage, PlatformError> {
        super::check_shop_id(shop_id)?;
        let request = self
            .http
            .get(
                self.base_url
                    .join(&["v3", "application", "shops", shop_id, "listings"]),
            )
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token)
            .query(&[
                ("state", "active".to_owned()),
                ("limit", limit.clamp(1, MAX_LISTINGS_PER_PAGE).to_string()),
                ("offset", offset.to_string()),
            ]);
        let (_, body) = self.http.send(request).await?;
        Ok(parse_listings(&body)?)
    }

    /// The inventory of `listing`: its SKU when it has no variations, else its variations. A
    /// listing without an inventory record (404) has neither.
    pub async fn fill_inventory(
        &self,
        listing: &mut Listing,
        access_token: &str,
    ) -> Result<(), PlatformError> {
        let request = self
            .http
            .get(self.base_url.join(&[
                "v3",
                "application",
                "listings",
                &listing.listing_id,
                "inventory",
            ]))
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token);
        match self.http.send(request).await {
            Ok((_, body)) => {
                let (sku, variations) = parse_inventory(&body)?;
                listing.sku = sku.or(listing.sku.take());
                listing.variations = variations;
                Ok(())
            }
            Err(PlatformError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listings_and_inventory() {
        let page = parse_listings(
            br#"{"count":3,"results":[{"listing_id":1234567890,"title":"Planner","state":"active","skus":["PLAN"]},
                {"listing_id":1234567891,"title":"Fonts","state":"active","skus":["F-1","F-2"]}]}"#,
        )
        .unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.listings[0].sku.as_deref(), Some("PLAN"));
        assert_eq!(page.listings[1].sku, None);
        let (sku, variations) = parse_inventory(
            br#"{"products":[{"product_id":11,"sku":"F-1","is_deleted":false,"property_values":[{"property_id":513,"property_name":"Licence","values":["Personal"]}]},
                {"product_id":12,"sku":"F-2","is_deleted":false,"property_values":[{"property_id":513,"property_name":"Licence","values":["Commercial"]}]}]}"#,
        )
        .unwrap();
        assert_eq!(sku, None);
        assert_eq!(variations.len(), 2);
        assert_eq!(variations[1].variation_id.as_deref(), Some("12"));
        assert_eq!(
            variations[1].attributes,
            [("Licence".to_owned(), "Commercial".to_owned())]
        );
        let (sku, variations) = parse_inventory(
            br#"{"products":[{"product_id":13,"sku":"PLAN","property_values":[]}]}"#,
        )
        .unwrap();
        assert_eq!((sku.as_deref(), variations.len()), (Some("PLAN"), 0));
    }
}
