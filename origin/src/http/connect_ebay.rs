//! eBay's return from its consent page: `GET /connect/ebay/callback` (the RuName's accepted
//! URL, and its declined one). An accepted consent carries the attempt's `state` and an
//! authorization `code`; the code is exchanged for the seller's tokens, `getUser` says which
//! seller it is (the connection's `account_id`, which notifications must name), and the
//! connection is made (or re-authorised) with its tokens sealed and saved through
//! `TokenStore::save_tokens`. The seller is then subscribed to `ORDER_CONFIRMATION` when the
//! app has a notification destination; a failure there is a warning on the connection.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connect_woocommerce::page;
use super::connections::open_secrets;
use super::error::ApiError;
use super::state::AppState;
use crate::domain::connect::{self, StateRefusal};
use crate::domain::connections::{ACTIVE, ConnectionSecrets};
use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::tokens::{TokenTimes, times_of};
use crate::ids::{new_id, now_ms};
use crate::platforms::ebay::EbayClient;
use crate::platforms::ebay::consent::{ORDER_CONFIRMATION, is_wire_code};
use crate::platforms::oauth::{TokenAnswer, TokenError};
use crate::store::tokens::{SaveTokens, TokenSet, TokenState};
use crate::store::{ConnectAttemptRow, ConnectionRow};
use secrecy::ExposeSecret;

/// What the attempt records once the connection is made.
const CONNECTED: &str = "connected";

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ebay_return))
}

/// The seller's return from eBay's consent page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EbayReturn {
    /// The attempt's state, echoed.
    pub state: Option<String>,
    /// The authorization code, URL-encoded as eBay sends it; absent when the seller declined.
    pub code: Option<String>,
    /// Seconds the code lives (299).
    pub expires_in: Option<String>,
}

/// The query's `state` (decoded) and `code` (exactly as on the wire).
fn read_query(raw: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut state, mut code) = (None, None);
    for pair in raw.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "state" if state.is_none() => {
                state = url::form_urlencoded::parse(format!("s={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
            }
            "code" if code.is_none() && !value.is_empty() => code = Some(value.to_owned()),
            _ => {}
        }
    }
    (state, code)
}

#[utoipa::path(get, path = "/connect/ebay/callback", tag = "connect", params(EbayReturn),
    responses((status = 200, description = "A page telling the seller their eBay account is connected", content_type = "text/html", body = String),
        (status = 400, description = "A page: the seller declined (nothing changed), or eBay refused the code", content_type = "text/html", body = String),
        (status = 404, description = "A page: no such connect attempt", content_type = "text/html", body = String),
        (status = 409, description = "A page: the connect link expired or was already used", content_type = "text/html", body = String),
        (status = 502, description = "A page: eBay could not be reached; start again", content_type = "text/html", body = String)))]
