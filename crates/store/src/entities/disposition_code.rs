use sea_orm::entity::prelude::*;

/// A tenant-defined disposition code and its effect.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "disposition_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique within the tenant.
    pub code: String,
    pub label: String,
    /// contact, no_contact, sale, dnc, callback or other.
    pub category: String,
    /// final, recycle, callback, dnc or sale.
    pub effect: String,
    /// The recycle delay (only with `effect = recycle`).
    pub delay_seconds: Option<i32>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
