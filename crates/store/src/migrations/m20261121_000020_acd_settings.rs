//! A tenant's ACD settings (missed offers before not-ready, the blending
//! rule between inbound calls and the dialer, outbound wrap-up): one row
//! per tenant that changed them, as JSON the API validates. A tenant
//! without a row has the defaults.

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AcdSettings {
    Table,
    TenantId,
    Settings,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AcdSettings::Table)
                .col(uuid(AcdSettings::TenantId).primary_key())
                .col(text(AcdSettings::Settings))
                .col(timestamp_with_time_zone(AcdSettings::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_acd_settings_tenant",
                    AcdSettings::Table,
                    AcdSettings::TenantId,
                ))
                .take(),
        )
        .await
    }
}
