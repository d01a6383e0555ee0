//! `GET /api/v1/connections/{id}/listings`: the listing picker. What the connected store has
//! for sale (WooCommerce products and variations, eBay active listings and variations, Etsy
//! active listings and inventory products), read from the platform page by page, each entry
//! with the id that maps a product to it when picked (`listing_ids` of the product routes,
//! `domain::listings`) and the product its orders go to now.

mod cursor;
mod read;

use std::collections::HashMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::intake::product_for_line;
use crate::domain::listings::{Listing, Pick, order_line};
use crate::domain::mappings::PlatformMappings;
use crate::domain::scopes::Scope;
use crate::http::auth::Auth;
use crate::http::connections::open_secrets;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, DEFAULT_LIMIT, MAX_LIMIT};
use crate::http::response::{ApiResponse, ApiResult};
use crate::http::state::AppState;
use cursor::Position;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_listings))
}

/// The longest search accepted.
const MAX_SEARCH_CHARS: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListingParams {
    /// Listings a page, 1 to 100, default 25; the first page's limit holds for the pages
    /// its cursor leads to. A searched page may hold fewer and still have a next one.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (of the same connection and search).
    pub cursor: Option<String>,
    /// Case-insensitive search: WooCommerce searches its products itself (names and
    /// descriptions); eBay and Etsy
    /// listings match on title or SKU (eBay also on a variation's SKU or values).
    #[param(max_length = 100)]
    pub q: Option<String>,
}

/// A product the entry's orders are delivered as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MappedProduct {
    pub id: String,
    pub sku: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeOut {
    pub name: String,
    pub value: String,
}

/// One listing of the connected store, with its variations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingOut {
    /// The entry id: give it in `listing_ids` of `POST /api/v1/products` or
    /// `PATCH /api/v1/products/{id}` to map the product to this listing (every variation
    /// included), e.g. `woocommerce:501`, `ebay:296512345678`, `etsy:1234567890`.
    pub id: String,
    /// `woocommerce`, `ebay` or `etsy`.
    pub platform: String,
    /// The platform's id: WooCommerce product id, eBay ItemID, Etsy listing_id.
    pub listing_id: String,
    pub title: String,
    pub sku: Option<String>,
    /// The mapping fields picking this entry sets (the typed form of `mappings`).
    pub mapping: PlatformMappings,
    /// Whether an order of this listing (without a variation) is delivered as a product now.
    pub mapped: bool,
    /// That product, or null.
    pub mapped_to: Option<MappedProduct>,
    pub variations: Vec<VariationOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariationOut {
    /// The entry id of this variation alone (`woocommerce:501:503`, `ebay:{item}:{sku}`), or
    /// null when no mapping can name it apart from its listing (an eBay variation without a
    /// SKU, an Etsy inventory product): its orders go where the listing's go.
    pub id: Option<String>,
    /// WooCommerce variation id, Etsy product_id (eBay's Trading API names none).
    pub variation_id: Option<String>,
    pub sku: Option<String>,
    pub attributes: Vec<AttributeOut>,
    /// The mapping fields picking this variation sets, when it has an entry id.
    pub mapping: Option<PlatformMappings>,
    /// Whether an order of this variation is delivered as a product now.
    pub mapped: bool,
    pub mapped_to: Option<MappedProduct>,
}

#[utoipa::path(get, path = "/api/v1/connections/{id}/listings", tag = "connections",
    params(("id" = String, Path, description = "Connection id"), ListingParams),
    security(("api_key" = ["connections:read", "products:read"])),
    responses((status = 200, description = "A page of the store's listings as the platform orders them, each saying whether (and as which product) its orders are delivered; follow `meta.next_cursor` for more", body = [ListingOut]),
        super::docs::KeyErrors, super::docs::BadInput, super::docs::Missing,
        (status = 409, description = "CONFLICT: the connection holds no credentials to list with (WooCommerce REST keys, an eBay or Etsy token)", body = super::docs::ErrorEnvelope),
        (status = 502, description = "PLATFORM_REFUSED: the platform refused the call (credentials refused, a request it will not take) or answered something unreadable; the message names the platform", body = super::docs::ErrorEnvelope),
        (status = 503, description = "UPSTREAM_UNAVAILABLE: the platform could not be reached or is rate limiting; `error.hint` says when to retry", body = super::docs::ErrorEnvelope)))]
