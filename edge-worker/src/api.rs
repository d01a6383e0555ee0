//! `/api/v1/*`: the public API. The edge checks the Bearer key's format, counts the call per
//! client address, per tenant (learnt from the origin's answer to the key's first call) and
//! in the key's rate limiter, and forwards it to the origin signed; the origin's answer is returned as is,
//! with the `X-RateLimit-*` headers added. Over the limit, nothing reaches the origin.

use shared::ErrorCode;
use shared::apikey::parse_bearer;
use shared::internal::KEY_TENANT_HEADER;
use shared::ratelimit::{API_CLIENT, API_KEY, API_TENANT, Decision, rate_limit_headers};
use worker::{Env, Method, Request, Response, Result, RouteContext};

use crate::memory::IsolateMap;
use crate::origin;
use crate::{limiter, respond};

/// API request bodies above this are refused with 413 before they are counted or forwarded.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// Request headers the origin needs besides the signature and request id.
const FORWARDED_REQUEST_HEADERS: [&str; 4] =
    ["Authorization", "Content-Type", "Accept", "Idempotency-Key"];
/// Answer headers worth passing back to the client (`Idempotent-Replayed`: the origin's
/// stored answer to an earlier request with the same `Idempotency-Key`).
const FORWARDED_RESPONSE_HEADERS: [&str; 6] = [
    "Content-Type",
    "Location",
    "Retry-After",
    "Link",
    "Allow",
    "Idempotent-Replayed",
];

thread_local! {
    /// Key hash → tenant, as the origin named it on an earlier answer for that key.
    static KEY_TENANTS: IsolateMap<String> = IsolateMap::new();
}

/// Counts one call: per client address, then per tenant (once the key's tenant is known),
/// then per key (`None`: a malformed key, counted per address as `anonymous`). The binding
/// decision, with what to say if it refuses.
async fn count(
    env: &Env,
    req: &Request,
    key_hash: Option<&str>,
) -> Result<(Decision, &'static str)> {
    let by_address = limiter::check_client(env, &API_CLIENT, "api-client", req).await?;
    if !by_address.allowed {
        return Ok((by_address, "rate limit exceeded for this client address"));
    }
    let Some(key_hash) = key_hash else {
        let anonymous = limiter::check_client(env, &API_KEY, "anonymous", req).await?;
        return Ok((anonymous, "rate limit exceeded for this API key"));
    };
    let tenant = KEY_TENANTS.with(|m| m.get(key_hash));
    if let Some(tenant) = tenant {
        let by_tenant = limiter::check(env, &API_TENANT, &format!("api-tenant:{tenant}")).await?;
        if !by_tenant.allowed {
            return Ok((
                by_tenant,
                "rate limit exceeded for this account's API keys together",
            ));
        }
    }
    let by_key = limiter::check(env, &API_KEY, key_hash).await?;
    Ok((by_key, "rate limit exceeded for this API key"))
}

fn remember_tenant(key_hash: &str, tenant: &str) {
    KEY_TENANTS.with(|m| m.insert(key_hash, tenant.to_owned()));
}

/// Any method on `/api/v1/*`.
pub async fn forward(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let authorization = req.headers().get("Authorization")?.unwrap_or_default();
    // A malformed or missing key is counted per client address, so key guessing is limited too
    // and every answer carries the rate-limit headers.
    let parsed = parse_bearer(&authorization);
    // Counted per client address first, so made-up keys cannot each bring a fresh budget,
    // then per tenant and per key.
    let counted = count(
        &ctx.env,
        &req,
        parsed.as_ref().ok().map(|key| key.hash.as_str()),
    )
    .await;
    let (decision, refusal) = match counted {
        Ok(decision) => decision,
        Err(e) => {
            worker::console_error!("{request_id}: rate limiter failed: {e}");
            return respond::error(
                ErrorCode::UpstreamUnavailable,
                "the rate limiter is unavailable; retry later",
            );
        }
    };
    let limit_headers = rate_limit_headers(&decision);
    let refuse = |code: ErrorCode, message: &str| {
        respond::with_headers(respond::error(code, message)?, &limit_headers)
    };
    if !decision.allowed {
        return refuse(ErrorCode::RateLimited, refusal);
    }
    if let Err(e) = parsed {
        let message = format!("a valid API key is required (Authorization: Bearer ys_live_…): {e}");
        return refuse(ErrorCode::Unauthorized, &message);
    }
    let declared_length = req
        .headers()
        .get("Content-Length")?
        .and_then(|value| value.trim().parse::<u64>().ok());
    let too_large = || respond::with_headers(respond::too_large(API_BODY_LIMIT)?, &limit_headers);
    if declared_length.is_some_and(|length| length > API_BODY_LIMIT as u64) {
        return too_large();
    }

    let method = req.method();
    let body = if matches!(method, Method::Get | Method::Head) {
        None
    } else {
        match respond::read_body_within(&mut req, API_BODY_LIMIT).await? {
            Some(body) => Some(body),
            None => return too_large(),
        }
    };
    let answer = origin::relay(
        &ctx.env,
        &req,
        body.as_deref(),
        &FORWARDED_REQUEST_HEADERS,
        &request_id,
    )
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable: {e}");
            return refuse(
                ErrorCode::UpstreamUnavailable,
                "the service is unavailable; retry later",
            );
        }
    };

    if let (Ok(key), Some(tenant)) = (&parsed, answer.headers().get(KEY_TENANT_HEADER)?) {
        remember_tenant(&key.hash, &tenant);
    }
    let response = origin::relay_answer(answer, &FORWARDED_RESPONSE_HEADERS, &request_id).await?;
    respond::with_headers(response, &limit_headers)
}
