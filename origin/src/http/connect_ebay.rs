//! eBay's return from its consent page: `GET /connect/ebay/callback` (the RuName's accepted
//! URL, and its declined one). An accepted consent carries the attempt's `state` and an
//! authorization `code`; the code is exchanged for the seller's tokens, `getUser` says which
//! seller it is (the connection's `account_id`, which notifications must name), and the
//! connection is made (or re-authorised) with its tokens sealed and saved through
//! `TokenStore::save_tokens` (`connect_ebay_seller`: one seller is one connection). The seller is then subscribed to
//! `ORDER_CONFIRMATION` on the app's notification destination when there is one, delivered to
//! the app's one endpoint (`/webhooks/ebay` at the edge, routed by the seller's userId); a
//! failure there is a warning on the connection.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connect_ebay_seller::{Granted, connect_seller, reauthorise};
use super::connect_woocommerce::page;
use super::error::ApiError;
use super::state::AppState;
use crate::domain::connect::{self, StateRefusal};
use crate::domain::tokens::{TokenTimes, times_of};
use crate::ids::now_ms;
use crate::platforms::ebay::EbayClient;
use crate::platforms::ebay::consent::{ORDER_CONFIRMATION, is_wire_code};
use crate::platforms::oauth::{TokenAnswer, TokenError};
use crate::store::ConnectAttemptRow;
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
        (status = 409, description = "A page: the connect link expired or was already used, or (ACCOUNT_ALREADY_CONNECTED, named on the page) the eBay seller already has an active connection of another tenant", content_type = "text/html", body = String),
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
    let granted = Granted {
        user_id: &user.user_id,
        tokens: &tokens,
        times,
        now,
    };
    let made = match &attempt.connection_id {
        Some(id) => reauthorise(&state, &attempt.tenant_id, id, &granted).await?,
        None => connect_seller(&state, &attempt.tenant_id, &granted).await?,
    };
    let connection_id = match made {
        Ok(id) => id,
        Err(not_made) => {
            finish(&state, &attempt, not_made.outcome, None).await?;
            return Ok(not_made.page);
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

pub(super) fn start_again(status: StatusCode, why: &str) -> Response {
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
