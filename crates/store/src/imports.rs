//! CSV import jobs: a job table the import worker claims work from, with
//! progress that is committed together with each batch of contacts.

use crate::entities::{import_error, import_job};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::UserId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
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

    /// Record a batch's outcome: counters, the committed row position, and
    /// the batch's row errors (call in the batch's transaction).
    pub async fn record_batch(
        &self,
        id: Uuid,
        p: Progress,
        committed_rows: i64,
        errors: Vec<NewImportError>,
    ) -> Result<()> {
        use import_job::Column as Col;
        import_job::Entity::update_many()
            .col_expr(Col::RowsRead, Expr::col(Col::RowsRead).add(p.read))
            .col_expr(
                Col::RowsAccepted,
                Expr::col(Col::RowsAccepted).add(p.accepted),
            )
            .col_expr(
                Col::RowsRejected,
                Expr::col(Col::RowsRejected).add(p.rejected),
            )
            .col_expr(
                Col::RowsDuplicate,
                Expr::col(Col::RowsDuplicate).add(p.duplicate),
            )
            .col_expr(Col::RowsCommitted, Expr::value(committed_rows))
            .filter(Col::TenantId.eq(self.tenant.0))
            .filter(Col::Id.eq(id))
            .exec(self.conn)
            .await?;
        let rows: Vec<_> = errors
            .into_iter()
            .map(|e| import_error::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(self.tenant.0),
                import_id: Set(id),
                row_number: Set(e.row_number),
                line: Set(e.line),
                column: Set(e.column),
                severity: Set(e.severity),
                code: Set(e.code),
                reason: Set(e.reason),
                value: Set(e.value.chars().take(500).collect()),
            })
            .collect();
        for chunk in rows.chunks(400) {
            import_error::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(self.conn)
                .await?;
        }
        Ok(())
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
