//! Call recordings' rows and each tenant's recording settings. The audio
//! lives in the media engine's recording store; a row is written when a
//! recording is finished (or repaired at start-up after a crash).

use crate::entities::{recording, recording_setting};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::TenantId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use recording::Model as RecordingRow;
pub use recording_setting::Model as RecordingSettingsRow;

/// A finished recording to record.
#[derive(Clone, Debug)]
pub struct NewRecording {
    pub id: Uuid,
    pub call_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub sha256: String,
    pub paused_spans: serde_json::Value,
    pub legs: serde_json::Value,
    pub storage_key: String,
}

/// When calls of a tenant are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecordingPolicy {
    /// Every call, from the moment it is bridged.
    All,
    /// Never (start requests are refused).
    None,
    /// When asked through the API.
    #[default]
    OnDemand,
}

impl RecordingPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingPolicy::All => "all",
            RecordingPolicy::None => "none",
            RecordingPolicy::OnDemand => "on_demand",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(RecordingPolicy::All),
            "none" => Some(RecordingPolicy::None),
            "on_demand" => Some(RecordingPolicy::OnDemand),
            _ => None,
        }
    }
}

/// A tenant's recording settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecordingSettings {
    pub policy: RecordingPolicy,
    /// Days recordings are kept; 0 keeps them.
    pub retention_days: u32,
}

impl From<&RecordingSettingsRow> for RecordingSettings {
    fn from(r: &RecordingSettingsRow) -> Self {
        Self {
            policy: RecordingPolicy::parse(&r.policy).unwrap_or_default(),
            retention_days: u32::try_from(r.retention_days).unwrap_or(0),
        }
    }
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a finished recording. An id already recorded is
    /// `StoreError::Conflict`.
    pub async fn create_recording(&self, new: NewRecording) -> Result<RecordingRow> {
        Ok(recording::ActiveModel {
            id: Set(new.id),
            tenant_id: Set(self.tenant.0),
            call_id: Set(new.call_id),
            started_at: Set(new.started_at),
            duration_ms: Set(new.duration_ms),
            size_bytes: Set(new.size_bytes),
            sha256: Set(new.sha256),
            paused_spans: Set(new.paused_spans),
            legs: Set(new.legs),
            storage_key: Set(new.storage_key),
            deleted_at: Set(None),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?)
    }

    /// The tenant's recordings that are not deleted, optionally of one call.
    pub async fn list_recordings(
        &self,
        page: &PageRequest,
        call: Option<Uuid>,
    ) -> Result<Page<RecordingRow>> {
        let mut q = recording::Entity::find()
            .filter(recording::Column::TenantId.eq(self.tenant.0))
            .filter(recording::Column::DeletedAt.is_null())
            .order_by_asc(recording::Column::Id);
        if let Some(call) = call {
            q = q.filter(recording::Column::CallId.eq(call));
        }
        if let Some(after) = page.after {
            q = q.filter(recording::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// A recording that is not deleted.
    pub async fn get_recording(&self, id: Uuid) -> Result<RecordingRow> {
        recording::Entity::find()
            .filter(recording::Column::TenantId.eq(self.tenant.0))
            .filter(recording::Column::Id.eq(id))
            .filter(recording::Column::DeletedAt.is_null())
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Marks a recording deleted at `at` (the row stays for the audit
    /// trail); returns it as it was.
    pub async fn delete_recording(&self, id: Uuid, at: DateTime<Utc>) -> Result<RecordingRow> {
        let row = self.get_recording(id).await?;
        recording::Entity::update_many()
            .col_expr(
                recording::Column::DeletedAt,
                sea_orm::sea_query::Expr::value(Some(at)),
            )
            .filter(recording::Column::TenantId.eq(self.tenant.0))
            .filter(recording::Column::Id.eq(id))
            .filter(recording::Column::DeletedAt.is_null())
            .exec(self.conn)
            .await?;
        Ok(row)
    }

    /// Recordings not deleted that started before `cutoff`, oldest first.
    pub async fn recordings_started_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<RecordingRow>> {
        Ok(recording::Entity::find()
            .filter(recording::Column::TenantId.eq(self.tenant.0))
            .filter(recording::Column::DeletedAt.is_null())
            .filter(recording::Column::StartedAt.lt(cutoff))
            .order_by_asc(recording::Column::StartedAt)
            .limit(limit)
            .all(self.conn)
            .await?)
    }

    /// The tenant's recording settings (defaults when never set).
    pub async fn recording_settings(&self) -> Result<RecordingSettings> {
        Ok(recording_setting::Entity::find_by_id(self.tenant.0)
            .one(self.conn)
            .await?
            .as_ref()
            .map(RecordingSettings::from)
            .unwrap_or_default())
    }

    /// Replaces the tenant's recording settings; returns the ones before.
    pub async fn set_recording_settings(
        &self,
        settings: RecordingSettings,
    ) -> Result<RecordingSettings> {
        let before = self.recording_settings().await?;
        let row = recording_setting::ActiveModel {
            tenant_id: Set(self.tenant.0),
            policy: Set(settings.policy.as_str().to_owned()),
            retention_days: Set(i32::try_from(settings.retention_days).unwrap_or(i32::MAX)),
            updated_at: Set(now()),
        };
        recording_setting::Entity::insert(row)
            .on_conflict(
                OnConflict::column(recording_setting::Column::TenantId)
                    .update_columns([
                        recording_setting::Column::Policy,
                        recording_setting::Column::RetentionDays,
                        recording_setting::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.conn)
            .await?;
        Ok(before)
    }
}

/// Tenants with a retention period (days > 0), for the retention sweep.
pub async fn tenants_with_retention(conn: &impl ConnectionTrait) -> Result<Vec<(TenantId, u32)>> {
    let rows = recording_setting::Entity::find()
        .filter(recording_setting::Column::RetentionDays.gt(0))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                TenantId(r.tenant_id),
                u32::try_from(r.retention_days).unwrap_or(0),
            )
        })
        .collect())
}

/// Which of `ids` have a recording row (deleted or not), in any tenant:
/// the start-up repair pass checks files against it, a chunk at a time.
pub async fn existing_recording_ids(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<Uuid> = recording::Entity::find()
        .select_only()
        .column(recording::Column::Id)
        .filter(recording::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}
