//! Signed download links: a download counted while the link may still be used.

use async_trait::async_trait;

use super::*;
use crate::store::FileRow;
use crate::store::pipeline::{DownloadRefusal, LinkRow, LinkStore};

#[async_trait]
impl LinkStore for Backend {
    async fn use_download_link(
        &self,
        link_id: &str,
        now: i64,
    ) -> StoreResult<Result<FileRow, DownloadRefusal>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let link: Option<LinkRow> = sqlx::query_as("SELECT * FROM download_links WHERE id = $1")
            .bind(link_id)
            .fetch_optional(&mut *tx)
            .await?;
        let refusal = match &link {
            None => Some(DownloadRefusal::Unknown),
            Some(l) if l.revoked_at.is_some() => Some(DownloadRefusal::Revoked),
            Some(l) if l.expires_at <= now => Some(DownloadRefusal::Expired),
            Some(l) if l.downloads >= l.max_downloads => Some(DownloadRefusal::Exhausted),
            Some(_) => None,
        };
        if let Some(refusal) = refusal {
            return Ok(Err(refusal));
        }
        let link = link.expect("checked above");
        let counted = sqlx::query(
            "UPDATE download_links SET downloads = downloads + 1 \
             WHERE id = $1 AND downloads < max_downloads",
        )
        .bind(link_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if counted == 0 {
            return Ok(Err(DownloadRefusal::Exhausted));
        }
        let file: FileRow = sqlx::query_as("SELECT * FROM product_files WHERE id = $1")
            .bind(&link.file_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(file))
    }
}
