//! The edge worker: thin glue between the Workers runtime and the decisions in `shared`.
//!
//! This file only wires routes to their handlers; each route family lives in its own module.
//! The Queue consumer is `queue::queue`, the rate limiter Durable Object `limiter::RateLimiter`.
#![cfg(target_arch = "wasm32")]

use shared::ErrorCode;
use worker::{Context, Env, Request, Response, Result, Router, event};

mod account_routes;
mod api;
mod bench;
mod config;
mod connect;
mod dashboard;
mod downloads;
mod ebay_app;
mod ebay_keys;
mod etsy;
mod limiter;
mod memory;
mod origin;
mod queue;
mod respond;
mod settings;
mod uploads;
mod webhooks;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let response = Router::new()
        .get("/healthz", |_, _| {
            respond::json(200, &serde_json::json!({ "status": "ok" }))
        })
        .get_async("/readyz", origin::readiness)
        .post_async("/webhooks/woocommerce/:tenant", webhooks::woocommerce)
        .post_async(
            "/webhooks/woocommerce/:tenant/:connection",
            webhooks::woocommerce,
        )
        .get_async("/webhooks/ebay/:tenant", webhooks::ebay_challenge)
        .post_async("/webhooks/ebay/:tenant", webhooks::ebay_notification)
        .get_async("/webhooks/ebay", ebay_app::challenge)
        .post_async("/webhooks/ebay", ebay_app::notification)
        .post_async("/webhooks/etsy", etsy::etsy_webhook)
        .get_async("/d/:token", downloads::download)
        .post_async("/connect/woocommerce/keys", connect::relay)
        .get_async("/connect/:platform/callback", connect::relay)
        .on_async("/app", dashboard::relay)
        .on_async("/app/*path", dashboard::relay)
        .put_async("/api/v1/uploads/:file_id", uploads::upload)
        .on_async("/api/v1/*path", api::forward)
        .post_async("/bench/:kind", bench::verify)
        .or_else_any_method("/*path", |_, _| {
            respond::error(ErrorCode::NotFound, "no such route")
        })
        .run(req, env)
        .await;
    match response {
        // The router's own 404 / 405 answers are plain text; give them the envelope.
        Ok(response) if is_router_refusal(&response) => match response.status_code() {
            405 => respond::error(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            ),
            _ => respond::error(ErrorCode::NotFound, "no such route"),
        },
        Ok(response) => Ok(response),
        Err(e) => {
            worker::console_error!("unhandled error: {e}");
            respond::error(
                ErrorCode::InternalError,
                "something failed at the edge; retrying later is safe",
            )
        }
    }
}

/// The router's own 404 / 405 are plain text; an answer relayed from the origin (its envelope,
/// or a dashboard page) is JSON or HTML and goes back as it is.
fn is_router_refusal(response: &Response) -> bool {
    let relayed = response
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .is_some_and(|value| value.contains("json") || value.contains("html"));
    matches!(response.status_code(), 404 | 405) && !relayed
}