pub async fn list_listings(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListingParams>,
) -> ApiResult<Vec<ListingOut>> {
    auth.require(Scope::ConnectionsRead)?;
    auth.require(Scope::ProductsRead)?;
    let search = params
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    if search
        .as_deref()
        .is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(ApiError::validation(
            "q",
            format!("q must be at most {MAX_SEARCH_CHARS} characters"),
            "search for a shorter part of the title or SKU",
        ));
    }
    if let Some(limit) = params.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::validation(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            format!("use a limit from 1 to {MAX_LIMIT} and follow meta.next_cursor for more"),
        ));
    }
    let at = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => Position {
            per_page: params.limit.unwrap_or(DEFAULT_LIMIT),
            offset: 0,
        },
        Some(raw) => {
            let at = cursor::decode(raw, &id, search.as_deref(), MAX_LIMIT)?;
            if params.limit.is_some_and(|limit| limit != at.per_page) {
                return Err(ApiError::validation(
                    "limit",
                    format!("this cursor continues pages of {} listings", at.per_page),
                    "send the first page's limit with its cursor, or none",
                ));
            }
            at
        }
    };
    let connection = state
        .store
        .get_connection(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let secrets = open_secrets(&state, &connection)?;
    let page = read::page(&state, &connection, &secrets, at, search.as_deref()).await?;
    let data = entries(&state, &auth.tenant_id, page.listings).await?;
    let next = page
        .next
        .map(|next| cursor::encode(&id, search.as_deref(), next));
    Ok(ApiResponse::ok(data).with_next_cursor(next))
}

/// The listings as answered: entry ids, mapping fields, and the product each entry's orders
/// go to, by the same matching intake uses.
async fn entries(
    state: &AppState,
    tenant_id: &str,
    listings: Vec<Listing>,
) -> Result<Vec<ListingOut>, ApiError> {
    let products = state.store.mappable_products(tenant_id).await?;
    let mut named: HashMap<String, Option<MappedProduct>> = HashMap::new();
    let mut out = Vec::with_capacity(listings.len());
    for listing in listings {
        let Some(pick) = Pick::of_listing(&listing) else {
            tracing::warn!(listing = %listing.listing_id, "listing picker: a listing id no mapping takes");
            continue;
        };
        let platform = listing.platform;
        let listing_product = product_for_line(platform, &order_line(&listing, None), &products);
        let mut variations = Vec::with_capacity(listing.variations.len());
        for variation in &listing.variations {
            let variation_pick = Pick::of_variation(&listing, variation);
            let product =
                product_for_line(platform, &order_line(&listing, Some(variation)), &products);
            variations.push(VariationOut {
                id: variation_pick.as_ref().map(Pick::id),
                variation_id: variation.variation_id.clone(),
                sku: variation.sku.clone(),
                attributes: variation
                    .attributes
                    .iter()
                    .map(|(name, value)| AttributeOut {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                mapping: variation_pick.as_ref().map(Pick::mappings),
                mapped: product.is_some(),
                mapped_to: mapped_product(state, tenant_id, &mut named, product).await?,
            });
        }
        out.push(ListingOut {
            id: pick.id(),
            platform: platform.as_str().to_owned(),
            mapping: pick.mappings(),
            mapped: listing_product.is_some(),
            mapped_to: mapped_product(state, tenant_id, &mut named, listing_product).await?,
            listing_id: listing.listing_id,
            title: listing.title,
            sku: listing.sku,
            variations,
        });
    }
    Ok(out)
}

/// The product `id` names (each read once per answer).
async fn mapped_product(
    state: &AppState,
    tenant_id: &str,
    named: &mut HashMap<String, Option<MappedProduct>>,
    id: Option<String>,
) -> Result<Option<MappedProduct>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    if !named.contains_key(&id) {
        let row = state.store.get_product(tenant_id, &id).await?;
        named.insert(
            id.clone(),
            row.map(|row| MappedProduct {
                id: row.id,
                sku: row.sku,
                name: row.name,
            }),
        );
    }
    Ok(named[&id].clone())
}
