//! CSV import jobs: a job table the import worker claims work from, with
//! progress that is committed together with each batch of contacts.

use crate::bulk::{self, Args, Backend, Insert, Prepared, Table, V};
use crate::connect::RawWriter;
use crate::contacts::{NewContact, NewPhone};
use crate::entities::{import_error, import_job};
use crate::{Page, PageRequest, Result, Scoped, Store, StoreError, now};
use omnivox_domain::{TenantId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, RuntimeErr, Set,
};
use std::sync::Arc;
use uuid::Uuid;

pub use import_error::Model as ImportErrorRow;
pub use import_job::Model as ImportJob;

/// Job states. `uploaded` waits for a mapping; `queued` waits for the worker.
pub mod status {
    pub const UPLOADED: &str = "uploaded";
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
}

pub struct NewImport<'a> {
    pub list_id: Uuid,
    pub file_name: &'a str,
    pub stored_path: &'a str,
    pub size_bytes: i64,
    pub settings: serde_json::Value,
    pub created_by: Option<UserId>,
}

/// Counters a batch adds to the job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub duplicate: i64,
}

pub struct NewImportError {
    pub row_number: i64,
    pub line: i64,
    pub column: String,
    /// `error` (the row was rejected) or `warning` (imported anyway).
    pub severity: String,
    pub code: String,
    pub reason: String,
    pub value: String,
}

/// Claim the oldest queued job of any tenant (the worker is installation-wide;
/// what it then does goes through [`Scoped`] for the job's tenant).
pub async fn claim_next(conn: &impl ConnectionTrait) -> Result<Option<ImportJob>> {
    loop {
        let Some(job) = import_job::Entity::find()
            .filter(import_job::Column::Status.eq(status::QUEUED))
            .order_by_asc(import_job::Column::Id)
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        let res = import_job::Entity::update_many()
            .col_expr(import_job::Column::Status, Expr::value(status::RUNNING))
            .col_expr(import_job::Column::StartedAt, Expr::value(Some(now())))
            .filter(import_job::Column::Id.eq(job.id))
            .filter(import_job::Column::Status.eq(status::QUEUED))
            .exec(conn)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Some(ImportJob {
                status: status::RUNNING.to_owned(),
                ..job
            }));
        }
        // Another worker took it; look again.
    }
}

