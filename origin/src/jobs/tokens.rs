//! Tokens kept alive: the refresh job (eBay user tokens, Etsy's rotating tokens, a while before
//! the access token ends) and the refresh a platform call asks for when it was refused with
//! 401. One refresh per connection at a time, across processes: each is made under a claim on
//! the connection row, and its token set is saved only if the connection's token generation is
//! still the one the refresh read (a compare-and-swap). A refresh that loses, or whose refresh
//! token was refused because another refresh had already replaced it, uses the winner's tokens
//! and never writes its own. A refresh token the platform refuses (`invalid_grant`) marks the
//! connection `needs_reconnect` with an alert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use secrecy::ExposeSecret;

use super::{Pipeline, ProcessError};
use crate::domain::connections::{ACTIVE, ConnectionSecrets};
use crate::domain::tokens::{
    ETSY_REFRESH_TOKEN_LIFETIME_SECS, ReconnectReason, ebay_refresh_token_ending,
    retry_after_failure, times_of,
};
use crate::ids::{new_id, now_ms};
use crate::platforms::ebay::EbayClient;
use crate::platforms::oauth::{TokenAnswer, TokenError};
use crate::store::tokens::{Reconnect, RefreshDeferred, SaveTokens, TokenSet};
use crate::store::{ConnectionRow, StoreError};

/// Connections one pass of the job refreshes at most.
const REFRESH_BATCH: i64 = 32;
/// How long a call refused with 401 waits for a refresh another worker is making.
const WAIT_FOR_OTHER_REFRESH: Duration = Duration::from_secs(20);

/// What a refresh came to.
enum Refreshed {
    /// Working tokens: this refresh's, or those a concurrent refresh saved.
    Tokens(Box<ConnectionSecrets>),
    /// The connection needs the seller to connect it again (now marked so, with its alert).
    NeedsReconnect,
    /// Not now (the platform was unavailable, the app is not configured): tried again later.
    Later(String),
}

impl Pipeline {
    /// Refreshes due tokens every few ticks (refreshes are due minutes ahead; a claim is a
    /// write, and SQLite has one writer), until the process ends.
    pub(super) async fn token_loop(self: Arc<Self>) {
        loop {
            if let Err(error) = self.refresh_due_once().await {
                tracing::warn!(%error, "claiming token refreshes failed");
            }
            tokio::time::sleep(self.settings.tick * 5).await;
        }
    }

