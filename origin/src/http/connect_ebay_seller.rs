//! The connection an eBay consent makes or re-authorises, for `connect_ebay`'s return: one
//! seller is one connection. The tenant's own connection of the granting seller gets the new
//! tokens (and is active again) rather than a second being made, a seller another tenant has
//! connected is refused (`ACCOUNT_ALREADY_CONNECTED`, also what the database's
//! one-active-connection-per-account index answers a race with), and a new connection is
//! notified on the app's one endpoint.

use axum::http::StatusCode;
use axum::response::Response;

use super::connect_ebay::start_again;
use super::connect_woocommerce::already_connected_page;
use super::connections::{account_holder_of, open_secrets};
use super::error::ApiError;
use super::state::AppState;
use crate::domain::connections::{ACTIVE, AccountHolder, ConnectionSecrets};
use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::tokens::TokenTimes;
use crate::ids::new_id;
use crate::platforms::oauth::TokenAnswer;
use crate::store::tokens::{SaveTokens, TokenSet, TokenState};
use crate::store::{ConnectionRow, PlatformAccount, StoreError};

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

/// What eBay granted on this return: whose tokens, and the tokens with their times.
pub(super) struct Granted<'a> {
    pub user_id: &'a str,
    pub tokens: &'a TokenAnswer,
    pub times: TokenTimes,
    pub now: i64,
}

/// Why the seller was not connected: what the attempt records, and the page.
pub(super) struct NotMade {
    pub outcome: &'static str,
    pub page: Response,
}

pub(super) type Made = Result<Result<String, NotMade>, ApiError>;

/// The seller's connection: the tenant's own connection of that seller re-authorised, else a
/// new one, unless another tenant's connection has the seller.
pub(super) async fn connect_seller(
    state: &AppState,
    tenant_id: &str,
    granted: &Granted<'_>,
) -> Made {
    let seller = PlatformAccount::EbaySeller(granted.user_id);
    match account_holder_of(state, tenant_id, seller).await? {
        AccountHolder::Tenant(id) => reauthorise(state, tenant_id, &id, granted).await,
        AccountHolder::OtherTenant => Ok(Err(held_elsewhere())),
        AccountHolder::Nobody => create(state, tenant_id, granted).await,
    }
}

fn held_elsewhere() -> NotMade {
    NotMade {
        outcome: "seller connected elsewhere",
        page: already_connected_page(
            "This eBay seller is already connected to another YourSender account. Disconnect it there, or sign in to eBay as another seller, and connect again.",
        ),
    }
}

/// A connection write the database refused: the seller has an active connection already.
fn second_connection() -> NotMade {
    NotMade {
        outcome: "seller already connected",
        page: already_connected_page(
            "This eBay seller already has an active connection. Re-authorise that connection instead.",
        ),
    }
}

/// The named connection of the tenant gets the new tokens (and is active again), if it is the
/// granting seller's or knows no seller yet, and no other tenant's connection has the seller.
pub(super) async fn reauthorise(
    state: &AppState,
    tenant_id: &str,
    connection_id: &str,
    granted: &Granted<'_>,
) -> Made {
    let row = state
        .store
        .get_connection(tenant_id, connection_id)
        .await?
        .filter(|row| row.platform == "ebay");
    let Some(row) = row else {
        return Ok(Err(NotMade {
            outcome: "connection gone",
            page: start_again(
                StatusCode::NOT_FOUND,
                "The connection to re-authorise no longer exists.",
            ),
        }));
    };
    if let Some(account) = row.account_id.as_deref().filter(|a| *a != granted.user_id) {
        return Ok(Err(NotMade {
            outcome: "another seller",
            page: start_again(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Access was granted by eBay user {}, but this connection is for eBay user {account}. Sign in to eBay as that seller.",
                    granted.user_id
                ),
            ),
        }));
    }
    let seller = PlatformAccount::EbaySeller(granted.user_id);
    if account_holder_of(state, tenant_id, seller).await? == AccountHolder::OtherTenant {
        return Ok(Err(held_elsewhere()));
    }
    let mut secrets = open_secrets(state, &row)?;
    with_tokens(&mut secrets, granted.tokens);
    let sealed = secrets.seal(&state.master_key, &row.tenant_id, &row.id);
    let updated = state
        .store
        .reauthorise_connection(
            &row.tenant_id,
            &row.id,
            &sealed,
            Some(granted.user_id),
            granted.now,
        )
        .await;
    match updated {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ApiError::NotFound("connection")),
        Err(StoreError::AccountAlreadyConnected) => return Ok(Err(second_connection())),
        Err(error) => return Err(error.into()),
    }
    save(
        state,
        &row.tenant_id,
        &row.id,
        &sealed,
        granted.times,
        granted.now,
    )
    .await?;
    Ok(Ok(row.id))
}

/// A new eBay connection of the seller, notified on the app's one endpoint
/// (`{PUBLIC_BASE_URL}/webhooks/ebay`, where the seller's ORDER_CONFIRMATION subscription
/// delivers): it has no verification token of its own, eBay's challenge there is answered
/// with the app's. Its tokens are saved; refused when the tenant is at its connection cap.
async fn create(state: &AppState, tenant_id: &str, granted: &Granted<'_>) -> Made {
    let id = new_id("con");
    let mut secrets = ConnectionSecrets::default();
    let now = granted.now;
    let row = ConnectionRow {
        id: id.clone(),
        tenant_id: tenant_id.to_owned(),
        platform: "ebay".to_owned(),
        status: ACTIVE.to_owned(),
        store_url: None,
        shop_id: None,
        endpoint_url: Some(app_endpoint_url(state)),
        account_id: Some(granted.user_id.to_owned()),
        secrets_sealed: secrets.seal(&state.master_key, tenant_id, &id),
        last_event_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        settings: ConnectionSettings::default().to_stored(),
        tokens: TokenState::default(),
    };
    match state
        .store
        .insert_connection(&row, state.connections.max_per_tenant)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Ok(Err(NotMade {
                outcome: "too many connections",
                page: start_again(
                    StatusCode::BAD_REQUEST,
                    "This account already holds as many connections as it may.",
                ),
            }));
        }
        Err(StoreError::AccountAlreadyConnected) => return Ok(Err(second_connection())),
        Err(error) => return Err(error.into()),
    }
    with_tokens(&mut secrets, granted.tokens);
    let sealed = secrets.seal(&state.master_key, tenant_id, &id);
    save(state, tenant_id, &id, &sealed, granted.times, now).await?;
    Ok(Ok(id))
}

/// The app's one eBay notification endpoint at the edge.
pub fn app_endpoint_url(state: &AppState) -> String {
    format!("{}/webhooks/ebay", state.public_base_url)
}
