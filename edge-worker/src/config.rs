//! A tenant's edge config (webhook secrets, eBay token and endpoint, connection status), fetched
//! from the origin's signed internal route and cached in KV.
//!
//! A cached copy is used for `EDGE_CONFIG_TTL_SECS`, so a secret changed at the origin takes
//! effect within that time. When the origin cannot be reached, an older copy is served instead:
//! webhooks keep being verified and queued while the origin is down. Fresh copies are also kept
//! in this isolate's memory to spare a KV read per delivery; losing them only costs that read.
//! That a tenant does not exist is remembered in memory only, never written to KV.

use serde::{Deserialize, Serialize};
use shared::internal::{EdgeConfig, edge_config_path};
use worker::{Env, Result};

use crate::memory::IsolateMap;
use crate::origin;
use crate::settings;

/// The KV namespace holding the edge's caches (tenant configs, eBay keys and token).
pub const CACHE_BINDING: &str = "EDGE_CACHE";

/// How long a stale copy is kept for outages; refreshed on every successful fetch.
const STALE_COPY_TTL_SECS: u64 = 7 * 24 * 3_600;

/// What the edge knows about a tenant.
pub enum TenantConfig {
    Known(EdgeConfig),
    /// The origin says there is no such tenant.
    Unknown,
    /// The origin cannot be reached and nothing is cached.
    Unavailable,
}

thread_local! {
    static IN_MEMORY: IsolateMap<CachedConfig> = IsolateMap::new();
}

/// The cached form: `config: None` remembers that the tenant does not exist.
#[derive(Clone, Serialize, Deserialize)]
struct CachedConfig {
    fetched_at_ms: u64,
    config: Option<EdgeConfig>,
}

/// The tenant's config: from the cache while fresh, else from the origin, else stale.
pub async fn tenant_config(env: &Env, tenant_id: &str, request_id: &str) -> Result<TenantConfig> {
    let now_ms = worker::Date::now().as_millis();
    let ttl_ms = settings::edge_config_ttl_secs(env) * 1_000;
    let is_fresh = |cached: &CachedConfig| now_ms.saturating_sub(cached.fetched_at_ms) < ttl_ms;
    let in_memory = IN_MEMORY.with(|m| m.get(tenant_id));
    if let Some(cached) = in_memory.filter(is_fresh) {
        return Ok(known_or_unknown(cached.config));
    }

    let kv = env.kv(CACHE_BINDING)?;
    // Versioned with the config's shape: a copy cached in an older shape is never read.
    let key = format!("edge-config:v2:{tenant_id}");
    let cached: Option<CachedConfig> = kv.get(&key).json().await.ok().flatten();
    if let Some(cached) = cached.as_ref().filter(|c| is_fresh(c)) {
        remember(tenant_id, cached);
        return Ok(known_or_unknown(cached.config.clone()));
    }

    match fetch_from_origin(env, tenant_id, request_id).await {
        Some(config) => {
            let fresh = CachedConfig {
                fetched_at_ms: now_ms,
                config,
            };
            // A failed cache write only costs a refetch next time. An unknown tenant is
            // remembered in memory only: made-up tenant ids must not fill KV.
            if fresh.config.is_some()
                && let Ok(put) = kv.put(&key, &fresh)
            {
                let _ = put.expiration_ttl(STALE_COPY_TTL_SECS).execute().await;
            }
            remember(tenant_id, &fresh);
            Ok(known_or_unknown(fresh.config))
        }
        None => Ok(match cached {
            Some(stale) => {
                worker::console_warn!(
                    "origin unreachable: serving the cached edge config of {tenant_id}"
                );
                known_or_unknown(stale.config)
            }
            None => TenantConfig::Unavailable,
        }),
    }
}

fn remember(tenant_id: &str, cached: &CachedConfig) {
    IN_MEMORY.with(|m| m.insert(tenant_id, cached.clone()));
}

fn known_or_unknown(config: Option<EdgeConfig>) -> TenantConfig {
    config.map_or(TenantConfig::Unknown, TenantConfig::Known)
}

/// `Some(Some(..))` on 200, `Some(None)` on 404, `None` when the origin did not answer usefully.
async fn fetch_from_origin(
    env: &Env,
    tenant_id: &str,
    request_id: &str,
) -> Option<Option<EdgeConfig>> {
    let what = format!("edge config for {tenant_id}");
    origin::lookup(env, &edge_config_path(tenant_id), &what, request_id).await
}
