//! A stand-in for the worker's `/api/v1/*` relay, without its rate limits: it passes the
//! headers the worker passes (`Authorization`, `Content-Type`, `Accept`, `Idempotency-Key`),
//! signs each request over its body as the worker does (`shared::forward`), and hands back the
//! origin's status, body and the answer headers the worker keeps. For tools that send far
//! more calls than one key may make at the real edge (schemathesis), against the real origin.
//! It signs every path, the internal routes and `/d/…` included, so those are tested on the
//! origin's own answers too.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::ErrorCode;
use shared::envelope::error_json;
use shared::forward::{SIGNATURE_HEADER, sign_forwarded_request};
use shared::internal::REQUEST_ID_HEADER;
use tokio::task::JoinHandle;

/// What the worker forwards of a client's request, and keeps of the origin's answer.
const REQUEST_HEADERS: [&str; 4] = ["authorization", "content-type", "accept", "idempotency-key"];
const ANSWER_HEADERS: [&str; 6] = [
    "content-type",
    "location",
    "retry-after",
    "link",
    "allow",
    "x-request-id",
];
/// The worker's body limit on `/api/v1/*` (`API_BODY_LIMIT`).
const BODY_LIMIT: usize = 1024 * 1024;

struct Relay {
    upstream: String,
    secret: String,
    client: reqwest::Client,
}

/// The running relay; stops when dropped.
pub struct SigningEdge {
    pub base_url: String,
    server: JoinHandle<()>,
}

impl SigningEdge {
    /// Relays to the origin at `upstream`, signing with `secret`.
    pub async fn start(upstream: &str, secret: &str) -> Self {
        let relay = Arc::new(Relay {
            upstream: upstream.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            client: reqwest::Client::new(),
        });
        let app = Router::new().fallback(forward).with_state(relay);
        let (base_url, server) = super::serve_on_loopback("the signing edge", app).await;
        SigningEdge { base_url, server }
    }
}

impl Drop for SigningEdge {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(relay): State<Arc<Relay>>, request: Request<Body>) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let Ok(method) = reqwest::Method::from_bytes(request.method().as_str().as_bytes()) else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let mut outgoing = relay.client.request(
        method.clone(),
        format!("{}{path_and_query}", relay.upstream),
    );
    for name in REQUEST_HEADERS {
        if let Some(value) = request.headers().get(name) {
            outgoing = outgoing.header(name, value.as_bytes());
        }
    }
    let body: Bytes = match axum::body::to_bytes(request.into_body(), BODY_LIMIT).await {
        Ok(body) => body,
        // Enveloped, as the worker's own 413 is.
        Err(_) => {
            let body = error_json(
                ErrorCode::PayloadTooLarge,
                "the body is larger than the API accepts",
                None,
            );
            let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
            return (StatusCode::PAYLOAD_TOO_LARGE, json, body).into_response();
        }
    };
    let signature = sign_forwarded_request(
        relay.secret.as_bytes(),
        super::unix_now(),
        method.as_str(),
        &path_and_query,
        &body,
    );
    let answer = match outgoing
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
    {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for name in ANSWER_HEADERS {
        let name = HeaderName::from_static(name);
        if let Some(value) = answer.headers().get(&name) {
            response = response.header(name, value.as_bytes());
        }
    }
    debug_assert_eq!(REQUEST_ID_HEADER.to_ascii_lowercase(), ANSWER_HEADERS[5]);
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
