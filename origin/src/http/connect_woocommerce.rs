//! WooCommerce's returns from its key grant (`/wc-auth/v1/authorize`): the store's
//! synchronous server-to-server POST of the keys (`POST /connect/woocommerce/keys`, its
//! `user_id` the attempt's state) and the seller's browser coming back
//! (`GET /connect/woocommerce/callback`). Only an exact 200 keeps the key at the store; any
//! refusal here makes WooCommerce delete it.

use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::tokens::times_of;
use crate::store::tokens::TokenState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connections::{
    open_secrets, register_woocommerce_webhooks, woo_client, woocommerce_webhook_url,
};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connect::{self, StateRefusal};
use crate::domain::connections::{ACTIVE, ConnectionSecrets};
use crate::ids::{new_id, now_ms};
use crate::store::{ConnectAttemptRow, ConnectionRow};

/// What the return page shows once the keys came in.
const CONNECTED: &str = "connected";

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(woocommerce_keys))
        .routes(routes!(woocommerce_return))
}

/// The body WooCommerce POSTs (`wp_json_encode`; `user_id` is the state, a string).
#[derive(Debug, Deserialize, ToSchema)]
pub struct WooKeysIn {
    pub key_id: u64,
    /// The attempt's state, echoed.
    pub user_id: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    /// `read_write`, as asked.
    pub key_permissions: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WooKeysOut {
    /// The connection the keys went to.
    pub connection_id: String,
}

#[utoipa::path(post, path = "/connect/woocommerce/keys", tag = "connect",
    request_body = WooKeysIn,
    responses((status = 200, description = "Keys stored sealed, on a new connection or the one re-authorised, with the order webhooks registered in the store", body = WooKeysOut),
        (status = 404, description = "NOT_FOUND: no such connect attempt", body = super::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: the attempt expired or was already used (WooCommerce then deletes the key)", body = super::docs::ErrorEnvelope),
        super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn woocommerce_keys(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<WooKeysIn>,
) -> ApiResult<WooKeysOut> {
    let attempt = usable_attempt(&state, &input.user_id).await?;
    if input.key_permissions != "read_write" {
        return Err(ApiError::validation(
            "key_permissions",
            "the key must be read_write (webhooks are created with it)",
            "approve the read_write access asked for",
        ));
    }
    for (field, value) in [
        ("consumer_key", &input.consumer_key),
        ("consumer_secret", &input.consumer_secret),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::validation(
                field,
                format!("{field} must not be empty"),
                "send the key WooCommerce made",
            ));
        }
    }
    let now = now_ms();
    // Single use: of two deliveries of one state, one gets here.
    if !state.store.use_connect_attempt(&attempt.id, now).await? {
        return Err(refused(StateRefusal::Used));
    }
    let connection_id = match &attempt.connection_id {
        Some(id) => reauthorise(&state, &attempt, id, &input, now).await?,
        None => create(&state, &attempt, &input, now).await?,
    };
    tracing::info!(connection = %connection_id, key_id = input.key_id, "WooCommerce keys granted");
    state
        .store
        .finish_connect_attempt(&attempt.id, CONNECTED, Some(&connection_id))
        .await?;
    Ok(ApiResponse::ok(WooKeysOut { connection_id }))
}

/// The attempt `state` names if it may still be completed by WooCommerce.
async fn usable_attempt(state: &AppState, id: &str) -> Result<ConnectAttemptRow, ApiError> {
    if !connect::is_plausible_state(id) {
        return Err(refused(StateRefusal::Unknown));
    }
    let attempt = state.store.get_connect_attempt(id).await?;
    connect::check_attempt(
        attempt.as_ref().map(ConnectAttemptRow::facts),
        "woocommerce",
        now_ms(),
    )
    .map_err(refused)?;
    attempt.ok_or(refused(StateRefusal::Unknown))
}

fn refused(refusal: StateRefusal) -> ApiError {
    match refusal {
        StateRefusal::Unknown | StateRefusal::WrongPlatform => {
            ApiError::NotFound("connect attempt")
        }
        StateRefusal::Expired | StateRefusal::Used => ApiError::Conflict(refusal.to_string()),
    }
}

/// Registers the order webhooks with the new keys; the store's webhook ids, or why not (the
/// connection is kept either way: its keys still let reconciliation poll).
async fn register(
    state: &AppState,
    tenant_id: &str,
    connection_id: &str,
    store_url: &str,
    secrets: &mut ConnectionSecrets,
) -> Option<String> {
    let (Some(key), Some(consumer_secret), Some(secret)) = (
        &secrets.consumer_key,
        &secrets.consumer_secret,
        &secrets.webhook_secret,
    ) else {
        return Some("the connection has no keys to register webhooks with".into());
    };
    let delivery_url = woocommerce_webhook_url(state, tenant_id, connection_id);
    let registered = match woo_client(state, store_url, key, consumer_secret) {
        Ok(client) => register_woocommerce_webhooks(&client, &delivery_url, secret).await,
        Err(error) => Err(error),
    };
    match registered {
        Ok(ids) => {
            secrets.webhook_ids = ids;
            None
        }
        Err(error) => Some(error),
    }
}

async fn create(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    input: &WooKeysIn,
    now: i64,
) -> Result<String, ApiError> {
    let store_url = attempt
        .store_url
        .clone()
        .ok_or_else(|| ApiError::internal("a WooCommerce connect attempt without a store"))?;
    let id = new_id("con");
    let mut secrets = ConnectionSecrets {
        webhook_secret: Some(crate::crypto::random_hex(24)),
        consumer_key: Some(input.consumer_key.clone()),
        consumer_secret: Some(input.consumer_secret.clone()),
        ..ConnectionSecrets::default()
    };
    let last_error = register(state, &attempt.tenant_id, &id, &store_url, &mut secrets).await;
    let row = ConnectionRow {
        id: id.clone(),
        tenant_id: attempt.tenant_id.clone(),
        platform: "woocommerce".to_owned(),
        status: ACTIVE.to_owned(),
        store_url: Some(store_url),
        shop_id: None,
        endpoint_url: None,
        account_id: None,
        secrets_sealed: secrets.seal(&state.master_key, &attempt.tenant_id, &id),
        last_event_at: None,
        last_error,
        created_at: now,
        updated_at: now,
        settings: ConnectionSettings::default().to_stored(),
        // WooCommerce keys do not expire: nothing to refresh.
        tokens: TokenState::new(times_of(now, None, None, false, 0)),
    };
    let max = state.connections.max_per_tenant;
    if !state.store.insert_connection(&row, max).await? {
        return Err(ApiError::TooManyConnections { max });
    }
    Ok(id)
}

/// The connection gets the new keys; its webhooks stay (registered now if it had none).
async fn reauthorise(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    connection_id: &str,
    input: &WooKeysIn,
    now: i64,
) -> Result<String, ApiError> {
    let row = state
        .store
        .get_connection(&attempt.tenant_id, connection_id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let mut secrets = open_secrets(state, &row)?;
    secrets.consumer_key = Some(input.consumer_key.clone());
    secrets.consumer_secret = Some(input.consumer_secret.clone());
    if secrets.webhook_secret.is_none() {
        secrets.webhook_secret = Some(crate::crypto::random_hex(24));
    }
    let store_url = row.store_url.clone().or(attempt.store_url.clone());
    let warning = match (&store_url, secrets.webhook_ids.is_empty()) {
        (Some(url), true) => register(state, &row.tenant_id, &row.id, url, &mut secrets).await,
        _ => None,
    };
    state
        .store
        .reauthorise_connection(
            &row.tenant_id,
            &row.id,
            &secrets.seal(&state.master_key, &row.tenant_id, &row.id),
            None,
            now,
        )
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    if warning.is_some() {
        state
            .store
            .set_connection_warning(&row.id, warning.as_deref())
            .await?;
    }
    Ok(row.id)
}

/// The seller's return from the grant page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WooReturn {
    /// `1` approved, `0` denied.
    pub success: Option<String>,
    /// The attempt's state.
    pub user_id: Option<String>,
}

#[utoipa::path(get, path = "/connect/woocommerce/callback", tag = "connect", params(WooReturn),
    responses((status = 200, description = "A page telling the seller the store is connected", content_type = "text/html", body = String),
        (status = 400, description = "A page: the seller declined, or the connection was not completed", content_type = "text/html", body = String),
        (status = 404, description = "A page: no such connect attempt", content_type = "text/html", body = String)))]
