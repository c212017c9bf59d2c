//! Agents: per-member agent profiles (skills with levels, wrap-up), the
//! tenant's not-ready reason codes, every agent state change as history, and
//! the tenant's disposition codes with their effects.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TenantId,
    UserId,
}

#[derive(DeriveIden)]
enum AgentProfiles {
    Table,
    TenantId,
    UserId,
    Skills,
    WrapUpSeconds,
    DispositionRequired,
    MaxMissedOffers,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentReasonCodes {
    Table,
    Id,
    TenantId,
    Code,
    Label,
    Paid,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentStateHistory {
    Table,
    Id,
    TenantId,
    UserId,
    State,
    Reason,
    CallId,
    Disposition,
    Campaigns,
    At,
}

#[derive(DeriveIden)]
enum DispositionCodes {
    Table,
    Id,
    TenantId,
    Code,
    Label,
    Category,
    Effect,
    DelaySeconds,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AgentProfiles::Table)
                .col(uuid(AgentProfiles::TenantId))
                .col(uuid(AgentProfiles::UserId))
                // JSON object: skill name -> level 1..10.
                .col(text(AgentProfiles::Skills))
                .col(integer(AgentProfiles::WrapUpSeconds))
                .col(boolean(AgentProfiles::DispositionRequired))
                .col(integer(AgentProfiles::MaxMissedOffers))
                .col(timestamp_with_time_zone(AgentProfiles::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(AgentProfiles::TenantId)
                        .col(AgentProfiles::UserId),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_agent_profiles_tenant",
                    AgentProfiles::Table,
                    AgentProfiles::TenantId,
                ))
                // The profile goes with the membership.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agent_profiles_membership")
                        .from_tbl(AgentProfiles::Table)
                        .from_col(AgentProfiles::TenantId)
                        .from_col(AgentProfiles::UserId)
                        .to_tbl(Memberships::Table)
                        .to_col(Memberships::TenantId)
                        .to_col(Memberships::UserId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgentReasonCodes::Table)
                .col(pk_uuid(AgentReasonCodes::Id))
                .col(uuid(AgentReasonCodes::TenantId))
                .col(string(AgentReasonCodes::Code))
                .col(string(AgentReasonCodes::Label))
                .col(boolean(AgentReasonCodes::Paid))
                .col(boolean(AgentReasonCodes::Active))
                .col(timestamp_with_time_zone(AgentReasonCodes::CreatedAt))
                .col(timestamp_with_time_zone(AgentReasonCodes::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_agent_reason_codes_tenant",
                    AgentReasonCodes::Table,
                    AgentReasonCodes::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_agent_reason_codes_tenant_code",
                AgentReasonCodes::Table,
                &["tenant_id", "code"],
            )
            .unique()
            .take(),
        )
        .await?;

        // History outlives memberships (reports), so no membership FK.
        m.create_table(
            Table::create()
                .table(AgentStateHistory::Table)
                .col(pk_uuid(AgentStateHistory::Id))
                .col(uuid(AgentStateHistory::TenantId))
                .col(uuid(AgentStateHistory::UserId))
                .col(string(AgentStateHistory::State))
                .col(string_null(AgentStateHistory::Reason))
                .col(uuid_null(AgentStateHistory::CallId))
                // The disposition given when this change ended a wrap-up.
                .col(string_null(AgentStateHistory::Disposition))
                // A login's campaigns (JSON list of ids), restored after a restart.
                .col(text_null(AgentStateHistory::Campaigns))
                .col(timestamp_with_time_zone(AgentStateHistory::At))
                .foreign_key(&mut tenant_fk(
                    "fk_agent_state_history_tenant",
                    AgentStateHistory::Table,
                    AgentStateHistory::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_agent_state_history_user_at",
            AgentStateHistory::Table,
            &["tenant_id", "user_id", "at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(DispositionCodes::Table)
                .col(pk_uuid(DispositionCodes::Id))
                .col(uuid(DispositionCodes::TenantId))
                .col(string(DispositionCodes::Code))
                .col(string(DispositionCodes::Label))
                .col(string(DispositionCodes::Category))
                .col(string(DispositionCodes::Effect))
                .col(integer_null(DispositionCodes::DelaySeconds))
                .col(boolean(DispositionCodes::Active))
                .col(timestamp_with_time_zone(DispositionCodes::CreatedAt))
                .col(timestamp_with_time_zone(DispositionCodes::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_disposition_codes_tenant",
                    DispositionCodes::Table,
                    DispositionCodes::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_disposition_codes_tenant_code",
                DispositionCodes::Table,
                &["tenant_id", "code"],
            )
            .unique()
            .take(),
        )
        .await?;
        Ok(())
    }
}
