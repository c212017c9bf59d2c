//! Telephony configuration and call records: SIP trunks, DIDs, the dial
//! policy (toll-fraud guard), CDRs and their legs.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Trunks {
    Table,
    Id,
    TenantId,
    Name,
    Host,
    Port,
    Transport,
    Username,
    Password,
    FromUser,
    FromDomain,
    CallerIdMode,
    NumberFormat,
    TechPrefix,
    MaxChannels,
    MaxCps,
    Priority,
    AllowedSources,
    InboundUsername,
    InboundHa1Md5,
    InboundHa1Sha256,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Dids {
    Table,
    Id,
    TenantId,
    Number,
    Description,
    TargetKind,
    TargetAgentId,
    TargetNumber,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DialPolicies {
    Table,
    TenantId,
    Policy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CallRecords {
    Table,
    Id,
    TenantId,
    Direction,
    State,
    FromNumber,
    ToNumber,
    TrunkId,
    Did,
    AgentId,
    StartedAt,
    RingingAt,
    AnsweredAt,
    EndedAt,
    DurationMs,
    TalkMs,
    Cause,
    SipCode,
    TransferChain,
}

#[derive(DeriveIden)]
enum CallLegs {
    Table,
    Id,
    CallId,
    TenantId,
    Leg,
    Seq,
    Direction,
    Peer,
    TrunkId,
    AgentId,
    StartedAt,
    RingingAt,
    AnsweredAt,
    EndedAt,
    Cause,
    SipCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Trunks::Table)
                .col(pk_uuid(Trunks::Id))
                .col(uuid(Trunks::TenantId))
                .col(string(Trunks::Name))
                .col(string(Trunks::Host))
                .col(integer(Trunks::Port))
                .col(string(Trunks::Transport))
                .col(string_null(Trunks::Username))
                .col(text_null(Trunks::Password))
                .col(string_null(Trunks::FromUser))
                .col(string_null(Trunks::FromDomain))
                .col(string(Trunks::CallerIdMode))
                .col(string(Trunks::NumberFormat))
                .col(string(Trunks::TechPrefix))
                .col(integer(Trunks::MaxChannels))
                .col(integer(Trunks::MaxCps))
                .col(integer(Trunks::Priority))
                .col(json(Trunks::AllowedSources))
                .col(string_null(Trunks::InboundUsername))
                .col(string_null(Trunks::InboundHa1Md5))
                .col(string_null(Trunks::InboundHa1Sha256))
                .col(boolean(Trunks::Enabled))
                .col(timestamp_with_time_zone(Trunks::CreatedAt))
                .col(timestamp_with_time_zone(Trunks::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_trunks_tenant",
                    Trunks::Table,
                    Trunks::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_trunks_tenant_name",
                Trunks::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_trunks_tenant_priority",
            Trunks::Table,
            &["tenant_id", "priority"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Dids::Table)
                .col(pk_uuid(Dids::Id))
                .col(uuid(Dids::TenantId))
                .col(string(Dids::Number))
                .col(text(Dids::Description))
                .col(string(Dids::TargetKind))
                .col(uuid_null(Dids::TargetAgentId))
                .col(string_null(Dids::TargetNumber))
                .col(timestamp_with_time_zone(Dids::CreatedAt))
                .col(timestamp_with_time_zone(Dids::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_dids_tenant",
                    Dids::Table,
                    Dids::TenantId,
                ))
                .take(),
        )
        .await?;
        // A number belongs to one tenant: unique across all of them.
        m.create_index(
            index("ux_dids_number", Dids::Table, &["number"])
                .unique()
                .take(),
        )
        .await?;
        m.create_index(index("idx_dids_tenant", Dids::Table, &["tenant_id", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(DialPolicies::Table)
                .col(uuid(DialPolicies::TenantId).primary_key())
                .col(json(DialPolicies::Policy))
                .col(timestamp_with_time_zone(DialPolicies::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_dial_policies_tenant",
                    DialPolicies::Table,
                    DialPolicies::TenantId,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CallRecords::Table)
                .col(pk_uuid(CallRecords::Id))
                .col(uuid(CallRecords::TenantId))
                .col(string(CallRecords::Direction))
                .col(string(CallRecords::State))
                .col(string(CallRecords::FromNumber))
                .col(string(CallRecords::ToNumber))
                .col(uuid_null(CallRecords::TrunkId))
                .col(string_null(CallRecords::Did))
                .col(uuid_null(CallRecords::AgentId))
                .col(timestamp_with_time_zone(CallRecords::StartedAt))
                .col(timestamp_with_time_zone_null(CallRecords::RingingAt))
                .col(timestamp_with_time_zone_null(CallRecords::AnsweredAt))
                .col(timestamp_with_time_zone_null(CallRecords::EndedAt))
                .col(big_integer_null(CallRecords::DurationMs))
                .col(big_integer_null(CallRecords::TalkMs))
                .col(string_null(CallRecords::Cause))
                .col(integer_null(CallRecords::SipCode))
                .col(json(CallRecords::TransferChain))
                .foreign_key(&mut tenant_fk(
                    "fk_call_records_tenant",
                    CallRecords::Table,
                    CallRecords::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_call_records_started",
            CallRecords::Table,
            &["tenant_id", "started_at"],
        ))
        .await?;
        m.create_index(index(
            "idx_call_records_state",
            CallRecords::Table,
            &["tenant_id", "state"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(CallLegs::Table)
                .col(pk_uuid(CallLegs::Id))
                .col(uuid(CallLegs::CallId))
                .col(uuid(CallLegs::TenantId))
                .col(string(CallLegs::Leg))
                .col(integer(CallLegs::Seq))
                .col(string(CallLegs::Direction))
                .col(text(CallLegs::Peer))
                .col(uuid_null(CallLegs::TrunkId))
                .col(uuid_null(CallLegs::AgentId))
                .col(timestamp_with_time_zone(CallLegs::StartedAt))
                .col(timestamp_with_time_zone_null(CallLegs::RingingAt))
                .col(timestamp_with_time_zone_null(CallLegs::AnsweredAt))
                .col(timestamp_with_time_zone_null(CallLegs::EndedAt))
                .col(string_null(CallLegs::Cause))
                .col(integer_null(CallLegs::SipCode))
                .foreign_key(&mut tenant_fk(
                    "fk_call_legs_tenant",
                    CallLegs::Table,
                    CallLegs::TenantId,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_call_legs_call")
                        .from(CallLegs::Table, CallLegs::CallId)
                        .to(CallRecords::Table, CallRecords::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_call_legs_call_seq",
                CallLegs::Table,
                &["call_id", "seq"],
            )
            .unique()
            .take(),
        )
        .await
    }
}
