//! `/api/v1/connections/{id}/rotate-secret` and `DELETE /api/v1/connections/{id}`: a
//! WooCommerce webhook secret replaced with an overlap, and a connection removed with its
//! secrets. The edge sees both through the edge config (within its cache TTL). Routed with the
//! other connection routes in `connections::routes`.

use super::auth::Auth;
use super::connections::{ConnectionOut, open_secrets, out, woo_client};
use super::error::ApiError;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::scopes::Scope;
use crate::ids::now_ms;
use axum::extract::{Path, State};

#[utoipa::path(post, path = "/api/v1/connections/{id}/rotate-secret", tag = "connections",
    params(("id" = String, Path, description = "Connection id")), security(("api_key" = ["connections:write"])),
    responses((status = 200, description = "The new secret, in `generated_webhook_secret`, shown only here. The old one keeps verifying for WOO_SECRET_OVERLAP_SECS (default 24 h); when the connection has REST keys, the store's webhooks are updated to the new one", body = ConnectionOut),
        super::docs::KeyErrors, super::docs::Missing, super::docs::BadInput))]
pub async fn rotate_secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ConnectionOut> {
    auth.require(Scope::ConnectionsWrite)?;
    let row = state
        .store
        .get_connection(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    if row.platform != "woocommerce" {
        return Err(ApiError::validation(
            "id",
            "only a WooCommerce connection has a webhook secret to rotate",
            "name a WooCommerce connection",
        ));
    }
    let mut secrets = open_secrets(&state, &row)?;
    let new_secret = crate::crypto::random_hex(24);
    let now = now_ms();
    secrets.rotate_webhook_secret(
        new_secret.clone(),
        now,
        state.connections.woo_secret_overlap_ms,
    );
    // Stored first: whatever the store does next, both secrets verify during the overlap.
    state
        .store
        .update_connection_secrets(
            &row.id,
            &secrets.seal(&state.master_key, &row.tenant_id, &row.id),
            now,
        )
        .await?;
    if let (Some(key), Some(consumer_secret), Some(url)) = (
        &secrets.consumer_key,
        &secrets.consumer_secret,
        &row.store_url,
    ) {
        let client = woo_client(&state, url, key, consumer_secret);
        for webhook_id in &secrets.webhook_ids {
            let updated = match &client {
                Ok(client) => client
                    .update_webhook_secret(*webhook_id, &new_secret)
                    .await
                    .map_err(|error| error.to_string()),
                Err(error) => Err(error.clone()),
            };
            if let Err(error) = updated {
                tracing::warn!(connection = %row.id, webhook_id, %error, "updating the store's webhook secret failed");
                let warning = format!(
                    "the store's webhook {webhook_id} could not be given the new secret: set it in WooCommerce before the old one expires"
                );
                state
                    .store
                    .set_connection_warning(&row.id, Some(&warning))
                    .await?;
            }
        }
    }
    let row = state
        .store
        .get_connection(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let mut answer = out(&state, row)?;
    answer.generated_webhook_secret = Some(new_secret);
    Ok(ApiResponse::ok(answer))
}

#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "Connection id")), security(("api_key" = ["connections:write"])),
    responses((status = 200, description = "Deleted with its secrets: its deliveries stop verifying (within the edge's config cache time); orders it brought stay", body = serde_json::Value),
        super::docs::KeyErrors, super::docs::Missing))]
pub async fn delete_connection(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<serde_json::Value> {
    auth.require(Scope::ConnectionsWrite)?;
    if !state.store.delete_connection(&auth.tenant_id, &id).await? {
        return Err(ApiError::NotFound("connection"));
    }
    Ok(ApiResponse::ok(
        serde_json::json!({ "id": id, "deleted": true }),
    ))
}
