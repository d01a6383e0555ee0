//! `GET /api/v1/tenant`: who the key belongs to and the token balance.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::ids::rfc3339;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_tenant))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    pub id: String,
    pub name: String,
    /// Tokens left; each delivered item costs one.
    pub token_balance: i64,
    pub created_at: String,
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("api_key" = [])),
    responses((status = 200, description = "The key's tenant", body = TenantOut), super::docs::KeyErrors))]
pub async fn get_tenant(auth: Auth, State(state): State<AppState>) -> ApiResult<TenantOut> {
    let tenant = state
        .store
        .get_tenant(&auth.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(ApiResponse::ok(TenantOut {
        id: tenant.id,
        name: tenant.name,
        token_balance: tenant.tokens,
        created_at: rfc3339(tenant.created_at),
    }))
}
