//! `/api/v1/connections`: the tenant's WooCommerce, eBay and Etsy connections. Platform
//! secrets are sealed with the master key (`domain::connections`) before they are stored and
//! are never answered. Rotation and deletion are in `connection_actions`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::connection_settings::{SettingsIn, SettingsOut};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, ListParams, Page};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::connections::{ACTIVE, AccountHolder, ConnectionSecrets, account_holder};
use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::scopes::Scope;
use crate::domain::tokens::times_of;
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::tokens::TokenState;
use crate::store::{ConnectionRow, PlatformAccount};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(
            get_connection,
            super::connection_actions::delete_connection
        ))
        .routes(routes!(deactivate_connection))
        .routes(routes!(super::connection_actions::rotate_secret))
        .routes(routes!(
            super::connection_settings::update_connection_settings
        ))
}

/// A new connection; which fields apply depends on `platform`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "platform", rename_all = "lowercase", deny_unknown_fields)]
pub enum ConnectionIn {
    /// `webhook_secret` for a manual set-up, or `consumer_key` + `consumer_secret` for the REST
    /// API (the origin then makes up the webhook secret and shows it once).
    Woocommerce {
        store_url: String,
        webhook_secret: Option<String>,
        consumer_key: Option<String>,
        consumer_secret: Option<String>,
        /// The connection's settings; each left out takes its default.
        settings: Option<SettingsIn>,
    },
    /// `endpoint_url` defaults to `{PUBLIC_BASE_URL}/webhooks/ebay/{tenantId}`.
    Ebay {
        verification_token: String,
        endpoint_url: Option<String>,
        /// The seller's user token (scope `sell.fulfillment`), for fetching paid orders.
        access_token: Option<String>,
        /// The connection's settings; each left out takes its default.
        settings: Option<SettingsIn>,
        /// The seller's refresh token: the origin then refreshes the user token before it
        /// ends (its expiry unknown, the first refresh is made at once).
        refresh_token: Option<String>,
    },
    Etsy {
        shop_id: String,
        api_key: Option<String>,
        access_token: Option<String>,
        refresh_token: Option<String>,
        /// The connection's settings; each left out takes its default.
        settings: Option<SettingsIn>,
    },
}

