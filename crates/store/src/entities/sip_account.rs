use sea_orm::entity::prelude::*;

/// A member's SIP phone credentials in one tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sip_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub username: String,
    /// The digest HA1s in the tenant's realm, sealed ([`crate::seal`]): an
    /// HA1 answers a challenge as well as the password does.
    pub ha1_md5: crate::seal::Sealed,
    pub ha1_sha256: crate::seal::Sealed,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
