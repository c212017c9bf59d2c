//! The prompt library: audio a tenant uploads for hold music, the
//! safe-harbor message and flows, kept as 8 kHz mono WAV files under the
//! data directory; the table holds what describes them.

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Prompts {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    DurationMs,
    SizeBytes,
    Sha256,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Prompts::Table)
                .col(pk_uuid(Prompts::Id))
                .col(uuid(Prompts::TenantId))
                .col(string(Prompts::Name))
                .col(text(Prompts::Description))
                .col(big_integer(Prompts::DurationMs))
                .col(big_integer(Prompts::SizeBytes))
                .col(string(Prompts::Sha256))
                .col(uuid_null(Prompts::CreatedBy))
                .col(timestamp_with_time_zone(Prompts::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_prompts_tenant",
                    Prompts::Table,
                    Prompts::TenantId,
                ))
                .take(),
        )
        .await?;
        // Names are unique within a tenant (flows and settings name them).
        m.create_index(
            Index::create()
                .name("ux_prompts_tenant_name")
                .table(Prompts::Table)
                .col(Prompts::TenantId)
                .col(Prompts::Name)
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }
}
