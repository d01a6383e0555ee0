//! Listing pickers: what a connected store offers for sale, reduced to what a product mapping
//! (`domain::mappings`) takes, and the entry ids the API answers so that a product can be
//! mapped by picking an entry instead of typing platform ids.
//!
//! An entry id names exactly the mapping fields it sets: `woocommerce:{product}` or
//! `woocommerce:{product}:{variation}`, `ebay:{item}` (every variation of the item) or
//! `ebay:{item}:{variation sku}`, `etsy:{listing}`. What a mapping cannot tell apart (an eBay
//! variation without a SKU, an Etsy inventory product) has no entry id of its own: its orders
//! go wherever its listing's do.

use shared::internal::Platform;

use super::mappings::PlatformMappings;
use super::orders::{ListingRef, PlatformItem};

/// A listing as a platform lists it, with its variations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub platform: Platform,
    /// WooCommerce product id, eBay ItemID, Etsy listing_id.
    pub listing_id: String,
    pub title: String,
    pub sku: Option<String>,
    pub variations: Vec<ListingVariation>,
}

/// One variation of a listing: a WooCommerce variation, an eBay variation, an Etsy inventory
/// product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingVariation {
    /// WooCommerce variation id, Etsy product_id; eBay's Trading API names none.
    pub variation_id: Option<String>,
    pub sku: Option<String>,
    /// `(name, value)` pairs, e.g. `("Licence", "1 site")`.
    pub attributes: Vec<(String, String)>,
}

/// What picking an entry maps: the mapping fields of one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Woocommerce {
        product_id: i64,
        variation_id: Option<i64>,
    },
    /// The whole item, every variation included.
    EbayItem {
        item_id: String,
    },
    /// One variation of an item, by its SKU (what eBay order lines carry of it).
    EbayVariation {
        item_id: String,
        sku: String,
    },
    Etsy {
        listing_id: i64,
    },
}

