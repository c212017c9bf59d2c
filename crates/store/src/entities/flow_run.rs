use sea_orm::entity::prelude::*;

/// One live call's walk through a flow: the version that ran, how the
/// flow ended and the interpreter's trace.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub call_id: Uuid,
    pub flow_id: Uuid,
    /// The flow version the call ran.
    pub version: i32,
    /// `route`, `hangup`, `caller_hangup`, `voicemail` or `error`.
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
    /// Why the flow's fallback route was taken, if it was.
    #[sea_orm(column_type = "Text", nullable)]
    pub fallback_reason: Option<String>,
    /// The interpreter's trace as JSON.
    #[sea_orm(column_type = "Text")]
    pub trace: String,
    pub started_at: DateTimeUtc,
    pub ended_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
