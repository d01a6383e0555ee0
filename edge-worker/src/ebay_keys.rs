//! eBay's notification public keys: fetched with an application token, cached, and used through
//! WebCrypto (`crypto.subtle`, ECDSA P-256 with SHA-1) — p256 compiled to Wasm costs ~15x the CPU.
//!
//! Keys are cached for an hour (eBay's recommendation) and the token until shortly before it
//! expires: in KV, shared by every isolate, and as imported `CryptoKey`s in this isolate's memory.
//! Losing the memory copy (a new isolate, a panic) only costs a KV read and an import.
//!
//! A key id eBay does not know is remembered too (for a few minutes), and lookups of key ids the
//! edge does not have are rate-limited, per tenant on the tenants' own endpoints and once for the
//! app's endpoint: a notification can name any key id, and each new one would otherwise be a
//! call to eBay.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use shared::ebay::EbayPublicKey;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::{AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit, Result};

use shared::ratelimit::EBAY_KEY_LOOKUP;

use crate::config::CACHE_BINDING;
use crate::memory::IsolateMap;
use crate::{limiter, settings};

const KEY_TTL_SECS: u64 = 3_600;
/// How long a key id eBay answered 404 for is believed unknown (KV's shortest expiry is 60 s).
const UNKNOWN_KID_TTL_SECS: u64 = 300;
const TOKEN_KEY: &str = "ebay-app-token";
const TOKEN_SCOPE: &str = "https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope";
/// Refresh the token this long before eBay says it expires.
const TOKEN_MARGIN_SECS: u64 = 120;
const PLATFORM_TIMEOUT_MS: u32 = 5_000;

thread_local! {
    static IMPORTED: RefCell<HashMap<String, (CryptoKey, u64)>> = RefCell::new(HashMap::new());
    /// Key ids eBay does not know, with when that stops being believed (ms).
    static UNKNOWN: IsolateMap<u64> = IsolateMap::new();
}

/// Whose budget a lookup of a key id the edge does not have is counted in.
#[derive(Clone, Copy)]
pub enum LookupBudget<'a> {
    /// A tenant's own endpoint (`/webhooks/ebay/{tenant}`).
    Tenant(&'a str),
    /// The app's one endpoint (`/webhooks/ebay`), which every connected seller shares.
    App,
}

impl LookupBudget<'_> {
    fn limiter_key(self) -> String {
        match self {
            LookupBudget::Tenant(tenant_id) => format!("ebay-key-lookup:{tenant_id}"),
            // Not of the tenants' form (`:` then a tenant id): no tenant shares it.
            LookupBudget::App => "ebay-key-lookup-app".to_owned(),
        }
    }

    /// Whose budget it is, in words.
    pub fn whose(self) -> &'static str {
        match self {
            LookupBudget::Tenant(_) => "this tenant",
            LookupBudget::App => "this endpoint",
        }
    }
}

/// Why a key could not be had.
pub enum KeyError {
    /// eBay does not know the kid: the notification was not signed by eBay.
    UnknownKid,
    /// The budget of lookups of new key ids is spent; eBay should retry later.
    LookupsExhausted,
    /// The token or key service failed; eBay should retry later.
    Unavailable(String),
}

/// The WebCrypto key for `kid`, from memory, KV, or eBay (counted in `budget`).
pub async fn public_key(
    env: &Env,
    budget: LookupBudget<'_>,
    kid: &str,
) -> std::result::Result<CryptoKey, KeyError> {
    let now_ms = worker::Date::now().as_millis();
    let in_memory = IMPORTED.with(|keys| {
        keys.borrow()
            .get(kid)
            .filter(|(_, expires_ms)| *expires_ms > now_ms)
            .map(|(key, _)| key.clone())
    });
    if let Some(key) = in_memory {
        return Ok(key);
    }
    let unavailable = |e: worker::Error| KeyError::Unavailable(e.to_string());
    let kv = env.kv(CACHE_BINDING).map_err(unavailable)?;
    let kv_key = format!("ebay-key:{kid}");
    let spki = match kv
        .get(&kv_key)
        .text()
        .await
        .ok()
        .flatten()
        .and_then(|b| BASE64.decode(b).ok())
    {
        Some(spki) => spki,
        None => {
            let spki = look_up(env, &kv, budget, kid, now_ms).await?;
            if let Ok(put) = kv.put(&kv_key, BASE64.encode(&spki)) {
                let _ = put.expiration_ttl(KEY_TTL_SECS).execute().await;
            }
            spki
        }
    };
    let key = import_spki(&spki).await.map_err(unavailable)?;
    IMPORTED.with(|keys| {
        keys.borrow_mut()
            .insert(kid.to_owned(), (key.clone(), now_ms + KEY_TTL_SECS * 1_000))
    });
    Ok(key)
}

/// A key the edge does not have: refused at once if eBay said lately it does not know it, else
/// fetched from eBay within the lookup budget; a 404 is remembered.
async fn look_up(
    env: &Env,
    kv: &worker::kv::KvStore,
    budget: LookupBudget<'_>,
    kid: &str,
    now_ms: u64,
) -> std::result::Result<Vec<u8>, KeyError> {
    let unknown_key = format!("ebay-key-unknown:{kid}");
    let known_unknown = UNKNOWN.with(|m| m.get(kid).is_some_and(|until| until > now_ms));
    if known_unknown || kv.get(&unknown_key).text().await.ok().flatten().is_some() {
        return Err(KeyError::UnknownKid);
    }
    match limiter::check(env, &EBAY_KEY_LOOKUP, &budget.limiter_key()).await {
        Ok(decision) if !decision.allowed => return Err(KeyError::LookupsExhausted),
        Ok(_) => {}
        Err(e) => return Err(KeyError::Unavailable(format!("key lookup limiter: {e}"))),
    }
    let fetched = fetch_public_key(env, kid).await;
    if let Err(KeyError::UnknownKid) = fetched {
        UNKNOWN.with(|m| m.insert(kid, now_ms + UNKNOWN_KID_TTL_SECS * 1_000));
        if let Ok(put) = kv.put(&unknown_key, "404") {
            let _ = put.expiration_ttl(UNKNOWN_KID_TTL_SECS).execute().await;
        }
    }
    fetched
}

