//! Request ids: taken from `X-Request-Id` (the edge sets it) or made here, echoed on every
//! response, put in the envelope's `meta` and on the tracing span of the request. The answer
//! to an authenticated call also names the key's tenant (`X-YS-Key-Tenant`) for the edge.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
    /// The tenant of the API key the request authenticated with, once `Auth` has run.
    static KEY_TENANT: std::sync::OnceLock<String>;
}

/// Records the tenant of the request's API key, for the answer's `X-YS-Key-Tenant` header.
pub fn record_key_tenant(tenant_id: &str) {
    let _ = KEY_TENANT.try_with(|cell| cell.set(tenant_id.to_owned()));
}

/// The id of the request being served, if called while serving one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `future` with the id of the request being served, for a task spawned to serve it.
pub fn carry<F: std::future::Future>(future: F) -> impl std::future::Future<Output = F::Output> {
    REQUEST_ID.scope(current().unwrap_or_default(), future)
}

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Middleware: assigns the id, scopes it to the request, logs one line per request.
/// The matched route is logged, never the path: paths carry download tokens (`/d/{token}`)
/// and query strings signatures. A handler may record the `link_id` it served.
pub async fn assign(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(shared::internal::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| crate::ids::new_id("req"), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        link_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let tenant = std::sync::OnceLock::new();
    let (mut response, tenant) = REQUEST_ID
        .scope(
            id.clone(),
            KEY_TENANT.scope(tenant, async {
                let response = next.run(request).await;
                (response, KEY_TENANT.with(|cell| cell.get().cloned()))
            }),
        )
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(shared::internal::REQUEST_ID_HEADER, value);
    }
    if let Some(value) = tenant.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response
            .headers_mut()
            .insert(shared::internal::KEY_TENANT_HEADER, value);
    }
    response
}