/// Why an entry id cannot be picked (the message says which part).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickRefused {
    #[error("`{0}` is not a listing entry id")]
    Unreadable(String),
    #[error("two listing entries of {0} were picked; a product maps one per platform")]
    TwoOfOnePlatform(&'static str),
    #[error("the typed mappings and a picked listing entry both name {0}")]
    TypedAndPicked(&'static str),
}

impl Pick {
    /// The entry of a listing itself.
    pub fn of_listing(listing: &Listing) -> Option<Pick> {
        match listing.platform {
            Platform::Woocommerce => Some(Pick::Woocommerce {
                product_id: listing.listing_id.parse().ok()?,
                variation_id: None,
            }),
            Platform::Ebay => Some(Pick::EbayItem {
                item_id: listing.listing_id.clone(),
            }),
            Platform::Etsy => Some(Pick::Etsy {
                listing_id: listing.listing_id.parse().ok()?,
            }),
        }
    }

    /// The entry of one variation, when a mapping can name it on its own.
    pub fn of_variation(listing: &Listing, variation: &ListingVariation) -> Option<Pick> {
        match listing.platform {
            Platform::Woocommerce => Some(Pick::Woocommerce {
                product_id: listing.listing_id.parse().ok()?,
                variation_id: Some(variation.variation_id.as_deref()?.parse().ok()?),
            }),
            Platform::Ebay => Some(Pick::EbayVariation {
                item_id: listing.listing_id.clone(),
                sku: variation.sku.clone()?,
            }),
            Platform::Etsy => None,
        }
    }

    /// The entry id the API answers and takes back.
    pub fn id(&self) -> String {
        match self {
            Pick::Woocommerce {
                product_id,
                variation_id: None,
            } => format!("woocommerce:{product_id}"),
            Pick::Woocommerce {
                product_id,
                variation_id: Some(variation),
            } => format!("woocommerce:{product_id}:{variation}"),
            Pick::EbayItem { item_id } => format!("ebay:{item_id}"),
            Pick::EbayVariation { item_id, sku } => format!("ebay:{item_id}:{sku}"),
            Pick::Etsy { listing_id } => format!("etsy:{listing_id}"),
        }
    }

    /// Reads an entry id ([`Pick::id`]).
    pub fn parse(id: &str) -> Result<Pick, PickRefused> {
        let unreadable = || PickRefused::Unreadable(id.chars().take(100).collect());
        let positive = |text: &str| {
            text.parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(unreadable)
        };
        let mut parts = id.splitn(3, ':');
        let (platform, first, rest) = (parts.next(), parts.next(), parts.next());
        match (platform, first, rest) {
            (Some("woocommerce"), Some(product), None) => Ok(Pick::Woocommerce {
                product_id: positive(product)?,
                variation_id: None,
            }),
            (Some("woocommerce"), Some(product), Some(variation)) => Ok(Pick::Woocommerce {
                product_id: positive(product)?,
                variation_id: Some(positive(variation)?),
            }),
            (Some("ebay"), Some(item), sku) => {
                // eBay item ids are 9 to 19 digits.
                if item.is_empty() || item.len() > 19 || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unreadable());
                }
                match sku {
                    None => Ok(Pick::EbayItem {
                        item_id: item.to_owned(),
                    }),
                    Some(sku) if !sku.trim().is_empty() && sku.len() <= 80 => {
                        Ok(Pick::EbayVariation {
                            item_id: item.to_owned(),
                            sku: sku.to_owned(),
                        })
                    }
                    Some(_) => Err(unreadable()),
                }
            }
            (Some("etsy"), Some(listing), None) => Ok(Pick::Etsy {
                listing_id: positive(listing)?,
            }),
            _ => Err(unreadable()),
        }
    }

    pub fn platform(&self) -> Platform {
        match self {
            Pick::Woocommerce { .. } => Platform::Woocommerce,
            Pick::EbayItem { .. } | Pick::EbayVariation { .. } => Platform::Ebay,
            Pick::Etsy { .. } => Platform::Etsy,
        }
    }

    /// The mapping fields this entry sets (the other platforms' left empty). An eBay variation
    /// maps by SKU alone: an item id beside it would match every variation of the item.
    pub fn mappings(&self) -> PlatformMappings {
        let mut mappings = PlatformMappings::default();
        match self {
            Pick::Woocommerce {
                product_id,
                variation_id,
            } => {
                mappings.woocommerce_product_id = Some(*product_id);
                mappings.woocommerce_variation_id = *variation_id;
            }
            Pick::EbayItem { item_id } => mappings.ebay_item_id = Some(item_id.clone()),
            Pick::EbayVariation { sku, .. } => mappings.ebay_sku = Some(sku.clone()),
            Pick::Etsy { listing_id } => mappings.etsy_listing_id = Some(*listing_id),
        }
        mappings
    }
}

/// An order line of `listing` (of its `variation`, if any) as intake would see it: what the
/// product mappings are matched against to say where such an order goes.
pub fn order_line(listing: &Listing, variation: Option<&ListingVariation>) -> PlatformItem {
    PlatformItem {
        line_item_id: String::new(),
        listing: ListingRef {
            product_id: listing.listing_id.clone(),
            variation_id: variation.and_then(|v| v.variation_id.clone()),
        },
        title: listing.title.clone(),
        sku: match variation {
            Some(variation) => variation.sku.clone(),
            None => listing.sku.clone(),
        },
        quantity: 1,
        refunded: 0,
    }
}

/// Whether `mappings` sets any field of `platform`.
fn names_platform(mappings: &PlatformMappings, platform: Platform) -> bool {
    match platform {
        Platform::Woocommerce => {
            mappings.woocommerce_product_id.is_some() || mappings.woocommerce_variation_id.is_some()
        }
        Platform::Ebay => mappings.ebay_item_id.is_some() || mappings.ebay_sku.is_some(),
        Platform::Etsy => mappings.etsy_listing_id.is_some(),
    }
}

