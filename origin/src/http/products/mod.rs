//! `/api/v1/products`: digital products (FILE, CODE, HYBRID) with their platform mappings
//! (`domain::mappings`), code stock and files. License-code import is in [`codes`], files and
//! uploads in [`files`].

pub mod codes;
pub mod files;
pub mod picks;

use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::mappings::PlatformMappings;
use crate::domain::scopes::Scope;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::events::one_of;
use crate::http::extract::{ApiJson, ApiQuery, Page};
use crate::http::idempotency::idempotent;
use crate::http::response::{ApiResponse, ApiResult};
use crate::http::state::AppState;
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::{CodeStock, ProductFilter, ProductRow};
use files::{FileOut, file_out};

pub const PRODUCT_TYPES: [&str; 3] = ["FILE", "CODE", "HYBRID"];
const PRODUCT_STATUSES: [&str; 2] = ["active", "archived"];

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProductType {
    File,
    Code,
    Hybrid,
}

impl ProductType {
    fn as_str(self) -> &'static str {
        match self {
            ProductType::File => "FILE",
            ProductType::Code => "CODE",
            ProductType::Hybrid => "HYBRID",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIn {
    /// Unique per tenant.
    #[schema(min_length = 1, max_length = 100)]
    pub sku: String,
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[serde(rename = "type")]
    pub product_type: ProductType,
    /// The email template; the tenant's default when absent.
    pub template_id: Option<String>,
    /// A low-stock warning shows when available codes fall to this number.
    pub low_stock_threshold: Option<i64>,
    pub mappings: Option<PlatformMappings>,
    /// Mapping by picking: entry ids of `GET /api/v1/connections/{id}/listings` (`data[].id`,
    /// `data[].variations[].id`), at most one per platform; each sets its platform's fields
    /// of `mappings`, which must then leave that platform out.
    #[serde(default)]
    pub listing_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    #[schema(min_length = 1, max_length = 100)]
    pub sku: Option<String>,
    #[schema(min_length = 1, max_length = 300)]
    pub name: Option<String>,
    /// `null` clears it (the default template applies).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template_id: Option<Option<String>>,
    pub low_stock_threshold: Option<i64>,
    /// Replaces all mappings.
    pub mappings: Option<PlatformMappings>,
    /// Mapping by picking: entry ids of `GET /api/v1/connections/{id}/listings`, at most one
    /// per platform; each replaces its platform's fields (of `mappings` when sent, else of
    /// the stored mappings), the other platforms' stay.
    #[serde(default)]
    pub listing_ids: Vec<String>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

/// Distinguishes an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockOut {
    pub available: i64,
    pub allocated: i64,
    /// Available codes at or below the product's threshold (CODE and HYBRID only).
    pub low_stock: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductOut {
    pub id: String,
    pub sku: String,
    pub name: String,
    #[serde(rename = "type")]
    pub product_type: String,
    /// `active` or `archived`.
    pub status: String,
    pub template_id: Option<String>,
    pub low_stock_threshold: i64,
    pub mappings: PlatformMappings,
    /// Only on single-product answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<StockOut>,
    /// Only on single-product answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileOut>>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductParams {
    /// `FILE`, `CODE` or `HYBRID`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub product_type: Option<String>,
    /// Exact SKU.
    pub sku: Option<String>,
    /// Case-insensitive substring of name or SKU.
    pub search: Option<String>,
    /// `active` (default) or `archived`.
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn product_out(
    row: ProductRow,
    stock: Option<CodeStock>,
    files: Option<Vec<FileOut>>,
) -> ProductOut {
    let has_codes = row.product_type != "FILE";
    ProductOut {
        stock: stock.map(|s| StockOut {
            available: s.available,
            allocated: s.allocated,
            low_stock: has_codes && s.available <= row.low_stock_threshold,
        }),
        files,
        mappings: PlatformMappings::from_stored(&row.mappings),
        id: row.id,
        sku: row.sku,
        name: row.name,
        product_type: row.product_type,
        status: row.status,
        template_id: row.template_id,
        low_stock_threshold: row.low_stock_threshold,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// The product routes, codes and files included.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(idempotent(
            OpenApiRouter::new()
                .routes(routes!(list_products, create_product))
                .routes(routes!(codes::import_codes)),
        ))
        .routes(routes!(get_product, update_product, archive_product))
        .routes(routes!(files::create_upload))
        .routes(routes!(files::upload_file))
}

/// The product of `auth`'s tenant, or 404 (also for another tenant's id).
pub async fn find_product(state: &AppState, auth: &Auth, id: &str) -> Result<ProductRow, ApiError> {
    state
        .store
        .get_product(&auth.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("product"))
}

async fn full_product(
    state: &AppState,
    auth: &Auth,
    row: ProductRow,
) -> Result<ProductOut, ApiError> {
    // Independent reads: on PostgreSQL each is a round trip, so they run side by side.
    let (stock, files) = tokio::try_join!(
        state.store.code_stock(&auth.tenant_id, &row.id),
        state.store.list_files(&auth.tenant_id, &row.id),
    )?;
    Ok(product_out(
        row,
        Some(stock),
        Some(files.into_iter().map(file_out).collect()),
    ))
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    // Characters, as the document and the message say, not UTF-8 bytes.
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("{field} must be 1 to {max} characters"),
            "send a shorter, non-empty value",
        ));
    }
    Ok(())
}

