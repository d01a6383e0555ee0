//! Who is signed in. The session cookie (`ys_session`) holds a random token (`HttpOnly`,
//! `SameSite=Lax`, `Secure` when the public address is https, path `/app`); the store keeps
//! only its hash. Handlers take an extractor: [`SignedIn`] on a page of the account, or
//! [`Member`] on a page of one tenant, named by the path's `{tenant_id}`: a tenant the account
//! is not a member of answers 404, as a tenant that does not exist does. Without a live
//! session both send the browser to the sign-in page.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::csrf;
use super::page::{Layout, Nav, PageError};
use crate::domain::accounts::{
    self, SESSION_LIFETIME_MS, is_plausible_session_token, session_is_live, session_token_hash,
    session_touch_due,
};
use crate::http::AppState;
use crate::ids::{new_id, now_ms};
use crate::store::accounts::{MembershipRow, SessionRow};

/// The cookie holding the session token.
pub const SESSION_COOKIE: &str = "ys_session";
/// The cookie a signed-out browser's forms are bound to (sign-in, sign-up): see `csrf`.
pub const PRE_SESSION_COOKIE: &str = "ys_presession";
/// The path both cookies are sent on.
const COOKIE_PATH: &str = "/app";
/// A pre-session cookie lasts a day: long enough to fill in a form.
const PRE_SESSION_MAX_AGE_SECS: i64 = 24 * 60 * 60;

/// The value of the cookie `name` the browser sent, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for `name` = `value` for `max_age_secs` (0: deleted).
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    );
    HeaderValue::from_str(&cookie).expect("cookie values are base64url")
}

/// Adds `Set-Cookie` headers to an answer.
pub fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// The pre-session cookie for a new signed-out binding.
pub fn pre_session_cookie(state: &AppState, token: &str) -> HeaderValue {
    set_cookie(state, PRE_SESSION_COOKIE, token, PRE_SESSION_MAX_AGE_SECS)
}

/// The cookie that ends the session in the browser.
pub fn cleared_session_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, SESSION_COOKIE, "", 0)
}

/// Starts a session for `account_id`: stores its hash, answers the cookie to set.
pub async fn start(state: &AppState, account_id: &str) -> Result<HeaderValue, PageError> {
    let token = accounts::new_session_token();
    let now = now_ms();
    let session = SessionRow {
        id: new_id("ses"),
        token_hash: session_token_hash(&token),
        account_id: account_id.to_owned(),
        created_at: now,
        last_seen_at: now,
    };
    state
        .store
        .insert_session(&session, accounts::ended_session_cutoffs(now))
        .await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        &token,
        SESSION_LIFETIME_MS / 1000,
    ))
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub account_id: String,
    pub email: String,
    /// The token the session's forms carry.
    pub csrf: String,
}

impl SignedIn {
    /// The session the request's cookie names, if it is live (its last use recorded when due).
    pub async fn find(headers: &HeaderMap, state: &AppState) -> Result<Option<Self>, PageError> {
        let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| is_plausible_session_token(t))
        else {
            return Ok(None);
        };
        let Some(row) = state.store.find_session(&session_token_hash(token)).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if !session_is_live(row.created_at, row.last_seen_at, now) {
            return Ok(None);
        }
        // The stamp keeps the session alive; a page must not fail because it cannot be written.
        if session_touch_due(row.last_seen_at, now)
            && let Err(error) = state.store.touch_session(&row.session_id, now).await
        {
            tracing::warn!(%error, "recording a session's last use failed");
        }
        Ok(Some(SignedIn {
            session_id: row.session_id,
            account_id: row.account_id,
            email: row.email,
            csrf: csrf::token_for(token),
        }))
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        if let Some(signed_in) = parts.extensions.get::<SignedIn>() {
            return Ok(signed_in.clone());
        }
        let signed_in = SignedIn::find(&parts.headers, state)
            .await?
            .ok_or(PageError::SignInRequired)?;
        parts.extensions.insert(signed_in.clone());
        Ok(signed_in)
    }
}

/// A signed-in account on a page of a tenant it is a member of (the path's `{tenant_id}`).
#[derive(Debug, Clone)]
pub struct Member {
    pub signed_in: SignedIn,
    pub tenant_id: String,
    pub tenant_name: String,
    /// One of `domain::accounts::roles`.
    pub role: String,
}

impl Member {
    /// The frame of page `current` (a `Nav::PAGES` name) of this tenant, titled `title`.
    pub fn layout(&self, title: &str, current: &'static str) -> Layout {
        Layout {
            nav: Some(Nav {
                tenant_id: self.tenant_id.clone(),
                tenant_name: self.tenant_name.clone(),
                email: self.signed_in.email.clone(),
                current,
            }),
            ..Layout::public(title, self.signed_in.csrf.clone())
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let tenant_id = params
            .iter()
            .find(|(name, _)| *name == "tenant_id")
            .map(|(_, value)| value.to_owned())
            .ok_or(PageError::NotFound)?;
        let MembershipRow {
            tenant_id,
            tenant_name,
            role,
            ..
        } = state
            .store
            .membership(&signed_in.account_id, &tenant_id)
            .await?
            .ok_or(PageError::NotFound)?;
        Ok(Member {
            signed_in,
            tenant_id,
            tenant_name,
            role,
        })
    }
}
