//! CSRF. Every form under `/app` carries a token in a hidden `csrf` field; htmx sends the same
//! token as `X-CSRF-Token` (from `hx-headers` on the page's body). [`require_token`] checks it
//! on every operation the dashboard documents with a method other than GET, before the
//! handler runs, so the document and the check cannot disagree; a refusal is the 403 page.
//!
//! The token is an HMAC keyed by the secret the browser's cookie holds: the session token once
//! signed in, before that a random pre-session cookie (so sign-in and sign-up forms are bound
//! too). Another site can make the browser send the cookie but can read neither the cookie
//! nor the page, so it cannot know the token; nothing needs storing.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::openapi::OpenApi;

use super::page::PageError;
use super::session::{self, PRE_SESSION_COOKIE, SESSION_COOKIE};
use crate::domain::accounts::new_session_token;
use crate::http::AppState;
use crate::http::state::BodyLimit;

/// The hidden form field carrying the token.
pub const FIELD: &str = "csrf";
/// The header htmx sends the token in.
pub const HEADER: &str = "X-CSRF-Token";

/// The token of forms bound to `secret` (a cookie's value).
pub fn token_for(secret: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"yoursender dashboard csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The secret the request's forms are bound to: the session cookie, else the pre-session one.
fn binding(headers: &HeaderMap) -> Option<&str> {
    session::cookie(headers, SESSION_COOKIE)
        .or_else(|| session::cookie(headers, PRE_SESSION_COOKIE))
        .filter(|secret| !secret.is_empty())
}

/// The token for the forms of a page seen signed out, and the pre-session cookie to set when
/// the browser has nothing to bind them to yet.
pub fn for_signed_out_page(headers: &HeaderMap, state: &AppState) -> (String, Option<HeaderValue>) {
    match binding(headers) {
        Some(secret) => (token_for(secret), None),
        None => {
            let secret = new_session_token();
            (
                token_for(&secret),
                Some(session::pre_session_cookie(state, &secret)),
            )
        }
    }
}

/// What [`require_token`] checks: the `(path, method)` of every non-GET operation documented
/// by the dashboard's routes.
#[derive(Clone)]
pub struct Guard {
    checked: Arc<HashSet<(String, Method)>>,
}

impl Guard {
    pub fn new(document: &OpenApi) -> Self {
        let mut checked = HashSet::new();
        for (path, item) in &document.paths.paths {
            let methods = [
                (item.post.is_some(), Method::POST),
                (item.put.is_some(), Method::PUT),
                (item.patch.is_some(), Method::PATCH),
                (item.delete.is_some(), Method::DELETE),
            ];
            for (documented, method) in methods {
                if documented {
                    checked.insert((path.clone(), method));
                }
            }
        }
        Guard {
            checked: Arc::new(checked),
        }
    }
}

/// Route middleware: a documented non-GET operation runs only with the token of the
/// browser's binding, in `X-CSRF-Token` or in the form's `csrf` field.
pub async fn require_token(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let checked = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| {
            guard
                .checked
                .contains(&(path.as_str().to_owned(), request.method().clone()))
        });
    if !checked {
        return next.run(request).await;
    }
    let Some(expected) = binding(request.headers()).map(token_for) else {
        return PageError::CsrfRefused.into_response();
    };
    let matches = |presented: &[u8]| bool::from(presented.ct_eq(expected.as_bytes()));
    if let Some(presented) = request.headers().get(HEADER) {
        return if matches(presented.as_bytes()) {
            next.run(request).await
        } else {
            PageError::CsrfRefused.into_response()
        };
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return PageError::CsrfRefused.into_response();
    }
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(64 * 1024, |limit| limit.0);
    let (parts, body) = request.into_parts();
    // The edge-signature check has read the body already; this bound is never the first.
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return PageError::CsrfRefused.into_response();
    };
    let presented = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.into_owned());
    if presented.is_some_and(|token| matches(token.as_bytes())) {
        next.run(Request::from_parts(parts, Body::from(bytes)))
            .await
    } else {
        PageError::CsrfRefused.into_response()
    }
}