impl ConnectionIn {
    fn settings(&self) -> Option<&SettingsIn> {
        match self {
            ConnectionIn::Woocommerce { settings, .. }
            | ConnectionIn::Ebay { settings, .. }
            | ConnectionIn::Etsy { settings, .. } => settings.as_ref(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionOut {
    pub id: String,
    pub platform: String,
    /// `active`, `inactive` (deactivated) or `needs_reconnect` (its tokens no longer work:
    /// refused refresh, revoked access; connect the store again).
    pub status: String,
    pub store_url: Option<String>,
    pub shop_id: Option<String>,
    pub endpoint_url: Option<String>,
    /// WooCommerce: where the store delivers this connection's webhooks (each connection has
    /// its own URL; deliveries there verify against this connection's secret only).
    pub webhook_url: Option<String>,
    /// eBay: the seller's userId (eBay's identity API), which notifications must name.
    pub account_id: Option<String>,
    /// Which secrets are stored (their values are never answered).
    pub secrets_set: Vec<&'static str>,
    pub settings: SettingsOut,
    pub last_event_at: Option<String>,
    pub last_error: Option<String>,
    /// eBay and Etsy: when the access token ends, if known (it is refreshed before then).
    pub access_token_expires_at: Option<String>,
    /// eBay and Etsy: when the refresh token ends, if known.
    pub refresh_token_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in the answer to a create that generated the WooCommerce webhook secret, and to a
    /// secret rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_webhook_secret: Option<String>,
}

/// Opens a connection's secrets; unreadable ones are an internal error.
pub fn open_secrets(state: &AppState, row: &ConnectionRow) -> Result<ConnectionSecrets, ApiError> {
    ConnectionSecrets::open(
        &state.master_key,
        &row.tenant_id,
        &row.id,
        &row.secrets_sealed,
    )
    .map_err(ApiError::internal)
}

/// Who holds a platform account a connect flow was granted for `tenant_id`, from every
/// tenant's connections of it.
pub async fn account_holder_of(
    state: &AppState,
    tenant_id: &str,
    account: PlatformAccount<'_>,
) -> Result<AccountHolder, ApiError> {
    let held = state.store.account_connections(account).await?;
    let holders = held.iter().map(|c| (c.tenant_id.as_str(), c.facts()));
    Ok(account_holder(tenant_id, holders))
}

/// The connection as answered.
pub fn out(state: &AppState, row: ConnectionRow) -> Result<ConnectionOut, ApiError> {
    let secrets = open_secrets(state, &row)?;
    let webhook_url = (row.platform == "woocommerce")
        .then(|| woocommerce_webhook_url(state, &row.tenant_id, &row.id));
    Ok(ConnectionOut {
        secrets_set: secrets.names(),
        settings: SettingsOut::of_stored(&row.settings),
        webhook_url,
        account_id: row.account_id,
        id: row.id,
        platform: row.platform,
        status: row.status,
        store_url: row.store_url,
        shop_id: row.shop_id,
        endpoint_url: row.endpoint_url,
        last_event_at: row.last_event_at.map(rfc3339),
        last_error: row.last_error,
        access_token_expires_at: row.tokens.access_expires_at.map(rfc3339),
        refresh_token_expires_at: row.tokens.refresh_expires_at.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        generated_webhook_secret: None,
    })
}

#[utoipa::path(get, path = "/api/v1/connections", tag = "connections", params(ListParams),
    security(("api_key" = ["connections:read"])),
    responses((status = 200, description = "A page of connections", body = [ConnectionOut]), super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_connections(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Vec<ConnectionOut>> {
    auth.require(Scope::ConnectionsRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    let rows = state
        .store
        .list_connections(&auth.tenant_id, &page.query)
        .await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|r| out(&state, r))
        .collect::<Result<_, _>>()?;
    Ok(ApiResponse::ok(data).with_next_cursor(next))
}

#[utoipa::path(post, path = "/api/v1/connections", tag = "connections", request_body = ConnectionIn,
    security(("api_key" = ["connections:write"])),
    responses((status = 201, description = "Connected", body = ConnectionOut),
        (status = 409, description = "TOO_MANY_CONNECTIONS: the tenant holds as many connections as it may; ACCOUNT_ALREADY_CONNECTED: the eBay seller (whose access_token was given) or the Etsy shop already has an active connection, this tenant's or another's", body = super::docs::ErrorEnvelope),
        super::docs::KeyErrors, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn create_connection(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ConnectionIn>,
) -> ApiResult<ConnectionOut> {
    auth.require(Scope::ConnectionsWrite)?;
    let max = state.connections.max_per_tenant;
    if state.store.all_connections(&auth.tenant_id).await?.len()
        >= usize::try_from(max).unwrap_or(0)
    {
        return Err(ApiError::TooManyConnections { max });
    }
    let now = now_ms();
    let id = new_id("con");
    let mut account_id = None;
    let mut secrets = ConnectionSecrets::default();
    let mut generated = None;
    let settings = input
        .settings()
        .map(|given| given.apply(ConnectionSettings::default()))
        .unwrap_or_default();
    let (platform, store_url, shop_id, endpoint_url) = match input {
        ConnectionIn::Woocommerce {
            store_url,
            webhook_secret,
            consumer_key,
            consumer_secret,
            ..
        } => {
            let store_url = state.outbound.base_url(&store_url).map_err(|refused| {
                ApiError::validation(
                    "store_url",
                    format!("store_url {refused}"),
                    "the shop's public address, e.g. https://shop.example.com",
                )
            })?;
            match (&webhook_secret, &consumer_key, &consumer_secret) {
                (Some(secret), _, _) => non_empty("webhook_secret", secret)?,
                (None, Some(key), Some(secret)) => {
                    non_empty("consumer_key", key)?;
                    non_empty("consumer_secret", secret)?;
                    generated = Some(crate::crypto::random_hex(24));
                }
                _ => {
                    return Err(ApiError::validation(
                        "webhook_secret",
                        "a WooCommerce connection needs webhook_secret, or consumer_key and consumer_secret",
                        "send the webhook secret you set in WooCommerce, or REST API keys",
                    ));
                }
            }
            secrets.webhook_secret = webhook_secret.or_else(|| generated.clone());
            secrets.consumer_key = consumer_key;
            secrets.consumer_secret = consumer_secret;
            (
                "woocommerce",
                Some(store_url.as_str().to_owned()),
                None,
                None,
            )
        }
        ConnectionIn::Ebay {
            verification_token,
            endpoint_url,
            access_token,
            refresh_token,
            ..
        } => {
            if !shared::ebay::app::is_verification_token(&verification_token) {
                return Err(ApiError::validation(
                    "verification_token",
                    "the verification token must be 32 to 80 characters of letters, digits, _ and -",
                    "use the token you entered in eBay's developer portal",
                ));
            }
            let endpoint = match endpoint_url {
                Some(url) => {
                    require_http_url("endpoint_url", &url)?;
                    url
                }
                None => format!("{}/webhooks/ebay/{}", state.public_base_url, auth.tenant_id),
            };
            if let Some(token) = &access_token {
                account_id = Some(ebay_user_id(&state, token).await?);
            }
            if let Some(token) = &refresh_token {
                non_empty("refresh_token", token)?;
            }
            secrets.verification_token = Some(verification_token);
            secrets.access_token = access_token;
            secrets.refresh_token = refresh_token;
            ("ebay", None, None, Some(endpoint))
        }
        ConnectionIn::Etsy {
            shop_id,
            api_key,
            access_token,
            refresh_token,
            ..
        } => {
            non_empty("shop_id", &shop_id)?;
            if !shop_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::validation(
                    "shop_id",
                    "shop_id must be Etsy's numeric shop id",
                    "e.g. 12345678",
                ));
            }
            secrets.api_key = api_key;
            secrets.access_token = access_token;
            secrets.refresh_token = refresh_token;
            ("etsy", None, Some(shop_id), None)
        }
    };
    // A store that cannot be reached now still gets its connection (reconciliation polls it);
    // the failure shows as the connection's last error.
    let mut registration_error = None;
    if let (Some(secret), Some(key), Some(consumer_secret), Some(url)) = (
        &generated,
        &secrets.consumer_key,
        &secrets.consumer_secret,
        &store_url,
    ) {
        let delivery_url = woocommerce_webhook_url(&state, &auth.tenant_id, &id);
        let registered = match woo_client(&state, url, key, consumer_secret) {
            Ok(client) => register_woocommerce_webhooks(&client, &delivery_url, secret).await,
            Err(error) => Err(error),
        };
        match registered {
            Ok(ids) => secrets.webhook_ids = ids,
            Err(error) => registration_error = Some(error),
        }
    }
    // Pasted tokens say nothing of when they end: with a refresh token, the first refresh is
    // due at once (and learns the lifetimes); without one, nothing can be refreshed.
    let tokens = TokenState::new(times_of(
        now,
        None,
        None,
        secrets.refresh_token.is_some() && platform != "woocommerce",
        0,
    ));
    let secrets_sealed = secrets.seal(&state.master_key, &auth.tenant_id, &id);
    let row = ConnectionRow {
        id,
        tenant_id: auth.tenant_id.clone(),
        platform: platform.to_owned(),
        status: ACTIVE.to_owned(),
        store_url,
        shop_id,
        endpoint_url,
        account_id,
        secrets_sealed,
        last_event_at: None,
        last_error: registration_error,
        created_at: now,
        updated_at: now,
        settings: settings.to_stored(),
        tokens,
    };
    if !state.store.insert_connection(&row, max).await? {
        return Err(ApiError::TooManyConnections { max });
    }
    let mut answer = out(&state, row)?;
    answer.generated_webhook_secret = generated;
    Ok(ApiResponse::created(answer))
}

#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "Connection id")), security(("api_key" = ["connections:read"])),
    responses((status = 200, description = "The connection", body = ConnectionOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn get_connection(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ConnectionOut> {
    auth.require(Scope::ConnectionsRead)?;
    let row = state
        .store
        .get_connection(&auth.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(ApiResponse::ok(out(&state, row)?))
}

#[utoipa::path(post, path = "/api/v1/connections/{id}/deactivate", tag = "connections",
    params(("id" = String, Path, description = "Connection id")), security(("api_key" = ["connections:write"])),
    responses((status = 200, description = "Now inactive: the edge refuses its deliveries with CONNECTION_INACTIVE; late ones are kept as `ignored`", body = ConnectionOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn deactivate_connection(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ConnectionOut> {
    auth.require(Scope::ConnectionsWrite)?;
    let row = state
        .store
        .set_connection_status(&auth.tenant_id, &id, "inactive", now_ms())
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(ApiResponse::ok(out(&state, row)?))
}

/// The edge's WooCommerce route of one connection.
pub fn woocommerce_webhook_url(state: &AppState, tenant_id: &str, connection_id: &str) -> String {
    format!(
        "{}/webhooks/woocommerce/{tenant_id}/{connection_id}",
        state.public_base_url
    )
}

/// The store's REST API with the connection's keys, through the guarded outbound client; why
/// not, in words the tenant may read (nothing the store answered).
pub fn woo_client(
    state: &AppState,
    store_url: &str,
    consumer_key: &str,
    consumer_secret: &str,
) -> Result<crate::platforms::woocommerce::WooRestClient, String> {
    crate::platforms::woocommerce::WooRestClient::new(
        state.outbound.clone(),
        store_url,
        consumer_key,
        consumer_secret,
    )
    .map_err(|error| format!("the store cannot be called: {error}"))
}

/// Registers the order webhooks in the store through its REST API, signed with `secret` and
/// delivering to `delivery_url` (the connection's own route at the edge): the store's webhook
/// ids, or why not.
pub(super) async fn register_woocommerce_webhooks(
    client: &crate::platforms::woocommerce::WooRestClient,
    delivery_url: &str,
    secret: &str,
) -> Result<Vec<u64>, String> {
    let mut ids = Vec::new();
    for topic in ["order.created", "order.updated"] {
        let id = client
            .register_webhook(topic, delivery_url, secret)
            .await
            .map_err(|error| format!("webhook registration for {topic} failed: {error}"))?;
        ids.push(id);
    }
    Ok(ids)
}

/// The eBay seller's userId, from eBay's identity API with their user token: what binds the
/// connection to the notifications that name that seller.
async fn ebay_user_id(state: &AppState, token: &str) -> Result<String, ApiError> {
    let client = crate::platforms::ebay::EbayClient::new(
        state.outbound.clone(),
        &state.ebay_identity_base_url,
    )
    .map_err(|error| {
        tracing::error!(%error, "the eBay Identity API base URL is refused");
        ApiError::internal(error)
    })?;
    match client.get_user(token).await {
        Ok(user) => Ok(user.user_id),
        Err(error) => {
            tracing::warn!(%error, "eBay getUser failed");
            Err(ApiError::validation(
                "access_token",
                "eBay did not say which seller this access_token belongs to",
                "send a current user token with the commerce.identity.readonly scope",
            ))
        }
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::validation(
            field,
            format!("{field} must not be empty"),
            "send a non-empty value",
        ));
    }
    Ok(())
}

fn require_http_url(field: &'static str, value: &str) -> Result<(), ApiError> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len();
    if !ok {
        return Err(ApiError::validation(
            field,
            format!("{field} must be an http(s) URL"),
            "e.g. https://shop.example.com",
        ));
    }
    Ok(())
}
