//! Which tenant's connection an Etsy shop's deliveries go to, asked of the origin's signed
//! internal route and cached like tenant configs (`config.rs`): fresh for
//! `EDGE_CONFIG_TTL_SECS` in this isolate's memory and in KV, an older KV copy served while the
//! origin cannot be reached. That no connection has a shop is remembered in memory only.

use serde::{Deserialize, Serialize};
use shared::etsy::{EtsyShopRoute, etsy_shop_route_path};
use worker::{Env, Result};

use crate::config::CACHE_BINDING;
use crate::memory::IsolateMap;
use crate::origin;
use crate::settings;

/// How long a stale copy is kept for outages.
const STALE_COPY_TTL_SECS: u64 = 7 * 24 * 3_600;

pub enum ShopRoute {
    Known(EtsyShopRoute),
    /// The origin says no connection has this shop.
    Unknown,
    /// The origin cannot be reached and nothing is cached.
    Unavailable,
}

thread_local! {
    static IN_MEMORY: IsolateMap<Cached> = IsolateMap::new();
}

#[derive(Clone, Serialize, Deserialize)]
struct Cached {
    fetched_at_ms: u64,
    route: Option<EtsyShopRoute>,
}

fn known_or_unknown(route: Option<EtsyShopRoute>) -> ShopRoute {
    route.map_or(ShopRoute::Unknown, ShopRoute::Known)
}

/// Where deliveries for `shop_id` (digits, checked by the caller) go.
pub async fn shop_route(env: &Env, shop_id: &str, request_id: &str) -> Result<ShopRoute> {
    let now_ms = worker::Date::now().as_millis();
    let ttl_ms = settings::edge_config_ttl_secs(env) * 1_000;
    let is_fresh = |cached: &Cached| now_ms.saturating_sub(cached.fetched_at_ms) < ttl_ms;
    if let Some(cached) = IN_MEMORY.with(|m| m.get(shop_id)).filter(is_fresh) {
        return Ok(known_or_unknown(cached.route));
    }
    let kv = env.kv(CACHE_BINDING)?;
    let key = format!("etsy-shop:v1:{shop_id}");
    let cached: Option<Cached> = kv.get(&key).json().await.ok().flatten();
    if let Some(cached) = cached.as_ref().filter(|c| is_fresh(c)) {
        IN_MEMORY.with(|m| m.insert(shop_id, cached.clone()));
        return Ok(known_or_unknown(cached.route.clone()));
    }
    match fetch_from_origin(env, shop_id, request_id).await {
        Some(route) => {
            let fresh = Cached {
                fetched_at_ms: now_ms,
                route,
            };
            // Made-up shop ids must not fill KV: only known shops are written.
            if fresh.route.is_some()
                && let Ok(put) = kv.put(&key, &fresh)
            {
                let _ = put.expiration_ttl(STALE_COPY_TTL_SECS).execute().await;
            }
            IN_MEMORY.with(|m| m.insert(shop_id, fresh.clone()));
            Ok(known_or_unknown(fresh.route))
        }
        None => Ok(match cached {
            Some(stale) => {
                worker::console_warn!(
                    "origin unreachable: serving the cached route of Etsy shop {shop_id}"
                );
                known_or_unknown(stale.route)
            }
            None => ShopRoute::Unavailable,
        }),
    }
}

/// `Some(Some(..))` on 200, `Some(None)` on 404, `None` when the origin did not answer usefully.
async fn fetch_from_origin(
    env: &Env,
    shop_id: &str,
    request_id: &str,
) -> Option<Option<EtsyShopRoute>> {
    let what = format!("route of Etsy shop {shop_id}");
    origin::lookup(env, &etsy_shop_route_path(shop_id), &what, request_id).await
}
