//! Etsy's connect flow in the fake (PLATFORMS.md §2.1, §2.2): the connect page
//! `/oauth/connect` (its `redirect_uri` on the app's allow-list, else Etsy's "The requested
//! redirect URL is not permitted."; the seller approving at once, or declining with
//! `error=access_denied`), the `authorization_code` grant on the token route (PKCE S256
//! checked, each code good once; refusals as Etsy's `{"error","error_description"}`), and
//! `getMe`. Tokens it grants are the fake's own (`fake_etsy_tokens`): the other routes take them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{EtsyState, FakeEtsy, KEYSTRING, USER_ID};

/// The shop `getMe` names unless a test says otherwise.
pub const CONNECTED_SHOP_ID: u64 = 12_345_678;

/// A code the connect page granted, until it is exchanged.
struct Grant {
    redirect_uri: String,
    code_challenge: String,
}

/// One code exchange as it arrived.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The form fields sent.
    pub form: HashMap<String, String>,
    /// Whether an `Authorization` header came along (Etsy's flow has none).
    pub had_authorization: bool,
    /// The HTTP status answered.
    pub status: u16,
}

pub(super) struct OAuth {
    allowed_redirects: Mutex<Vec<String>>,
    deny: AtomicBool,
    codes: Mutex<HashMap<String, Grant>>,
    issued_codes: AtomicUsize,
    exchanges: Mutex<Vec<Exchange>>,
    shop_id: Mutex<u64>,
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth {
            allowed_redirects: Mutex::default(),
            deny: AtomicBool::new(false),
            codes: Mutex::default(),
            issued_codes: AtomicUsize::new(0),
            exchanges: Mutex::default(),
            shop_id: Mutex::new(CONNECTED_SHOP_ID),
        }
    }
}

/// The connect routes and the token route (both grants), merged into the fake's router.
pub(super) fn routes() -> Router<Arc<EtsyState>> {
    Router::new()
        .route("/oauth/connect", get(connect_page))
        .route("/v3/public/oauth/token", post(token))
        .route("/v3/application/users/me", get(me))
}

impl FakeEtsy {
    /// The app's registered redirect URLs: the connect page accepts only these.
    pub fn allow_redirect_uri(&self, uri: &str) {
        let oauth = &self.state.oauth;
        oauth.allowed_redirects.lock().unwrap().push(uri.to_owned());
    }

    /// From now on the seller declines on the connect page.
    pub fn deny_connect(&self, deny: bool) {
        self.state.oauth.deny.store(deny, Ordering::SeqCst);
    }

    /// The shop `getMe` names from now on.
    pub fn set_connected_shop(&self, shop_id: u64) {
        *self.state.oauth.shop_id.lock().unwrap() = shop_id;
    }

    /// Every authorization-code exchange so far.
    pub fn code_exchanges(&self) -> Vec<Exchange> {
        self.state.oauth.exchanges.lock().unwrap().clone()
    }
}

#[derive(Deserialize)]
struct ConnectQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn etsy_page(status: StatusCode, message: &str) -> Response {
    let html = format!("<!doctype html><html><body><h1>{message}</h1></body></html>");
    (status, Html(html)).into_response()
}

fn redirect(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `GET /oauth/connect`: the seller signed in, approving (or declining) at once.
async fn connect_page(
    State(state): State<Arc<EtsyState>>,
    Query(query): Query<ConnectQuery>,
) -> Response {
    let oauth = &state.oauth;
    let Some(redirect_uri) = query.redirect_uri.filter(|uri| {
        oauth
            .allowed_redirects
            .lock()
            .unwrap()
            .iter()
            .any(|allowed| allowed == uri)
    }) else {
        return etsy_page(
            StatusCode::BAD_REQUEST,
            "The requested redirect URL is not permitted.",
        );
    };
    if query.client_id.as_deref() != Some(KEYSTRING) {
        return etsy_page(StatusCode::BAD_REQUEST, "Invalid client_id.");
    }
    let returned_state = query.state.unwrap_or_default();
    let error = |code: &str, description: &str| {
        redirect(format!(
            "{redirect_uri}?error={code}&error_description={}&state={}",
            encode(description),
            encode(&returned_state)
        ))
    };
    let challenge = query.code_challenge.filter(|c| !c.is_empty());
    if query.response_type.as_deref() != Some("code")
        || query.code_challenge_method.as_deref() != Some("S256")
        || challenge.is_none()
        || query.scope.is_none_or(|s| s.is_empty())
    {
        return error(
            "invalid_request",
            "response_type=code, scope and an S256 code_challenge are required",
        );
    }
    if oauth.deny.load(Ordering::SeqCst) {
        return error("access_denied", "The user denied the request");
    }
    let n = oauth.issued_codes.fetch_add(1, Ordering::SeqCst);
    let code = format!(
        "etsycode{n}-{}",
        URL_SAFE_NO_PAD.encode(returned_state.as_bytes())
    );
    oauth.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge.unwrap_or_default(),
        },
    );
    redirect(format!(
        "{redirect_uri}?code={}&state={}",
        encode(&code),
        encode(&returned_state)
    ))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `POST /v3/public/oauth/token`: the authorization_code grant here, the refresh grant in
/// `fake_etsy_tokens`.
async fn token(State(state): State<Arc<EtsyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "body too large");
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        let request = Request::from_parts(parts, Body::from(bytes));
        return match Form::from_request(request, &()).await {
            Ok(refresh) => crate::harness::fake_etsy_tokens::refresh(&state.tokens, refresh).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    let answer = exchange(&state, &form);
    state.oauth.exchanges.lock().unwrap().push(Exchange {
        form,
        had_authorization: parts.headers.contains_key(header::AUTHORIZATION),
        status: answer.status().as_u16(),
    });
    answer
}

fn exchange(state: &EtsyState, form: &HashMap<String, String>) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    for name in ["client_id", "redirect_uri", "code", "code_verifier"] {
        if field(name).is_empty() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("{name} is required"),
            );
        }
    }
    if field("client_id") != KEYSTRING {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id is invalid",
        );
    }
    // Taken out in the same step that reads it: a code is good once, right or wrong.
    let Some(grant) = state.oauth.codes.lock().unwrap().remove(field("code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code is invalid or has already been used",
        );
    };
    if grant.redirect_uri != field("redirect_uri") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match the one the code was issued to",
        );
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != grant.code_challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code_verifier is invalid",
        );
    }
    let (access_token, refresh_token, expires_in) = state.tokens.issue_pair();
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh_token
    }))
    .into_response()
}

/// `GET /v3/application/users/me`: who the access token speaks for.
async fn me(State(state): State<Arc<EtsyState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = super::credentials_refused(&state, &headers) {
        return refusal;
    }
    let user_id: u64 = USER_ID.parse().expect("a numeric user id");
    let shop_id = *state.oauth.shop_id.lock().unwrap();
    Json(json!({ "user_id": user_id, "shop_id": shop_id })).into_response()
}
