use sea_orm::entity::prelude::*;

/// One dial of a lead. Written (`dialing`) before the INVITE leaves, so a
/// crash never loses an attempt.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub campaign_id: Uuid,
    pub contact_id: Uuid,
    pub phone: String,
    pub status: String,
    pub call_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub sip_code: Option<i32>,
    pub disposition: Option<String>,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
