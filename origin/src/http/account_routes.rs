//! `GET /internal/v1/etsy/shops/{shop_id}`: which tenant's connection a delivery to Etsy's one
//! webhook endpoint per app belongs to. The edge asks it (and caches the answer) before it
//! queues an Etsy delivery; like every internal route it is served only with a valid edge
//! signature.

use axum::extract::{Path, State};
use shared::etsy::{EtsyShopRoute, is_plausible_shop_id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connections::current;
use crate::store::ConnectionRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(etsy_shop_route))
}

/// The connection Etsy shop `shop_id` delivers to: the newest active one, else the newest.
#[utoipa::path(get, path = "/internal/v1/etsy/shops/{shop_id}", tag = "internal",
    params(("shop_id" = String, Path, description = "Etsy's numeric shop id")),
    responses(
        (status = 200, description = "`shared::etsy::EtsyShopRoute` in `data`", body = serde_json::Value),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no connection has this shop", body = super::docs::ErrorEnvelope)))]
pub async fn etsy_shop_route(
    State(state): State<AppState>,
    Path(shop_id): Path<String>,
) -> ApiResult<EtsyShopRoute> {
    if !is_plausible_shop_id(&shop_id) {
        return Err(ApiError::NotFound("Etsy shop"));
    }
    let connections = state.store.etsy_shop_connections(&shop_id).await?;
    let chosen = current(connections.iter().map(ConnectionRow::facts), "etsy")
        .ok_or(ApiError::NotFound("Etsy shop"))?;
    let tenant_id = connections
        .iter()
        .find(|c| c.id == chosen.id)
        .map(|c| c.tenant_id.clone())
        .ok_or(ApiError::NotFound("Etsy shop"))?;
    Ok(ApiResponse::ok(EtsyShopRoute {
        tenant_id,
        connection_id: chosen.id.to_owned(),
        active: chosen.active,
    }))
}
