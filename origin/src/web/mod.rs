//! The seller dashboard at `/app`: pages rendered by the origin from askama templates
//! (`origin/templates/`, checked at compile time), reached through the edge like every route.
//! Sessions live in a cookie (`session.rs`), every form carries a CSRF token (`csrf.rs`), and
//! htmx (served from the binary, `assets.rs`) only makes actions faster: every page reads
//! without JavaScript. One file per page family, each exposing `routes()` with its OpenAPI
//! entries; `app` merges [`routes`] into the router beside the API.
//!
//! A new page is one template (extending `base.html`), one handler file taking
//! [`session::Member`] (the tenant from the path, 404 for a tenant the account is not a member
//! of) and returning [`page::render`], and its line in `page::Nav::PAGES`.

pub mod accounts;
pub mod assets;
pub mod csrf;
pub mod overview;
pub mod page;
pub mod session;

use axum::middleware;
use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;

/// Every dashboard route with its documentation, the CSRF check on each that is not a GET.
pub fn routes() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .merge(assets::routes())
        .merge(accounts::routes())
        .merge(overview::routes());
    let guard = csrf::Guard::new(router.get_openapi());
    router.route_layer(middleware::from_fn_with_state(guard, csrf::require_token))
}
