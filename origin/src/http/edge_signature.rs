//! Every request reaches the origin through the edge: this middleware, on the whole router,
//! refuses with 401 anything without a fresh, valid edge signature (`shared::forward`), so a
//! client that finds the origin cannot bypass the edge's limits. Buffered requests are signed
//! over their body; streamed ones (uploads, downloads) over a length the origin then reads no
//! more than. Only `GET /healthz` is exempt: process supervisors probe it, and it tells nothing.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use secrecy::ExposeSecret;
use shared::forward::{is_streamed_signature, verify_forwarded_request, verify_streamed_request};

use super::error::ApiError;
use super::state::{AppState, BodyLimit};
use crate::ids::now_ms;

/// Largest forwarded body the internal routes read. The edge accepts webhook bodies up to 1 MB
/// and forwards them as a JSON string inside an event, where escaping can double them.
pub const MAX_FORWARDED_BYTES: usize = 4 * 1024 * 1024;

/// The one route served without a signature.
const HEALTH_PATH: &str = "/healthz";

pub async fn require_edge_signature(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == HEALTH_PATH {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(shared::forward::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = request.method().as_str().to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
    let secret = state.edge_secret.expose_secret().as_bytes();
    let refused = |error: shared::forward::ForwardSignatureError| {
        // The route, not the path: a refused download's path would carry its token.
        tracing::warn!(%error, %method, "refused a request without a valid edge signature");
        ApiError::NotThroughTheEdge.into_response()
    };

    if header.as_deref().is_some_and(is_streamed_signature) {
        return match verify_streamed_request(
            &[secret],
            header.as_deref(),
            now,
            &method,
            &path_and_query,
        ) {
            // The body is read no further than the length the edge signed.
            Ok(length) => {
                let (parts, body) = request.into_parts();
                let limited = Body::new(Limited::new(
                    body,
                    usize::try_from(length).unwrap_or(usize::MAX),
                ));
                next.run(Request::from_parts(parts, limited)).await
            }
            Err(error) => refused(error),
        };
    }

    // A signed body is read whole; no route takes a larger one than this.
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(0, |limit| limit.0)
        .max(MAX_FORWARDED_BYTES);
    let too_large = || {
        ApiError::PayloadTooLarge {
            limit: limit as u64,
        }
        .into_response()
    };
    // A declared length over the limit is refused before a byte of the body is read, so the
    // sender gets the answer instead of a connection reset while it is still writing.
    if declared_length(request.headers()).is_some_and(|length| length > limit) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    match verify_forwarded_request(
        &[secret],
        header.as_deref(),
        now,
        &method,
        &path_and_query,
        &bytes,
    ) {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => refused(error),
    }
}

fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
