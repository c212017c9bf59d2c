//! Outbound campaigns: the campaign (mode, lifecycle status, settings as the
//! dialer crate serializes them), the lists it dials with their priority and
//! mix weight, each lead's progress in the campaign (the hopper is the
//! `queued` leads), every dial attempt, and the per-number dial locks that
//! keep a number from being dialed twice at once across campaigns.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Mode,
    Status,
    Settings,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    StatusChangedAt,
}

#[derive(DeriveIden)]
enum CampaignLists {
    Table,
    CampaignId,
    ListId,
    TenantId,
    Priority,
    Weight,
    AddedAt,
}

#[derive(DeriveIden)]
enum CampaignLeads {
    Table,
    CampaignId,
    ContactId,
    TenantId,
    ListId,
    Status,
    Attempts,
    LastAttemptAt,
    NextAt,
    LastOutcome,
    Reasons,
    QueuedAt,
    ReservedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignAttempts {
    Table,
    Id,
    TenantId,
    CampaignId,
    ContactId,
    Phone,
    Status,
    CallId,
    Outcome,
    SipCode,
    Disposition,
    StartedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum DialLocks {
    Table,
    TenantId,
    Phone,
    AttemptId,
    CampaignId,
    LockedAt,
}

#[derive(DeriveIden)]
enum ContactLists {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
}

fn campaign_fk(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("campaign_id"))
        .to(Campaigns::Table, Campaigns::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Campaigns::Table)
                .col(pk_uuid(Campaigns::Id))
                .col(uuid(Campaigns::TenantId))
                .col(string(Campaigns::Name))
                .col(text(Campaigns::Description))
                .col(string(Campaigns::Mode))
                .col(string(Campaigns::Status))
                .col(text(Campaigns::Settings))
                .col(uuid_null(Campaigns::CreatedBy))
                .col(timestamp_with_time_zone(Campaigns::CreatedAt))
                .col(timestamp_with_time_zone(Campaigns::UpdatedAt))
                .col(timestamp_with_time_zone(Campaigns::StatusChangedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_campaigns_tenant",
                    Campaigns::Table,
                    Campaigns::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_campaigns_tenant_name",
                Campaigns::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;
        // The runner looks for running campaigns across tenants.
        m.create_index(index("idx_campaigns_status", Campaigns::Table, &["status"]))
            .await?;

        m.create_table(
            Table::create()
                .table(CampaignLists::Table)
                .col(uuid(CampaignLists::CampaignId))
                .col(uuid(CampaignLists::ListId))
                .col(uuid(CampaignLists::TenantId))
                .col(integer(CampaignLists::Priority))
                .col(integer(CampaignLists::Weight))
                .col(timestamp_with_time_zone(CampaignLists::AddedAt))
                .primary_key(
                    Index::create()
                        .col(CampaignLists::CampaignId)
                        .col(CampaignLists::ListId),
                )
                .foreign_key(&mut campaign_fk(
                    "fk_campaign_lists_campaign",
                    CampaignLists::Table,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_campaign_lists_list")
                        .from(CampaignLists::Table, CampaignLists::ListId)
                        .to(ContactLists::Table, ContactLists::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_campaign_lists_tenant",
                    CampaignLists::Table,
                    CampaignLists::TenantId,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CampaignLeads::Table)
                .col(uuid(CampaignLeads::CampaignId))
                .col(uuid(CampaignLeads::ContactId))
                .col(uuid(CampaignLeads::TenantId))
                .col(uuid(CampaignLeads::ListId))
                // new | queued | previewing | dialing | waiting | deferred | denied | done
                .col(string(CampaignLeads::Status))
                .col(integer(CampaignLeads::Attempts))
                .col(timestamp_with_time_zone_null(CampaignLeads::LastAttemptAt))
                // waiting/deferred: not before this.
                .col(timestamp_with_time_zone_null(CampaignLeads::NextAt))
                .col(string_null(CampaignLeads::LastOutcome))
                // The compliance reasons of the last deny/defer (JSON).
                .col(text_null(CampaignLeads::Reasons))
                .col(timestamp_with_time_zone_null(CampaignLeads::QueuedAt))
                // previewing: the agent who holds the card.
                .col(uuid_null(CampaignLeads::ReservedBy))
                .col(timestamp_with_time_zone(CampaignLeads::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(CampaignLeads::CampaignId)
                        .col(CampaignLeads::ContactId),
                )
                .foreign_key(&mut campaign_fk(
                    "fk_campaign_leads_campaign",
                    CampaignLeads::Table,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_campaign_leads_contact")
                        .from(CampaignLeads::Table, CampaignLeads::ContactId)
                        .to(Contacts::Table, Contacts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_campaign_leads_tenant",
                    CampaignLeads::Table,
                    CampaignLeads::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_campaign_leads_status",
            CampaignLeads::Table,
            &["campaign_id", "status", "next_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(CampaignAttempts::Table)
                .col(pk_uuid(CampaignAttempts::Id))
                .col(uuid(CampaignAttempts::TenantId))
                .col(uuid(CampaignAttempts::CampaignId))
                .col(uuid(CampaignAttempts::ContactId))
                .col(string(CampaignAttempts::Phone))
                // dialing | finished | interrupted
                .col(string(CampaignAttempts::Status))
                .col(uuid_null(CampaignAttempts::CallId))
                .col(string_null(CampaignAttempts::Outcome))
                .col(integer_null(CampaignAttempts::SipCode))
                .col(string_null(CampaignAttempts::Disposition))
                .col(timestamp_with_time_zone(CampaignAttempts::StartedAt))
                .col(timestamp_with_time_zone_null(CampaignAttempts::EndedAt))
                .foreign_key(&mut campaign_fk(
                    "fk_campaign_attempts_campaign",
                    CampaignAttempts::Table,
                ))
                .foreign_key(&mut tenant_fk(
                    "fk_campaign_attempts_tenant",
                    CampaignAttempts::Table,
                    CampaignAttempts::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_campaign_attempts_campaign",
            CampaignAttempts::Table,
            &["campaign_id", "started_at"],
        ))
        .await?;
        m.create_index(index(
            "idx_campaign_attempts_status",
            CampaignAttempts::Table,
            &["status"],
        ))
        .await?;

        // One row per number being dialed: the primary key is the lock.
        m.create_table(
            Table::create()
                .table(DialLocks::Table)
                .col(uuid(DialLocks::TenantId))
                .col(string(DialLocks::Phone))
                .col(uuid(DialLocks::AttemptId))
                .col(uuid(DialLocks::CampaignId))
                .col(timestamp_with_time_zone(DialLocks::LockedAt))
                .primary_key(
                    Index::create()
                        .col(DialLocks::TenantId)
                        .col(DialLocks::Phone),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_dial_locks_tenant",
                    DialLocks::Table,
                    DialLocks::TenantId,
                ))
                .take(),
        )
        .await?;
        Ok(())
    }
}
