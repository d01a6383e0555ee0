//! HTTP: the router (every route and its OpenAPI entry registered together), the
//! middleware stack, and one file per resource.

pub mod auth;
pub mod connections;
pub mod docs;
pub mod downloads;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod health;
pub mod internal;
pub mod keys;
pub mod orders;
pub mod pipeline;
pub mod products;
pub mod request_id;
pub mod response;
pub mod templates;
pub mod tenant;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use error::ApiError;

static BODY_LIMIT: AtomicUsize = AtomicUsize::new(1024 * 1024);

/// The JSON body limit in force (for the 413 message).
pub fn body_limit() -> usize {
    BODY_LIMIT.load(Ordering::Relaxed)
}

/// Every route with its documentation, before state and layers. Tests use it to compare the
/// document with what the router serves.
pub fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    let internal = OpenApiRouter::new()
        .routes(routes!(internal::edge_config))
        .routes(routes!(internal::ingest_event))
        .routes(routes!(internal::record_dead_letter))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            internal::require_edge_signature,
        ))
        // Forwarded events wrap a whole webhook body: the public API's JSON limit is too small.
        .route_layer(DefaultBodyLimit::max(internal::MAX_FORWARDED_BYTES));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(docs::openapi_document))
        .routes(routes!(docs::openapi_page))
        .routes(routes!(tenant::get_tenant))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(keys::rotate_key))
        .routes(routes!(
            connections::list_connections,
            connections::create_connection
        ))
        .routes(routes!(connections::get_connection))
        .routes(routes!(connections::deactivate_connection))
        .routes(routes!(events::list_events))
        .routes(routes!(pipeline::replay_event))
        .routes(routes!(pipeline::list_alerts))
        .routes(routes!(downloads::download))
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(
            products::get_product,
            products::update_product,
            products::archive_product
        ))
        .routes(routes!(products::import_codes))
        .routes(routes!(files::create_upload))
        .routes(routes!(files::upload_file))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::resend_order))
        .routes(routes!(orders::replace_item))
        .routes(routes!(
            templates::list_templates,
            templates::create_template
        ))
        .routes(routes!(templates::get_template, templates::update_template))
        .routes(routes!(templates::preview_template))
        .merge(internal)
}

/// The OpenAPI document of [`api_routes`].
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    api_routes(state).into_openapi()
}

pub fn router(state: AppState, max_body_bytes: usize) -> axum::Router {
    BODY_LIMIT.store(max_body_bytes, Ordering::Relaxed);
    let (router, document) = api_routes(&state).split_for_parts();
    let document = serde_json::to_value(&document).expect("the OpenAPI document serialises");
    router
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(Extension(docs::Document(Arc::new(document))))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}
