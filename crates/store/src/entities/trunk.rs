use sea_orm::entity::prelude::*;

/// A tenant's SIP trunk to a carrier.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "trunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub host: String,
    pub port: i32,
    /// `udp` or `tcp`.
    pub transport: String,
    pub username: Option<String>,
    /// The outbound digest password, sealed ([`crate::seal`]): it is sent
    /// to the carrier's challenge, so it is kept reversibly. Never returned
    /// by the API, never logged.
    pub password: Option<crate::seal::Sealed>,
    pub from_user: Option<String>,
    pub from_domain: Option<String>,
    /// `from`, `pai` or `both`.
    pub caller_id_mode: String,
    /// `e164_plus`, `e164` or `national`.
    pub number_format: String,
    pub tech_prefix: String,
    pub max_channels: i32,
    pub max_cps: i32,
    /// Lower first: the failover order.
    pub priority: i32,
    /// IP addresses and CIDR blocks inbound calls may come from.
    pub allowed_sources: Json,
    pub inbound_username: Option<String>,
    pub inbound_ha1_md5: Option<crate::seal::Sealed>,
    pub inbound_ha1_sha256: Option<crate::seal::Sealed>,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
