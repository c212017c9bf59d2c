use sea_orm::entity::prelude::*;

/// One leg of a closed call.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_legs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub call_id: Uuid,
    pub tenant_id: Uuid,
    /// `a`, `b` or `consult` (repeats after transfers; `seq` orders them).
    pub leg: String,
    pub seq: i32,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// A number or a SIP URI.
    pub peer: String,
    pub trunk_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub started_at: DateTimeUtc,
    pub ringing_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub cause: Option<String>,
    pub sip_code: Option<i32>,
    /// Media quality (the leg's final rating; none without RTP).
    #[sea_orm(column_type = "Double", nullable)]
    pub mos: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub r_factor: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub jitter_ms: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub loss_percent: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub rtt_ms: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
