//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/api/v1/docs`. Shared envelope types are described here because `shared` stays free of
//! documentation dependencies.

use std::sync::Arc;

use axum::Json;
use axum::extract::Extension;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_document))
        .routes(routes!(openapi_page))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "YourSender API",
        version = "1.0.0",
        description = "Every answer is `{data, meta, error}`. Lists are newest first with cursor \
            pagination (`limit` 1..100, default 25; follow `meta.next_cursor`). Errors carry a stable \
            `error.code`. Authenticate with `Authorization: Bearer ys_live_…` (or `ys_test_…`); a key \
            with the scope `*` has every scope, and a key hands out (and rotates or revokes keys with) \
            only scopes it holds; a rotated key keeps working for 24 hours. Test keys manage test keys \
            and read `/api/v1/tenant`; every route of live data answers them 403 `TEST_KEY_LIVE_DATA`. `/internal/…` \
            routes take the edge signature `X-YS-Edge-Signature` instead of a key. Routes that \
            change state or spend tokens take an optional `Idempotency-Key` header: retrying with \
            the same key answers the first result (`Idempotent-Replayed: true`) and charges once."
    ),
    components(schemas(ErrorEnvelope, ErrorBodyDoc, MetaDoc)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ys_live_…")
                    .build(),
            ),
        );
    }
}

/// An error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always null on errors.
    pub data: Option<Value>,
    pub meta: MetaDoc,
    pub error: ErrorBodyDoc,
}

#[derive(Serialize, ToSchema)]
pub struct MetaDoc {
    /// Also in the `X-Request-Id` header.
    pub request_id: Option<String>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBodyDoc {
    /// Stable code: INVALID_REQUEST, VALIDATION_FAILED, UNAUTHORIZED, FORBIDDEN,
    /// SCOPE_ESCALATION, ENVIRONMENT_ESCALATION, TEST_KEY_LIVE_DATA, NOT_FOUND,
    /// METHOD_NOT_ALLOWED, DUPLICATE_SKU, CONFLICT, ORDER_CLOSED, ORDER_NOT_IN_REVIEW,
    /// KEY_LIMIT_REACHED, CONNECTION_INACTIVE, INSUFFICIENT_TOKENS, TOO_MANY_CONNECTIONS,
    /// ACCOUNT_ALREADY_CONNECTED, STORAGE_QUOTA_EXCEEDED, IDEMPOTENCY_KEY_IN_USE, IDEMPOTENCY_KEY_REUSED, PAYLOAD_TOO_LARGE,
    /// UNSUPPORTED_MEDIA_TYPE, RATE_LIMITED,
    /// INTERNAL_ERROR, UPSTREAM_UNAVAILABLE, PLATFORM_REFUSED.
    #[schema(example = "VALIDATION_FAILED")]
    pub code: String,
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The field or query parameter at fault.
    pub field: Option<String>,
    /// How to fix the request.
    pub hint: Option<String>,
}

/// The routes' annotations name the type of `data`; the wire answer is that type inside the
/// envelope. Rewrites every JSON success body to `{data: <that type>, meta, error: null}` so
/// the document describes the bytes a client receives (`/api/v1/docs` itself is not enveloped).
pub fn envelope_success_bodies(value: &mut Value) {
    let paths = value["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.iter_mut());
    for (path, item) in paths {
        if path == "/api/v1/docs" {
            continue;
        }
        let operations = item
            .as_object_mut()
            .into_iter()
            .flat_map(|i| i.values_mut());
        for operation in operations {
            let responses = operation["responses"].as_object_mut();
            for (status, response) in responses.into_iter().flat_map(|r| r.iter_mut()) {
                let Some(schema) = response
                    .pointer_mut("/content/application~1json/schema")
                    .filter(|_| status.starts_with('2'))
                else {
                    continue;
                };
                let data = schema.take();
                *schema = serde_json::json!({
                    "type": "object",
                    "required": ["data", "meta", "error"],
                    "properties": {
                        "data": data,
                        "meta": {"$ref": "#/components/schemas/MetaDoc"},
                        "error": {"type": "null"}
                    }
                });
            }
        }
    }
}

/// The `Allow` header for a concrete request path: the methods the document lists for the
/// path template it matches (`/api/v1/keys/k_1` matches `/api/v1/keys/{id}`), HEAD with GET.
pub fn allowed_methods(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let (_, item) = doc["paths"].as_object()?.iter().find(|(template, _)| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part == segment || part.starts_with('{'))
    })?;
    let mut methods: Vec<String> = Vec::new();
    for method in ["get", "head", "post", "put", "patch", "delete"] {
        if item.get(method).is_some() || (method == "head" && item.get("get").is_some()) {
            methods.push(method.to_ascii_uppercase());
        }
    }
    Some(methods.join(","))
}

