//! Contact lists, contacts and their phones, custom fields, CSV imports,
//! do-not-call entries and registries, the consent ledger, dial decisions.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ContactLists {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    DefaultRegion,
    Source,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomFields {
    Table,
    Id,
    TenantId,
    Key,
    Label,
    Kind,
    Choices,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    TenantId,
    ListId,
    FirstName,
    LastName,
    Email,
    Address1,
    Address2,
    City,
    State,
    PostalCode,
    Country,
    ExternalId,
    Custom,
    Status,
    DedupKey,
    ImportId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContactPhones {
    Table,
    TenantId,
    ContactId,
    E164,
    Kind,
    Extension,
    Position,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    TenantId,
    ListId,
    Status,
    FileName,
    StoredPath,
    SizeBytes,
    Settings,
    RowsRead,
    RowsAccepted,
    RowsRejected,
    RowsDuplicate,
    RowsCommitted,
    CancelRequested,
    Error,
    CreatedBy,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ImportErrors {
    Table,
    Id,
    TenantId,
    ImportId,
    RowNumber,
    Line,
    Column,
    Severity,
    Code,
    Reason,
    Value,
}

#[derive(DeriveIden)]
enum DncEntries {
    Table,
    Id,
    TenantId,
    Scope,
    CampaignId,
    Pattern,
    Reason,
    Source,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum DncRegistries {
    Table,
    Id,
    TenantId,
    Name,
    Entries,
    RejectedLines,
    StoredPath,
    RefreshedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    Id,
    TenantId,
    ContactId,
    Phone,
    Channel,
    Kind,
    Method,
    ActorType,
    ActorId,
    Evidence,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TenantCompliance {
    Table,
    TenantId,
    CallingHours,
    Holidays,
    HolidayZone,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DialDecisions {
    Table,
    Id,
    TenantId,
    ContactId,
    Phone,
    CampaignId,
    Outcome,
    DeferUntil,
    Reasons,
    RuleSetVersion,
    DryRun,
    DecidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ContactLists::Table)
                .col(pk_uuid(ContactLists::Id))
                .col(uuid(ContactLists::TenantId))
                .col(string(ContactLists::Name))
                .col(text(ContactLists::Description))
                .col(string(ContactLists::DefaultRegion))
                .col(string(ContactLists::Source))
                .col(uuid_null(ContactLists::CreatedBy))
                .col(timestamp_with_time_zone(ContactLists::CreatedAt))
                .col(timestamp_with_time_zone(ContactLists::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_lists_tenant",
                    ContactLists::Table,
                    ContactLists::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_lists_tenant_name",
                ContactLists::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CustomFields::Table)
                .col(pk_uuid(CustomFields::Id))
                .col(uuid(CustomFields::TenantId))
                .col(string(CustomFields::Key))
                .col(string(CustomFields::Label))
                .col(string(CustomFields::Kind))
                .col(json(CustomFields::Choices))
                .col(timestamp_with_time_zone(CustomFields::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_custom_fields_tenant",
                    CustomFields::Table,
                    CustomFields::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_custom_fields_key",
                CustomFields::Table,
                &["tenant_id", "key"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Contacts::Table)
                .col(pk_uuid(Contacts::Id))
                .col(uuid(Contacts::TenantId))
                .col(uuid(Contacts::ListId))
                .col(string_null(Contacts::FirstName))
                .col(string_null(Contacts::LastName))
                .col(string_null(Contacts::Email))
                .col(string_null(Contacts::Address1))
                .col(string_null(Contacts::Address2))
                .col(string_null(Contacts::City))
                .col(string_null(Contacts::State))
                .col(string_null(Contacts::PostalCode))
                .col(string_null(Contacts::Country))
                .col(string_null(Contacts::ExternalId))
                .col(json(Contacts::Custom))
                .col(string(Contacts::Status))
                .col(string(Contacts::DedupKey))
                .col(uuid_null(Contacts::ImportId))
                .col(timestamp_with_time_zone(Contacts::CreatedAt))
                .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_contacts_tenant",
                    Contacts::Table,
                    Contacts::TenantId,
                ))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_contacts_list")
                        .from(Contacts::Table, Contacts::ListId)
                        .to(ContactLists::Table, ContactLists::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_contacts_list",
            Contacts::Table,
            &["tenant_id", "list_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "idx_contacts_dedup",
            Contacts::Table,
            &["tenant_id", "dedup_key"],
        ))
        .await?;
        m.create_index(index(
            "idx_contacts_import",
            Contacts::Table,
            &["import_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(ContactPhones::Table)
                .col(uuid(ContactPhones::TenantId))
                .col(uuid(ContactPhones::ContactId))
                .col(string(ContactPhones::E164))
                .col(string(ContactPhones::Kind))
                .col(string_null(ContactPhones::Extension))
                .col(integer(ContactPhones::Position))
                .primary_key(
                    Index::create()
                        .col(ContactPhones::ContactId)
                        .col(ContactPhones::Position),
                )
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_contact_phones_contact")
                        .from(ContactPhones::Table, ContactPhones::ContactId)
                        .to(Contacts::Table, Contacts::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_contact_phones_e164",
            ContactPhones::Table,
            &["tenant_id", "e164"],
        ))
        .await?;
        m.create_index(index(
            "idx_contact_phones_contact",
            ContactPhones::Table,
            &["contact_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(ImportJobs::Table)
                .col(pk_uuid(ImportJobs::Id))
                .col(uuid(ImportJobs::TenantId))
                .col(uuid(ImportJobs::ListId))
                .col(string(ImportJobs::Status))
                .col(string(ImportJobs::FileName))
                .col(string(ImportJobs::StoredPath))
                .col(big_integer(ImportJobs::SizeBytes))
                .col(json(ImportJobs::Settings))
                .col(big_integer(ImportJobs::RowsRead))
                .col(big_integer(ImportJobs::RowsAccepted))
                .col(big_integer(ImportJobs::RowsRejected))
                .col(big_integer(ImportJobs::RowsDuplicate))
                .col(big_integer(ImportJobs::RowsCommitted))
                .col(boolean(ImportJobs::CancelRequested))
                .col(text_null(ImportJobs::Error))
                .col(uuid_null(ImportJobs::CreatedBy))
                .col(timestamp_with_time_zone(ImportJobs::CreatedAt))
                .col(timestamp_with_time_zone_null(ImportJobs::StartedAt))
                .col(timestamp_with_time_zone_null(ImportJobs::FinishedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_imports_tenant",
                    ImportJobs::Table,
                    ImportJobs::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index("idx_imports_status", ImportJobs::Table, &["status"]))
            .await?;

        m.create_table(
            Table::create()
                .table(ImportErrors::Table)
                .col(pk_uuid(ImportErrors::Id))
                .col(uuid(ImportErrors::TenantId))
                .col(uuid(ImportErrors::ImportId))
                .col(big_integer(ImportErrors::RowNumber))
                .col(big_integer(ImportErrors::Line))
                .col(string(ImportErrors::Column))
                .col(string(ImportErrors::Severity))
                .col(string(ImportErrors::Code))
                .col(text(ImportErrors::Reason))
                .col(text(ImportErrors::Value))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_import_errors_job")
                        .from(ImportErrors::Table, ImportErrors::ImportId)
                        .to(ImportJobs::Table, ImportJobs::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_import_errors_job",
            ImportErrors::Table,
            &["import_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(DncEntries::Table)
                .col(pk_uuid(DncEntries::Id))
                .col(uuid(DncEntries::TenantId))
                .col(string(DncEntries::Scope))
                .col(uuid_null(DncEntries::CampaignId))
                .col(string(DncEntries::Pattern))
                .col(text(DncEntries::Reason))
                .col(string(DncEntries::Source))
                .col(uuid_null(DncEntries::CreatedBy))
                .col(timestamp_with_time_zone(DncEntries::CreatedAt))
                .col(timestamp_with_time_zone_null(DncEntries::ExpiresAt))
                .foreign_key(&mut tenant_fk(
                    "fk_dnc_tenant",
                    DncEntries::Table,
                    DncEntries::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_dnc_pattern",
            DncEntries::Table,
            &["tenant_id", "pattern"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(DncRegistries::Table)
                .col(pk_uuid(DncRegistries::Id))
                .col(uuid(DncRegistries::TenantId))
                .col(string(DncRegistries::Name))
                .col(big_integer(DncRegistries::Entries))
                .col(big_integer(DncRegistries::RejectedLines))
                .col(string(DncRegistries::StoredPath))
                .col(timestamp_with_time_zone(DncRegistries::RefreshedAt))
                .col(timestamp_with_time_zone(DncRegistries::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_dnc_registries_tenant",
                    DncRegistries::Table,
                    DncRegistries::TenantId,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ConsentEvents::Table)
                .col(pk_uuid(ConsentEvents::Id))
                .col(uuid(ConsentEvents::TenantId))
                .col(uuid(ConsentEvents::ContactId))
                .col(string_null(ConsentEvents::Phone))
                .col(string(ConsentEvents::Channel))
                .col(string(ConsentEvents::Kind))
                .col(string(ConsentEvents::Method))
                .col(string(ConsentEvents::ActorType))
                .col(uuid_null(ConsentEvents::ActorId))
                .col(text_null(ConsentEvents::Evidence))
                .col(timestamp_with_time_zone(ConsentEvents::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_consent_tenant",
                    ConsentEvents::Table,
                    ConsentEvents::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_consent_contact",
            ConsentEvents::Table,
            &["tenant_id", "contact_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(TenantCompliance::Table)
                .col(uuid(TenantCompliance::TenantId).primary_key())
                .col(text_null(TenantCompliance::CallingHours))
                .col(json(TenantCompliance::Holidays))
                .col(string(TenantCompliance::HolidayZone))
                .col(timestamp_with_time_zone(TenantCompliance::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_tenant_compliance_tenant",
                    TenantCompliance::Table,
                    TenantCompliance::TenantId,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DialDecisions::Table)
                .col(pk_uuid(DialDecisions::Id))
                .col(uuid(DialDecisions::TenantId))
                .col(uuid(DialDecisions::ContactId))
                .col(string(DialDecisions::Phone))
                .col(uuid_null(DialDecisions::CampaignId))
                .col(string(DialDecisions::Outcome))
                .col(timestamp_with_time_zone_null(DialDecisions::DeferUntil))
                .col(json(DialDecisions::Reasons))
                .col(string(DialDecisions::RuleSetVersion))
                .col(boolean(DialDecisions::DryRun))
                .col(timestamp_with_time_zone(DialDecisions::DecidedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_decisions_tenant",
                    DialDecisions::Table,
                    DialDecisions::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_decisions_contact",
            DialDecisions::Table,
            &["tenant_id", "contact_id", "id"],
        ))
        .await?;
        Ok(())
    }
}
