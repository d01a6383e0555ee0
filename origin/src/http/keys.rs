//! `/api/v1/keys`: list, create (secret shown once), revoke and rotate API keys, and
//! `/api/v1/audit-log`, the tenant's record of each. A key hands out and acts on at most what
//! it holds (`domain::keys::may_manage`), under the tenant's key cap. A rotated key keeps
//! working for `domain::keys::ROTATION_GRACE_MS` (24 hours) so deployments can switch.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared::apikey::KeyEnvironment;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, ListParams, Page};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::keys::{self, Holding, Refusal};
use crate::domain::scopes::{Grant, Scope};
use crate::ids::{now_ms, rfc3339};
use crate::store::{ApiKeyRow, KeyChange, KeyWrite, TenantAuditRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
        .routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    pub name: Option<String>,
    /// Scopes such as `orders:read`, or `["*"]` for every scope; at least one. Only scopes
    /// the calling key holds (`*` only by a `*` key).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `live` (default) or `test`; a test key creates only test keys.
    pub environment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the key, safe to show (`ys_live_abcdef`).
    pub prefix: String,
    pub environment: String,
    /// `["*"]`: every scope.
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

/// One entry of the tenant's audit log. Never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub id: String,
    pub at: String,
    /// `key.created`, `key.rotated`, `key.revoked` or `key.refused`.
    pub action: String,
    /// The key that acted; null: the operator.
    pub actor_key_id: Option<String>,
    /// The key acted on (a rotation's new key); null when a refused key was never made.
    pub key_id: Option<String>,
    pub key_prefix: Option<String>,
    pub environment: Option<String>,
    /// The key's scopes (refused: those asked for).
    pub scopes: Option<Vec<String>>,
    /// A refusal's error code, e.g. `SCOPE_ESCALATION`.
    pub reason: Option<String>,
    pub detail: String,
}

impl From<ApiKeyRow> for KeyOut {
    fn from(row: ApiKeyRow) -> Self {
        KeyOut {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            environment: row.environment,
            scopes: Grant::from_stored(&row.scopes).names(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            expires_at: row.expires_at.map(rfc3339),
        }
    }
}

impl From<TenantAuditRow> for AuditOut {
    fn from(row: TenantAuditRow) -> Self {
        AuditOut {
            id: row.id,
            at: rfc3339(row.at),
            action: row.action,
            actor_key_id: row.actor_key_id,
            key_id: row.key_id,
            key_prefix: row.key_prefix,
            environment: row.environment,
            scopes: row.scopes.map(|s| Grant::from_stored(&s).names()),
            reason: row.reason,
            detail: row.detail,
        }
    }
}

/// Mints a key holding `holding` and the row that stores it; the caller stores the row and
/// shows the secret once.
fn make_key(tenant_id: &str, name: &str, holding: &Holding) -> (ApiKeyRow, String) {
    let key = keys::make_key(&holding.grant, holding.environment);
    ApiKeyRow::minted(tenant_id, name, key)
}

/// A key change by the calling key, under the tenant's cap.
fn change<'a>(auth: &'a Auth, state: &AppState, now: i64) -> KeyChange<'a> {
    KeyChange {
        actor_key_id: Some(&auth.key_id),
        now,
        max_usable_keys: Some(state.max_keys_per_tenant),
    }
}

