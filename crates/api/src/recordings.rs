//! Call recordings outside the request path: the row of a finished
//! recording, the start-up repair of files a crash cut short, and the
//! retention sweep.
//!
//! Files live in a [`LocalStore`] under `<data_dir>/recordings/<tenant>/
//! <call>_<recording>.wav`; the row is written when the recording is
//! finished. A file without a row was being written when the process died
//! (a crash, a kill, a power cut): at start-up, before SIP accepts calls,
//! [`repair_orphans`] fixes its WAV header so it holds everything flushed
//! before the crash (at most the last second is lost), then adds its row
//! (duration, size and sha256 of the repaired file, started at the file's
//! last write minus its duration, no paused spans or legs known) and audits
//! it as `recording.repaired` by the system. So a crash never loses a
//! recording's audio nor leaves an unlisted file. A file whose name does
//! not carry a known tenant and call is left alone and logged.

use crate::state::AppState;
use chrono::{DateTime, Utc};
use omnivox_media::record::{LocalStore, RecordError, RecordingKey, RecordingStore};
use omnivox_sip::FinishedRecording;
use omnivox_sip::calls::model::parse_recording_key;
use omnivox_store::audit::{self, Actor, NewAuditEntry};
use omnivox_store::recordings::{self, NewRecording, RecordingRow};
use omnivox_store::{Scoped, Store, StoreError, commit};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the retention sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Files checked against the rows per query at start-up.
const REPAIR_CHUNK: usize = 500;
/// Recordings deleted per tenant per transaction.
const SWEEP_BATCH: u64 = 200;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The row of a finished recording.
pub fn new_row(r: &FinishedRecording) -> NewRecording {
    let spans: Vec<serde_json::Value> = r
        .meta
        .paused_spans
        .iter()
        .map(|s| serde_json::json!({ "start_ms": s.start_ms, "end_ms": s.end_ms }))
        .collect();
    NewRecording {
        id: r.id,
        call_id: r.call_id,
        started_at: r.started_at,
        duration_ms: i64::try_from(r.meta.duration.as_millis()).unwrap_or(i64::MAX),
        size_bytes: i64::try_from(r.meta.size_bytes).unwrap_or(i64::MAX),
        sha256: r.meta.sha256_hex(),
        paused_spans: serde_json::Value::Array(spans),
        legs: serde_json::to_value(&r.legs).unwrap_or_default(),
        storage_key: r.meta.key.storage_key(),
    }
}

/// Errors of the repair pass and the sweep.
#[derive(Debug, thiserror::Error)]
pub enum RecordingsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("recording task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Size and sha256 of a stored recording (or voicemail message).
pub(crate) fn measure(
    local: &LocalStore,
    key: &RecordingKey,
) -> Result<(u64, String), RecordError> {
    let mut stored = local.open(key, None)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stored.reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok((stored.total_len, hex(&h.finalize())))
}

/// Repairs every recording file that has no row (see the module docs);
/// returns how many were repaired and listed. Run before SIP starts.
pub async fn repair_orphans(store: &Store, local: &LocalStore) -> Result<u64, RecordingsError> {
    let keys = {
        let local = local.clone();
        tokio::task::spawn_blocking(move || local.list()).await??
    };
    let mut repaired = 0;
    let mut orphans = Vec::new();
    for chunk in keys.chunks(REPAIR_CHUNK) {
        let parsed: Vec<_> = chunk
            .iter()
            .filter_map(|key| match parse_recording_key(key) {
                Some(ids) => Some((key.clone(), ids)),
                None => {
                    tracing::warn!(file = %key.storage_key(), "recording file of unknown origin left alone");
                    None
                }
            })
            .collect();
        let ids: Vec<_> = parsed.iter().map(|(_, (_, _, id))| *id).collect();
        let known = recordings::existing_recording_ids(store.reader(), &ids).await?;
        orphans.extend(
            parsed
                .into_iter()
                .filter(|(_, (_, _, id))| !known.contains(id)),
        );
    }
    for (key, (tenant, call, id)) in orphans {
        let measured = {
            let (local, key) = (local.clone(), key.clone());
            tokio::task::spawn_blocking(move || {
                let duration = local.repair(&key)?;
                let modified = std::fs::metadata(local.path_for(&key))?.modified()?;
                let (size, sha) = measure(&local, &key)?;
                Ok::<_, RecordError>((duration, modified, size, sha))
            })
            .await?
        };
        let (duration, modified, size, sha256) = match measured {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(file = %key.storage_key(), error = %e, "recording not repairable");
                continue;
            }
        };
        let started_at = DateTime::<Utc>::from(modified)
            - chrono::Duration::from_std(duration).unwrap_or_default();
        let row = NewRecording {
            id,
            call_id: call,
            started_at,
            duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            paused_spans: serde_json::json!([]),
            legs: serde_json::json!([]),
            storage_key: key.storage_key(),
        };
        let tx = store.begin().await?;
        match Scoped::new(&tx, tenant).create_recording(row).await {
            Ok(row) => {
                audit::record(
                    &tx,
                    system_entry(
                        tenant,
                        "recording.repaired",
                        &row,
                        None,
                        Some(row_json(&row)),
                    ),
                )
                .await?;
                commit(tx).await?;
                repaired += 1;
                tracing::warn!(recording = %id, call = %call, "recording cut by a crash repaired");
            }
            // The tenant is gone (its rows cascaded away): not ours to keep.
            Err(e) => {
                tracing::warn!(recording = %id, error = %e, "repaired recording not listed");
            }
        }
    }
    Ok(repaired)
}

