//! The pipeline's own API routes: replaying an event (dead letters included) and the alerts
//! (low stock, low tokens) the pipeline records.

use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::events::EventOut;
use super::response::{ApiResponse, ApiResult};
use crate::app::AppState;
use crate::ids::rfc3339;

#[utoipa::path(post, path = "/api/v1/events/{id}/replay", tag = "events",
    params(("id" = String, Path, description = "Event id")), security(("api_key" = ["events:write"])),
    responses((status = 200, description = "Queued again for processing; deliveries already made are not repeated", body = EventOut),
        (status = 401, body = super::docs::ErrorEnvelope), (status = 403, body = super::docs::ErrorEnvelope),
        (status = 404, body = super::docs::ErrorEnvelope)))]
pub async fn replay_event(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<EventOut> {
    auth.require("events:write")?;
    let event = state
        .store
        .replay_event(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    tracing::info!(event_id = %event.id, "event replayed");
    Ok(ApiResponse::ok(EventOut::from(event)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// `low_stock` (subject: a product id) or `low_tokens` (subject: the tenant id).
    pub kind: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub at: String,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "tenant", security(("api_key" = ["tenant:read"])),
    responses((status = 200, description = "Low stock and low tokens, newest first", body = [AlertOut]),
        (status = 401, body = super::docs::ErrorEnvelope), (status = 403, body = super::docs::ErrorEnvelope)))]
pub async fn list_alerts(auth: Auth, State(state): State<AppState>) -> ApiResult<Vec<AlertOut>> {
    auth.require("tenant:read")?;
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