/// Imports a P-256 SubjectPublicKeyInfo for ECDSA verification.
pub async fn import_spki(spki: &[u8]) -> Result<CryptoKey> {
    let algorithm = js_sys::Object::new();
    set(&algorithm, "name", "ECDSA")?;
    set(&algorithm, "namedCurve", "P-256")?;
    let usages = js_sys::Array::of1(&JsValue::from_str("verify"));
    let key_data = js_sys::Uint8Array::from(spki);
    let promise = subtle()?
        .import_key_with_object("spki", &key_data, &algorithm, false, &usages)
        .map_err(js_error)?;
    let key = JsFuture::from(promise).await.map_err(js_error)?;
    Ok(key.unchecked_into())
}

/// ECDSA P-256 / SHA-1 verification of a raw `r || s` signature over `message`.
pub async fn verify(key: &CryptoKey, raw_signature: &[u8; 64], message: &[u8]) -> Result<bool> {
    let algorithm = js_sys::Object::new();
    set(&algorithm, "name", "ECDSA")?;
    set(&algorithm, "hash", "SHA-1")?;
    let promise = subtle()?
        .verify_with_object_and_u8_array_and_u8_array(&algorithm, key, raw_signature, message)
        .map_err(js_error)?;
    Ok(JsFuture::from(promise).await.map_err(js_error)?.is_truthy())
}

fn subtle() -> Result<web_sys::SubtleCrypto> {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(scope.crypto().map_err(js_error)?.subtle())
}

fn set(object: &js_sys::Object, name: &str, value: &str) -> Result<()> {
    js_sys::Reflect::set(object, &JsValue::from_str(name), &JsValue::from_str(value))
        .map(|_| ())
        .map_err(js_error)
}

fn js_error(value: JsValue) -> worker::Error {
    worker::Error::RustError(format!("WebCrypto: {value:?}"))
}

/// `GET {EBAY_API_BASE_URL}/commerce/notification/v1/public_key/{kid}`, retried once with a new
/// token if eBay refuses the cached one.
async fn fetch_public_key(env: &Env, kid: &str) -> std::result::Result<Vec<u8>, KeyError> {
    let unavailable = |e: worker::Error| KeyError::Unavailable(e.to_string());
    let base = settings::ebay_api_base_url(env).map_err(unavailable)?;
    let url = format!("{base}/commerce/notification/v1/public_key/{kid}");
    for fresh_token in [false, true] {
        let token = app_token(env, fresh_token).await.map_err(unavailable)?;
        let headers = Headers::new();
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(unavailable)?;
        headers
            .set("Accept", "application/json")
            .map_err(unavailable)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let mut response = send(Request::new_with_init(&url, &init).map_err(unavailable)?)
            .await
            .map_err(unavailable)?;
        match response.status_code() {
            200 => {
                let body = response.bytes().await.map_err(unavailable)?;
                let key = EbayPublicKey::from_response_json(&body)
                    .map_err(|e| KeyError::Unavailable(format!("eBay key {kid}: {e}")))?;
                return Ok(key.spki_der().to_vec());
            }
            404 => return Err(KeyError::UnknownKid),
            401 if !fresh_token => continue,
            status => {
                return Err(KeyError::Unavailable(format!(
                    "eBay public key service answered {status}"
                )));
            }
        }
    }
    Err(KeyError::Unavailable(
        "eBay refused a fresh application token".into(),
    ))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// An application token (client credentials), from KV unless `refresh` or absent.
async fn app_token(env: &Env, refresh: bool) -> Result<String> {
    let kv = env.kv(CACHE_BINDING)?;
    if !refresh && let Some(token) = kv.get(TOKEN_KEY).text().await.ok().flatten() {
        return Ok(token);
    }
    let base = settings::ebay_api_base_url(env)?;
    let client_id = settings::required(env, "EBAY_CLIENT_ID")?;
    let client_secret = settings::required(env, "EBAY_CLIENT_SECRET")?;
    let headers = Headers::new();
    headers.set("Content-Type", "application/x-www-form-urlencoded")?;
    headers.set(
        "Authorization",
        &format!(
            "Basic {}",
            BASE64.encode(format!("{client_id}:{client_secret}"))
        ),
    )?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&format!(
            "grant_type=client_credentials&scope={TOKEN_SCOPE}"
        ))));
    let request = Request::new_with_init(&format!("{base}/identity/v1/oauth2/token"), &init)?;
    let mut response = send(request).await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "eBay token service answered {}",
            response.status_code()
        )));
    }
    let token: TokenResponse = response.json().await?;
    // KV refuses expirations under 60 s; such a short-lived token is simply not cached.
    let ttl = token.expires_in.saturating_sub(TOKEN_MARGIN_SECS);
    if ttl >= 60
        && let Ok(put) = kv.put(TOKEN_KEY, token.access_token.as_str())
    {
        let _ = put.expiration_ttl(ttl).execute().await;
    }
    Ok(token.access_token)
}

async fn send(request: Request) -> Result<worker::Response> {
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(PLATFORM_TIMEOUT_MS));
    Fetch::Request(request).send_with_signal(&signal).await
}
