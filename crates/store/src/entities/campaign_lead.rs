use sea_orm::entity::prelude::*;

/// A contact's progress in one campaign. The hopper is the `queued` rows.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: Uuid,
    pub tenant_id: Uuid,
    pub list_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub next_at: Option<DateTimeUtc>,
    pub last_outcome: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub reasons: Option<String>,
    pub queued_at: Option<DateTimeUtc>,
    /// The agent holding the lead's card in preview mode.
    pub reserved_by: Option<Uuid>,
    /// The agent a callback was kept for: only they get the lead.
    pub callback_agent: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
