//! `GET /d/{token}`: a buyer's download link. The token is the credential (the origin checks
//! its HMAC, expiry and download count); the edge checks its shape, limits downloads per client
//! address, and streams the file back from the origin.

use shared::ErrorCode;
use shared::ratelimit::{API_KEY, rate_limit_headers};
use worker::{Method, Request, Response, Result, RouteContext};

use crate::origin::{self, StreamedRequest};
use crate::{limiter, respond};

/// A large file on a slow link takes a while to stream.
const DOWNLOAD_TIMEOUT_MS: u32 = 300_000;

pub async fn download(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let token = ctx.param("token").map(String::as_str).unwrap_or_default();
    if !is_plausible_token(token) {
        return respond::error(ErrorCode::NotFound, "no such download link");
    }
    let decision = limiter::check_client(&ctx.env, &API_KEY, "download", &req).await?;
    if !decision.allowed {
        return respond::with_headers(
            respond::error(
                ErrorCode::RateLimited,
                "too many downloads from this address",
            )?,
            &rate_limit_headers(&decision),
        );
    }
    let answer = origin::stream(
        &ctx.env,
        StreamedRequest {
            method: Method::Get,
            path_and_query: &format!("/d/{token}"),
            length: 0,
            incoming: &req,
            headers: &["Range"],
            request_id: &request_id,
            timeout_ms: DOWNLOAD_TIMEOUT_MS,
        },
    )
    .await;
    match answer {
        // The origin's answer (the file, or its enveloped 404/410) goes back as it streams.
        Ok(answer) => Ok(answer),
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable for a download: {e}");
            respond::error(
                ErrorCode::UpstreamUnavailable,
                "the download is unavailable; retry later",
            )
        }
    }
}

/// Tokens are `<link id>.<base64url tag>`: refuse anything else before it costs the origin.
fn is_plausible_token(token: &str) -> bool {
    (8..=200).contains(&token.len())
        && token.contains('.')
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}
