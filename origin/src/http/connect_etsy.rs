//! Etsy's return from its connect page (`GET /connect/etsy/callback`): the seller's browser
//! brings the attempt's `state` and a `code` (or `error` when they declined). The code is
//! exchanged with the attempt's PKCE verifier, `getMe` names the user and shop that granted
//! it, and the shop's connection is made (or re-authorised) with the tokens stored through
//! `save_tokens`. The answer is a small page for the seller.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connect_woocommerce::{already_connected_message, page};
use super::connections::{account_holder_of, open_secrets};
use super::error::ApiError;
use super::extract::ApiQuery;
use super::state::AppState;
use crate::domain::connect::{self, StateRefusal};
use crate::domain::connections::{ACTIVE, AccountHolder, ConnectionSecrets};
use crate::domain::fulfilment::ConnectionSettings;
use crate::domain::tokens::{ETSY_REFRESH_TOKEN_LIFETIME_SECS, TokenTimes, times_of};
use crate::ids::{new_id, now_ms};
use crate::platforms::etsy::EtsyClient;
use crate::platforms::etsy::connect::EtsyMe;
use crate::platforms::oauth::{TokenAnswer, TokenError};
use crate::store::tokens::{SaveTokens, TokenSet, TokenState};
use crate::store::{ConnectAttemptRow, ConnectionRow, PlatformAccount, StoreError};

/// What the attempt records once the shop is connected.
const CONNECTED: &str = "connected";
/// Etsy's access token lifetime when its answer leaves `expires_in` out.
const ETSY_ACCESS_LIFETIME_SECS: i64 = 3600;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(etsy_return))
}

/// Where Etsy sends the seller back: the `redirect_uri` of the connect page and of the code
/// exchange, which must be the same.
pub fn redirect_uri(state: &AppState) -> String {
    let base = state
        .connections
        .connect
        .callback_base(&state.public_base_url);
    format!("{base}/connect/etsy/callback")
}

/// The seller's return from Etsy's connect page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EtsyReturn {
    /// The authorization code (absent when the seller declined).
    pub code: Option<String>,
    /// The attempt's state.
    pub state: Option<String>,
    /// Why no code came: `access_denied` when the seller declined.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why the shop was not connected: the page's status and what it says.
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl Failure {
    /// Another connection already has the shop: `ACCOUNT_ALREADY_CONNECTED`.
    fn already_connected(why: &str) -> Self {
        Failure::new(StatusCode::CONFLICT, already_connected_message(why))
    }

    fn held_elsewhere(shop_id: &str) -> Self {
        Failure::already_connected(&format!(
            "Etsy shop {shop_id} is already connected to another YourSender account. Disconnect it there, or sign in to Etsy as another shop's owner, and connect again."
        ))
    }

    /// A connection write the database refused: the shop has an active connection already.
    fn of_store(error: StoreError) -> Self {
        match error {
            StoreError::AccountAlreadyConnected => Failure::already_connected(
                "This Etsy shop already has an active connection. Re-authorise that connection instead.",
            ),
            other => ApiError::from(other).into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        tracing::error!(%error, "Etsy connect could not be completed");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "YourSender could not complete the connection. Start connecting again.",
        )
    }
}

#[utoipa::path(get, path = "/connect/etsy/callback", tag = "connect", params(EtsyReturn),
    responses((status = 200, description = "A page telling the seller the shop is connected", content_type = "text/html", body = String),
        (status = 400, description = "A page: the seller declined (nothing changed), or Etsy refused the code", content_type = "text/html", body = String),
        (status = 404, description = "A page: no such connect attempt", content_type = "text/html", body = String),
        (status = 409, description = "A page: the connect link expired or was already used, or (ACCOUNT_ALREADY_CONNECTED, named on the page) the Etsy shop already has an active connection of another tenant", content_type = "text/html", body = String),
        (status = 502, description = "A page: Etsy could not be reached or answered unreadably", content_type = "text/html", body = String)))]
