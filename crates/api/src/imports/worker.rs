//! The import worker: claims queued jobs and runs them. A blocking thread
//! does the CPU work of a batch: reads and normalizes its rows, deduplicates
//! them (within the file, and against the list or tenant), and builds the
//! statements that store them; the writer connection meanwhile only runs the
//! previous batch's statements, in one transaction together with the job's
//! progress, so a crash leaves whole batches only and a restart resumes after
//! the last committed one. Memory is bounded: a batch being built, one
//! waiting, one being written.

use super::ImportSettings;
use super::schema::{schema, to_new_contact};
use crate::state::AppState;
use omnivox_contacts::{
    ContactsError, ImportOptions, ImportReader, ImportRow, Mapping, Region, RowOutcome, hash_key,
};
use omnivox_domain::TenantId;
use omnivox_store::contacts::{DedupScope, NewContact};
use omnivox_store::imports::{
    self, BatchBuilder, ImportBatch, ImportJob, NewImportError, Progress, status,
};
use omnivox_store::{Scoped, Store};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    // In-file dedup: after a restart, seeded from what the import stored.
    let mut in_file = SeenKeys::default();
    if settings.dedup != Dedup::None && job.rows_committed > 0 {
        let keys = reader_scope
            .import_dedup_keys(job.id)
            .await
            .map_err(|e| e.to_string())?;
        in_file.merge(keys.iter().map(|k| hash_key(k)).collect());
    }
    let mut batches = Batches {
        dedup: settings.dedup,
        lookup: match settings.dedup {
            Dedup::None | Dedup::File => None,
            Dedup::List => Some(DedupScope::List(job.list_id)),
            Dedup::Tenant => Some(DedupScope::Tenant),
        },
        in_file,
        store: state.store.clone(),
        tenant,
        builder: state.store.import_batches(tenant, job.list_id, job.id),
        runtime: tokio::runtime::Handle::current(),
        current: Pending::default(),
    };
    let (batch_rows, batch_bytes) = (
        state.config.imports.batch_rows,
        state.config.imports.batch_bytes,
    );
    let path = job.stored_path.clone();
    let (tx, mut rx) = mpsc::channel::<ImportBatch>(1);
    let reading = tokio::task::spawn_blocking(move || -> Result<(), ReadError> {
        let file = std::fs::File::open(&path).map_err(ContactsError::from)?;
        let mut reader =
            ImportReader::open(std::io::BufReader::with_capacity(256 * 1024, file), opts)?;
        let normalizer = reader.normalizer(&mapping, &schema, region)?;
        let mut through = 0u64;
        while through < skip && reader.next_record()?.is_some() {
            through += 1;
        }
        loop {
            // A batch is read once the writer has taken the previous one: it
            // reads while the writer writes, and no batch waits in between
            // (two batches in memory, not three).
            let Ok(permit) = batches.runtime.block_on(tx.reserve()) else {
                return Ok(()); // the writer stopped (cancel, shutdown, error)
            };
            let mut eof = false;
            while batches.current.read < batch_rows && batches.current.bytes < batch_bytes {
                match reader.next_row(&normalizer)? {
                    Some(row) => {
                        through += 1;
                        batches.current.bytes += reader.record().text_len();
                        batches.add(row);
                    }
                    None => {
                        eof = true;
                        break;
                    }
                }
            }
            if batches.current.read > 0 {
                permit.send(batches.finish(through)?);
            }
            if eof {
                return Ok(());
            }
        }
    });

    let mut end = JobEnd::Completed;
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
        state
            .store
            .write_import_batch(batch)
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(rx);
    let read = reading.await.map_err(|e| format!("reader thread: {e}"))?;
    match end {
        JobEnd::Completed => read.map(|()| JobEnd::Completed).map_err(|e| match e {
            ReadError::File(e) => format!("{}: {e}", e.code()),
            ReadError::Store(e) => e,
        }),
        other => Ok(other),
    }
}

/// What stops the reading thread.
enum ReadError {
    /// The file (encoding, shape, ...).
    File(ContactsError),
    /// Looking up duplicates or building a batch.
    Store(String),
}

impl From<ContactsError> for ReadError {
    fn from(e: ContactsError) -> Self {
        Self::File(e)
    }
}

/// The dedup keys (64-bit hashes) of the file's rows so far, sorted: 8 bytes
/// a row, and no table to double as the file grows.
#[derive(Default)]
struct SeenKeys(Vec<u64>);

impl SeenKeys {
    fn contains(&self, hash: u64) -> bool {
        self.0.binary_search(&hash).is_ok()
    }

