//! The dashboard's static files, compiled into the binary: htmx (vendored in `origin/assets/`,
//! its version in its name) and the stylesheet (its content hash in its name). Each is served
//! under `/app/assets/` with a year-long immutable cache, since a new file gets a new name;
//! any other name is the 404 page. Nothing is fetched from elsewhere: the pages work offline.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageError;
use crate::http::AppState;

/// htmx 2, unmodified from the npm registry (see `origin/assets/README.md`).
pub const HTMX_PATH: &str = "/app/assets/htmx-2.0.11.min.js";
const HTMX: &[u8] = include_bytes!("../../assets/htmx-2.0.11.min.js");
const STYLESHEET: &[u8] = include_bytes!("../../assets/dashboard.css");

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `/app/assets/dashboard-<first 12 hex digits of its SHA-256>.css`.
static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let hash = hex::encode(Sha256::digest(STYLESHEET));
    format!("/app/assets/dashboard-{}.css", &hash[..12])
});

/// Where the stylesheet is served now.
pub fn stylesheet_path() -> &'static str {
    STYLESHEET_PATH.as_str()
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(asset))
}

/// The file named `file` and its content type, if it is one the origin serves.
fn lookup(file: &str) -> Option<(&'static [u8], &'static str)> {
    let path = format!("/app/assets/{file}");
    if path == HTMX_PATH {
        Some((HTMX, "text/javascript; charset=utf-8"))
    } else if path == stylesheet_path() {
        Some((STYLESHEET, "text/css; charset=utf-8"))
    } else {
        None
    }
}

#[utoipa::path(get, path = "/app/assets/{file}", tag = "dashboard",
    params(("file" = String, Path, description = "The file's name, with its version or content hash (the pages link it)")),
    responses((status = 200, description = "htmx or the stylesheet, cached for a year (the name changes with the content)", content_type = "text/javascript", body = String),
        (status = 404, description = "NOT_FOUND: a page saying there is no such file", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn asset(Path(file): Path<String>) -> Result<Response, PageError> {
    let (bytes, content_type) = lookup(&file).ok_or(PageError::NotFound)?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        bytes,
    )
        .into_response())
}
