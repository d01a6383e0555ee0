//! `/app` and `/app/*`: the seller dashboard, rendered by the origin. Each request is counted
//! per client address and relayed signed like every forward, with the cookie, the form and
//! the htmx headers, and the client's address in `X-YS-Client-Address` (replacing anything the
//! client sent) so that the origin can limit sign-ins per address. The origin's answer (a
//! page, a redirect with its cookie, an asset) goes back as it is. Sessions and CSRF tokens
//! are the origin's to check.

use shared::ErrorCode;
use shared::forward::CLIENT_ADDRESS_HEADER;
use shared::internal::REQUEST_ID_HEADER;
use shared::ratelimit::{API_CLIENT, rate_limit_headers};
use worker::{Headers, Method, Request, Response, Result, RouteContext};

use crate::origin::{self, OriginRequest};
use crate::{limiter, respond};

/// Dashboard forms are small; file uploads go to the signed upload URL, not here.
const FORM_BODY_LIMIT: usize = 64 * 1024;

/// What a page request carries to the origin besides the signature and request id.
const FORWARDED_REQUEST_HEADERS: [&str; 8] = [
    "Content-Type",
    "Cookie",
    "Accept",
    "HX-Request",
    "HX-Target",
    "HX-Trigger",
    "HX-Current-URL",
    "X-CSRF-Token",
];

/// What the origin's answer carries back (`Set-Cookie` apart: there may be several).
const FORWARDED_RESPONSE_HEADERS: [&str; 6] = [
    "Content-Type",
    "Location",
    "Cache-Control",
    "Retry-After",
    "Vary",
    "HX-Redirect",
];

/// Any method on `/app` and `/app/*`.
pub async fn relay(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let decision = limiter::check_client(&ctx.env, &API_CLIENT, "app", &req).await?;
    if !decision.allowed {
        return respond::with_headers(
            respond::error(
                ErrorCode::RateLimited,
                "too many dashboard requests from this address; wait a minute",
            )?,
            &rate_limit_headers(&decision),
        );
    }
    let method = req.method();
    let body = if matches!(method, Method::Get | Method::Head) {
        None
    } else {
        match respond::read_body_within(&mut req, FORM_BODY_LIMIT).await? {
            Some(body) => Some(body),
            None => return respond::too_large(FORM_BODY_LIMIT),
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
    let client = req.headers().get("CF-Connecting-IP")?.unwrap_or_default();
    headers.push((CLIENT_ADDRESS_HEADER, client));
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
    let mut answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable for a dashboard page: {e}");
            return respond::error(
                ErrorCode::UpstreamUnavailable,
                "the dashboard is unavailable; retry in a moment",
            );
        }
    };
    let headers = Headers::new();
    for name in FORWARDED_RESPONSE_HEADERS {
        if let Some(value) = answer.headers().get(name)? {
            headers.set(name, &value)?;
        }
    }
    for cookie in answer.headers().get_all("Set-Cookie")? {
        headers.append("Set-Cookie", &cookie)?;
    }
    headers.set(REQUEST_ID_HEADER, &request_id)?;
    let status = answer.status_code();
    // A null-body status must not be given a body, even an empty one.
    let response = if matches!(status, 204 | 205 | 304) || method_is_head(&req) {
        Response::empty()?
    } else {
        Response::from_bytes(answer.bytes().await?)?
    };
    Ok(response.with_status(status).with_headers(headers))
}

fn method_is_head(req: &Request) -> bool {
    req.method() == Method::Head
}
