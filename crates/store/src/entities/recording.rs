use sea_orm::entity::prelude::*;

/// A finished call recording (the audio is a stereo WAV in the recording
/// store, customer left, agent right).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "recordings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub call_id: Uuid,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    pub size_bytes: i64,
    /// sha256 of the stored file, lowercase hex.
    pub sha256: String,
    /// `[{"start_ms":..,"end_ms":..}]`: stretches written as silence.
    pub paused_spans: Json,
    /// `[{"leg":"a","channel":"customer"},..]`.
    pub legs: Json,
    /// The key in the recording store (`<tenant>/<id>`).
    pub storage_key: String,
    /// Set when the file was deleted (by a user or retention).
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
