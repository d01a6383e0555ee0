//! The store's "connect" key grant, `/wc-auth/v1/authorize`, as WooCommerce's `WC_Auth` runs
//! it (PLATFORMS.md §3.1) for an admin who is already logged in: the five required
//! parameters checked (401 `wp_die` pages), then, in auto-approve mode, a `read_write` key
//! made and POSTed synchronously to `callback_url` with a string `user_id`. The key is kept
//! only if that answer is exactly 200 (else deleted, and the admin sees WooCommerce's error);
//! then 302 to `return_url?success=1&user_id=…`. Denying sends `success=0` without a POST.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use serde_json::json;

use super::fake_woocommerce::{FakeWooCommerce, StoreState, php_json_encode};

/// What the grant flow was set to do and what it did.
pub struct AuthState {
    /// The admin approves (default) or denies.
    approve: AtomicBool,
    /// `(https base, http base)`: the TLS terminator in front of the system, which the
    /// callback POST to an `https://` URL under that base reaches over plain HTTP.
    https_via: Mutex<Option<(String, String)>>,
    /// Every grant attempted: the callback's status (None: unreachable) and its key.
    grants: Mutex<Vec<Grant>>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            approve: AtomicBool::new(true),
            https_via: Mutex::new(None),
            grants: Mutex::new(Vec::new()),
        }
    }
}

/// One approval: the key made and what the callback answered.
#[derive(Debug, Clone)]
pub struct Grant {
    pub key_id: u64,
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The callback's HTTP status; None when it could not be reached.
    pub callback_status: Option<u16>,
    /// Whether the store kept the key (only an exact 200 keeps it).
    pub kept: bool,
}

pub(super) fn routes() -> Router<Arc<StoreState>> {
    Router::new().route("/wc-auth/v1/authorize", get(authorize))
}

impl FakeWooCommerce {
    /// From now on the admin denies (false) or approves (true, the default) the grant.
    pub fn approve_grants(&self, approve: bool) {
        self.state.auth.approve.store(approve, Ordering::SeqCst);
    }

    /// Callback POSTs to `https_base/…` go to `http_base/…`, as through the TLS terminator in
    /// front of the system.
    pub fn reach_https_through(&self, https_base: &str, http_base: &str) {
        *self.state.auth.https_via.lock().unwrap() = Some((
            https_base.trim_end_matches('/').to_owned(),
            http_base.trim_end_matches('/').to_owned(),
        ));
    }

    /// Every key grant approved so far.
    pub fn grants(&self) -> Vec<Grant> {
        self.state.auth.grants.lock().unwrap().clone()
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    app_name: Option<String>,
    scope: Option<String>,
    user_id: Option<String>,
    return_url: Option<String>,
    callback_url: Option<String>,
}

/// A `wp_die` page, as WordPress renders one (HTTP 401 for every `WC_Auth` error).
fn wp_die(message: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en-US\"><head><meta charset=\"UTF-8\"><title>WordPress &rsaquo; Error</title></head>\
         <body id=\"error-page\"><div class=\"wp-die-message\">{message}</div></body></html>"
    );
    (StatusCode::UNAUTHORIZED, Html(html)).into_response()
}

fn is_url(value: &str) -> bool {
    reqwest::Url::parse(value).is_ok_and(|url| url.has_host())
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(url).expect("return_url was validated");
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

async fn authorize(
    State(state): State<Arc<StoreState>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    // `make_validation`: each parameter present, in this order.
    let fields = [
        ("app_name", &query.app_name),
        ("scope", &query.scope),
        ("user_id", &query.user_id),
        ("return_url", &query.return_url),
        ("callback_url", &query.callback_url),
    ];
    for (name, value) in fields {
        if value.as_deref().is_none_or(str::is_empty) {
            return wp_die(&format!("Error: Missing parameter {name}."));
        }
    }
    let (scope, user_id, return_url, callback_url) = (
        query.scope.unwrap_or_default(),
        query.user_id.unwrap_or_default(),
        query.return_url.unwrap_or_default(),
        query.callback_url.unwrap_or_default(),
    );
    if !["read", "write", "read_write"].contains(&scope.as_str()) {
        return wp_die(&format!("Error: Invalid scope {scope}"));
    }
    for (name, value) in [("return_url", &return_url), ("callback_url", &callback_url)] {
        if !is_url(value) {
            return wp_die(&format!("Error: The {name} is not a valid URL"));
        }
    }
    if !callback_url.starts_with("https://") {
        return wp_die("Error: The callback_url needs to be over SSL");
    }
    if !state.auth.approve.load(Ordering::SeqCst) {
        let back = with_query(&return_url, &[("success", "0"), ("user_id", &user_id)]);
        return (StatusCode::FOUND, [(header::LOCATION, back)]).into_response();
    }
    // `create_keys`, then `post_consumer_data`.
    let consumer_key = format!("ck_{}", random_hex(20));
    let consumer_secret = format!("cs_{}", random_hex(20));
    let key_id = {
        let grants = state.auth.grants.lock().unwrap();
        100 + grants.len() as u64
    };
    state
        .granted_keys
        .lock()
        .unwrap()
        .push((consumer_key.clone(), consumer_secret.clone()));
    let body = php_json_encode(&json!({
        "key_id": key_id,
        "user_id": user_id,
        "consumer_key": consumer_key,
        "consumer_secret": consumer_secret,
        "key_permissions": scope,
    }));
    let target = match state.auth.https_via.lock().unwrap().as_ref() {
        Some((https, http)) if callback_url.starts_with(https.as_str()) => {
            format!("{http}{}", &callback_url[https.len()..])
        }
        _ => callback_url.clone(),
    };
    let answered = reqwest::Client::new()
        .post(&target)
        .header(header::CONTENT_TYPE, "application/json;charset=UTF-8")
        .timeout(std::time::Duration::from_secs(60))
        .body(body)
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16());
    let kept = answered == Some(200);
    if !kept {
        state
            .granted_keys
            .lock()
            .unwrap()
            .retain(|(key, _)| key != &consumer_key);
    }
    state.auth.grants.lock().unwrap().push(Grant {
        key_id,
        consumer_key,
        consumer_secret,
        callback_status: answered,
        kept,
    });
    if !kept {
        return wp_die(
            "Error: An error occurred in the request and at the time were unable to send the consumer data.",
        );
    }
    let back = with_query(&return_url, &[("success", "1"), ("user_id", &user_id)]);
    (StatusCode::FOUND, [(header::LOCATION, back)]).into_response()
}
