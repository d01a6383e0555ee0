//! `GET /api/v1/tenant`: who the key belongs to and the token balance.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::ids::{now_ms, rfc3339};
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
    /// Uploaded files: what the tenant keeps and what it may.
    pub storage: StorageOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StorageOut {
    /// Bytes of uploaded files.
    pub used_bytes: i64,
    /// Bytes the tenant may keep; an upload past it is refused (409 STORAGE_QUOTA_EXCEEDED).
    pub quota_bytes: i64,
    /// Files uploaded, or awaiting an upload whose URL still works.
    pub files: i64,
    /// Files the tenant may have.
    pub max_files: i64,
}

#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("api_key" = [])),
    responses((status = 200, description = "The key's tenant", body = TenantOut), super::docs::KeyErrors))]
pub async fn get_tenant(auth: Auth, State(state): State<AppState>) -> ApiResult<TenantOut> {
    let tenant = state
        .store
        .get_tenant(&auth.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let usage = super::products::files::usage_now(&state, &tenant.id, now_ms()).await?;
    let quota = state.storage_quota;
    Ok(ApiResponse::ok(TenantOut {
        id: tenant.id,
        name: tenant.name,
        token_balance: tenant.tokens,
        created_at: rfc3339(tenant.created_at),
        storage: StorageOut {
            used_bytes: usage.bytes,
            quota_bytes: quota.max_bytes,
            files: usage.files,
            max_files: quota.max_files,
        },
    }))
}
