//! The rate limiter: one Durable Object per counted key (an API key, a tenant's webhooks or eBay
//! key lookups, a client address) running `shared::ratelimit`. Its counters live in the object's
//! storage, never in worker memory.

use shared::ratelimit::{Decision, LimitClass, LimiterState, check_rate_limit, limit_class};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The Durable Object binding in `wrangler.toml`.
pub const BINDING: &str = "RATE_LIMITER";

const STATE_KEY: &str = "state";

#[durable_object]
pub struct RateLimiter {
    state: State,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter { state }
    }

    /// `POST /check?class=<name>` (a class of `shared::ratelimit::CLASSES`): counts one request and answers the [`Decision`].
    /// Requests to one object run one at a time between storage calls (input gates), so the
    /// read-decide-write below cannot interleave.
    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let class = url
            .query_pairs()
            .find(|(name, _)| name == "class")
            .and_then(|(_, value)| limit_class(&value));
        let Some(class) = class else {
            return Response::error("unknown limit class", 400);
        };
        let storage = self.state.storage();
        let mut state: LimiterState = storage.get(STATE_KEY).await?.unwrap_or_default();
        let now_secs = worker::Date::now().as_millis() / 1_000;
        let decision = check_rate_limit(&mut state, class, now_secs);
        storage.put(STATE_KEY, state).await?;
        Response::from_json(&decision)
    }
}

/// Counts one request from the client's address under `class`, in the `scope` family of counters
/// (`anonymous`, `upload`, `download`): for routes without an API key to count by.
pub async fn check_client(
    env: &Env,
    class: &LimitClass,
    scope: &str,
    req: &Request,
) -> Result<Decision> {
    check(env, class, &client_key(req, scope)?).await
}

/// The key of the client's address in the `scope` family of counters.
pub fn client_key(req: &Request, scope: &str) -> Result<String> {
    let client = req.headers().get("CF-Connecting-IP")?.unwrap_or_default();
    Ok(format!("{scope}:{client}"))
}

/// Counts one request for `key` under `class`. `key` names the object: an API key's hash or
/// `webhook:<tenant>`, so every key has its own counters.
pub async fn check(env: &Env, class: &LimitClass, key: &str) -> Result<Decision> {
    let stub = env.durable_object(BINDING)?.id_from_name(key)?.get_stub()?;
    let mut response = stub
        .fetch_with_request(Request::new(
            &format!("https://limiter/check?class={}", class.name),
            worker::Method::Post,
        )?)
        .await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "rate limiter answered {}",
            response.status_code()
        )));
    }
    response.json().await
}
