//! Flow runs: the stored trace of each live call's walk through an IVR
//! flow (which version ran, how it ended, why a fallback was taken), so a
//! flow's author can see what real callers did. The trace is the JSON text
//! `omnivox-flows` writes; the store never needs to know its shape.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    Id,
    TenantId,
    CallId,
    FlowId,
    Version,
    Outcome,
    FallbackReason,
    Trace,
    StartedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum Flows {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FlowRuns::Table)
                .col(pk_uuid(FlowRuns::Id))
                .col(uuid(FlowRuns::TenantId))
                .col(uuid(FlowRuns::CallId))
                .col(uuid(FlowRuns::FlowId))
                .col(integer(FlowRuns::Version))
                // route, hangup, caller_hangup, voicemail or error.
                .col(text(FlowRuns::Outcome))
                .col(text_null(FlowRuns::FallbackReason))
                // The interpreter's trace as JSON.
                .col(text(FlowRuns::Trace))
                .col(timestamp_with_time_zone(FlowRuns::StartedAt))
                .col(timestamp_with_time_zone(FlowRuns::EndedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_flow_runs_tenant",
                    FlowRuns::Table,
                    FlowRuns::TenantId,
                ))
                // A flow's runs go with it.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_flow_runs_flow")
                        .from(FlowRuns::Table, FlowRuns::FlowId)
                        .to(Flows::Table, Flows::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // A flow's runs, newest first.
        m.create_index(index(
            "ix_flow_runs_tenant_flow_started",
            FlowRuns::Table,
            &["tenant_id", "flow_id", "started_at"],
        ))
        .await?;
        // The run of one call.
        m.create_index(index(
            "ix_flow_runs_tenant_call",
            FlowRuns::Table,
            &["tenant_id", "call_id"],
        ))
        .await?;
        Ok(())
    }
}