    /// Claims the connections whose refresh is due and refreshes them; how many were claimed.
    pub async fn refresh_due_once(&self) -> Result<usize, StoreError> {
        let claim = new_id("rfc");
        let claimed = self
            .store
            .claim_due_refreshes(&claim, now_ms(), self.refresh_lease_ms(), REFRESH_BATCH)
            .await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency, |row| {
                let claim = claim.as_str();
                async move {
                    if let Refreshed::Later(why) = self.refresh_claimed(row.clone(), claim).await {
                        tracing::warn!(connection = %row.id, %why, "token refresh deferred");
                    }
                }
            })
            .await;
        Ok(count)
    }

    /// A platform refused `connection`'s access token with 401: its secrets with a working
    /// access token, refreshed now, or saved by a refresh made meanwhile (by this process or
    /// another). The caller read `connection` before its call: a newer token generation on the
    /// row means another refresh already replaced the refused token.
    pub async fn refresh_now(
        &self,
        connection: &ConnectionRow,
    ) -> Result<ConnectionSecrets, ProcessError> {
        let seen = connection.tokens.token_generation;
        let waiting_since = Instant::now();
        loop {
            let claim = new_id("rfc");
            let claimed = self
                .store
                .claim_refresh(
                    &connection.tenant_id,
                    &connection.id,
                    &claim,
                    now_ms(),
                    self.refresh_lease_ms(),
                )
                .await?;
            if let Some(row) = claimed {
                if row.tokens.token_generation != seen {
                    self.store.release_refresh(&row.id, &claim).await?;
                    return self.open_secrets(&row);
                }
                return match self.refresh_claimed(row, &claim).await {
                    Refreshed::Tokens(secrets) => Ok(*secrets),
                    Refreshed::NeedsReconnect => Err(ProcessError::Retry(format!(
                        "the {} connection needs to be connected again",
                        connection.platform
                    ))),
                    Refreshed::Later(why) => Err(ProcessError::Retry(why)),
                };
            }
            // Another worker holds the refresh (or the connection is no longer active).
            let row = self
                .store
                .get_connection(&connection.tenant_id, &connection.id)
                .await?
                .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
            if row.status != ACTIVE {
                return Err(ProcessError::Retry(format!(
                    "the {} connection is {}",
                    row.platform, row.status
                )));
            }
            if row.tokens.token_generation != seen {
                return self.open_secrets(&row);
            }
            if waiting_since.elapsed() > WAIT_FOR_OTHER_REFRESH {
                return Err(ProcessError::Retry(
                    "a token refresh in progress elsewhere has not finished".into(),
                ));
            }
            tokio::time::sleep(self.settings.tick.min(Duration::from_millis(200))).await;
        }
    }

    fn refresh_lease_ms(&self) -> i64 {
        i64::try_from(self.settings.tokens.refresh_lease.as_millis()).unwrap_or(120_000)
    }

    /// Refreshes a connection claimed under `claim` and records the outcome on its row.
    async fn refresh_claimed(&self, row: ConnectionRow, claim: &str) -> Refreshed {
        match self.try_refresh(&row, claim).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let why = match error {
                    ProcessError::Retry(m) | ProcessError::Permanent(m) => m,
                };
                self.defer(&row, claim, why).await
            }
        }
    }

    async fn try_refresh(
        &self,
        row: &ConnectionRow,
        claim: &str,
    ) -> Result<Refreshed, ProcessError> {
        let now = now_ms();
        let mut secrets = self.open_secrets(row)?;
        let Some(refresh_token) = secrets.refresh_token.clone() else {
            return self
                .needs_reconnect(row, ReconnectReason::NoRefreshToken)
                .await;
        };
        if row.platform == "ebay" && row.tokens.refresh_expires_at.is_some_and(|end| end <= now) {
            return self
                .needs_reconnect(row, ReconnectReason::RefreshTokenExpired)
                .await;
        }
        let answer = match row.platform.as_str() {
            "ebay" => {
                let tokens = &self.settings.tokens;
                let (Some(id), Some(secret)) = (&tokens.ebay_client_id, &tokens.ebay_client_secret)
                else {
                    return Ok(self
                        .defer(
                            row,
                            claim,
                            "EBAY_CLIENT_ID and EBAY_CLIENT_SECRET are not set".into(),
                        )
                        .await);
                };
                EbayClient::new(self.http.clone(), &self.settings.ebay_api_base_url)
                    .map_err(|e| ProcessError::Retry(format!("eBay token refresh: {e}")))?
                    .refresh_user_token(id, secret.expose_secret(), &refresh_token)
                    .await
            }
            "etsy" => {
                self.etsy_client(&secrets)
                    .map_err(|e| ProcessError::Retry(format!("Etsy token refresh: {e}")))?
                    .refresh(&refresh_token)
                    .await
            }
            other => {
                return Err(ProcessError::Permanent(format!(
                    "no token refresh for {other} connections"
                )));
            }
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(TokenError::InvalidGrant) => return self.refused(row, claim).await,
            Err(TokenError::Failed(error)) => {
                return Ok(self
                    .defer(
                        row,
                        claim,
                        format!("{} token refresh: {error}", row.platform),
                    )
                    .await);
            }
        };
        let times = self.times_after(row, &answer, now);
        secrets.access_token = Some(answer.access_token);
        // Etsy's answer carries the new refresh token; eBay's none, and the old one stays.
        if let Some(rotated) = answer.refresh_token {
            secrets.refresh_token = Some(rotated);
        }
        let sealed = secrets.seal(&self.master_key, &row.tenant_id, &row.id);
        let how = SaveTokens::Refreshed {
            generation: row.tokens.token_generation,
            claim,
        };
        let set = TokenSet {
            secrets_sealed: &sealed,
            times,
        };
        let saved = self
            .store
            .save_tokens(&row.tenant_id, &row.id, set, how, now_ms())
            .await?;
        if saved.is_none() {
            // Another refresh (or a new consent) saved newer tokens meanwhile: they win.
            self.store.release_refresh(&row.id, claim).await?;
            return self.current_tokens(row).await;
        }
        if row.platform == "ebay"
            && let Some(end) = ebay_refresh_token_ending(times.refresh_expires_at, now)
        {
            let reason = ReconnectReason::RefreshTokenEnding;
            let detail = reason.alert_detail(&row.id, &row.platform, Some(end));
            let which = Reconnect::Warning {
                connection_id: &row.id,
            };
            self.store
                .mark_needs_reconnect(&row.tenant_id, which, &detail, now_ms())
                .await?;
        }
        tracing::info!(connection = %row.id, platform = %row.platform, "tokens refreshed");
        Ok(Refreshed::Tokens(Box::new(secrets)))
    }

    /// The times of a refreshed token set.
    fn times_after(
        &self,
        row: &ConnectionRow,
        answer: &TokenAnswer,
        now: i64,
    ) -> crate::domain::tokens::TokenTimes {
        let refresh_expires_at = match (&answer.refresh_token, answer.refresh_token_expires_in) {
            (_, Some(secs)) => Some(now.saturating_add(secs.saturating_mul(1000))),
            (Some(_), None) if row.platform == "etsy" => {
                Some(now.saturating_add(ETSY_REFRESH_TOKEN_LIFETIME_SECS * 1000))
            }
            _ => row.tokens.refresh_expires_at,
        };
        let margin = i64::try_from(self.settings.tokens.refresh_margin.as_millis()).unwrap_or(0);
        times_of(now, answer.expires_in, refresh_expires_at, true, margin)
    }

    /// The platform refused the refresh token. When another refresh replaced it meanwhile,
    /// that is why (Etsy kills a refresh token once used): its tokens are the connection's.
    /// Otherwise the refresh token is dead.
    async fn refused(&self, row: &ConnectionRow, claim: &str) -> Result<Refreshed, ProcessError> {
        let reason = ReconnectReason::RefreshRefused;
        let detail = reason.alert_detail(&row.id, &row.platform, None);
        let which = Reconnect::Connection {
            connection_id: &row.id,
            generation: Some(row.tokens.token_generation),
        };
        let marked = self
            .store
            .mark_needs_reconnect(&row.tenant_id, which, &detail, now_ms())
            .await?;
        if marked > 0 {
            tracing::warn!(connection = %row.id, platform = %row.platform, "refresh token refused: the connection needs to be connected again");
            return Ok(Refreshed::NeedsReconnect);
        }
        self.store.release_refresh(&row.id, claim).await?;
        self.current_tokens(row).await
    }

    /// The connection's tokens as now stored (a concurrent refresh's, or a new consent's).
    async fn current_tokens(&self, row: &ConnectionRow) -> Result<Refreshed, ProcessError> {
        let current = self
            .store
            .get_connection(&row.tenant_id, &row.id)
            .await?
            .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
        if current.status != ACTIVE {
            return Ok(Refreshed::NeedsReconnect);
        }
        Ok(Refreshed::Tokens(Box::new(self.open_secrets(&current)?)))
    }

    async fn needs_reconnect(
        &self,
        row: &ConnectionRow,
        reason: ReconnectReason,
    ) -> Result<Refreshed, ProcessError> {
        let detail = reason.alert_detail(&row.id, &row.platform, row.tokens.refresh_expires_at);
        let which = Reconnect::Connection {
            connection_id: &row.id,
            generation: Some(row.tokens.token_generation),
        };
        let marked = self
            .store
            .mark_needs_reconnect(&row.tenant_id, which, &detail, now_ms())
            .await?;
        if marked > 0 {
            tracing::warn!(connection = %row.id, reason = reason.as_str(), "the connection needs to be connected again");
            return Ok(Refreshed::NeedsReconnect);
        }
        self.current_tokens(row).await
    }

    /// Releases the claim, to try again after a backoff.
    async fn defer(&self, row: &ConnectionRow, claim: &str, why: String) -> Refreshed {
        let deferred = RefreshDeferred {
            claim,
            retry_at: retry_after_failure(now_ms(), row.tokens.refresh_failures + 1),
        };
        if let Err(error) = self.store.defer_refresh(&row.id, deferred).await {
            tracing::warn!(connection = %row.id, %error, "recording a deferred refresh failed; its claim will expire");
        }
        Refreshed::Later(why)
    }
}
