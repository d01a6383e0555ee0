//! `/api/v1/keys`: list, create (secret shown once), revoke and rotate API keys.
//! A rotated key keeps working for `domain::keys::ROTATION_GRACE_MS` (24 hours) so
//! deployments can switch.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared::apikey::KeyEnvironment;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, ListParams, Page};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::keys;
use crate::domain::scopes::{self, Scope, parse_scopes};
use crate::ids::{now_ms, rfc3339};
use crate::store::ApiKeyRow;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    pub name: Option<String>,
    /// Scopes such as `orders:read`; none means every scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `live` (default) or `test`.
    pub environment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the key, safe to show (`ys_live_abcdef`).
    pub prefix: String,
    pub environment: String,
    /// Empty: every scope.
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// When a rotated key stops working.
    pub expires_at: Option<String>,
}

/// A created key: the only answer that ever carries the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyOut {
    #[serde(flatten)]
    pub key: KeyOut,
    pub secret: String,
}

impl From<ApiKeyRow> for KeyOut {
    fn from(row: ApiKeyRow) -> Self {
        KeyOut {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            environment: row.environment,
            scopes: scopes::stored_names(&row.scopes),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            expires_at: row.expires_at.map(rfc3339),
        }
    }
}

/// Mints a key and the row that stores it; the caller stores the row and shows the secret once.
fn make_key(
    tenant_id: &str,
    name: &str,
    scopes: &[Scope],
    environment: KeyEnvironment,
) -> (ApiKeyRow, String) {
    let key = keys::make_key(scopes, environment);
    ApiKeyRow::minted(tenant_id, name, key)
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(ListParams), security(("api_key" = ["keys:read"])),
    responses((status = 200, description = "A page of keys (never their secrets)", body = [KeyOut]), super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_keys(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Vec<KeyOut>> {
    auth.require(Scope::KeysRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    let rows = state
        .store
        .list_api_keys(&auth.tenant_id, &page.query)
        .await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(ApiResponse::ok(rows.into_iter().map(KeyOut::from).collect()).with_next_cursor(next))
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = KeyIn, security(("api_key" = ["keys:write"])),
    responses((status = 201, description = "Created; `secret` is shown only here", body = CreatedKeyOut), super::docs::KeyErrors, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn create_key(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<KeyIn>,
) -> ApiResult<CreatedKeyOut> {
    auth.require(Scope::KeysWrite)?;
    let scopes = parse_scopes(&input.scopes).map_err(|bad| {
        ApiError::validation("scopes", format!("unknown scope {bad:?}"), Scope::names())
    })?;
    let environment = match input.environment.as_deref() {
        None | Some("live") => KeyEnvironment::Live,
        Some("test") => KeyEnvironment::Test,
        Some(_) => {
            return Err(ApiError::validation(
                "environment",
                "environment must be live or test",
                "use live or test",
            ));
        }
    };
    let name = input.name.unwrap_or_else(|| "api".to_owned());
    let (row, secret) = make_key(&auth.tenant_id, &name, &scopes, environment);
    state.store.insert_api_key(&row).await?;
    Ok(ApiResponse::created(CreatedKeyOut {
        key: row.into(),
        secret,
    }))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", params(("id" = String, Path, description = "Key id")),
    security(("api_key" = ["keys:write"])),
    responses((status = 200, description = "Revoked at once", body = KeyOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn revoke_key(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<KeyOut> {
    auth.require(Scope::KeysWrite)?;
    let row = state
        .store
        .revoke_api_key(Some(&auth.tenant_id), &id, now_ms())
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(ApiResponse::ok(row.into()))
}

#[utoipa::path(post, path = "/api/v1/keys/{id}/rotate", tag = "keys", params(("id" = String, Path, description = "Key id")),
    security(("api_key" = ["keys:write"])),
    responses((status = 201, description = "A new key with the same scopes; the old one works for 24 hours more", body = CreatedKeyOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn rotate_key(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<CreatedKeyOut> {
    auth.require(Scope::KeysWrite)?;
    let old = state
        .store
        .get_api_key(&auth.tenant_id, &id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(ApiError::NotFound("key"))?;
    let environment = keys::environment_of(&old.environment);
    // Stored scopes were checked when the key was made; an unknown one is dropped.
    let scopes: Vec<Scope> = scopes::stored_names(&old.scopes)
        .iter()
        .filter_map(|name| Scope::from_name(name))
        .collect();
    let (row, secret) = make_key(&auth.tenant_id, &old.name, &scopes, environment);
    state
        .store
        .rotate_api_key(
            &auth.tenant_id,
            &id,
            &row,
            now_ms() + keys::ROTATION_GRACE_MS,
        )
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(ApiResponse::created(CreatedKeyOut {
        key: row.into(),
        secret,
    }))
}
