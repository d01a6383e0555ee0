//! `GET /d/{token}`: a buyer's download link. The token is checked before any lookup; the
//! link's row decides expiry, revocation and the download count; the file is streamed.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use futures_util::stream;
use tokio::io::AsyncReadExt;

use super::error::ApiError;
use super::state::AppState;
use crate::delivery::links::{download_link_secret, verify_download_token};
use crate::ids::now_ms;
use crate::store::pipeline::DownloadRefusal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download))
}

const CHUNK: usize = 64 * 1024;

#[utoipa::path(get, path = "/d/{token}", tag = "downloads",
    params(("token" = String, Path, description = "The token from the delivery email")),
    responses((status = 200, description = "The file, streamed", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "NOT_FOUND: unknown, forged or revoked link", body = super::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: the link expired or its downloads are used up", body = super::docs::ErrorEnvelope)))]
pub async fn download(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let secret = download_link_secret(&state.master_key);
    let link_id = verify_download_token(secret.as_bytes(), &token)
        .ok_or(ApiError::NotFound("download link"))?;
    // The request line names the link, never the token (a bearer credential).
    tracing::Span::current().record("link_id", tracing::field::display(link_id));
    let file = match state.store.use_download_link(link_id, now_ms()).await? {
        Ok(file) => file,
        Err(DownloadRefusal::Unknown | DownloadRefusal::Revoked) => {
            return Err(ApiError::NotFound("download link"));
        }
        Err(DownloadRefusal::Expired) => {
            return Err(ApiError::Conflict("this download link has expired".into()));
        }
        Err(DownloadRefusal::Exhausted) => {
            return Err(ApiError::Conflict(
                "this download link has been used as often as it allows".into(),
            ));
        }
    };
    let handle = tokio::fs::File::open(state.files_dir.join(&file.storage_key))
        .await
        .map_err(ApiError::internal)?;
    let chunks = stream::unfold(handle, |mut handle| async move {
        let mut buffer = vec![0u8; CHUNK];
        match handle.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buffer)), handle))
            }
            Err(error) => Some((Err(error), handle)),
        }
    });
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, &file.content_type)
        .header(header::CONTENT_DISPOSITION, disposition);
    if let Some(size) = file.size_bytes {
        response = response.header(header::CONTENT_LENGTH, size);
    }
    response
        .body(Body::from_stream(chunks))
        .map_err(ApiError::internal)
}