    /// Add `new` (a batch's keys, none of them in the set yet): merged in
    /// place from the end.
    fn merge(&mut self, mut new: Vec<u64>) {
        new.sort_unstable();
        new.dedup();
        let mut i = self.0.len();
        let mut j = new.len();
        self.0.resize(i + j, 0);
        let mut k = self.0.len();
        while j > 0 {
            k -= 1;
            if i > 0 && self.0[i - 1] > new[j - 1] {
                i -= 1;
                self.0[k] = self.0[i];
            } else {
                j -= 1;
                self.0[k] = new[j];
            }
        }
    }
}

/// The rows of the batch being read.
#[derive(Default)]
struct Pending {
    read: usize,
    /// The file's text in those rows, in bytes.
    bytes: usize,
    progress: Progress,
    errors: Vec<NewImportError>,
    /// Row, line and contact of each row to import.
    accepted: Vec<(u64, u64, NewContact)>,
    /// The keys of the batch's rows (hashes), with the row each first
    /// appeared on (for messages).
    first_row: HashMap<u64, u64>,
}

/// The reading thread's side: turns rows into batches ready to write.
struct Batches {
    dedup: Dedup,
    lookup: Option<DedupScope>,
    in_file: SeenKeys,
    store: Store,
    tenant: TenantId,
    builder: BatchBuilder,
    /// For the lookups of existing contacts, run from this (blocking) thread.
    runtime: tokio::runtime::Handle,
    current: Pending,
}

impl Batches {
    fn add(&mut self, row: ImportRow) {
        let b = &mut self.current;
        b.read += 1;
        b.progress.read += 1;
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
        b.errors.extend(row.outcome.problems().iter().map(problem));
        match row.outcome {
            RowOutcome::Blank => {}
            RowOutcome::Rejected { .. } => b.progress.rejected += 1,
            RowOutcome::Accepted { contact, .. } => {
                let contact = to_new_contact(contact);
                let hash = hash_key(&contact.dedup_key);
                if self.dedup != Dedup::None
                    && (self.in_file.contains(hash) || b.first_row.contains_key(&hash))
                {
                    b.progress.duplicate += 1;
                    let why = match b.first_row.get(&hash) {
                        Some(first) => format!("same contact as row {first} of this file"),
                        None => "same contact as an earlier row of this file".to_owned(),
                    };
                    b.errors
                        .push(duplicate(row.row, row.line, &contact.dedup_key, &why));
                    return;
                }
                b.first_row.entry(hash).or_insert(row.row);
                b.accepted.push((row.row, row.line, contact));
            }
        }
    }

    /// The batch read so far, deduplicated against the list or tenant and
    /// built; `through`: data records consumed from the start of the file.
    fn finish(&mut self, through: u64) -> Result<ImportBatch, ReadError> {
        let Pending {
            mut progress,
            mut errors,
            mut accepted,
            first_row,
            ..
        } = std::mem::take(&mut self.current);
        if self.dedup != Dedup::None {
            self.in_file.merge(first_row.into_keys().collect());
        }
        if let Some(scope) = self.lookup {
            let keys: Vec<&str> = accepted
                .iter()
                .map(|(_, _, c)| c.dedup_key.as_str())
                .collect();
            let lookup = Scoped::new(self.store.reader(), self.tenant);
            let existing = self
                .runtime
                .block_on(lookup.existing_dedup_keys(&keys, scope))
                .map_err(|e| ReadError::Store(e.to_string()))?;
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
        let contacts = accepted.into_iter().map(|(_, _, c)| c).collect();
        self.builder
            .build(contacts, progress, through as i64, errors)
            .map_err(|e| ReadError::Store(e.to_string()))
    }
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

#[cfg(test)]
mod tests {
    use super::SeenKeys;

    #[test]
    fn seen_keys_merge_sorted_and_find() {
        let mut seen = SeenKeys::default();
        seen.merge(vec![50, 10, 30]);
        seen.merge(vec![]);
        seen.merge(vec![40, 5, 60, 5]);
        seen.merge(vec![u64::MAX, 0]);
        assert_eq!(seen.0, [0, 5, 10, 30, 40, 50, 60, u64::MAX]);
        for k in [0, 5, 10, 30, 40, 50, 60, u64::MAX] {
            assert!(seen.contains(k), "{k}");
        }
        for k in [1, 11, 55, 61, u64::MAX - 1] {
            assert!(!seen.contains(k), "{k}");
        }
    }
}