fn check_threshold(value: i64) -> Result<i64, ApiError> {
    if !(0..=1_000_000).contains(&value) {
        return Err(ApiError::validation(
            "low_stock_threshold",
            "low_stock_threshold must be 0 to 1000000",
            "e.g. 10",
        ));
    }
    Ok(value)
}

async fn check_template(
    state: &AppState,
    auth: &Auth,
    template_id: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(id) = template_id
        && state
            .store
            .get_template(&auth.tenant_id, id)
            .await?
            .is_none()
    {
        return Err(ApiError::validation(
            "template_id",
            "no such template",
            "use an id from GET /api/v1/templates",
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductParams),
    security(("api_key" = ["products:read"])),
    responses((status = 200, description = "A page of products, newest first", body = [ProductOut]), crate::http::docs::KeyErrors, crate::http::docs::BadInput))]
pub async fn list_products(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ProductParams>,
) -> ApiResult<Vec<ProductOut>> {
    auth.require(Scope::ProductsRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    one_of("type", params.product_type.as_deref(), &PRODUCT_TYPES)?;
    one_of("status", params.status.as_deref(), &PRODUCT_STATUSES)?;
    let filter = ProductFilter {
        product_type: params.product_type,
        sku: params.sku,
        search: params.search.filter(|s| !s.is_empty()),
        status: Some(params.status.unwrap_or_else(|| "active".to_owned())),
        page: page.query.clone(),
    };
    let rows = state.store.list_products(&auth.tenant_id, &filter).await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|r| product_out(r, None, None))
        .collect();
    Ok(ApiResponse::ok(data).with_next_cursor(next))
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductIn,
    security(("api_key" = ["products:write"])),
    responses((status = 201, description = "Created", body = ProductOut), (status = 409, description = "DUPLICATE_SKU", body = crate::http::docs::ErrorEnvelope), crate::http::docs::KeyErrors, crate::http::docs::BadInput, crate::http::docs::TooLarge, crate::http::docs::WrongMediaType))]