pub async fn ebay_return(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (attempt_id, code) = read_query(raw.as_deref());
    let attempt = match attempt_id.as_deref() {
        Some(id) if connect::is_plausible_state(id) => state.store.get_connect_attempt(id).await?,
        _ => None,
    };
    let Some(attempt) = attempt.filter(|a| a.platform == "ebay") else {
        return Ok(refused_page(StateRefusal::Unknown));
    };
    let Some(code) = code else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "Access was not granted on eBay, so your eBay account was not connected. Nothing was changed.",
        ));
    };
    let now = now_ms();
    if let Err(refusal) = connect::check_attempt(Some(attempt.facts()), "ebay", now) {
        return Ok(refused_page(refusal));
    }
    if !is_wire_code(&code) {
        return Ok(start_again(
            StatusCode::BAD_REQUEST,
            "eBay's answer was not readable.",
        ));
    }
    let settings = &state.connections.connect;
    let (Some(client_id), Some(client_secret), Some(ru_name)) = (
        &settings.ebay_client_id,
        &settings.ebay_client_secret,
        &settings.ebay_ru_name,
    ) else {
        return Ok(start_again(
            StatusCode::BAD_REQUEST,
            "Connecting eBay is not set up on this service.",
        ));
    };
    // Single use: of two returns with one state, one gets past here.
    if !state.store.use_connect_attempt(&attempt.id, now).await? {
        return Ok(refused_page(StateRefusal::Used));
    }
    let client = EbayClient::new(
        state.outbound.clone(),
        &state.platform_apis.ebay_api_base_url,
    )
    .map_err(ApiError::internal)?;
    let tokens = match client
        .exchange_code(client_id, client_secret.expose_secret(), &code, ru_name)
        .await
    {
        Ok(tokens) => tokens,
        Err(TokenError::InvalidGrant) => {
            finish(&state, &attempt, "code refused", None).await?;
            return Ok(start_again(
                StatusCode::BAD_REQUEST,
                "eBay refused the approval (it may have expired or been used already).",
            ));
        }
        Err(TokenError::Failed(error)) => {
            tracing::warn!(%error, "eBay code exchange failed");
            finish(&state, &attempt, "exchange failed", None).await?;
            return Ok(start_again(
                StatusCode::BAD_GATEWAY,
                "eBay could not be reached.",
            ));
        }
    };
    let identity = EbayClient::new(state.outbound.clone(), &state.ebay_identity_base_url)
        .map_err(ApiError::internal)?;
    let user = match identity.get_user(&tokens.access_token).await {
        Ok(user) => user,
        Err(error) => {
            tracing::warn!(%error, "eBay getUser failed after the code exchange");
            finish(&state, &attempt, "seller unknown", None).await?;
            return Ok(start_again(
                StatusCode::BAD_GATEWAY,
                "eBay did not say which seller approved.",
            ));
        }
    };
    let times = token_times(&state, &tokens, now);
    let connection_id = match &attempt.connection_id {
        Some(id) => {
            let row = state
                .store
                .get_connection(&attempt.tenant_id, id)
                .await?
                .ok_or(ApiError::NotFound("connection"))?;
            let mut secrets = open_secrets(&state, &row)?;
            with_tokens(&mut secrets, &tokens);
            let sealed = secrets.seal(&state.master_key, &row.tenant_id, &row.id);
            state
                .store
                .reauthorise_connection(&row.tenant_id, &row.id, &sealed, Some(&user.user_id), now)
                .await?
                .ok_or(ApiError::NotFound("connection"))?;
            save(&state, &row.tenant_id, &row.id, &sealed, times, now).await?;
            row.id
        }
        None => {
            let Some(id) = create(&state, &attempt, &user.user_id, &tokens, times, now).await?
            else {
                finish(&state, &attempt, "too many connections", None).await?;
                return Ok(start_again(
                    StatusCode::BAD_REQUEST,
                    "This account already holds as many connections as it may.",
                ));
            };
            id
        }
    };
    tracing::info!(connection = %connection_id, "eBay seller connected");
    if let Some(destination) = &settings.ebay_notification_destination_id {
        let warning = match client
            .create_subscription(&tokens.access_token, ORDER_CONFIRMATION, destination)
            .await
        {
            Ok(_) => None,
            Err(refusal) => Some(format!(
                "the ORDER_CONFIRMATION subscription failed: {}",
                refusal.describe()
            )),
        };
        if warning.is_some() {
            state
                .store
                .set_connection_warning(&connection_id, warning.as_deref())
                .await?;
        }
    }
    finish(&state, &attempt, CONNECTED, Some(&connection_id)).await?;
    Ok(page(
        StatusCode::OK,
        "eBay account connected",
        "Your eBay account is connected: its paid orders are now delivered automatically.",
    ))
}

/// The times of a token set eBay just gave: the access token's `expires_in`, the refresh
/// token's `refresh_token_expires_in`.
fn token_times(state: &AppState, tokens: &TokenAnswer, now: i64) -> TokenTimes {
    let refresh_expires_at = tokens
        .refresh_token_expires_in
        .map(|secs| now.saturating_add(secs.max(0).saturating_mul(1000)));
    times_of(
        now,
        tokens.expires_in,
        refresh_expires_at,
        tokens.refresh_token.is_some(),
        state.platform_apis.token_refresh_margin_ms,
    )
}