pub async fn woocommerce_return(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WooReturn>,
) -> Result<Response, ApiError> {
    let attempt = match query.user_id.as_deref() {
        Some(id) if connect::is_plausible_state(id) => state.store.get_connect_attempt(id).await?,
        _ => None,
    };
    let Some(attempt) = attempt.filter(|a| a.platform == "woocommerce") else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "Connect link not found",
            "This connect link is unknown. Start connecting your store again from YourSender.",
        ));
    };
    let store = attempt.store_url.as_deref().unwrap_or("your store");
    if query.success.as_deref() != Some("1") {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            &format!("Access was not granted, so {store} was not connected. Nothing was changed."),
        ));
    }
    if attempt.outcome.as_deref() == Some(CONNECTED) {
        return Ok(page(
            StatusCode::OK,
            "Store connected",
            &format!("{store} is connected: its paid orders are now delivered automatically."),
        ));
    }
    Ok(page(
        StatusCode::BAD_REQUEST,
        "Not connected",
        &format!(
            "{store} approved the access, but its keys did not reach YourSender. Start connecting again."
        ),
    ))
}

/// The return page of a grant for a platform account another connection already holds: 409,
/// with the stable code for the seller to quote.
pub(super) fn already_connected_page(why: &str) -> Response {
    page(
        StatusCode::CONFLICT,
        "Not connected",
        &already_connected_message(why),
    )
}

/// What [`already_connected_page`] says.
pub(super) fn already_connected_message(why: &str) -> String {
    let code = shared::ErrorCode::AccountAlreadyConnected;
    format!("{why} Nothing was changed. (Error code: {code})")
}

/// A small page for the seller's browser.
pub(super) fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let (title, message) = (super::docs::escape(title), super::docs::escape(message));
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto\">\
         <h1>{title}</h1><p>{message}</p></body></html>"
    );
    (status, Html(html)).into_response()
}
