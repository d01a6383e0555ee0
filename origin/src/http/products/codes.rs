//! `POST /api/v1/products/{id}/codes`: license-code import (a JSON array or `text/plain`
//! lines), deduplicated within the request and against the product's stored codes.

use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use serde::Serialize;
use utoipa::ToSchema;

use super::{StockOut, find_product};
use crate::domain::scopes::Scope;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::extract::{parse_json, read_body};
use crate::http::response::{ApiResponse, ApiResult};
use crate::http::state::AppState;
use crate::ids::now_ms;

/// Longest license code accepted.
const MAX_CODE_LEN: usize = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeImportOut {
    /// Codes in the request (non-empty lines or array entries).
    pub received: usize,
    /// New codes stored.
    pub imported: u64,
    /// Codes repeated in the request or already stored for the product.
    pub duplicates: u64,
    pub stock: StockOut,
}

/// Imports license codes: a JSON array of strings, or `text/plain` with one code per line.
#[utoipa::path(post, path = "/api/v1/products/{id}/codes", tag = "products", params(("id" = String, Path, description = "Product id")),
    request_body(content = Vec<String>, description = "JSON array of codes, or text/plain one code per line",
        content_type = "application/json"),
    security(("api_key" = ["products:write"])),
    responses((status = 200, description = "Counts and the new stock", body = CodeImportOut),
        (status = 409, description = "CONFLICT: a FILE product has no codes", body = crate::http::docs::ErrorEnvelope), crate::http::docs::KeyErrors, crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge, crate::http::docs::WrongMediaType))]
pub async fn import_codes(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<CodeImportOut> {
    auth.require(Scope::ProductsWrite)?;
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body = read_body(request, &state).await?;
    let codes: Vec<String> = match content_type.as_str() {
        "application/json" => parse_json(&body)?,
        "text/plain" => String::from_utf8(body.to_vec())
            .map_err(|_| {
                ApiError::invalid(
                    "body",
                    "the body is not UTF-8 text",
                    "send one code per line",
                )
            })?
            .lines()
            .map(str::to_owned)
            .collect(),
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send application/json (array of codes) or text/plain (one per line)",
            ));
        }
    };
    let product = find_product(&state, &auth, &id).await?;
    if product.product_type == "FILE" {
        return Err(ApiError::Conflict(
            "FILE products have no license codes".into(),
        ));
    }
    let mut unique: Vec<String> = Vec::with_capacity(codes.len());
    let mut seen = std::collections::HashSet::new();
    let mut received = 0;
    for (index, code) in codes.iter().enumerate() {
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if code.len() > MAX_CODE_LEN {
            return Err(ApiError::validation(
                format!("[{index}]"),
                format!("codes are at most {MAX_CODE_LEN} characters"),
                "check the line",
            ));
        }
        received += 1;
        if seen.insert(code.to_owned()) {
            unique.push(code.to_owned());
        }
    }
    if received == 0 {
        return Err(ApiError::validation(
            "body",
            "no codes in the request",
            "send at least one non-empty code",
        ));
    }
    let imported = state
        .store
        .import_codes(&auth.tenant_id, &product.id, &unique, now_ms())
        .await?;
    if imported > 0 {
        // The product's units waiting for stock are tried at once, not at their backoff.
        state
            .store
            .wake_awaiting_stock(&auth.tenant_id, &product.id)
            .await?;
    }
    let stock = state.store.code_stock(&auth.tenant_id, &product.id).await?;
    Ok(ApiResponse::ok(CodeImportOut {
        received,
        imported,
        duplicates: received as u64 - imported,
        stock: StockOut {
            available: stock.available,
            allocated: stock.allocated,
            low_stock: stock.available <= product.low_stock_threshold,
        },
    }))
}
