use sea_orm::entity::prelude::*;

/// One call (CDR): opened live when the call starts, closed when it ends.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_records")]
pub struct Model {
    /// The call id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `live` or `ended`.
    pub state: String,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<Uuid>,
    pub did: Option<String>,
    pub agent_id: Option<Uuid>,
    pub started_at: DateTimeUtc,
    pub ringing_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub duration_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    /// A stable hangup cause (`normal`, `busy`, `system_shutdown`, ...).
    pub cause: Option<String>,
    pub sip_code: Option<i32>,
    /// Where the call was transferred, in order (numbers or SIP URIs).
    pub transfer_chain: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
