//! `GET /healthz`: the process is up and the database answers.

use serde::Serialize;
use utoipa::ToSchema;

use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Serving", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Health> {
    state.store.get_tenant("health-probe").await?;
    Ok(ApiResponse::ok(Health { status: "ok" }))
}
