//! Flow webhook signing secrets: a tenant's named HMAC keys, which a flow's
//! webhook node names (`"secret": "crm"`). The value is write-only in the
//! API; the live interpreter reads the tenant's secrets by name.

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowSecrets {
    Table,
    TenantId,
    Name,
    Secret,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FlowSecrets::Table)
                .col(uuid(FlowSecrets::TenantId))
                // 1-64 characters of [A-Za-z0-9_.-], unique within the tenant.
                .col(string(FlowSecrets::Name))
                .col(text(FlowSecrets::Secret))
                .col(timestamp_with_time_zone(FlowSecrets::CreatedAt))
                .col(timestamp_with_time_zone(FlowSecrets::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(FlowSecrets::TenantId)
                        .col(FlowSecrets::Name),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_flow_secrets_tenant",
                    FlowSecrets::Table,
                    FlowSecrets::TenantId,
                ))
                .take(),
        )
        .await?;
        Ok(())
    }
}