/// `base` with the picked entries' fields in place of their platforms' fields. `typed` says
/// whether `base` was typed in the same request: then a platform named by both is refused
/// rather than one silently winning. At most one entry per platform.
pub fn with_picks(
    mut base: PlatformMappings,
    typed: bool,
    picks: &[Pick],
) -> Result<PlatformMappings, PickRefused> {
    let mut seen = Vec::new();
    for pick in picks {
        let platform = pick.platform();
        if seen.contains(&platform) {
            return Err(PickRefused::TwoOfOnePlatform(platform_name(platform)));
        }
        seen.push(platform);
        if typed && names_platform(&base, platform) {
            return Err(PickRefused::TypedAndPicked(platform_name(platform)));
        }
        let picked = pick.mappings();
        match platform {
            Platform::Woocommerce => {
                base.woocommerce_product_id = picked.woocommerce_product_id;
                base.woocommerce_variation_id = picked.woocommerce_variation_id;
            }
            Platform::Ebay => {
                base.ebay_item_id = picked.ebay_item_id;
                base.ebay_sku = picked.ebay_sku;
            }
            Platform::Etsy => base.etsy_listing_id = picked.etsy_listing_id,
        }
    }
    Ok(base)
}

/// The platform's name as sellers know it.
pub fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Woocommerce => "WooCommerce",
        Platform::Ebay => "eBay",
        Platform::Etsy => "Etsy",
    }
}

/// Whether `listing` matches a search: `query` (lowercased) in its title or SKU, or in a
/// variation's SKU or attribute values.
pub fn matches_search(listing: &Listing, query: &str) -> bool {
    let has = |text: &str| text.to_lowercase().contains(query);
    has(&listing.title)
        || listing.sku.as_deref().is_some_and(has)
        || listing.variations.iter().any(|v| {
            v.sku.as_deref().is_some_and(has) || v.attributes.iter().any(|(_, value)| has(value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_round_trip_and_refuse_what_no_listing_has() {
        for id in [
            "woocommerce:501",
            "woocommerce:501:503",
            "ebay:296512345678",
            "ebay:296512345678:PBP:1-SITE",
            "etsy:1234567890",
        ] {
            assert_eq!(Pick::parse(id).unwrap().id(), id);
        }
        for id in [
            "",
            "woocommerce",
            "woocommerce:0",
            "woocommerce:-1",
            "woocommerce:+5",
            "woocommerce:5:x",
            "ebay:",
            "ebay:12a",
            "ebay:1: ",
            "etsy:1:2",
            "shopify:1",
        ] {
            assert!(Pick::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn an_ebay_variation_maps_by_sku_alone() {
        let pick = Pick::parse("ebay:296512345678:EBOOK-PDF").unwrap();
        let mappings = pick.mappings();
        assert_eq!(mappings.ebay_sku.as_deref(), Some("EBOOK-PDF"));
        assert_eq!(mappings.ebay_item_id, None);
    }

    #[test]
    fn picks_replace_their_platform_and_keep_the_others() {
        let stored = PlatformMappings {
            woocommerce_product_id: Some(7),
            ebay_item_id: Some("1".into()),
            ebay_sku: Some("OLD".into()),
            ..PlatformMappings::default()
        };
        let picked =
            with_picks(stored.clone(), false, &[Pick::parse("ebay:2:NEW").unwrap()]).unwrap();
        assert_eq!(picked.woocommerce_product_id, Some(7));
        assert_eq!(picked.ebay_item_id, None);
        assert_eq!(picked.ebay_sku.as_deref(), Some("NEW"));
        let twice = [
            Pick::parse("etsy:1").unwrap(),
            Pick::parse("etsy:2").unwrap(),
        ];
        assert_eq!(
            with_picks(PlatformMappings::default(), true, &twice),
            Err(PickRefused::TwoOfOnePlatform("Etsy"))
        );
        assert_eq!(
            with_picks(stored, true, &[Pick::parse("woocommerce:9").unwrap()]),
            Err(PickRefused::TypedAndPicked("WooCommerce"))
        );
    }
}
