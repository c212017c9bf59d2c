use sea_orm::entity::prelude::*;

/// A tenant's named signing secret for flow webhook nodes.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// 1-64 characters of `[A-Za-z0-9_.-]`, unique within the tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The HMAC key, sealed ([`crate::seal`]): write-only, never returned or logged (`Debug` leaves
    /// it out).
    #[sea_orm(column_type = "Text")]
    pub secret: crate::seal::Sealed,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSecret")
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
