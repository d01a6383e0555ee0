//! Mapping by picking: a product's `listing_ids` (entry ids of the listing pickers,
//! `GET /api/v1/connections/{id}/listings`) turned into its platform mappings.

use crate::domain::listings::{Pick, PickRefused, with_picks};
use crate::domain::mappings::PlatformMappings;
use crate::http::error::ApiError;

/// `base` with the fields of every picked entry in `listing_ids`; `typed` says that `base`
/// was typed in the same request (a platform named twice is then refused).
pub fn picked_mappings(
    base: PlatformMappings,
    typed: bool,
    listing_ids: &[String],
) -> Result<PlatformMappings, ApiError> {
    let picks = listing_ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            Pick::parse(id).map_err(|refused| {
                ApiError::validation(
                    format!("listing_ids[{index}]"),
                    refused.to_string(),
                    "use a data[].id or data[].variations[].id of GET /api/v1/connections/{id}/listings",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    with_picks(base, typed, &picks).map_err(|refused| {
        let hint = match refused {
            PickRefused::TypedAndPicked(_) => {
                "leave that platform out of mappings, or pick no entry of it"
            }
            _ => "pick one entry per platform",
        };
        ApiError::validation("listing_ids", refused.to_string(), hint)
    })
}
