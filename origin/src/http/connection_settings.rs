//! A connection's settings (`domain::fulfilment::ConnectionSettings`): shown on every
//! connection answer, given on create, changed with `PATCH /api/v1/connections/{id}`. Routed
//! with the other connection routes in `connections::routes`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::connections::{ConnectionOut, out};
use super::error::ApiError;
use super::extract::ApiJson;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::scopes::Scope;
use crate::ids::now_ms;

/// Settings to change; a field left out keeps its value (on create: its default).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    /// Tell the platform once an order is delivered (default true): eBay gets a shipping
    /// fulfilment per line (no carrier, no tracking), Etsy marks the receipt shipped (Etsy
    /// emails the buyer), WooCommerce sets the order `completed`.
    pub mark_fulfilled: Option<bool>,
}

impl SettingsIn {
    /// `current` with the fields given here changed.
    pub fn apply(&self, current: ConnectionSettings) -> ConnectionSettings {
        ConnectionSettings {
            mark_fulfilled: self.mark_fulfilled.unwrap_or(current.mark_fulfilled),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsOut {
    /// Whether the platform is told once an order is delivered.
    pub mark_fulfilled: bool,
}

impl SettingsOut {
    pub fn of_stored(stored: &str) -> SettingsOut {
        let settings = ConnectionSettings::from_stored(stored);
        SettingsOut {
            mark_fulfilled: settings.mark_fulfilled,
        }
    }
}

/// What `PATCH /api/v1/connections/{id}` changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    pub settings: SettingsIn,
}

#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections", request_body = ConnectionPatch,
    params(("id" = String, Path, description = "Connection id")), security(("api_key" = ["connections:write"])),
    responses((status = 200, description = "The connection with its settings changed; calls already made stay made", body = ConnectionOut),
        super::docs::KeyErrors, super::docs::Missing, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn update_connection_settings(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ConnectionPatch>,
) -> ApiResult<ConnectionOut> {
    auth.require(Scope::ConnectionsWrite)?;
    let row = state
        .store
        .get_connection(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let settings = patch
        .settings
        .apply(ConnectionSettings::from_stored(&row.settings));
    let row = state
        .store
        .set_connection_settings(&auth.tenant_id, &id, &settings.to_stored(), now_ms())
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(ApiResponse::ok(out(&state, row)?))
}