/// The document itself, computed once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<Value>);

#[utoipa::path(get, path = "/api/v1/docs", tag = "docs",
    responses((status = 200, description = "This OpenAPI 3.1 document (not enveloped)", body = Object)))]
pub async fn openapi_document(Extension(document): Extension<Document>) -> Json<Value> {
    Json(document.0.as_ref().clone())
}

/// 401 and 403, on every route that takes an API key.
#[derive(IntoResponses)]
pub enum KeyErrors {
    /// UNAUTHORIZED: no key, or a malformed, unknown, revoked or expired one.
    #[response(status = 401)]
    Unauthorized(ErrorEnvelope),
    /// FORBIDDEN: the key lacks the route's scope; TEST_KEY_LIVE_DATA: a test key on a route
    /// of live data; SCOPE_ESCALATION / ENVIRONMENT_ESCALATION (key routes): the other key
    /// holds a scope, or is live, and this key does not.
    #[response(status = 403)]
    Forbidden(ErrorEnvelope),
}

/// 400 on routes that read a body or query parameters.
#[derive(IntoResponses)]
pub enum BadInput {
    /// INVALID_REQUEST (unparsable JSON, unknown field, wrong type, bad query parameter) or
    /// VALIDATION_FAILED (a value breaks a rule); `error.field` names it, `error.hint` says how to fix it.
    #[response(status = 400)]
    BadRequest(ErrorEnvelope),
}

/// 404 on routes that name a resource.
#[derive(IntoResponses)]
pub enum Missing {
    /// NOT_FOUND: no such resource for this tenant (another tenant's id answers the same).
    #[response(status = 404)]
    NotFound(ErrorEnvelope),
}

/// 413 on routes that read a body.
#[derive(IntoResponses)]
pub enum TooLarge {
    /// PAYLOAD_TOO_LARGE: the body is over the limit.
    #[response(status = 413)]
    PayloadTooLarge(ErrorEnvelope),
}

/// 415 on routes that read a typed body.
#[derive(IntoResponses)]
pub enum WrongMediaType {
    /// UNSUPPORTED_MEDIA_TYPE: send the content type the route documents.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorEnvelope),
}

/// A readable page of the same document, rendered here: nothing to download, no script.
#[utoipa::path(get, path = "/api/v1/docs/ui", tag = "docs",
    responses((status = 200, description = "The API document as an HTML page", content_type = "text/html", body = String)))]
pub async fn openapi_page(
    Extension(document): Extension<Document>,
) -> axum::response::Html<String> {
    axum::response::Html(render_page(&document.0))
}

fn render_page(doc: &Value) -> String {
    let text = |v: &Value| escape(v.as_str().unwrap_or_default());
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         h2{{margin-top:2rem;border-bottom:1px solid #ccc}}code{{background:#f4f4f4;padding:0 .2rem}}\
         .op{{margin:1rem 0}}.m{{font-weight:bold;text-transform:uppercase}}</style></head><body>\
         <h1>{title} {version}</h1><p>{description}</p><p>Machine-readable: <a href=\"/api/v1/docs\">/api/v1/docs</a> (OpenAPI {openapi}).</p>",
        title = text(&doc["info"]["title"]),
        version = text(&doc["info"]["version"]),
        description = text(&doc["info"]["description"]),
        openapi = text(&doc["openapi"]),
    );
    let empty = serde_json::Map::new();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for (method, op) in item.as_object().unwrap_or(&empty) {
            html.push_str(&format!(
                "<div class=\"op\"><h2><span class=\"m\">{}</span> <code>{}</code></h2><p>{}</p>",
                escape(method),
                escape(path),
                text(
                    op.get("description")
                        .or(op.get("summary"))
                        .unwrap_or(&Value::Null)
                ),
            ));
            if let Some(params) = op["parameters"].as_array() {
                html.push_str("<p>Parameters:</p><ul>");
                for p in params {
                    html.push_str(&format!(
                        "<li><code>{}</code> ({}) {}</li>",
                        text(&p["name"]),
                        text(&p["in"]),
                        text(&p["description"])
                    ));
                }
                html.push_str("</ul>");
            }
            let statuses: Vec<String> = op["responses"]
                .as_object()
                .unwrap_or(&empty)
                .keys()
                .map(|s| escape(s))
                .collect();
            html.push_str(&format!("<p>Answers: {}</p></div>", statuses.join(", ")));
        }
    }
    html.push_str("</body></html>");
    html
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