/// Records a refused key operation in the audit log and answers the refusal.
async fn refuse(
    state: &AppState,
    change: &KeyChange<'_>,
    (tenant_id, key): (&str, Option<&ApiKeyRow>),
    asked: &Holding,
    refusal: Refusal,
) -> ApiError {
    let entry = TenantAuditRow::refused(tenant_id, change, key, asked, &refusal);
    match state.store.record_audit(&entry).await {
        Ok(()) => refusal.into(),
        Err(error) => error.into(),
    }
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
    responses((status = 201, description = "Created; `secret` is shown only here", body = CreatedKeyOut),
        (status = 409, description = "KEY_LIMIT_REACHED: the account holds as many usable keys as it may", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn create_key(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<KeyIn>,
) -> ApiResult<CreatedKeyOut> {
    auth.require(Scope::KeysWrite)?;
    let grant = Grant::parse(&input.scopes).map_err(|error| {
        let hint = format!("* (every scope) or some of: {}", Scope::names());
        ApiError::validation("scopes", error.to_string(), hint)
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
    let asked = Holding { grant, environment };
    let change = change(&auth, &state, now_ms());
    let on = (auth.tenant_id.as_str(), None);
    if let Err(refusal) = keys::may_manage(&auth.holding, &asked) {
        return Err(refuse(&state, &change, on, &asked, refusal).await);
    }
    let name = input.name.unwrap_or_else(|| "api".to_owned());
    let (row, secret) = make_key(&auth.tenant_id, &name, &asked);
    if let KeyWrite::LimitReached(_) = state.store.insert_api_key(&row, &change).await? {
        let refusal = Refusal::KeyLimitReached(state.max_keys_per_tenant);
        return Err(refuse(&state, &change, on, &asked, refusal).await);
    }
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
    let target = state
        .store
        .get_api_key(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let held = Holding::stored(&target.scopes, &target.environment);
    let change = change(&auth, &state, now_ms());
    if let Err(refusal) = keys::may_manage(&auth.holding, &held) {
        let on = (auth.tenant_id.as_str(), Some(&target));
        return Err(refuse(&state, &change, on, &held, refusal).await);
    }
    let row = state
        .store
        .revoke_api_key(Some(&auth.tenant_id), &id, &change)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(ApiResponse::ok(row.into()))
}

#[utoipa::path(post, path = "/api/v1/keys/{id}/rotate", tag = "keys", params(("id" = String, Path, description = "Key id")),
    security(("api_key" = ["keys:write"])),
    responses((status = 201, description = "A new key with the same scopes; the old one works for 24 hours more", body = CreatedKeyOut),
        (status = 409, description = "CONFLICT: the key has expired; KEY_LIMIT_REACHED: the account holds as many usable keys as it may", body = super::docs::ErrorEnvelope),
        super::docs::KeyErrors, super::docs::Missing))]
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
    let held = Holding::stored(&old.scopes, &old.environment);
    let change = change(&auth, &state, now_ms());
    let on = (auth.tenant_id.as_str(), Some(&old));
    let allowed = keys::may_manage(&auth.holding, &held)
        .and_then(|()| keys::rotatable(old.expires_at, change.now));
    if let Err(refusal) = allowed {
        return Err(refuse(&state, &change, on, &held, refusal).await);
    }
    let (row, secret) = make_key(&auth.tenant_id, &old.name, &held);
    let grace_until = change.now + keys::ROTATION_GRACE_MS;
    let rotated = state
        .store
        .rotate_api_key(&auth.tenant_id, &id, &row, grace_until, &change)
        .await?;
    match rotated {
        KeyWrite::Done(_) => Ok(ApiResponse::created(CreatedKeyOut {
            key: row.into(),
            secret,
        })),
        KeyWrite::Missing => Err(ApiError::NotFound("key")),
        KeyWrite::LimitReached(_) => {
            let refusal = Refusal::KeyLimitReached(state.max_keys_per_tenant);
            Err(refuse(&state, &change, on, &held, refusal).await)
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit-log", tag = "keys", params(ListParams), security(("api_key" = ["keys:read"])),
    responses((status = 200, description = "A page of the tenant's audit log, newest first: each key created, rotated or revoked, and each key operation refused", body = [AuditOut]),
        super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_audit(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Vec<AuditOut>> {
    auth.require(Scope::KeysRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    let rows = state.store.list_audit(&auth.tenant_id, &page.query).await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(ApiResponse::ok(rows.into_iter().map(AuditOut::from).collect()).with_next_cursor(next))
}
