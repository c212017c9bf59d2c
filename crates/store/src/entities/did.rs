use sea_orm::entity::prelude::*;

/// A phone number that routes inbound calls to one tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dids")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// E.164 with `+`; unique across all tenants.
    pub number: String,
    pub description: String,
    /// `agent`, `number`, `queue` or `flow`.
    pub target_kind: String,
    pub target_agent_id: Option<Uuid>,
    pub target_number: Option<String>,
    pub target_queue_id: Option<Uuid>,
    pub target_flow_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
