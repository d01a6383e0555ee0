//! Which tenant's connection a delivery to an app-wide endpoint goes to, by the platform account
//! it names (an Etsy shop, an eBay user), asked of the origin's signed internal routes and cached
//! like tenant configs (`config.rs`): fresh for `EDGE_CONFIG_TTL_SECS` in this isolate's memory
//! and in KV, an older KV copy served while the origin cannot be reached. That no connection has
//! an account is remembered in memory only.

use serde::{Deserialize, Serialize};
use shared::ebay::app::ebay_seller_route_path;
use shared::etsy::etsy_shop_route_path;
use shared::internal::ConnectionRoute;
use worker::{Env, Result};

use crate::config::CACHE_BINDING;
use crate::memory::IsolateMap;
use crate::origin;
use crate::settings;

/// How long a stale copy is kept for outages.
const STALE_COPY_TTL_SECS: u64 = 7 * 24 * 3_600;

/// The platform account a delivery names, its id checked by the caller.
#[derive(Clone, Copy)]
pub enum Account<'a> {
    EtsyShop(&'a str),
    EbaySeller(&'a str),
}

impl Account<'_> {
    /// The cache key: the KV key, also the in-memory one. Etsy's keeps the name it had when
    /// shops were the only accounts, so cached routes stay readable.
    fn cache_key(self) -> String {
        match self {
            Account::EtsyShop(id) => format!("etsy-shop:v1:{id}"),
            Account::EbaySeller(id) => format!("ebay-seller:v1:{id}"),
        }
    }

    fn origin_path(self) -> String {
        match self {
            Account::EtsyShop(id) => etsy_shop_route_path(id),
            Account::EbaySeller(id) => ebay_seller_route_path(id),
        }
    }

    /// The account in words, for logs.
    pub fn describe(self) -> String {
        match self {
            Account::EtsyShop(id) => format!("Etsy shop {id}"),
            Account::EbaySeller(id) => format!("eBay user {id}"),
        }
    }
}

pub enum AccountRoute {
    Known(ConnectionRoute),
    /// The origin says no connection has this account.
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
    route: Option<ConnectionRoute>,
}

fn known_or_unknown(route: Option<ConnectionRoute>) -> AccountRoute {
    route.map_or(AccountRoute::Unknown, AccountRoute::Known)
}

/// Where deliveries naming `account` go.
pub async fn account_route(
    env: &Env,
    account: Account<'_>,
    request_id: &str,
) -> Result<AccountRoute> {
    let now_ms = worker::Date::now().as_millis();
    let ttl_ms = settings::edge_config_ttl_secs(env) * 1_000;
    let is_fresh = |cached: &Cached| now_ms.saturating_sub(cached.fetched_at_ms) < ttl_ms;
    let key = account.cache_key();
    if let Some(cached) = IN_MEMORY.with(|m| m.get(&key)).filter(is_fresh) {
        return Ok(known_or_unknown(cached.route));
    }
    let kv = env.kv(CACHE_BINDING)?;
    let cached: Option<Cached> = kv.get(&key).json().await.ok().flatten();
    if let Some(cached) = cached.as_ref().filter(|c| is_fresh(c)) {
        IN_MEMORY.with(|m| m.insert(&key, cached.clone()));
        return Ok(known_or_unknown(cached.route.clone()));
    }
    let what = format!("route of {}", account.describe());
    let fetched = origin::lookup(env, &account.origin_path(), &what, request_id).await;
    match fetched {
        Some(route) => {
            let fresh = Cached {
                fetched_at_ms: now_ms,
                route,
            };
            // Made-up account ids must not fill KV: only known accounts are written.
            if fresh.route.is_some()
                && let Ok(put) = kv.put(&key, &fresh)
            {
                let _ = put.expiration_ttl(STALE_COPY_TTL_SECS).execute().await;
            }
            IN_MEMORY.with(|m| m.insert(&key, fresh.clone()));
            Ok(known_or_unknown(fresh.route))
        }
        None => Ok(match cached {
            Some(stale) => {
                worker::console_warn!("origin unreachable: serving the cached {what}");
                known_or_unknown(stale.route)
            }
            None => AccountRoute::Unavailable,
        }),
    }
}