pub async fn create_product(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ProductIn>,
) -> ApiResult<ProductOut> {
    auth.require(Scope::ProductsWrite)?;
    check_text("sku", &input.sku, 100)?;
    check_text("name", &input.name, 300)?;
    let threshold = check_threshold(input.low_stock_threshold.unwrap_or(0))?;
    let typed = input.mappings.is_some();
    let mappings = picks::picked_mappings(
        input.mappings.unwrap_or_default(),
        typed,
        &input.listing_ids,
    )?;
    check_template(&state, &auth, input.template_id.as_deref()).await?;
    let now = now_ms();
    let row = ProductRow {
        id: new_id("prd"),
        tenant_id: auth.tenant_id.clone(),
        sku: input.sku.trim().to_owned(),
        name: input.name.trim().to_owned(),
        product_type: input.product_type.as_str().to_owned(),
        status: "active".to_owned(),
        template_id: input.template_id,
        low_stock_threshold: threshold,
        mappings: serde_json::to_string(&mappings).map_err(ApiError::internal)?,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_product(&row).await?;
    resume_unmapped(&state, &auth.tenant_id).await;
    Ok(ApiResponse::created(
        full_product(&state, &auth, row).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", params(("id" = String, Path, description = "Product id")),
    security(("api_key" = ["products:read"])),
    responses((status = 200, description = "The product with files and code stock", body = ProductOut), crate::http::docs::KeyErrors, crate::http::docs::Missing))]
pub async fn get_product(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ProductOut> {
    auth.require(Scope::ProductsRead)?;
    let row = find_product(&state, &auth, &id).await?;
    Ok(ApiResponse::ok(full_product(&state, &auth, row).await?))
}

#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", params(("id" = String, Path, description = "Product id")),
    request_body = ProductUpdate, security(("api_key" = ["products:write"])),
    responses((status = 200, description = "Updated", body = ProductOut),
        (status = 409, description = "DUPLICATE_SKU", body = crate::http::docs::ErrorEnvelope), crate::http::docs::KeyErrors, crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge, crate::http::docs::WrongMediaType))]
pub async fn update_product(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ProductUpdate>,
) -> ApiResult<ProductOut> {
    auth.require(Scope::ProductsWrite)?;
    let mut row = find_product(&state, &auth, &id).await?;
    if let Some(sku) = input.sku {
        check_text("sku", &sku, 100)?;
        row.sku = sku.trim().to_owned();
    }
    if let Some(name) = input.name {
        check_text("name", &name, 300)?;
        row.name = name.trim().to_owned();
    }
    if let Some(template_id) = input.template_id {
        check_template(&state, &auth, template_id.as_deref()).await?;
        row.template_id = template_id;
    }
    if let Some(threshold) = input.low_stock_threshold {
        row.low_stock_threshold = check_threshold(threshold)?;
    }
    let remapped =
        input.mappings.is_some() || !input.listing_ids.is_empty() || input.status.is_some();
    if input.mappings.is_some() || !input.listing_ids.is_empty() {
        let typed = input.mappings.is_some();
        let base = input
            .mappings
            .unwrap_or_else(|| PlatformMappings::from_stored(&row.mappings));
        let mappings = picks::picked_mappings(base, typed, &input.listing_ids)?;
        row.mappings = serde_json::to_string(&mappings).map_err(ApiError::internal)?;
    }
    if let Some(status) = input.status {
        if !PRODUCT_STATUSES.contains(&status.as_str()) {
            return Err(ApiError::validation(
                "status",
                "status must be active or archived",
                "use active or archived",
            ));
        }
        row.status = status;
    }
    row.updated_at = now_ms();
    state.store.update_product(&row).await?;
    if remapped {
        resume_unmapped(&state, &auth.tenant_id).await;
    }
    Ok(ApiResponse::ok(full_product(&state, &auth, row).await?))
}

/// Lines that waited unmapped and a product's mappings now match get delivered: their units
/// are allocated now and the pipeline emails them. The product is saved whatever happens
/// here; lines not resumed now are again on the next mapping change.
async fn resume_unmapped(state: &AppState, tenant_id: &str) {
    let policy = state.delivery_policy;
    match state
        .store
        .resume_unmapped(tenant_id, policy, now_ms())
        .await
    {
        Ok(units) if !units.is_empty() => {
            tracing::info!(
                units = units.len(),
                "unmapped lines resumed by a new mapping"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "resuming unmapped lines failed"),
    }
}

/// Products are archived rather than erased: orders keep pointing at them.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products", params(("id" = String, Path, description = "Product id")),
    security(("api_key" = ["products:write"])),
    responses((status = 200, description = "Archived: hidden from lists unless status=archived, no longer delivered", body = ProductOut), crate::http::docs::KeyErrors, crate::http::docs::Missing))]
pub async fn archive_product(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ProductOut> {
    auth.require(Scope::ProductsWrite)?;
    let mut row = find_product(&state, &auth, &id).await?;
    row.status = "archived".to_owned();
    row.updated_at = now_ms();
    state.store.update_product(&row).await?;
    Ok(ApiResponse::ok(full_product(&state, &auth, row).await?))
}
