//! Streaming an upload to a file under the data dir, bounded in size, never
//! held in memory.

use crate::error::ApiError;
use axum::body::Body;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Write the request body to `path`; refuse (and delete the partial file)
/// past `limit` bytes. Returns the number of bytes written.
pub async fn save_body(body: Body, path: &Path, limit: u64) -> Result<u64, ApiError> {
    use http_body_util::BodyExt;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(ApiError::internal)?;
    }
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut written: u64 = 0;
    let mut body = body;
    let result: Result<(), ApiError> = async {
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::bad_request("upload_interrupted", e.to_string()))?;
            if let Ok(chunk) = frame.into_data() {
                written += chunk.len() as u64;
                if written > limit {
                    return Err(ApiError::PayloadTooLarge);
                }
                file.write_all(&chunk).await.map_err(ApiError::internal)?;
            }
        }
        file.flush().await.map_err(ApiError::internal)?;
        file.sync_all().await.map_err(ApiError::internal)?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        drop(file);
        let _ = tokio::fs::remove_file(path).await;
        return Err(e);
    }
    Ok(written)
}

/// Where an uploaded file of a tenant is kept.
pub fn upload_path(data_dir: &Path, tenant: uuid::Uuid, kind: &str, id: uuid::Uuid) -> PathBuf {
    data_dir
        .join(kind)
        .join(tenant.to_string())
        .join(format!("{id}.upload"))
}
