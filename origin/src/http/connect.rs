//! The connect flows' start, `POST /api/v1/connections/{platform}/authorize`: a connect
//! attempt (its `state` single-use, ten minutes, bound to the tenant, the platform and, when
//! re-authorising, the connection) and the platform page to send the seller to. The returns
//! are `connect_woocommerce` and `connect_etsy`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::ApiJson;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connect::{self, CONNECT_PLATFORMS};
use crate::domain::scopes::Scope;
use crate::ids::{now_ms, rfc3339};
use crate::platforms::connect as pages;
use crate::store::ConnectAttemptRow;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize))
}

/// What the connect page needs; which fields apply depends on the platform.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeIn {
    /// WooCommerce: the shop's public address (not needed when re-authorising).
    pub store_url: Option<String>,
    /// Re-authorise this connection (of the same platform) instead of making a new one: it
    /// gets the newly granted keys or tokens.
    pub connection_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeOut {
    /// Where to send the seller (their browser) to approve.
    pub url: String,
    /// The single-use state the platform brings back (WooCommerce: as `user_id`).
    pub state: String,
    /// After this the state is refused; start again.
    pub expires_at: String,
}

#[utoipa::path(post, path = "/api/v1/connections/{platform}/authorize", tag = "connections",
    params(("platform" = String, Path, description = "`woocommerce`, `ebay` or `etsy`")),
    request_body = AuthorizeIn, security(("api_key" = ["connections:write"])),
    responses((status = 201, description = "The platform page to send the seller to, and the state it brings back (valid 10 minutes, once). WooCommerce then POSTs the keys to `/connect/woocommerce/keys` and sends the seller to `/connect/woocommerce/callback`; eBay and Etsy send the seller to `/connect/{platform}/callback`", body = AuthorizeOut),
        super::docs::KeyErrors, super::docs::Missing, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn authorize(
    auth: Auth,
    State(state): State<AppState>,
    Path(platform): Path<String>,
    ApiJson(input): ApiJson<AuthorizeIn>,
) -> ApiResult<AuthorizeOut> {
    auth.require(Scope::ConnectionsWrite)?;
    if !CONNECT_PLATFORMS.contains(&platform.as_str()) {
        return Err(ApiError::NotFound("platform"));
    }
    let reauthorised = match &input.connection_id {
        Some(id) => {
            let row = state
                .store
                .get_connection(&auth.tenant_id, id)
                .await?
                .ok_or(ApiError::NotFound("connection"))?;
            if row.platform != platform {
                return Err(ApiError::validation(
                    "connection_id",
                    format!("connection {id} is a {} connection", row.platform),
                    format!("name a {platform} connection, or none to make a new one"),
                ));
            }
            Some(row)
        }
        None => {
            let max = state.connections.max_per_tenant;
            let held = state.store.all_connections(&auth.tenant_id).await?.len();
            if held >= usize::try_from(max).unwrap_or(0) {
                return Err(ApiError::TooManyConnections { max });
            }
            None
        }
    };
    let settings = &state.connections.connect;
    let callback_base = settings.callback_base(&state.public_base_url).to_owned();
    let now = now_ms();
    let id = connect::new_state();
    let mut attempt = ConnectAttemptRow {
        id: id.clone(),
        tenant_id: auth.tenant_id.clone(),
        platform: platform.clone(),
        connection_id: input.connection_id.clone(),
        store_url: None,
        code_verifier_sealed: None,
        created_at: now,
        expires_at: connect::expires_at(now),
        used_at: None,
        outcome: None,
    };
    let url = match platform.as_str() {
        "woocommerce" => {
            let raw = input
                .store_url
                .as_deref()
                .or(reauthorised.as_ref().and_then(|c| c.store_url.as_deref()))
                .ok_or_else(|| {
                    ApiError::validation(
                        "store_url",
                        "connecting WooCommerce needs the store_url",
                        "the shop's public address, e.g. https://shop.example.com",
                    )
                })?;
            let store = state.outbound.base_url(raw).map_err(|refused| {
                ApiError::validation(
                    "store_url",
                    format!("store_url {refused}"),
                    "the shop's public address, e.g. https://shop.example.com",
                )
            })?;
            attempt.store_url = Some(store.as_str().to_owned());
            pages::woocommerce_authorize_url(
                &store,
                &id,
                &format!("{callback_base}/connect/woocommerce/callback"),
                &format!("{callback_base}/connect/woocommerce/keys"),
            )
        }
        "ebay" => {
            no_store_url(&input)?;
            let (Some(client_id), Some(ru_name)) =
                (&settings.ebay_client_id, &settings.ebay_ru_name)
            else {
                return Err(not_configured("eBay", "EBAY_CLIENT_ID and EBAY_RU_NAME"));
            };
            pages::ebay_consent_url(&settings.ebay_auth_base_url, client_id, ru_name, &id)
        }
        _ => {
            no_store_url(&input)?;
            let Some(client_id) = &settings.etsy_client_id else {
                return Err(not_configured("Etsy", "ETSY_CLIENT_ID"));
            };
            let verifier = connect::new_code_verifier();
            attempt.code_verifier_sealed = Some(state.master_key.seal(verifier.as_bytes()));
            pages::etsy_connect_url(
                &settings.etsy_connect_base_url,
                client_id,
                &super::connect_etsy::redirect_uri(&state),
                &id,
                &connect::code_challenge_s256(&verifier),
            )
        }
    };
    state.store.insert_connect_attempt(&attempt, now).await?;
    Ok(ApiResponse::created(AuthorizeOut {
        url,
        state: id,
        expires_at: rfc3339(attempt.expires_at),
    }))
}

fn no_store_url(input: &AuthorizeIn) -> Result<(), ApiError> {
    match input.store_url {
        Some(_) => Err(ApiError::validation(
            "store_url",
            "store_url applies to WooCommerce only",
            "leave store_url out",
        )),
        None => Ok(()),
    }
}

fn not_configured(platform: &str, settings: &str) -> ApiError {
    ApiError::validation(
        "platform",
        format!("connecting {platform} is not set up on this service"),
        format!("the operator sets {settings}"),
    )
}
