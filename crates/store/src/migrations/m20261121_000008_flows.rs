//! IVR flows: one row per flow holding its editable draft and the number of
//! the published version, and the immutable numbered versions publish
//! freezes. Flow graphs are stored as the JSON text `omnivox-flows` writes
//! (`Flow::to_json`), so the store never needs to know the graph's shape.

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Flows {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Draft,
    PublishedVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FlowVersions {
    Table,
    FlowId,
    Version,
    TenantId,
    Definition,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Flows::Table)
                .col(pk_uuid(Flows::Id))
                .col(uuid(Flows::TenantId))
                .col(string(Flows::Name))
                .col(text(Flows::Description))
                // Absent once published until the next edit.
                .col(text_null(Flows::Draft))
                .col(integer_null(Flows::PublishedVersion))
                .col(timestamp_with_time_zone(Flows::CreatedAt))
                .col(timestamp_with_time_zone(Flows::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_flows_tenant",
                    Flows::Table,
                    Flows::TenantId,
                ))
                .take(),
        )
        .await?;
        // DIDs and route nodes name flows; a name is unique within a tenant.
        m.create_index(
            Index::create()
                .name("ux_flows_tenant_name")
                .table(Flows::Table)
                .col(Flows::TenantId)
                .col(Flows::Name)
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(FlowVersions::Table)
                .col(uuid(FlowVersions::FlowId))
                .col(integer(FlowVersions::Version))
                .col(uuid(FlowVersions::TenantId))
                .col(text(FlowVersions::Definition))
                .col(uuid_null(FlowVersions::CreatedBy))
                .col(timestamp_with_time_zone(FlowVersions::CreatedAt))
                // Two concurrent publishes of one flow cannot both take a number.
                .primary_key(
                    Index::create()
                        .col(FlowVersions::FlowId)
                        .col(FlowVersions::Version),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_flow_versions_flow")
                        .from(FlowVersions::Table, FlowVersions::FlowId)
                        .to(Flows::Table, Flows::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        Ok(())
    }
}
