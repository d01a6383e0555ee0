//! A proxy between the worker and the origin that refuses chosen paths with 503 and passes the
//! rest through unchanged: how a test makes one route of a healthy origin fail for good. It
//! records every request it sees, so a test can check what the worker sent.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

struct ProxyState {
    upstream: String,
    failing_paths: Vec<String>,
    client: reqwest::Client,
    seen: Mutex<Vec<SeenRequest>>,
}

/// A request the proxy received from the worker.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    pub base_url: String,
    state: Arc<ProxyState>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies to `upstream`, answering 503 for any request whose path is in `failing_paths`.
    pub async fn start(upstream: &str, failing_paths: &[&str]) -> Self {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            failing_paths: failing_paths.iter().map(|p| (*p).to_owned()).collect(),
            client: reqwest::Client::new(),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let (base_url, server) = super::serve_on_loopback("the fault proxy", app).await;
        FaultProxy {
            base_url,
            state,
            server,
        }
    }

    /// The requests seen so far on `path`.
    pub fn seen(&self, path: &str) -> Vec<SeenRequest> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter().filter(|r| r.path == path).cloned().collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    let method_name = request.method().as_str().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap();
    let mut outgoing = state
        .client
        .request(method, format!("{}{path_and_query}", state.upstream));
    for (name, value) in request.headers() {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let body: Bytes = match axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024).await {
        Ok(body) => body,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    state.seen.lock().unwrap().push(SeenRequest {
        method: method_name,
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    if state.failing_paths.contains(&path) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "refused by the test's fault proxy",
        )
            .into_response();
    }
    let answer = match outgoing.body(body.to_vec()).send().await {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
