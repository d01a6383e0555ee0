//! The worker's configuration, read from its vars and secrets (documented in `wrangler.toml`).

use shared::ebay::app::{AppEndpoint, AppEndpointError};
use shared::retry::{FORWARD_RETRY_DELAYS_SECS, parse_retry_schedule};
use worker::{Env, Error, Result};

/// How long a tenant's edge config is used before it is fetched again, unless configured.
const DEFAULT_EDGE_CONFIG_TTL_SECS: u64 = 30;

/// A var or a secret by name: `wrangler dev --var` and `.dev.vars` set vars, production sets
/// secrets with `wrangler secret put`; the worker accepts either.
pub fn string(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
        .filter(|value| !value.is_empty())
}

/// A setting the worker cannot run without.
pub fn required(env: &Env, name: &str) -> Result<String> {
    string(env, name)
        .ok_or_else(|| Error::RustError(format!("the worker setting {name} is not set")))
}

/// `ORIGIN_URL` without a trailing slash.
pub fn origin_url(env: &Env) -> Result<String> {
    Ok(required(env, "ORIGIN_URL")?
        .trim_end_matches('/')
        .to_owned())
}

/// `EDGE_SHARED_SECRET`: signs everything sent to the origin.
pub fn edge_shared_secret(env: &Env) -> Result<String> {
    required(env, "EDGE_SHARED_SECRET")
}

/// `EBAY_API_BASE_URL` without a trailing slash.
pub fn ebay_api_base_url(env: &Env) -> Result<String> {
    Ok(required(env, "EBAY_API_BASE_URL")?
        .trim_end_matches('/')
        .to_owned())
}

/// The app's eBay notification endpoint: `EBAY_VERIFICATION_TOKEN` (the token set on the
/// app's notification destination) and `EBAY_ENDPOINT_URL` (the URL registered there, exactly).
pub fn ebay_app_endpoint(env: &Env) -> std::result::Result<AppEndpoint, AppEndpointError> {
    AppEndpoint::new(
        string(env, "EBAY_VERIFICATION_TOKEN").as_deref(),
        string(env, "EBAY_ENDPOINT_URL").as_deref(),
    )
}

/// `EDGE_CONFIG_TTL_SECS`: how stale a cached tenant config may be before it is refetched.
pub fn edge_config_ttl_secs(env: &Env) -> u64 {
    string(env, "EDGE_CONFIG_TTL_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EDGE_CONFIG_TTL_SECS)
}

/// `FORWARD_RETRY_DELAYS_SECS`: the retry schedule for forwarding to the origin. Unset, it is
/// the production one (1 s, 5 s, 30 s, 5 min, 30 min); tests shorten it.
pub fn forward_retry_schedule(env: &Env) -> Vec<u32> {
    string(env, "FORWARD_RETRY_DELAYS_SECS")
        .and_then(|v| parse_retry_schedule(&v))
        .unwrap_or_else(|| FORWARD_RETRY_DELAYS_SECS.to_vec())
}

/// `BENCH_ROUTES=on` enables the CPU measurement routes; off unless set.
pub fn bench_routes_enabled(env: &Env) -> bool {
    string(env, "BENCH_ROUTES").as_deref() == Some("on")
}
