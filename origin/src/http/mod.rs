//! HTTP: the router, the middleware stack (with `Idempotency-Key` on the routes marked
//! idempotent) and one file per resource. Each resource file
//! exposes `routes()` (every route with its OpenAPI entry, registered together); this module
//! merges them. Handlers reach the rest of the origin only through [`AppState`].

pub mod account_routes;
pub mod alerts;
pub mod auth;
pub mod connect;
pub mod connect_ebay;
pub mod connect_ebay_seller;
pub mod connect_etsy;
pub mod connect_woocommerce;
pub mod connection_actions;
pub mod connection_settings;
pub mod connections;
pub mod docs;
pub mod downloads;
pub mod edge_signature;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod internal;
pub mod keys;
pub mod listings;
pub mod order_fulfilment;
pub mod orders;
pub mod products;
pub mod request_id;
pub mod response;
pub mod state;
pub mod templates;
pub mod tenant;

use std::sync::Arc;

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use error::ApiError;
pub use state::AppState;
use state::BodyLimit;

/// Every route with its documentation, before state and layers. Tests use it to compare the
/// document with what the router serves.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(health::routes())
        .merge(docs::routes())
        .merge(tenant::routes())
        .merge(keys::routes())
        .merge(connections::routes())
        .merge(connect::routes())
        .merge(connect_woocommerce::routes())
        .merge(connect_etsy::routes())
        .merge(connect_ebay::routes())
        .merge(listings::routes())
        .merge(events::routes())
        .merge(alerts::routes())
        .merge(downloads::routes())
        .merge(products::routes())
        .merge(orders::routes())
        .merge(templates::routes())
        .merge(internal::routes())
        .merge(account_routes::routes())
}

/// The OpenAPI document of [`api_routes`], as served.
pub fn openapi() -> serde_json::Value {
    served_document(api_routes().into_openapi())
}

/// 405 with the `Allow` header RFC 9110 asks for (axum adds none once the routes are layered).
async fn method_not_allowed(
    Extension(document): Extension<docs::Document>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = ApiError::MethodNotAllowed.into_response();
    let allow = docs::allowed_methods(&document.0, uri.path())
        .and_then(|allow| axum::http::HeaderValue::from_str(&allow).ok());
    if let Some(allow) = allow {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    response
}

fn served_document(openapi: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut document = serde_json::to_value(&openapi).expect("the OpenAPI document serialises");
    docs::envelope_success_bodies(&mut document);
    document
}

/// The service's router: every route (the API's and `pages`, the dashboard's), the 404/405
/// answers, the body limit and request ids. One document describes both.
pub fn router(
    state: AppState,
    max_body_bytes: usize,
    pages: OpenApiRouter<AppState>,
) -> axum::Router {
    let (router, document) = api_routes().merge(pages).split_for_parts();
    let idempotent = idempotency::Guard::new(state.clone(), &document);
    let document = served_document(document);
    router
        .route_layer(middleware::from_fn_with_state(
            idempotent,
            idempotency::guard,
        ))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            edge_signature::require_edge_signature,
        ))
        .layer(Extension(docs::Document(Arc::new(document))))
        .layer(Extension(BodyLimit(max_body_bytes)))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}
