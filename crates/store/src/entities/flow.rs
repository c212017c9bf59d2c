use sea_orm::entity::prelude::*;

/// An IVR flow of a tenant: its editable draft and which of its versions
/// (rows of `flow_versions`) calls run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique within the tenant.
    pub name: String,
    pub description: String,
    /// The draft as `Flow::to_json` wrote it; `None` after a publish until
    /// the next edit.
    #[sea_orm(column_type = "Text", nullable)]
    pub draft: Option<String>,
    pub published_version: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
