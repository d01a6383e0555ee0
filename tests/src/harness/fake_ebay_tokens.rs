//! The fake eBay's sellers' user tokens, as PLATFORMS.md §1.3 has them: the refresh grant
//! (`grant_type=refresh_token`, the app's Basic auth, checked by the token route) answers a new
//! access token that lives `expires_in` seconds (7200 unless set shorter) and **no** refresh
//! token (eBay's does not rotate); a dead refresh token answers `invalid_grant`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::fake_ebay::{OTHER_SELLER_TOKEN, OTHER_SELLER_USER_ID, SELLER_TOKEN, SELLER_USER_ID};

/// The seller's refresh token (the one the connect flow would have obtained).
pub const SELLER_REFRESH_TOKEN: &str = "v^1.1#i^1#p^3#r^1#seller-refresh-token";

pub(super) struct UserTokens {
    /// Access token → (its seller's userId, when it ends).
    issued: Mutex<HashMap<String, (String, Instant)>>,
    lifetime_secs: AtomicU64,
    refused: AtomicBool,
    refreshes: AtomicUsize,
    /// The form bodies of the refresh grants, in order.
    bodies: Mutex<Vec<String>>,
}

impl Default for UserTokens {
    fn default() -> Self {
        UserTokens {
            issued: Mutex::default(),
            lifetime_secs: AtomicU64::new(7200),
            refused: AtomicBool::new(false),
            refreshes: AtomicUsize::new(0),
            bodies: Mutex::default(),
        }
    }
}

impl UserTokens {
    /// Whose user token `token` is, while it works. The fixed tokens never end.
    pub(super) fn user_of(&self, token: &str) -> Option<String> {
        match token {
            SELLER_TOKEN => return Some(SELLER_USER_ID.to_owned()),
            OTHER_SELLER_TOKEN => return Some(OTHER_SELLER_USER_ID.to_owned()),
            _ => {}
        }
        self.issued
            .lock()
            .unwrap()
            .get(token)
            .filter(|(_, end)| Instant::now() < *end)
            .map(|(user, _)| user.clone())
    }

    /// A new user token of the seller, living the configured lifetime.
    pub(super) fn issue(&self) -> String {
        let n = self.issued.lock().unwrap().len();
        let token = format!("v^1.1#i^1#p^3#r^1#seller-user-token-{n}");
        let lifetime = Duration::from_secs(self.lifetime_secs.load(Ordering::SeqCst));
        self.issued.lock().unwrap().insert(
            token.clone(),
            (SELLER_USER_ID.to_owned(), Instant::now() + lifetime),
        );
        token
    }

    pub(super) fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs.load(Ordering::SeqCst)
    }

    pub(super) fn set_lifetime(&self, secs: u64) {
        self.lifetime_secs.store(secs, Ordering::SeqCst);
    }

    pub(super) fn set_refused(&self, refused: bool) {
        self.refused.store(refused, Ordering::SeqCst);
    }

    /// Every issued token ends now (the fixed ones too are not affected).
    pub(super) fn expire_all(&self) {
        for (_, end) in self.issued.lock().unwrap().values_mut() {
            *end = Instant::now();
        }
    }

    pub(super) fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    pub(super) fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// The refresh grant, its Basic auth already checked: a new access token, or
    /// `invalid_grant` for a refresh token eBay does not (or no longer) take.
    pub(super) fn refresh(&self, body: &str) -> Response {
        self.bodies.lock().unwrap().push(body.to_owned());
        let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let known = form.get("refresh_token").map(String::as_str) == Some(SELLER_REFRESH_TOKEN);
        if !known || self.refused.load(Ordering::SeqCst) {
            let body = json!({ "error": "invalid_grant",
                "error_description": "the provided authorization refresh token is invalid or was issued to another client" });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Json(json!({
            "access_token": self.issue(),
            "expires_in": self.lifetime_secs.load(Ordering::SeqCst),
            "token_type": "User Access Token"
        }))
        .into_response()
    }
}
