//! API-key authentication: `Authorization: Bearer ys_live_…`, looked up by SHA-256 only.
//! The presented key is hashed and the hash is the lookup key, so no stored secret is ever
//! compared byte by byte; unknown, revoked, expired and malformed keys all answer 401.
//! [`Auth::require`] is where every route's scope is checked, and with it the rule
//! (`domain::keys::may_use`) that a test key reaches no live data.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::domain::keys::{self, Holding};
use crate::domain::scopes::Scope;
use crate::ids::now_ms;

/// Refresh `last_used_at` at most this often, so reads stay reads.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The authenticated caller: a key of one tenant.
#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant_id: String,
    pub key_id: String,
    /// The key's scopes and environment.
    pub holding: Holding,
}

impl Auth {
    /// Refuses with 403 unless the key may use `scope`: a test key on a route of live data
    /// is `TEST_KEY_LIVE_DATA` whatever its scopes, else a missing scope is `FORBIDDEN`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        keys::may_use(self.holding.environment, scope)?;
        if self.holding.grant.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by a layer in front of the handler (idempotency keys).
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(auth.clone());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization header"))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed API key"))?;
        let parsed = shared::apikey::parse_bearer(header)
            .map_err(|_| ApiError::Unauthorized("malformed API key"))?;
        let now = now_ms();
        let key = state
            .store
            .find_usable_api_key(&parsed.hash, now)
            .await?
            .ok_or(ApiError::Unauthorized("unknown or revoked API key"))?;
        // The stamp is for the tenant's key list; a read must not fail because it cannot be
        // written (a busy or read-only database), so a failure is logged and the call goes on.
        if key.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY_MS)
            && let Err(error) = state.store.touch_api_key(&key.id, now).await
        {
            tracing::warn!(%error, key_id = %key.id, "recording the key's last use failed");
        }
        super::request_id::record_key_tenant(&key.tenant_id);
        Ok(Auth {
            holding: Holding::stored(&key.scopes, &key.environment),
            tenant_id: key.tenant_id,
            key_id: key.id,
        })
    }
}
