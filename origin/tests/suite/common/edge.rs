//! A stand-in for the edge in front of the test app: it signs each request as the worker does
//! (`shared::forward`, over method, path, query and body) and relays it to the origin, which
//! serves nothing unsigned; the origin's answer, a redirect too, comes back as it is. A request that already carries a signature is relayed untouched,
//! so tests of the signature itself still control it; tests of what the origin does with an
//! unsigned request talk to `TestApp::origin` directly.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use shared::forward::SIGNATURE_HEADER;

use super::edge_signature;

/// Starts the signing relay to `origin` on a random loopback port; its base URL.
pub async fn start(origin: String) -> String {
    // A redirect is the origin's answer to relay, as the worker relays it, not one to follow.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let relay = axum::Router::new().fallback(move |request: Request| {
        let (client, origin) = (client.clone(), origin.clone());
        async move { relay(&client, &origin, request).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, relay).await });
    base
}

async fn relay(client: &reqwest::Client, origin: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = client.request(parts.method.clone(), format!("{origin}{path_and_query}"));
    for (name, value) in &parts.headers {
        if name != header::HOST
            && name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
        {
            outgoing = outgoing.header(name, value);
        }
    }
    if !parts.headers.contains_key(SIGNATURE_HEADER) {
        let signature = edge_signature(parts.method.as_str(), path_and_query, &bytes);
        outgoing = outgoing.header(SIGNATURE_HEADER, signature);
    }
    let answer = outgoing.body(bytes).send().await.unwrap();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}