pub async fn etsy_return(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EtsyReturn>,
) -> Result<Response, ApiError> {
    let attempt = match query.state.as_deref() {
        Some(id) if connect::is_plausible_state(id) => state.store.get_connect_attempt(id).await?,
        _ => None,
    };
    let Some(attempt) = attempt.filter(|a| a.platform == "etsy") else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "Connect link not found",
            "This connect link is unknown. Start connecting your Etsy shop again from YourSender.",
        ));
    };
    if let Some(error) = &query.error {
        let why = if error == "access_denied" {
            "Access was not granted on Etsy".to_owned()
        } else {
            format!("Etsy answered {error}")
        };
        return Ok(not_connected(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("{why}, so no shop was connected. Nothing was changed."),
        )));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return Ok(not_connected(Failure::new(
            StatusCode::BAD_REQUEST,
            "Etsy sent no authorization code. Start connecting again.",
        )));
    };
    let now = now_ms();
    if let Err(refusal) = connect::check_attempt(Some(attempt.facts()), "etsy", now) {
        return Ok(refused(refusal));
    }
    // Single use: of two returns with one state, one gets here.
    if !state.store.use_connect_attempt(&attempt.id, now).await? {
        return Ok(refused(StateRefusal::Used));
    }
    match complete(&state, &attempt, &code).await {
        Ok((connection_id, me)) => {
            tracing::info!(connection = %connection_id, shop = %me.shop_id, "Etsy shop connected");
            state
                .store
                .finish_connect_attempt(&attempt.id, CONNECTED, Some(&connection_id))
                .await?;
            Ok(page(
                StatusCode::OK,
                "Etsy shop connected",
                &format!(
                    "Etsy shop {} is connected: its paid orders are now delivered automatically.",
                    me.shop_id
                ),
            ))
        }
        Err(failure) => {
            state
                .store
                .finish_connect_attempt(&attempt.id, &failure.message, None)
                .await?;
            Ok(not_connected(failure))
        }
    }
}

fn not_connected(failure: Failure) -> Response {
    page(failure.status, "Not connected", &failure.message)
}

fn refused(refusal: StateRefusal) -> Response {
    let status = match refusal {
        StateRefusal::Unknown | StateRefusal::WrongPlatform => StatusCode::NOT_FOUND,
        StateRefusal::Expired | StateRefusal::Used => StatusCode::CONFLICT,
    };
    page(status, "Not connected", &capitalised(&refusal.to_string()))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// Exchanges the code, asks who connected and stores the connection: its id and who.
async fn complete(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    code: &str,
) -> Result<(String, EtsyMe), Failure> {
    let Some(client_id) = state.connections.connect.etsy_client_id.clone() else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "Connecting Etsy is not set up on this service.",
        ));
    };
    let verifier = attempt
        .code_verifier_sealed
        .as_deref()
        .ok_or_else(|| ApiError::internal("an Etsy connect attempt without a code verifier"))
        .and_then(|sealed| state.master_key.open(sealed).map_err(ApiError::internal))
        .and_then(|plain| String::from_utf8(plain).map_err(ApiError::internal))?;
    // The tokens belong to the app whose keystring asked for them: later calls use it too.
    let mut secrets = ConnectionSecrets {
        api_key: Some(client_id),
        ..ConnectionSecrets::default()
    };
    let apis = &state.platform_apis;
    let (keystring, shared_secret) = secrets.etsy_app_key(
        None,
        apis.etsy_shared_secret.as_ref().map(|s| s.expose_secret()),
    );
    let client = EtsyClient::new(
        state.outbound.clone(),
        &apis.etsy_api_base_url,
        &keystring,
        &shared_secret,
    )
    .map_err(|e| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("Etsy cannot be called: {e}."),
        )
    })?;
    let answer = client
        .exchange_code(code, &verifier, &redirect_uri(state))
        .await
        .map_err(exchange_failure)?;
    let Some(refresh_token) = answer.refresh_token.clone() else {
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            "Etsy answered no refresh token. Start connecting again.",
        ));
    };
    let me = client.me(&answer.access_token).await.map_err(|e| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("Etsy did not say which shop granted access: {e}. Start connecting again."),
        )
    })?;
    secrets.access_token = Some(answer.access_token.clone());
    secrets.refresh_token = Some(refresh_token);
    let now = now_ms();
    let times = token_times(state, &answer, now);
    let connection_id = match &attempt.connection_id {
        Some(id) => reauthorise(state, attempt, id, &me, secrets, times, now).await?,
        None => create(state, attempt, &me, secrets, times, now).await?,
    };
    Ok((connection_id, me))
}

fn exchange_failure(error: TokenError) -> Failure {
    match error {
        TokenError::InvalidGrant => Failure::new(
            StatusCode::BAD_REQUEST,
            "Etsy refused the authorization (invalid_grant). Start connecting again.",
        ),
        TokenError::Failed(error) => Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("Etsy did not give the tokens: {error}. Start connecting again."),
        ),
    }
}

