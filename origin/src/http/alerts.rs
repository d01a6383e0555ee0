//! `GET /api/v1/alerts`: the alerts (low stock, low tokens, connections to connect again) the
//! pipeline records, readable
//! with the `alerts:read` scope.

use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::scopes::Scope;
use crate::ids::rfc3339;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_alerts))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// `low_stock` (subject: a product id), `low_tokens` (subject: the tenant id),
    /// `order_needs_review` or `order_needs_address` (subject: the order id), or
    /// `connection_needs_reconnect` (subject: a connection id; `detail.reason` says why:
    /// `refresh_token_refused`, `refresh_token_expired`, `refresh_token_ending`,
    /// `no_refresh_token`, `authorization_revoked`).
    pub kind: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub at: String,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "tenant", security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "Low stock, low tokens and connections to connect again, newest first", body = [AlertOut]),
        (status = 401, body = super::docs::ErrorEnvelope), (status = 403, body = super::docs::ErrorEnvelope)))]
pub async fn list_alerts(auth: Auth, State(state): State<AppState>) -> ApiResult<Vec<AlertOut>> {
    auth.require(Scope::AlertsRead)?;
    let alerts = state.store.list_alerts(&auth.tenant_id).await?;
    Ok(ApiResponse::ok(
        alerts
            .into_iter()
            .map(|a| AlertOut {
                kind: a.kind,
                subject: a.subject,
                detail: serde_json::from_str(&a.detail).unwrap_or(Value::Null),
                at: rfc3339(a.at),
            })
            .collect(),
    ))
}