fn with_tokens(secrets: &mut ConnectionSecrets, tokens: &TokenAnswer) {
    secrets.access_token = Some(tokens.access_token.clone());
    if let Some(refresh) = &tokens.refresh_token {
        secrets.refresh_token = Some(refresh.clone());
    }
}

async fn save(
    state: &AppState,
    tenant_id: &str,
    connection_id: &str,
    sealed: &str,
    times: TokenTimes,
    now: i64,
) -> Result<(), ApiError> {
    let set = TokenSet {
        secrets_sealed: sealed,
        times,
    };
    state
        .store
        .save_tokens(tenant_id, connection_id, set, SaveTokens::Replace, now)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(())
}

/// A new eBay connection of the seller: the notification settings the seller would otherwise
/// paste are generated (a verification token of eBay's form, the tenant's endpoint at the
/// edge), and the tokens saved. None when the tenant is at its connection cap.
async fn create(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    user_id: &str,
    tokens: &TokenAnswer,
    times: TokenTimes,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let tenant_id = &attempt.tenant_id;
    let id = new_id("con");
    let mut secrets = ConnectionSecrets {
        // 48 hex digits: within eBay's 32 to 80 characters of [A-Za-z0-9_-].
        verification_token: Some(crate::crypto::random_hex(24)),
        ..ConnectionSecrets::default()
    };
    let row = ConnectionRow {
        id: id.clone(),
        tenant_id: tenant_id.clone(),
        platform: "ebay".to_owned(),
        status: ACTIVE.to_owned(),
        store_url: None,
        shop_id: None,
        endpoint_url: Some(format!(
            "{}/webhooks/ebay/{tenant_id}",
            state.public_base_url
        )),
        account_id: Some(user_id.to_owned()),
        secrets_sealed: secrets.seal(&state.master_key, tenant_id, &id),
        last_event_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        settings: ConnectionSettings::default().to_stored(),
        tokens: TokenState::default(),
    };
    if !state
        .store
        .insert_connection(&row, state.connections.max_per_tenant)
        .await?
    {
        return Ok(None);
    }
    with_tokens(&mut secrets, tokens);
    let sealed = secrets.seal(&state.master_key, tenant_id, &id);
    save(state, tenant_id, &id, &sealed, times, now).await?;
    Ok(Some(id))
}

async fn finish(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    outcome: &str,
    connection_id: Option<&str>,
) -> Result<(), ApiError> {
    Ok(state
        .store
        .finish_connect_attempt(&attempt.id, outcome, connection_id)
        .await?)
}

fn refused_page(refusal: StateRefusal) -> Response {
    let status = match refusal {
        StateRefusal::Unknown | StateRefusal::WrongPlatform => StatusCode::NOT_FOUND,
        StateRefusal::Expired | StateRefusal::Used => StatusCode::CONFLICT,
    };
    let message = refusal.to_string();
    let message = format!(
        "{}{}. Nothing was changed.",
        message[..1].to_uppercase(),
        &message[1..]
    );
    page(status, "Not connected", &message)
}

fn start_again(status: StatusCode, why: &str) -> Response {
    page(
        status,
        "Not connected",
        &format!(
            "{why} Your eBay account was not connected; start connecting again from YourSender."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_read_as_it_arrived_and_the_state_decoded() {
        let (state, code) = read_query(Some("state=cst%5Fab&code=v%5E1.1%23i%5E1&expires_in=299"));
        assert_eq!(state.as_deref(), Some("cst_ab"));
        assert_eq!(code.as_deref(), Some("v%5E1.1%23i%5E1"));
        assert_eq!(
            read_query(Some("state=cst_x")),
            (Some("cst_x".into()), None)
        );
        assert_eq!(read_query(None), (None, None));
        assert_eq!(read_query(Some("code=&state=s")).1, None);
    }
}
