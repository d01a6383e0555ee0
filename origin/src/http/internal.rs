//! The edge's internal routes: edge config per tenant, event ingest, dead-letter record.
//! Like every route, they are served only with a fresh, valid edge signature over method,
//! path and raw body (`edge_signature`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared::internal::{DeadLetter, EdgeConfig, ForwardedEvent};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::edge_signature::MAX_FORWARDED_BYTES;
use super::error::ApiError;
use super::extract::{RawBody, parse_json};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connections::{ConnectionFacts, attribute_event};
use crate::domain::events::dedupe_key;
use crate::ids::{new_id, now_ms};
use crate::store::{ConnectionRow, EventRow};

/// The edge's routes, with their own body limit (the signature is checked for every route,
/// in `edge_signature`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(edge_config))
        .routes(routes!(ingest_event))
        .routes(routes!(record_dead_letter))
        // Forwarded events wrap a whole webhook body: the public API's JSON limit is too small.
        .route_layer(axum::extract::DefaultBodyLimit::max(MAX_FORWARDED_BYTES))
}

/// What the origin answers once an event or dead letter is stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventAccepted {
    pub event_id: String,
    /// True when this event was already stored; nothing new was written.
    pub duplicate: bool,
}

/// The webhook secrets and eBay facts the edge verifies deliveries with.
#[utoipa::path(get, path = "/internal/v1/tenants/{tenant_id}/edge-config", tag = "internal",
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "`shared::internal::EdgeConfig` in `data`", body = serde_json::Value),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: unknown tenant", body = super::docs::ErrorEnvelope)))]
pub async fn edge_config(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
) -> ApiResult<EdgeConfig> {
    ensure_tenant(&state, &tenant_id).await?;
    let connections = state.store.all_connections(&tenant_id).await?;
    let facts: Vec<ConnectionFacts<'_>> = connections.iter().map(ConnectionRow::facts).collect();
    let config =
        crate::domain::connections::edge_config(&state.master_key, tenant_id, &facts, now_ms())
            .map_err(ApiError::internal)?;
    Ok(ApiResponse::ok(config))
}

/// Stores a verified platform delivery once; answers only after the row is committed.
#[utoipa::path(post, path = "/internal/v1/events", tag = "internal",
    request_body(content = serde_json::Value, description = "`shared::internal::ForwardedEvent`"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = EventAccepted),
        (status = 400, description = "INVALID_REQUEST", body = super::docs::ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: unknown tenant", body = super::docs::ErrorEnvelope)))]
pub async fn ingest_event(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> ApiResult<EventAccepted> {
    let event: ForwardedEvent = parse_json(&body)?;
    // One read says whether the tenant exists and what its connections are.
    let connections = if shared::internal::is_plausible_tenant_id(&event.tenant_id) {
        state.store.connection_states(&event.tenant_id).await?
    } else {
        None
    }
    .ok_or(ApiError::NotFound("tenant"))?;
    let platform = event.platform.as_str();
    // The edge refuses deliveries for an inactive connection, but one it accepted just before
    // the deactivation (or deletion) reached it still arrives. Refusing it would only have the
    // edge retry it into a dead letter: keep it, unprocessed and replayable, and say why.
    let (connection_id, ignored) =
        attribute_event(platform, event.connection_id.as_deref(), &connections);
    let event = ForwardedEvent {
        connection_id,
        ..event
    };
    let row = match ignored {
        Some(reason) => event_row(&event, "ignored", 1, Some(reason))?,
        None => event_row(&event, "received", 1, None)?,
    };
    let (event_id, duplicate) = state.ingest.ingest(row).await?;
    tracing::info!(%event_id, duplicate, platform, "event ingested");
    Ok(ApiResponse::ok(EventAccepted {
        event_id,
        duplicate,
    }))
}

/// Records an event the edge gave up forwarding, as an event with status `dead`.
#[utoipa::path(post, path = "/internal/v1/dead-letters", tag = "internal",
    request_body(content = serde_json::Value, description = "`shared::internal::DeadLetter`"),
    responses(
        (status = 200, description = "Recorded (or already recorded)", body = EventAccepted),
        (status = 400, description = "INVALID_REQUEST", body = super::docs::ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED: bad edge signature", body = super::docs::ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: unknown tenant", body = super::docs::ErrorEnvelope)))]
pub async fn record_dead_letter(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> ApiResult<EventAccepted> {
    let letter: DeadLetter = parse_json(&body)?;
    ensure_tenant(&state, &letter.event.tenant_id).await?;
    let row = event_row(
        &letter.event,
        "dead",
        i64::from(letter.attempts),
        Some(letter.last_error.clone()),
    )?;
    let (event_id, duplicate) = state.store.record_dead_letter(&row).await?;
    tracing::warn!(%event_id, duplicate, attempts = letter.attempts, "dead letter recorded");
    Ok(ApiResponse::ok(EventAccepted {
        event_id,
        duplicate,
    }))
}

async fn ensure_tenant(state: &AppState, tenant_id: &str) -> Result<(), ApiError> {
    if !shared::internal::is_plausible_tenant_id(tenant_id)
        || state.store.get_tenant(tenant_id).await?.is_none()
    {
        return Err(ApiError::NotFound("tenant"));
    }
    Ok(())
}

fn event_row(
    event: &ForwardedEvent,
    status: &str,
    attempts: i64,
    last_error: Option<String>,
) -> Result<EventRow, ApiError> {
    if event.edge_event_id.is_empty() || event.edge_event_id.len() > 200 {
        return Err(ApiError::validation(
            "edge_event_id",
            "edge_event_id must be 1 to 200 characters",
            "send the id the edge assigned",
        ));
    }
    let headers: &BTreeMap<String, String> = &event.headers;
    Ok(EventRow {
        id: new_id("evt"),
        tenant_id: event.tenant_id.clone(),
        platform: event.platform.as_str().to_owned(),
        status: status.to_owned(),
        dedupe_key: dedupe_key(
            event.platform,
            event.connection_id.as_deref(),
            &event.body,
            &event.edge_event_id,
        ),
        edge_event_id: event.edge_event_id.clone(),
        headers: serde_json::to_string(headers).map_err(ApiError::internal)?,
        body: event.body.clone(),
        received_at: i64::try_from(event.received_at_ms).unwrap_or(i64::MAX),
        stored_at: now_ms(),
        attempts,
        last_error,
        connection_id: event.connection_id.clone(),
    })
}