/// At start-up: jobs that were running when the process stopped go back to
/// the queue. They resume after their last committed batch.
pub async fn requeue_interrupted(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(import_job::Entity::update_many()
        .col_expr(import_job::Column::Status, Expr::value(status::QUEUED))
        .filter(import_job::Column::Status.eq(status::RUNNING))
        .exec(conn)
        .await?
        .rows_affected)
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn create_import(&self, new: NewImport<'_>) -> Result<ImportJob> {
        Ok(import_job::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            list_id: Set(new.list_id),
            status: Set(status::UPLOADED.to_owned()),
            file_name: Set(new.file_name.to_owned()),
            stored_path: Set(new.stored_path.to_owned()),
            size_bytes: Set(new.size_bytes),
            settings: Set(new.settings),
            rows_read: Set(0),
            rows_accepted: Set(0),
            rows_rejected: Set(0),
            rows_duplicate: Set(0),
            rows_committed: Set(0),
            cancel_requested: Set(false),
            error: Set(None),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(now()),
            started_at: Set(None),
            finished_at: Set(None),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn get_import(&self, id: Uuid) -> Result<ImportJob> {
        import_job::Entity::find()
            .filter(import_job::Column::TenantId.eq(self.tenant.0))
            .filter(import_job::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn list_imports(
        &self,
        list: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<ImportJob>> {
        let mut q = import_job::Entity::find()
            .filter(import_job::Column::TenantId.eq(self.tenant.0))
            .order_by_desc(import_job::Column::Id);
        if let Some(l) = list {
            q = q.filter(import_job::Column::ListId.eq(l));
        }
        if let Some(after) = page.after {
            q = q.filter(import_job::Column::Id.lt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |j| j.id))
    }

    /// Move an `uploaded` job to `queued` with its mapping and options.
    /// False when the job is not waiting for a start.
    pub async fn queue_import(&self, id: Uuid, settings: serde_json::Value) -> Result<bool> {
        let res = import_job::Entity::update_many()
            .col_expr(import_job::Column::Status, Expr::value(status::QUEUED))
            .col_expr(import_job::Column::Settings, Expr::value(settings))
            .filter(import_job::Column::TenantId.eq(self.tenant.0))
            .filter(import_job::Column::Id.eq(id))
            .filter(import_job::Column::Status.eq(status::UPLOADED))
            .exec(self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Ask a job to stop. A job not yet running is cancelled at once; a
    /// running one stops before its next batch. False when already finished.
    pub async fn cancel_import(&self, id: Uuid) -> Result<bool> {
        let job = self.get_import(id).await?;
        let res = match job.status.as_str() {
            status::UPLOADED | status::QUEUED => {
                import_job::Entity::update_many()
                    .col_expr(import_job::Column::Status, Expr::value(status::CANCELLED))
                    .col_expr(import_job::Column::CancelRequested, Expr::value(true))
                    .col_expr(import_job::Column::FinishedAt, Expr::value(Some(now())))
                    .filter(import_job::Column::Id.eq(id))
                    .filter(import_job::Column::Status.eq(job.status.as_str()))
                    .exec(self.conn)
                    .await?
            }
            status::RUNNING => {
                import_job::Entity::update_many()
                    .col_expr(import_job::Column::CancelRequested, Expr::value(true))
                    .filter(import_job::Column::Id.eq(id))
                    .exec(self.conn)
                    .await?
            }
            _ => return Ok(false),
        };
        Ok(res.rows_affected == 1)
    }

    /// Whether a cancel was requested for the job.
    pub async fn import_cancel_requested(&self, id: Uuid) -> Result<bool> {
        Ok(self.get_import(id).await?.cancel_requested)
    }

    /// Finish a job: completed, failed (with a message) or cancelled.
    pub async fn finish_import(
        &self,
        id: Uuid,
        final_status: &str,
        error: Option<String>,
    ) -> Result<()> {
        import_job::Entity::update_many()
            .col_expr(import_job::Column::Status, Expr::value(final_status))
            .col_expr(import_job::Column::Error, Expr::value(error))
            .col_expr(import_job::Column::FinishedAt, Expr::value(Some(now())))
            .filter(import_job::Column::TenantId.eq(self.tenant.0))
            .filter(import_job::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    pub async fn import_errors(
        &self,
        id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<ImportErrorRow>> {
        let mut q = import_error::Entity::find()
            .filter(import_error::Column::TenantId.eq(self.tenant.0))
            .filter(import_error::Column::ImportId.eq(id))
            .order_by_asc(import_error::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(import_error::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }
}

/// Builds an import's batches: each batch as the statements that write it
/// (contacts, phones, row errors, the job's progress) with their values
/// bound, so that [`Store::write_import_batch`] only runs them. No database
/// access: the import worker builds a batch on its reading thread while the
/// writer connection runs the previous one.
#[derive(Clone, Debug)]
pub struct BatchBuilder {
    backend: Backend,
    tenant: Uuid,
    list: Uuid,
    import: Uuid,
}

/// One batch of an import, ready to write.
pub struct ImportBatch {
    backend: Backend,
    statements: Vec<Prepared>,
}

impl ImportBatch {
    /// Statements the batch runs (for tests and logs).
    pub fn statements(&self) -> usize {
        self.statements.len()
    }
}

impl BatchBuilder {
    /// A batch adding `contacts` to the list and `progress` to the job, whose
    /// committed position becomes `committed_rows`, with the batch's row
    /// errors.
    pub fn build(
        &self,
        contacts: Vec<NewContact>,
        progress: Progress,
        committed_rows: i64,
        errors: Vec<NewImportError>,
    ) -> Result<ImportBatch> {
        let mut statements = Vec::new();
        self.contacts(contacts, &mut statements)?;
        self.errors(errors, &mut statements)?;
        statements.push(self.progress(progress, committed_rows)?);
        Ok(ImportBatch {
            backend: self.backend,
            statements,
        })
    }

    fn contacts(&self, batch: Vec<NewContact>, out: &mut Vec<Prepared>) -> Result<()> {
        let t = bulk::time(self.backend, now());
        let status: Arc<str> = Arc::from("new");
        // Ids in file order (they order listings and exports), rows in key
        // order: the dedup-key and phone-number indexes then take their new
        // entries in order, each index page read and written once per batch
        // (in file order every row lands on another page of a large index).
        let mut batch: Vec<(Uuid, NewContact)> =
            batch.into_iter().map(|c| (Uuid::now_v7(), c)).collect();
        batch.sort_unstable_by(|a, b| a.1.dedup_key.cmp(&b.1.dedup_key));
        let mut phones: Vec<(Uuid, i32, NewPhone)> = Vec::new();
        let mut batch = batch.into_iter();
        for rows in bulk::shapes(batch.len()) {
            let shared = [
                V::Uuid(self.tenant),
                V::Uuid(self.list),
                V::OptUuid(Some(self.import)),
                V::Shared(status.clone()),
                t.clone(),
            ];
            let mut stmt = Insert::new(self.backend, Table::Contacts, rows, shared)?;
            for (id, c) in batch.by_ref().take(rows) {
                phones.extend(
                    c.phones
                        .into_iter()
                        .enumerate()
                        .map(|(pos, p)| (id, i32::try_from(pos).unwrap_or(i32::MAX), p)),
                );
                stmt.row([
                    V::Uuid(id),
                    c.first_name.into(),
                    c.last_name.into(),
                    c.email.into(),
                    c.address1.into(),
                    c.address2.into(),
                    c.city.into(),
                    c.state.into(),
                    c.postal_code.into(),
                    c.country.into(),
                    c.external_id.into(),
                    V::Json(serde_json::Value::Object(c.custom)),
                    c.dedup_key.into(),
                ])?;
            }
            out.push(stmt.finish());
        }
        phones.sort_unstable_by(|a, b| a.2.e164.cmp(&b.2.e164));
        // The few phone types, shared by the rows that have them.
        let mut kinds: Vec<Arc<str>> = Vec::new();
        let mut kind = |k: String| match kinds.iter().find(|s| ***s == *k) {
            Some(s) => V::Shared(s.clone()),
            None => {
                let s: Arc<str> = k.into();
                kinds.push(s.clone());
                V::Shared(s)
            }
        };
        let mut phones = phones.into_iter();
        for rows in bulk::shapes(phones.len()) {
            let mut stmt = Insert::new(self.backend, Table::Phones, rows, [V::Uuid(self.tenant)])?;
            for (id, pos, p) in phones.by_ref().take(rows) {
                stmt.row([
                    V::Uuid(id),
                    p.e164.into(),
                    kind(p.kind),
                    p.extension.into(),
                    V::Int(pos),
                ])?;
            }
            out.push(stmt.finish());
        }
        Ok(())
    }

    fn errors(&self, errors: Vec<NewImportError>, out: &mut Vec<Prepared>) -> Result<()> {
        let mut errors = errors.into_iter();
        for rows in bulk::shapes(errors.len()) {
            let shared = [V::Uuid(self.tenant), V::Uuid(self.import)];
            let mut stmt = Insert::new(self.backend, Table::Errors, rows, shared)?;
            for e in errors.by_ref().take(rows) {
                let value = if e.value.chars().nth(500).is_some() {
                    e.value.chars().take(500).collect()
                } else {
                    e.value
                };
                stmt.row([
                    V::Uuid(Uuid::now_v7()),
                    V::BigInt(e.row_number),
                    V::BigInt(e.line),
                    e.column.into(),
                    e.severity.into(),
                    e.code.into(),
                    e.reason.into(),
                    value.into(),
                ])?;
            }
            out.push(stmt.finish());
        }
        Ok(())
    }

    fn progress(&self, p: Progress, committed_rows: i64) -> Result<Prepared> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE import_jobs SET rows_read = rows_read + ?, \
                 rows_accepted = rows_accepted + ?, rows_rejected = rows_rejected + ?, \
                 rows_duplicate = rows_duplicate + ?, rows_committed = ? \
                 WHERE tenant_id = ? AND id = ?"
            }
            Backend::Postgres => {
                "UPDATE import_jobs SET rows_read = rows_read + $1, \
                 rows_accepted = rows_accepted + $2, rows_rejected = rows_rejected + $3, \
                 rows_duplicate = rows_duplicate + $4, rows_committed = $5 \
                 WHERE tenant_id = $6 AND id = $7"
            }
        };
        let mut args = Args::new(self.backend);
        for v in [
            V::BigInt(p.read),
            V::BigInt(p.accepted),
            V::BigInt(p.rejected),
            V::BigInt(p.duplicate),
            V::BigInt(committed_rows),
            V::Uuid(self.tenant),
            V::Uuid(self.import),
        ] {
            args.push(v)?;
        }
        Ok(Prepared { sql, args })
    }
}

/// Set on the SQLite writer for an import batch, then reset:
/// * the statement journal (a multi-row INSERT into a table with foreign keys
///   keeps one, to undo just that statement) in memory, not in a temp file;
/// * checkpoints every 40,000 pages of WAL (160 MiB) instead of 1,000: an
///   import batch rewrites many index pages, which a checkpoint then copies
///   once for all the batches since the last one.
const SQLITE_IMPORT_PRAGMAS: &str = "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 40000";
/// SQLite's defaults: no large in-memory sorts outside imports.
const SQLITE_DEFAULT_PRAGMAS: &str =
    "PRAGMA temp_store = DEFAULT; PRAGMA wal_autocheckpoint = 1000";

fn sqlx_err(e: sea_orm::sqlx::Error) -> StoreError {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))).into()
}

impl Store {
    /// The builder for the batches of import `import` of `tenant` into
    /// `list`.
    pub fn import_batches(&self, tenant: TenantId, list: Uuid, import: Uuid) -> BatchBuilder {
        BatchBuilder {
            backend: match self.raw_writer() {
                RawWriter::Sqlite(_) => Backend::Sqlite,
                RawWriter::Postgres(_) => Backend::Postgres,
            },
            tenant: tenant.0,
            list,
            import,
        }
    }

    /// Write a batch in one transaction on the writer: it lands whole or
    /// not at all. The statements go to the driver as built (no query
    /// builder in between).
    pub async fn write_import_batch(&self, batch: ImportBatch) -> Result<()> {
        use sea_orm::sqlx::{query_with, raw_sql};
        let mismatch = || StoreError::Corrupt("an import batch built for another database".into());
        match self.raw_writer() {
            RawWriter::Sqlite(pool) => {
                if batch.backend != Backend::Sqlite {
                    return Err(mismatch());
                }
                let mut conn = pool.acquire().await.map_err(sqlx_err)?;
                raw_sql(SQLITE_IMPORT_PRAGMAS)
                    .execute(&mut *conn)
                    .await
                    .map_err(sqlx_err)?;
                let written = async {
                    let mut tx = sea_orm::sqlx::Connection::begin(&mut *conn).await?;
                    for p in batch.statements {
                        let Args::Sqlite(args) = p.args else {
                            return Err(sea_orm::sqlx::Error::Protocol(
                                "an import batch built for another database".into(),
                            ));
                        };
                        query_with(p.sql, args).execute(&mut *tx).await?;
                    }
                    tx.commit().await
                }
                .await;
                let reset = raw_sql(SQLITE_DEFAULT_PRAGMAS).execute(&mut *conn).await;
                written.map_err(sqlx_err)?;
                reset.map_err(sqlx_err)?;
                Ok(())
            }
            RawWriter::Postgres(pool) => {
                if batch.backend != Backend::Postgres {
                    return Err(mismatch());
                }
                let mut tx = pool.begin().await.map_err(sqlx_err)?;
                for p in batch.statements {
                    let Args::Postgres(args) = p.args else {
                        return Err(mismatch());
                    };
                    query_with(p.sql, args)
                        .execute(&mut *tx)
                        .await
                        .map_err(sqlx_err)?;
                }
                tx.commit().await.map_err(sqlx_err)
            }
        }
    }
}

#[cfg(test)]
#[path = "imports_tests.rs"]
mod tests;
