//! Call recordings: one row per finished recording (the stereo WAV lives in
//! the recording store under `<tenant>/<id>.wav`), and each tenant's
//! recording settings (policy and retention).

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Recordings {
    Table,
    Id,
    TenantId,
    CallId,
    StartedAt,
    DurationMs,
    SizeBytes,
    Sha256,
    PausedSpans,
    Legs,
    StorageKey,
    DeletedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecordingSettings {
    Table,
    TenantId,
    Policy,
    RetentionDays,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Recordings::Table)
                .col(pk_uuid(Recordings::Id))
                .col(uuid(Recordings::TenantId))
                // No foreign key to the call record: the CDR writer and the
                // recording hook are independent queues.
                .col(uuid(Recordings::CallId))
                .col(timestamp_with_time_zone(Recordings::StartedAt))
                .col(big_integer(Recordings::DurationMs))
                .col(big_integer(Recordings::SizeBytes))
                .col(string(Recordings::Sha256))
                .col(json(Recordings::PausedSpans))
                .col(json(Recordings::Legs))
                .col(string(Recordings::StorageKey))
                .col(timestamp_with_time_zone_null(Recordings::DeletedAt))
                .col(timestamp_with_time_zone(Recordings::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_recordings_tenant",
                    Recordings::Table,
                    Recordings::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_recordings_tenant_call")
                .table(Recordings::Table)
                .col(Recordings::TenantId)
                .col(Recordings::CallId)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_recordings_tenant_started")
                .table(Recordings::Table)
                .col(Recordings::TenantId)
                .col(Recordings::StartedAt)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RecordingSettings::Table)
                .col(pk_uuid(RecordingSettings::TenantId))
                .col(string(RecordingSettings::Policy))
                .col(integer(RecordingSettings::RetentionDays))
                .col(timestamp_with_time_zone(RecordingSettings::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_recording_settings_tenant",
                    RecordingSettings::Table,
                    RecordingSettings::TenantId,
                ))
                .take(),
        )
        .await?;
        Ok(())
    }
}
