use sea_orm::entity::prelude::*;

/// A prompt in a tenant's library (the audio is a file under the data
/// directory, 8 kHz mono 16-bit WAV).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique within the tenant.
    pub name: String,
    pub description: String,
    pub duration_ms: i64,
    /// Size of the stored (converted) file.
    pub size_bytes: i64,
    /// sha256 of the stored file, lowercase hex.
    pub sha256: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
