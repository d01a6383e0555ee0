//! `/api/v1/templates`: the tenant's delivery email templates (minijinja), one of them the
//! default, with a preview that renders sample (or given) data.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, ListParams, Page, RawBody, parse_json};
use super::idempotency::idempotent;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::delivery::render::render_off_runtime;
use crate::domain::scopes::Scope;
use crate::domain::templates::{TemplateError, check, sample_data};
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::TemplateRow;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(idempotent(
            OpenApiRouter::new().routes(routes!(list_templates, create_template)),
        ))
        .routes(routes!(get_template, update_template))
        .routes(routes!(preview_template))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// minijinja, e.g. `Your order {{ order.platform_order_id }}`.
    pub subject: String,
    /// minijinja; variables: `buyer`, `order`, `shop`, `items` (see preview).
    pub body: String,
    /// Make this the tenant's default (the first template is the default anyway).
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// `true` makes it the default; the default can only change by making another one default.
    pub is_default: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    /// Data to render with (an object); sample data when absent.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateOut {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    pub subject: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<TemplateRow> for TemplateOut {
    fn from(row: TemplateRow) -> Self {
        TemplateOut {
            id: row.id,
            name: row.name,
            subject: row.subject,
            body: row.body,
            is_default: row.is_default == 1,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

fn template_error(error: TemplateError) -> ApiError {
    let hint = if error.exceeded_limit {
        "make its loops shorter and its output smaller"
    } else {
        "check the minijinja syntax and variable names"
    };
    ApiError::validation(
        error.field,
        format!("the template does not render: {}", error.message),
        hint,
    )
}

/// The name to store, trimmed; its length is checked as sent, as the document's maxLength is.
fn name_as_sent(name: &str) -> Result<String, ApiError> {
    if name.chars().count() > 200 {
        return Err(ApiError::validation(
            "name",
            "name must be 1 to 200 characters",
            "e.g. Default delivery",
        ));
    }
    Ok(name.trim().to_owned())
}

fn check_row(row: &TemplateRow) -> Result<(), ApiError> {
    // Characters, as the document and the message say, not UTF-8 bytes.
    let chars = |text: &str| text.chars().count();
    if row.name.trim().is_empty() || chars(&row.name) > 200 {
        return Err(ApiError::validation(
            "name",
            "name must be 1 to 200 characters",
            "e.g. Default delivery",
        ));
    }
    if chars(&row.subject) > 1000 || chars(&row.body) > 100_000 {
        return Err(ApiError::validation(
            "body",
            "subject or body too long",
            "subject up to 1000, body up to 100000 characters",
        ));
    }
    check(&row.subject, &row.body).map_err(template_error)
}

async fn find_template(state: &AppState, auth: &Auth, id: &str) -> Result<TemplateRow, ApiError> {
    state
        .store
        .get_template(&auth.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("template"))
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(ListParams), security(("api_key" = ["templates:read"])),
    responses((status = 200, description = "A page of templates", body = [TemplateOut]), super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_templates(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Vec<TemplateOut>> {
    auth.require(Scope::TemplatesRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    let rows = state
        .store
        .list_templates(&auth.tenant_id, &page.query)
        .await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(ApiResponse::ok(rows.into_iter().map(TemplateOut::from).collect()).with_next_cursor(next))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = TemplateIn, security(("api_key" = ["templates:write"])),
    responses((status = 201, description = "Created", body = TemplateOut), super::docs::KeyErrors, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn create_template(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TemplateIn>,
) -> ApiResult<TemplateOut> {
    auth.require(Scope::TemplatesWrite)?;
    let now = now_ms();
    let row = TemplateRow {
        id: new_id("tpl"),
        tenant_id: auth.tenant_id.clone(),
        name: name_as_sent(&input.name)?,
        subject: input.subject,
        body: input.body,
        is_default: i64::from(input.is_default),
        created_at: now,
        updated_at: now,
    };
    check_row(&row)?;
    state.store.save_template(&row, true).await?;
    Ok(ApiResponse::created(
        find_template(&state, &auth, &row.id).await?.into(),
    ))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path, description = "Template id")),
    security(("api_key" = ["templates:read"])),
    responses((status = 200, description = "The template", body = TemplateOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn get_template(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<TemplateOut> {
    auth.require(Scope::TemplatesRead)?;
    Ok(ApiResponse::ok(
        find_template(&state, &auth, &id).await?.into(),
    ))
}

#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path, description = "Template id")),
    request_body = TemplateUpdate, security(("api_key" = ["templates:write"])),
    responses((status = 200, description = "Updated", body = TemplateOut), super::docs::KeyErrors, super::docs::BadInput, super::docs::Missing, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn update_template(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TemplateUpdate>,
) -> ApiResult<TemplateOut> {
    auth.require(Scope::TemplatesWrite)?;
    let mut row = find_template(&state, &auth, &id).await?;
    match input.is_default {
        Some(true) => row.is_default = 1,
        Some(false) if row.is_default == 1 => {
            return Err(ApiError::validation(
                "is_default",
                "a tenant always has one default template",
                "make another template the default instead",
            ));
        }
        _ => {}
    }
    if let Some(name) = input.name {
        row.name = name_as_sent(&name)?;
    }
    if let Some(subject) = input.subject {
        row.subject = subject;
    }
    if let Some(body) = input.body {
        row.body = body;
    }
    check_row(&row)?;
    row.updated_at = now_ms();
    state.store.save_template(&row, false).await?;
    Ok(ApiResponse::ok(
        find_template(&state, &auth, &row.id).await?.into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/templates/{id}/preview", tag = "templates", params(("id" = String, Path, description = "Template id")),
    request_body = Option<PreviewIn>, security(("api_key" = ["templates:read"])),
    responses((status = 200, description = "Rendered subject and body", body = PreviewOut), super::docs::KeyErrors, super::docs::BadInput, super::docs::Missing, super::docs::TooLarge))]
pub async fn preview_template(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<PreviewOut> {
    auth.require(Scope::TemplatesRead)?;
    // The body is optional: none (or `{}`) previews with sample data.
    let input: PreviewIn = if body.iter().all(u8::is_ascii_whitespace) {
        PreviewIn::default()
    } else if body.trim_ascii_start().first() != Some(&b'{') {
        // serde reads a struct from a JSON array too (`[{…}]`); the document says object.
        return Err(ApiError::InvalidRequest {
            message: "the body must be a JSON object".into(),
            field: None,
            hint: Some("send {\"data\": {…}} or no body".into()),
        });
    } else {
        parse_json(&body)?
    };
    let row = find_template(&state, &auth, &id).await?;
    let data = input.data.map_or_else(sample_data, Value::Object);
    let (subject, body) = render_off_runtime(row.subject, row.body, data.clone())
        .await
        .map_err(template_error)?;
    Ok(ApiResponse::ok(PreviewOut {
        subject,
        body,
        data,
    }))
}