/// A row as the audit trail shows it.
pub fn row_json(r: &RecordingRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "call_id": r.call_id,
        "started_at": r.started_at,
        "duration_ms": r.duration_ms,
        "size_bytes": r.size_bytes,
        "sha256": r.sha256,
    })
}

fn system_entry(
    tenant: omnivox_domain::TenantId,
    action: &str,
    row: &RecordingRow,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewAuditEntry {
    NewAuditEntry {
        tenant: Some(tenant),
        actor: Actor::System,
        action: action.to_owned(),
        target_type: "recording".to_owned(),
        target_id: Some(row.id.to_string()),
        before,
        after,
        request_id: None,
        source_ip: None,
    }
}

/// Deletes the recordings older than their tenant's retention
/// (`recording_retention_days`, 0 keeps them) as of `now`: each row is
/// marked deleted and audited `recording.expired` by the system in one
/// transaction, then its file is removed. Returns how many were deleted.
pub async fn sweep_retention(
    store: &Store,
    local: &LocalStore,
    now: DateTime<Utc>,
) -> Result<u64, RecordingsError> {
    let mut deleted = 0;
    for (tenant, days) in recordings::tenants_with_retention(store.reader()).await? {
        let cutoff = now - chrono::Duration::days(i64::from(days));
        loop {
            let tx = store.begin().await?;
            let scoped = Scoped::new(&tx, tenant);
            let rows = scoped
                .recordings_started_before(cutoff, SWEEP_BATCH)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                scoped.delete_recording(row.id, now).await?;
                let entry = system_entry(
                    tenant,
                    "recording.expired",
                    row,
                    Some(row_json(row)),
                    Some(serde_json::json!({ "retention_days": days })),
                );
                audit::record(&tx, entry).await?;
            }
            commit(tx).await?;
            for row in &rows {
                remove_file(local, row).await;
            }
            deleted += rows.len() as u64;
        }
    }
    Ok(deleted)
}

/// Removes a deleted recording's file (a missing file is fine: the row
/// is what lists it).
pub async fn remove_file(local: &LocalStore, row: &RecordingRow) {
    let key = match RecordingKey::from_storage_key(&row.storage_key) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(recording = %row.id, error = %e, "recording file not found to delete");
            return;
        }
    };
    let local = local.clone();
    let r = tokio::task::spawn_blocking(move || local.delete(&key)).await;
    match r {
        Ok(Ok(())) | Ok(Err(RecordError::NotFound)) => {}
        Ok(Err(e)) => tracing::warn!(recording = %row.id, error = %e, "recording file not removed"),
        Err(e) => tracing::warn!(recording = %row.id, error = %e, "recording file not removed"),
    }
}

/// Runs the retention sweep every hour until `stop`.
pub async fn retention_task(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                match sweep_retention(&state.store, &state.recordings, Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "recordings past retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "recording retention sweep failed"),
                }
            }
        }
    }
}
