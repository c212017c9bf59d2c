use sea_orm::entity::prelude::*;

/// A member's agent settings in one tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// JSON object: skill name -> level (1..10).
    #[sea_orm(column_type = "Text")]
    pub skills: String,
    pub wrap_up_seconds: i32,
    pub disposition_required: bool,
    /// Missed offers in a row before `not_ready(missed_offers)`; 0 = never.
    pub max_missed_offers: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