/// Access 1 hour (or as Etsy says), refresh 90 days; the first refresh before the access
/// token ends, by the configured margin.
fn token_times(state: &AppState, answer: &TokenAnswer, now: i64) -> TokenTimes {
    let access = answer.expires_in.unwrap_or(ETSY_ACCESS_LIFETIME_SECS);
    let refresh_ends = now.saturating_add(ETSY_REFRESH_TOKEN_LIFETIME_SECS * 1000);
    times_of(
        now,
        Some(access),
        Some(refresh_ends),
        true,
        state.platform_apis.token_refresh_margin_ms,
    )
}

async fn save(
    state: &AppState,
    tenant_id: &str,
    connection_id: &str,
    secrets: &ConnectionSecrets,
    times: TokenTimes,
    now: i64,
) -> Result<(), Failure> {
    let sealed = secrets.seal(&state.master_key, tenant_id, connection_id);
    let set = TokenSet {
        secrets_sealed: &sealed,
        times,
    };
    state
        .store
        .save_tokens(tenant_id, connection_id, set, SaveTokens::Replace, now)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::internal("the new Etsy connection vanished"))?;
    Ok(())
}

/// A new connection of the shop, unless the tenant already has one (then that one gets the
/// tokens: connecting a shop twice makes one connection) or another tenant has (refused).
async fn create(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    me: &EtsyMe,
    secrets: ConnectionSecrets,
    times: TokenTimes,
    now: i64,
) -> Result<String, Failure> {
    let tenant_id = &attempt.tenant_id;
    let shop = PlatformAccount::EtsyShop(&me.shop_id);
    match account_holder_of(state, tenant_id, shop).await? {
        AccountHolder::Tenant(existing) => {
            return reauthorise(state, attempt, &existing, me, secrets, times, now).await;
        }
        AccountHolder::OtherTenant => return Err(Failure::held_elsewhere(&me.shop_id)),
        AccountHolder::Nobody => {}
    }
    let id = new_id("con");
    let row = ConnectionRow {
        id: id.clone(),
        tenant_id: tenant_id.clone(),
        platform: "etsy".to_owned(),
        status: ACTIVE.to_owned(),
        store_url: None,
        shop_id: Some(me.shop_id.clone()),
        endpoint_url: None,
        account_id: Some(me.user_id.clone()),
        secrets_sealed: ConnectionSecrets::default().seal(&state.master_key, tenant_id, &id),
        last_event_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        settings: ConnectionSettings::default().to_stored(),
        tokens: TokenState::new(times_of(now, None, None, false, 0)),
    };
    let max = state.connections.max_per_tenant;
    if !state
        .store
        .insert_connection(&row, max)
        .await
        .map_err(Failure::of_store)?
    {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            format!(
                "Your account already holds its {max} connections. Remove one and connect again."
            ),
        ));
    }
    save(state, tenant_id, &id, &secrets, times, now).await?;
    Ok(id)
}

/// The connection named gets the new tokens, if it is of the shop that granted them.
async fn reauthorise(
    state: &AppState,
    attempt: &ConnectAttemptRow,
    connection_id: &str,
    me: &EtsyMe,
    mut secrets: ConnectionSecrets,
    times: TokenTimes,
    now: i64,
) -> Result<String, Failure> {
    let row = state
        .store
        .get_connection(&attempt.tenant_id, connection_id)
        .await
        .map_err(ApiError::from)?
        .filter(|row| row.platform == "etsy")
        .ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                "The connection to re-authorise no longer exists. Start connecting again.",
            )
        })?;
    if row.shop_id.as_deref() != Some(me.shop_id.as_str()) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Access was granted for Etsy shop {}, but this connection is for shop {}. Sign in to Etsy as that shop's owner and connect again.",
                me.shop_id,
                row.shop_id.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    let shop = PlatformAccount::EtsyShop(&me.shop_id);
    if account_holder_of(state, &row.tenant_id, shop).await? == AccountHolder::OtherTenant {
        return Err(Failure::held_elsewhere(&me.shop_id));
    }
    // Whatever else the connection keeps (its own app key) stays; the tokens are new.
    let kept = open_secrets(state, &row).unwrap_or_default();
    secrets.api_key = kept.api_key.or(secrets.api_key);
    secrets.webhook_secret = kept.webhook_secret;
    let sealed = secrets.seal(&state.master_key, &row.tenant_id, &row.id);
    state
        .store
        .reauthorise_connection(&row.tenant_id, &row.id, &sealed, Some(&me.user_id), now)
        .await
        .map_err(Failure::of_store)?;
    save(state, &row.tenant_id, &row.id, &secrets, times, now).await?;
    Ok(row.id)
}
