//! Product files: `POST /api/v1/products/{id}/files` hands out a signed upload URL, and
//! `PUT /api/v1/uploads/{file_id}` (served by the origin, reached through the edge) streams
//! the body into the local object store under a size limit. The signature binds file id and
//! expiry, so the URL is the only credential the uploader needs, and only until it expires.

use axum::body::Body;
use axum::extract::{Path, State};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use super::find_product;
use crate::domain::scopes::Scope;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::response::{ApiResponse, ApiResult};
use crate::http::state::AppState;
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::FileRow;

/// How long an upload URL stays valid.
const UPLOAD_URL_TTL_SECS: i64 = 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    pub filename: String,
    /// Defaults to `application/octet-stream`.
    pub content_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileOut {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    /// `pending` until the upload completes, then `uploaded`.
    pub status: String,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: String,
    pub uploaded_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadSlotOut {
    pub file: FileOut,
    /// `PUT` the file's bytes here before `expires_at`.
    pub upload_url: String,
    pub upload_method: &'static str,
    pub expires_at: String,
    pub max_bytes: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Unix seconds after which the URL is refused.
    pub expires: i64,
    /// Hex HMAC of `{file_id}:{expires}`.
    pub signature: String,
}

pub fn file_out(row: FileRow) -> FileOut {
    FileOut {
        id: row.id,
        filename: row.filename,
        content_type: row.content_type,
        status: row.status,
        size_bytes: row.size_bytes,
        sha256: row.sha256,
        created_at: rfc3339(row.created_at),
        uploaded_at: row.uploaded_at.map(rfc3339),
    }
}

fn link_message(file_id: &str, expires: i64) -> String {
    format!("upload:{file_id}:{expires}")
}

#[utoipa::path(post, path = "/api/v1/products/{id}/files", tag = "products", params(("id" = String, Path, description = "Product id")),
    request_body = FileIn, security(("api_key" = ["products:write"])),
    responses((status = 201, description = "A signed upload URL for a new file of the product", body = UploadSlotOut),
        (status = 409, description = "CONFLICT: a CODE product has no files", body = crate::http::docs::ErrorEnvelope), crate::http::docs::KeyErrors, crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge, crate::http::docs::WrongMediaType))]
pub async fn create_upload(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<FileIn>,
) -> ApiResult<UploadSlotOut> {
    auth.require(Scope::ProductsWrite)?;
    let filename = input.filename.trim();
    let safe = !filename.is_empty()
        && filename.len() <= 255
        && !filename.contains(['/', '\\', '\0'])
        && filename != "..";
    if !safe {
        return Err(ApiError::validation(
            "filename",
            "filename must be 1 to 255 characters without path separators",
            "e.g. manual.pdf",
        ));
    }
    let product = find_product(&state, &auth, &id).await?;
    if product.product_type == "CODE" {
        return Err(ApiError::Conflict("CODE products have no files".into()));
    }
    let now = now_ms();
    let file_id = new_id("file");
    let row = FileRow {
        storage_key: format!("{}/{}", auth.tenant_id, file_id),
        id: file_id,
        tenant_id: auth.tenant_id.clone(),
        product_id: product.id,
        filename: filename.to_owned(),
        content_type: input
            .content_type
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        status: "pending".to_owned(),
        size_bytes: None,
        sha256: None,
        created_at: now,
        uploaded_at: None,
    };
    state.store.insert_file(&row).await?;
    let expires = now / 1000 + UPLOAD_URL_TTL_SECS;
    let signature = state.master_key.sign_link(&link_message(&row.id, expires));
    Ok(ApiResponse::created(UploadSlotOut {
        upload_url: format!(
            "{}/api/v1/uploads/{}?expires={expires}&signature={signature}",
            state.public_base_url, row.id
        ),
        upload_method: "PUT",
        expires_at: rfc3339(expires * 1000),
        max_bytes: state.max_upload_bytes,
        file: file_out(row),
    }))
}

#[utoipa::path(put, path = "/api/v1/uploads/{file_id}", tag = "products",
    params(("file_id" = String, Path, description = "File id"), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored; the file is now `uploaded` on its product", body = FileOut),
        (status = 401, description = "UNAUTHORIZED: bad or expired signature", body = crate::http::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: already uploaded", body = crate::http::docs::ErrorEnvelope), crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge))]
pub async fn upload_file(
    State(state): State<AppState>,
    Path(file_id): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    body: Body,
) -> ApiResult<FileOut> {
    if params.expires < now_ms() / 1000
        || !state
            .master_key
            .verify_link(&link_message(&file_id, params.expires), &params.signature)
    {
        return Err(ApiError::Unauthorized(
            "the upload URL is invalid or expired",
        ));
    }
    let file = state
        .store
        .get_file(&file_id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    if file.status != "pending" {
        return Err(ApiError::Conflict("the file was already uploaded".into()));
    }
    let final_path = state.files_dir.join(&file.storage_key);
    let partial_path = final_path.with_extension("partial");
    if let Some(dir) = final_path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(ApiError::internal)?;
    }
    let written = stream_to(&partial_path, body, state.max_upload_bytes).await;
    let (size, digest) = match written {
        Ok(done) => done,
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial_path).await;
            return Err(error);
        }
    };
    tokio::fs::rename(&partial_path, &final_path)
        .await
        .map_err(ApiError::internal)?;
    let size = i64::try_from(size).map_err(ApiError::internal)?;
    state
        .store
        .complete_file(&file.id, size, &digest, now_ms())
        .await?;
    let file = state
        .store
        .get_file(&file_id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    Ok(ApiResponse::ok(file_out(file)))
}

/// Writes the body to `path` chunk by chunk; 413 as soon as it passes `limit`.
async fn stream_to(
    path: &std::path::Path,
    body: Body,
    limit: u64,
) -> Result<(u64, String), ApiError> {
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::InvalidRequest {
            message: "the upload was interrupted".into(),
            field: None,
            hint: Some("retry the PUT with the same URL".into()),
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.sync_all().await.map_err(ApiError::internal)?;
    Ok((size, hex::encode(hasher.finalize())))
}
