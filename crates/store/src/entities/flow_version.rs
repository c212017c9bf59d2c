use sea_orm::entity::prelude::*;

/// A published, immutable version of a flow; numbers start at 1 per flow.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub tenant_id: Uuid,
    /// The flow as `Flow::to_json` wrote it.
    #[sea_orm(column_type = "Text")]
    pub definition: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
