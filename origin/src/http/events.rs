//! `/api/v1/events`: the platform events the origin stored for the tenant, newest first,
//! including dead letters — how a seller (or a test) sees that an event arrived exactly once —
//! and replaying one (dead letters included).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{ApiQuery, Page};
use super::idempotency::idempotent;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::scopes::Scope;
use crate::ids::rfc3339;
use crate::store::{EventFilter, EventRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .merge(idempotent(
            OpenApiRouter::new().routes(routes!(replay_event)),
        ))
}

/// `ignored`: arrived for an inactive connection; kept unprocessed, replayable.
pub const EVENT_STATUSES: [&str; 5] = ["received", "processed", "failed", "dead", "ignored"];

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    pub platform: String,
    /// `received`, `processed`, `failed`, `dead` or `ignored` (kept, never processed; `last_error`
    /// says why: an inactive or deleted connection, a notification about another seller).
    pub status: String,
    /// The connection that brought the event, when known.
    pub connection_id: Option<String>,
    pub dedupe_key: String,
    pub edge_event_id: String,
    pub received_at: String,
    pub stored_at: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl From<EventRow> for EventOut {
    fn from(row: EventRow) -> Self {
        EventOut {
            id: row.id,
            platform: row.platform,
            status: row.status,
            connection_id: row.connection_id,
            dedupe_key: row.dedupe_key,
            edge_event_id: row.edge_event_id,
            received_at: rfc3339(row.received_at),
            stored_at: rfc3339(row.stored_at),
            attempts: row.attempts,
            last_error: row.last_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// `received`, `processed`, `failed` or `dead`.
    pub status: Option<String>,
    /// `woocommerce`, `ebay` or `etsy`.
    pub platform: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    security(("api_key" = ["events:read"])),
    responses((status = 200, description = "A page of events", body = [EventOut]), super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_events(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Vec<EventOut>> {
    auth.require(Scope::EventsRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    one_of("status", params.status.as_deref(), &EVENT_STATUSES)?;
    one_of("platform", params.platform.as_deref(), &PLATFORMS)?;
    let filter = EventFilter {
        status: params.status,
        platform: params.platform,
        page: page.query.clone(),
    };
    let rows = state.store.list_events(&auth.tenant_id, &filter).await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(ApiResponse::ok(rows.into_iter().map(EventOut::from).collect()).with_next_cursor(next))
}

pub const PLATFORMS: [&str; 3] = ["woocommerce", "ebay", "etsy"];

/// Refuses a filter value outside its closed set, listing the accepted ones.
pub fn one_of(field: &'static str, value: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid(
            field,
            format!("{field} {v:?} is not one of the accepted values"),
            format!("use one of: {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(post, path = "/api/v1/events/{id}/replay", tag = "events",
    params(("id" = String, Path, description = "Event id")), security(("api_key" = ["events:write"])),
    responses((status = 200, description = "Queued again for processing; deliveries already made are not repeated", body = EventOut),
        (status = 401, body = super::docs::ErrorEnvelope), (status = 403, body = super::docs::ErrorEnvelope),
        (status = 404, body = super::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: the event's body was pruned after its retention (or erased); there is nothing to process", body = super::docs::ErrorEnvelope)))]
pub async fn replay_event(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<EventOut> {
    auth.require(Scope::EventsWrite)?;
    let Some(event) = state.store.replay_event(&auth.tenant_id, &id).await? else {
        if state
            .store
            .event_body_pruned_at(&auth.tenant_id, &id)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "the event's body was pruned after its retention period; it cannot be replayed"
                    .into(),
            ));
        }
        return Err(ApiError::NotFound("event"));
    };
    tracing::info!(event_id = %event.id, "event replayed");
    Ok(ApiResponse::ok(EventOut::from(event)))
}
