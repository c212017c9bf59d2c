use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dial_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub phone: String,
    pub campaign_id: Option<Uuid>,
    pub outcome: String,
    pub defer_until: Option<DateTimeUtc>,
    pub reasons: Json,
    pub rule_set_version: String,
    pub dry_run: bool,
    pub decided_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
