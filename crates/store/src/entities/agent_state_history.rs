use sea_orm::entity::prelude::*;

/// One agent state change (the state entered), in the order they happened.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_state_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// logged_out, available, reserved, on_call, wrap_up or not_ready.
    pub state: String,
    /// The not-ready reason code.
    pub reason: Option<String>,
    /// The call of reserved, on_call and wrap_up.
    pub call_id: Option<Uuid>,
    /// The disposition code given when this change ended a wrap-up.
    pub disposition: Option<String>,
    /// On a login: the campaigns logged into (JSON list of ids).
    #[sea_orm(column_type = "Text", nullable)]
    pub campaigns: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
