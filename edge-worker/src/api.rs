//! `/api/v1/*`: the public API. The edge checks the Bearer key's format, counts the call per
//! client address and then in the key's rate limiter, and forwards it to the origin signed; the origin's answer is returned as is,
//! with the `X-RateLimit-*` headers added. Over the limit, nothing reaches the origin.

use shared::ErrorCode;
use shared::apikey::parse_bearer;
use shared::internal::REQUEST_ID_HEADER;
use shared::ratelimit::{API_CLIENT, API_KEY, rate_limit_headers};
use worker::{Headers, Method, Request, Response, Result, RouteContext};

use crate::origin::{self, OriginRequest};
use crate::{limiter, respond};

/// API request bodies above this are refused with 413 before they are counted or forwarded.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// Request headers the origin needs besides the signature and request id.
const FORWARDED_REQUEST_HEADERS: [&str; 4] =
    ["Authorization", "Content-Type", "Accept", "Idempotency-Key"];
/// Answer headers worth passing back to the client.
const FORWARDED_RESPONSE_HEADERS: [&str; 4] = ["Content-Type", "Location", "Retry-After", "Link"];

/// Any method on `/api/v1/*`.
pub async fn forward(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let authorization = req.headers().get("Authorization")?.unwrap_or_default();
    // A malformed or missing key is counted per client address, so key guessing is limited too
    // and every answer carries the rate-limit headers.
    let parsed = parse_bearer(&authorization);
    // Every call is counted per client address first, so made-up keys cannot each bring a
    // fresh budget; then in the key's own windows.
    let counted = match limiter::check_client(&ctx.env, &API_CLIENT, "api-client", &req).await {
        Ok(by_address) if !by_address.allowed => {
            Ok((by_address, "rate limit exceeded for this client address"))
        }
        Ok(_) => match &parsed {
            Ok(key) => limiter::check(&ctx.env, &API_KEY, &key.hash).await,
            Err(_) => limiter::check_client(&ctx.env, &API_KEY, "anonymous", &req).await,
        }
        .map(|by_key| (by_key, "rate limit exceeded for this API key")),
        Err(e) => Err(e),
    };
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
    let url = req.url()?;
    let path_and_query = origin::path_and_query(&url);
    let mut headers = Vec::new();
    for name in FORWARDED_REQUEST_HEADERS {
        if let Some(value) = req.headers().get(name)? {
            headers.push((name, value));
        }
    }
    let answer = origin::send(
        &ctx.env,
        OriginRequest {
            method,
            path_and_query: &path_and_query,
            body: body.as_deref(),
            headers,
            request_id: &request_id,
            timeout_ms: origin::DEFAULT_TIMEOUT_MS,
        },
    )
    .await;
    let mut origin_answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable: {e}");
            return refuse(
                ErrorCode::UpstreamUnavailable,
                "the service is unavailable; retry later",
            );
        }
    };

    let headers = Headers::new();
    for name in FORWARDED_RESPONSE_HEADERS {
        if let Some(value) = origin_answer.headers().get(name)? {
            headers.set(name, &value)?;
        }
    }
    headers.set(REQUEST_ID_HEADER, &request_id)?;
    for (name, value) in &limit_headers {
        headers.set(name, value)?;
    }
    let status = origin_answer.status_code();
    // A null-body status must not be given a body, even an empty one.
    let response = if matches!(status, 204 | 205 | 304) {
        Response::empty()?
    } else {
        Response::from_bytes(origin_answer.bytes().await?)?
    };
    Ok(response.with_status(status).with_headers(headers))
}
