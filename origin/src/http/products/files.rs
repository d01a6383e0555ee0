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
use crate::config::StorageQuota;
use crate::domain::scopes::Scope;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::response::{ApiResponse, ApiResult};
use crate::http::state::AppState;
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::FileRow;
use crate::store::retention::StorageUsage;

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
    /// The most this upload may be: the upload limit, or less when the tenant's storage
    /// quota leaves less room.
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
        (status = 409, description = "CONFLICT: a CODE product has no files; STORAGE_QUOTA_EXCEEDED: the tenant has no room for another file", body = crate::http::docs::ErrorEnvelope), crate::http::docs::KeyErrors, crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge, crate::http::docs::WrongMediaType))]
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
    let usage = usage_now(&state, &auth.tenant_id, now).await?;
    let quota = state.storage_quota;
    if usage.files >= quota.max_files || usage.bytes >= quota.max_bytes {
        return Err(quota_exceeded(quota, usage));
    }
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
        max_bytes: state.max_upload_bytes.min(room(quota, usage)),
        file: file_out(row),
    }))
}

#[utoipa::path(put, path = "/api/v1/uploads/{file_id}", tag = "products",
    params(("file_id" = String, Path, description = "File id"), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored; the file is now `uploaded` on its product", body = FileOut),
        (status = 401, description = "UNAUTHORIZED: bad or expired signature", body = crate::http::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: already uploaded; STORAGE_QUOTA_EXCEEDED: the file would take the tenant past its storage quota (nothing is stored)", body = crate::http::docs::ErrorEnvelope), crate::http::docs::BadInput, crate::http::docs::Missing, crate::http::docs::TooLarge))]
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
    // The body may be as large as the upload limit, or the room the quota leaves if less.
    let quota = state.storage_quota;
    let usage = usage_now(&state, &file.tenant_id, now_ms()).await?;
    let room = room(quota, usage);
    let limit = state.max_upload_bytes.min(room);
    let written = match stream_to(&partial_path, body, limit).await {
        Err(ApiError::PayloadTooLarge { .. }) if room < state.max_upload_bytes => {
            Err(quota_exceeded(quota, usage))
        }
        other => other,
    };
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
    // Checked again where it is recorded: another upload of the tenant may have finished
    // meanwhile.
    let recorded = state
        .store
        .complete_file_within(&file.id, size, &digest, now_ms(), quota.max_bytes)
        .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(usage)) => {
            let _ = tokio::fs::remove_file(&final_path).await;
            return Err(quota_exceeded(quota, usage));
        }
        Err(error) => {
            let _ = tokio::fs::remove_file(&final_path).await;
            return Err(error.into());
        }
    }
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

/// The tenant's storage use now (pending files whose upload URL still works count as files).
pub async fn usage_now(
    state: &AppState,
    tenant_id: &str,
    now: i64,
) -> Result<StorageUsage, ApiError> {
    let pending_since = now - UPLOAD_URL_TTL_SECS * 1000;
    Ok(state.store.storage_usage(tenant_id, pending_since).await?)
}

/// Bytes the quota leaves.
fn room(quota: StorageQuota, usage: StorageUsage) -> u64 {
    u64::try_from(quota.max_bytes.saturating_sub(usage.bytes)).unwrap_or(0)
}

fn quota_exceeded(quota: StorageQuota, usage: StorageUsage) -> ApiError {
    ApiError::StorageQuotaExceeded {
        used_bytes: usage.bytes,
        quota_bytes: quota.max_bytes,
        files: usage.files,
        max_files: quota.max_files,
    }
}
