//! Which tenant's connection a delivery to an app-wide endpoint belongs to, by the platform
//! account it names: `GET /internal/v1/etsy/shops/{shop_id}` (Etsy's one webhook endpoint per
//! app) and `GET /internal/v1/ebay/sellers/{user_id}` (the app's one eBay notification
//! endpoint). The edge asks them (and caches the answer) before it queues such a delivery;
//! like every internal route they are served only with a valid edge signature.

use axum::extract::{Path, State};
use shared::ebay::app::is_plausible_user_id;
use shared::etsy::is_plausible_shop_id;
use shared::internal::ConnectionRoute;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connections::current;
use crate::store::{ConnectionRow, PlatformAccount};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(etsy_shop_route))
        .routes(routes!(ebay_seller_route))
}

/// The connection Etsy shop `shop_id` delivers to: the newest active one, else the newest.
#[utoipa::path(get, path = "/internal/v1/etsy/shops/{shop_id}", tag = "internal",
    params(("shop_id" = String, Path, description = "Etsy's numeric shop id")),
    responses(
        (status = 200, description = "`shared::internal::ConnectionRoute` in `data`", body = serde_json::Value),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no connection has this shop", body = super::docs::ErrorEnvelope)))]
pub async fn etsy_shop_route(
    State(state): State<AppState>,
    Path(shop_id): Path<String>,
) -> ApiResult<ConnectionRoute> {
    if !is_plausible_shop_id(&shop_id) {
        return Err(ApiError::NotFound("Etsy shop"));
    }
    let account = PlatformAccount::EtsyShop(&shop_id);
    route_of(&state, account, "etsy", "Etsy shop").await
}

/// The connection eBay user `user_id`'s notifications to the app's endpoint go to: the one
/// active connection of that seller, else their newest.
#[utoipa::path(get, path = "/internal/v1/ebay/sellers/{user_id}", tag = "internal",
    params(("user_id" = String, Path, description = "eBay's immutable userId of the seller (a connection's `account_id`)")),
    responses(
        (status = 200, description = "`shared::internal::ConnectionRoute` in `data`", body = serde_json::Value),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no connection speaks for this eBay user (or it cannot be a userId)", body = super::docs::ErrorEnvelope)))]
pub async fn ebay_seller_route(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> ApiResult<ConnectionRoute> {
    if !is_plausible_user_id(&user_id) {
        return Err(ApiError::NotFound("eBay user"));
    }
    let account = PlatformAccount::EbaySeller(&user_id);
    route_of(&state, account, "ebay", "eBay user").await
}

/// The route to the connection that speaks for `account` on `platform`, across tenants.
async fn route_of(
    state: &AppState,
    account: PlatformAccount<'_>,
    platform: &str,
    missing: &'static str,
) -> ApiResult<ConnectionRoute> {
    let connections = state.store.account_connections(account).await?;
    let chosen = current(connections.iter().map(ConnectionRow::facts), platform)
        .ok_or(ApiError::NotFound(missing))?;
    let tenant_id = connections
        .iter()
        .find(|c| c.id == chosen.id)
        .map(|c| c.tenant_id.clone())
        .ok_or(ApiError::NotFound(missing))?;
    Ok(ApiResponse::ok(ConnectionRoute {
        tenant_id,
        connection_id: chosen.id.to_owned(),
        active: chosen.active,
    }))
}
