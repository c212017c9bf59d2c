//! The import worker: claims queued jobs and runs them. The CSV is read and
//! normalized on a blocking thread (CPU work, bounded memory); each batch is
//! deduplicated and inserted in one transaction together with the job's
//! progress, so a crash leaves whole batches only and a restart resumes after
//! the last committed one.

use super::ImportSettings;
use super::schema::{schema, to_new_contact};
use crate::state::AppState;
use omnivox_contacts::{
    ContactsError, ImportOptions, ImportReader, ImportRow, Mapping, Region, RowOutcome, hash_key,
};
use omnivox_domain::TenantId;
use omnivox_store::contacts::DedupScope;
use omnivox_store::imports::{self, ImportJob, NewImportError, Progress, status};
use omnivox_store::{Scoped, commit};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Rows read and normalized, handed from the reading thread to the writer.
struct Batch {
    rows: Vec<ImportRow>,
    /// Data records consumed from the start of the file through this batch.
    records_through: u64,
}

/// Run until `stop`: take queued jobs one at a time.
pub async fn run(state: AppState, stop: CancellationToken) {
    match imports::requeue_interrupted(state.store.writer()).await {
        Ok(n) if n > 0 => tracing::info!(jobs = n, "resuming interrupted imports"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "requeueing interrupted imports"),
    }
    loop {
        if stop.is_cancelled() {
            return;
        }
        match imports::claim_next(state.store.writer()).await {
            Ok(Some(job)) => {
                let id = job.id;
                let tenant = TenantId(job.tenant_id);
                let stored_path = job.stored_path.clone();
                let outcome = run_job(&state, job, &stop).await;
                let scoped = Scoped::new(state.store.writer(), tenant);
                let (final_status, error) = match outcome {
                    Ok(JobEnd::Completed) => (status::COMPLETED, None),
                    Ok(JobEnd::Cancelled) => (status::CANCELLED, None),
                    Ok(JobEnd::Interrupted) => continue, // requeued at next start
                    Err(e) => {
                        tracing::warn!(import_id = %id, error = %e, "import failed");
                        (status::FAILED, Some(e))
                    }
                };
                if let Err(e) = scoped.finish_import(id, final_status, error).await {
                    tracing::error!(import_id = %id, error = %e, "recording the end of an import");
                }
                // The rows are stored and the problems reported: the upload
                // itself is no longer needed.
                if let Err(e) = tokio::fs::remove_file(&stored_path).await {
                    tracing::warn!(import_id = %id, error = %e, "removing an import's upload");
                }
                tracing::info!(import_id = %id, status = final_status, "import finished");
            }
            Ok(None) => {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = state.import_wakeup.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming an import job");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
}

enum JobEnd {
    Completed,
    Cancelled,
    /// The server is stopping; the job stays `running` and resumes at start.
    Interrupted,
}

async fn run_job(
    state: &AppState,
    job: ImportJob,
    stop: &CancellationToken,
) -> Result<JobEnd, String> {
    let tenant = TenantId(job.tenant_id);
    let settings: ImportSettings =
        serde_json::from_value(job.settings.clone()).map_err(|e| format!("settings: {e}"))?;
    let reader_scope = Scoped::new(state.store.reader(), tenant);
    let list = reader_scope
        .get_list(job.list_id)
        .await
        .map_err(|e| format!("list: {e}"))?;
    let fields = reader_scope
        .custom_fields()
        .await
        .map_err(|e| e.to_string())?;
    let schema = schema(&fields).map_err(|e| e.to_string())?;
    let region = Region::parse(&list.default_region).map_err(|e| e.to_string())?;
    let mapping: Mapping = serde_json::from_value(settings.mapping.clone().unwrap_or_default())
        .map_err(|e| format!("mapping: {e}"))?;
    let opts = ImportOptions {
        delimiter: settings.delimiter,
        has_header: settings.has_header,
        ..ImportOptions::default()
    };
    let skip = u64::try_from(job.rows_committed).unwrap_or(0);
    let batch_rows = state.config.imports.batch_rows;
    let path = job.stored_path.clone();
    let (tx, mut rx) = mpsc::channel::<Batch>(1);
    let reading = tokio::task::spawn_blocking(move || -> Result<(), ContactsError> {
        let file = std::fs::File::open(&path)?;
        let mut reader =
            ImportReader::open(std::io::BufReader::with_capacity(256 * 1024, file), opts)?;
        let normalizer = reader.normalizer(&mapping, &schema, region)?;
        let mut through = 0u64;
        while through < skip && reader.next_record()?.is_some() {
            through += 1;
        }
        let mut rows = Vec::with_capacity(batch_rows);
        while let Some(row) = reader.next_row(&normalizer)? {
            through += 1;
            rows.push(row);
            if rows.len() >= batch_rows {
                let batch = Batch {
                    rows: std::mem::take(&mut rows),
                    records_through: through,
                };
                if tx.blocking_send(batch).is_err() {
                    return Ok(()); // the writer stopped (cancel or shutdown)
                }
            }
        }
        if !rows.is_empty() {
            let _ = tx.blocking_send(Batch {
                rows,
                records_through: through,
            });
        }
        Ok(())
    });

    let mut end = JobEnd::Completed;
    // In-file dedup: 64-bit hashes of the keys seen, about 16 bytes a row;
    // after a restart, seeded from what the import already stored.
    let mut in_file: HashSet<u64> = HashSet::new();
    if settings.dedup != Dedup::None && job.rows_committed > 0 {
        let keys = reader_scope
            .import_dedup_keys(job.id)
            .await
            .map_err(|e| e.to_string())?;
        in_file.extend(keys.iter().map(|k| hash_key(k)));
    }
    while let Some(batch) = rx.recv().await {
        if stop.is_cancelled() {
            end = JobEnd::Interrupted;
            break;
        }
        if reader_scope
            .import_cancel_requested(job.id)
            .await
            .map_err(|e| e.to_string())?
        {
            end = JobEnd::Cancelled;
            break;
        }
        write_batch(state, &job, &settings, &mut in_file, batch).await?;
    }
    drop(rx);
    let read = reading.await.map_err(|e| format!("reader thread: {e}"))?;
    match end {
        JobEnd::Completed => read
            .map(|()| JobEnd::Completed)
            .map_err(|e| format!("{}: {e}", e.code())),
        other => Ok(other),
    }
}

async fn write_batch(
    state: &AppState,
    job: &ImportJob,
    settings: &ImportSettings,
    in_file: &mut HashSet<u64>,
    batch: Batch,
) -> Result<(), String> {
    let tenant = TenantId(job.tenant_id);
    let mut progress = Progress::default();
    let mut errors = Vec::new();
    let mut accepted = Vec::new();
    // The row each key first appeared on, within this batch (for messages).
    let mut in_batch: HashMap<String, u64> = HashMap::new();
    for row in batch.rows {
        progress.read += 1;
        let problem = |e: &omnivox_contacts::RowError| NewImportError {
            row_number: row.row as i64,
            line: row.line as i64,
            column: e.column_name.clone().unwrap_or_default(),
            severity: match e.severity {
                omnivox_contacts::Severity::Error => "error",
                omnivox_contacts::Severity::Warning => "warning",
            }
            .to_owned(),
            code: e.code.as_str().to_owned(),
            reason: e.reason.clone(),
            value: e.value.clone(),
        };
        errors.extend(row.outcome.problems().iter().map(problem));
        match row.outcome {
            RowOutcome::Blank => {}
            RowOutcome::Rejected { .. } => progress.rejected += 1,
            RowOutcome::Accepted { contact, .. } => {
                let contact = to_new_contact(contact);
                if settings.dedup != Dedup::None && !in_file.insert(hash_key(&contact.dedup_key)) {
                    progress.duplicate += 1;
                    let why = match in_batch.get(&contact.dedup_key) {
                        Some(first) => format!("same contact as row {first} of this file"),
                        None => "same contact as an earlier row of this file".to_owned(),
                    };
                    errors.push(duplicate(row.row, row.line, &contact.dedup_key, &why));
                    continue;
                }
                in_batch.entry(contact.dedup_key.clone()).or_insert(row.row);
                accepted.push((row.row, row.line, contact));
            }
        }
    }
    let scope = match settings.dedup {
        Dedup::None => None,
        Dedup::File => None,
        Dedup::List => Some(DedupScope::List(job.list_id)),
        Dedup::Tenant => Some(DedupScope::Tenant),
    };
    if let Some(scope) = scope {
        let keys: Vec<String> = accepted
            .iter()
            .map(|(_, _, c)| c.dedup_key.clone())
            .collect();
        let existing = Scoped::new(state.store.reader(), tenant)
            .existing_dedup_keys(&keys, scope)
            .await
            .map_err(|e| e.to_string())?;
        if !existing.is_empty() {
            let where_ = match scope {
                DedupScope::List(_) => "this list",
                DedupScope::Tenant => "this organization",
            };
            accepted.retain(|(row, line, c)| {
                let dup = existing.contains(&c.dedup_key);
                if dup {
                    progress.duplicate += 1;
                    errors.push(duplicate(
                        *row,
                        *line,
                        &c.dedup_key,
                        &format!("already in {where_}"),
                    ));
                }
                !dup
            });
        }
    }
    progress.accepted = accepted.len() as i64;
    let tx = state.store.begin().await.map_err(|e| e.to_string())?;
    let scoped = Scoped::new(&tx, tenant);
    scoped
        .insert_contacts(
            job.list_id,
            Some(job.id),
            accepted.into_iter().map(|(_, _, c)| c).collect(),
        )
        .await
        .map_err(|e| e.to_string())?;
    scoped
        .record_batch(job.id, progress, batch.records_through as i64, errors)
        .await
        .map_err(|e| e.to_string())?;
    commit(tx).await.map_err(|e| e.to_string())
}

fn duplicate(row: u64, line: u64, key: &str, why: &str) -> NewImportError {
    NewImportError {
        row_number: row as i64,
        line: line as i64,
        column: String::new(),
        severity: "error".into(),
        code: "duplicate".into(),
        reason: format!("duplicate contact ({why})"),
        value: key.to_owned(),
    }
}

/// How duplicates are found: each scope includes the ones before it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dedup {
    /// Import every row.
    None,
    /// Skip rows repeating an earlier row of the same file.
    File,
    /// ... or a contact already in the list.
    #[default]
    List,
    /// ... or a contact anywhere in the organization.
    Tenant,
}
