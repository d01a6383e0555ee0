//! `PUT /api/v1/uploads/{file_id}`: product file uploads through the signed URL the origin hands
//! out. The URL itself is the credential (the origin checks its signature and expiry), so the
//! edge asks for no API key: it checks the URL's shape, limits calls per client address, and
//! streams the body to the origin without holding it in memory.

use shared::ErrorCode;
use shared::internal::REQUEST_ID_HEADER;
use shared::ratelimit::{API_KEY, rate_limit_headers};
use worker::{Method, Request, Response, Result, RouteContext};

use crate::origin::{self, StreamedRequest};
use crate::{limiter, respond};

/// The origin's own default upload limit; larger bodies are refused before they are streamed.
pub const UPLOAD_LIMIT: u64 = 100 * 1024 * 1024;
/// A large file on a slow link takes a while; the origin enforces its own limits.
const UPLOAD_TIMEOUT_MS: u32 = 300_000;

pub async fn upload(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let url = req.url()?;
    let signed = ["expires", "signature"].iter().all(|name| {
        url.query_pairs()
            .any(|(key, value)| key == *name && !value.is_empty())
    });
    if !signed {
        return respond::error(
            ErrorCode::Unauthorized,
            "upload URLs are signed: use the upload_url from POST /api/v1/products/{id}/files",
        );
    }
    let decision = limiter::check_client(&ctx.env, &API_KEY, "upload", &req).await?;
    let limit_headers = rate_limit_headers(&decision);
    if !decision.allowed {
        return respond::with_headers(
            respond::error(ErrorCode::RateLimited, "too many uploads from this address")?,
            &limit_headers,
        );
    }
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > UPLOAD_LIMIT) {
        return respond::with_headers(respond::too_large(UPLOAD_LIMIT as usize)?, &limit_headers);
    }

    let answer = origin::stream(
        &ctx.env,
        StreamedRequest {
            method: Method::Put,
            path_and_query: &origin::path_and_query(&url),
            // Without a declared length the origin reads up to the upload limit.
            length: declared.unwrap_or(UPLOAD_LIMIT),
            incoming: &req,
            headers: &["Content-Type", "Content-Length"],
            request_id: &request_id,
            timeout_ms: UPLOAD_TIMEOUT_MS,
        },
    )
    .await;
    let mut answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable for an upload: {e}");
            return respond::with_headers(
                respond::error(
                    ErrorCode::UpstreamUnavailable,
                    "the service is unavailable; retry later",
                )?,
                &limit_headers,
            );
        }
    };
    let status = answer.status_code();
    let content_type = answer.headers().get("Content-Type")?;
    let mut response = Response::from_bytes(answer.bytes().await?)?.with_status(status);
    if let Some(content_type) = content_type {
        response.headers_mut().set("Content-Type", &content_type)?;
    }
    response.headers_mut().set(REQUEST_ID_HEADER, &request_id)?;
    respond::with_headers(response, &limit_headers)
}
