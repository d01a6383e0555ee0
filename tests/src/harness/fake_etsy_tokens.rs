//! The fake Etsy's OAuth tokens, as PLATFORMS.md §2.2 has them: access tokens that end (an hour
//! unless set shorter), a refresh grant that rotates (each refresh answers a new refresh token
//! and the one sent is dead from then on), and a password change that revokes everything
//! (`{"error":"invalid_grant","error_description":"refresh_token is revoked"}`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::fake_etsy::{KEYSTRING, REFRESH_TOKEN, USER_ID};

/// Etsy's access token lifetime.
const ACCESS_LIFETIME_SECS: u64 = 3600;

pub(super) struct EtsyTokens {
    /// Access token → when it ends.
    access: Mutex<HashMap<String, Instant>>,
    /// The refresh tokens that still work.
    refresh: Mutex<HashSet<String>>,
    revoked: AtomicBool,
    lifetime_secs: AtomicU64,
    delay_ms: AtomicU64,
    refreshes: AtomicUsize,
    issued: AtomicUsize,
}

impl Default for EtsyTokens {
    fn default() -> Self {
        EtsyTokens {
            access: Mutex::default(),
            refresh: Mutex::new(HashSet::from([REFRESH_TOKEN.to_owned()])),
            revoked: AtomicBool::new(false),
            lifetime_secs: AtomicU64::new(ACCESS_LIFETIME_SECS),
            delay_ms: AtomicU64::new(0),
            refreshes: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
        }
    }
}

/// Why an access token is not taken, as Etsy's 401 body says it.
pub(super) fn refused_access_token() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "invalid_token", "error_description": "access token is expired" })),
    )
        .into_response()
}

impl EtsyTokens {
    fn issue(&self) -> String {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let token = format!("{USER_ID}.access{n}");
        let lifetime = Duration::from_secs(self.lifetime_secs.load(Ordering::SeqCst));
        self.access
            .lock()
            .unwrap()
            .insert(token.clone(), Instant::now() + lifetime);
        token
    }

    pub(super) fn issue_access_token(&self) -> String {
        self.issue()
    }

    /// A new token pair, as a granted authorization code answers it: the access token, the
    /// refresh token (taken by the refresh grant from now on) and the access lifetime.
    pub(super) fn issue_pair(&self) -> (String, String, u64) {
        let n = self.issued.load(Ordering::SeqCst);
        let refresh = format!("{USER_ID}.granted{n}");
        self.refresh.lock().unwrap().insert(refresh.clone());
        let access = self.issue();
        (access, refresh, self.lifetime_secs.load(Ordering::SeqCst))
    }

    pub(super) fn access_token_works(&self, token: &str) -> bool {
        self.access
            .lock()
            .unwrap()
            .get(token)
            .is_some_and(|end| Instant::now() < *end)
    }

    pub(super) fn expire_access_tokens(&self) {
        self.access.lock().unwrap().clear();
    }

    pub(super) fn set_access_lifetime(&self, secs: u64) {
        self.lifetime_secs.store(secs, Ordering::SeqCst);
    }

    pub(super) fn set_refresh_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The seller changed their password: every token they had is dead.
    pub(super) fn revoke_all(&self) {
        self.revoked.store(true, Ordering::SeqCst);
        self.access.lock().unwrap().clear();
        self.refresh.lock().unwrap().clear();
    }

    pub(super) fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Whether `refresh_token` would still be taken.
    pub(super) fn refresh_token_works(&self, refresh_token: &str) -> bool {
        self.refresh.lock().unwrap().contains(refresh_token)
    }
}

#[derive(Deserialize)]
pub(super) struct RefreshForm {
    grant_type: String,
    client_id: String,
    refresh_token: String,
}

/// `POST /v3/public/oauth/token` with `grant_type=refresh_token` (no client secret, no Basic
/// auth): new tokens, the refresh token sent taken out of use.
pub(super) async fn refresh(tokens: &EtsyTokens, form: Form<RefreshForm>) -> Response {
    let Form(form) = form;
    let delay = tokens.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let invalid_grant = |description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": description })),
        )
            .into_response()
    };
    if form.grant_type != "refresh_token" || form.client_id != KEYSTRING {
        return invalid_grant("Invalid refresh token");
    }
    if tokens.revoked.load(Ordering::SeqCst) {
        return invalid_grant("refresh_token is revoked");
    }
    // Taken out of use in the same step that checks it: two refreshes with one token, one wins.
    if !tokens.refresh.lock().unwrap().remove(&form.refresh_token) {
        return invalid_grant("Invalid refresh token");
    }
    let n = tokens.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
    let rotated = format!("{USER_ID}.refresh{n}");
    tokens.refresh.lock().unwrap().insert(rotated.clone());
    let access_token = tokens.issue();
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": tokens.lifetime_secs.load(Ordering::SeqCst),
        "refresh_token": rotated
    }))
    .into_response()
}
