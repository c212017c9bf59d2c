use sea_orm::entity::prelude::*;

/// A tenant's recording settings (absent row: on demand, keep forever).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "recording_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `all`, `none` or `on_demand`.
    pub policy: String,
    /// Days a recording is kept; 0 keeps it.
    pub retention_days: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
