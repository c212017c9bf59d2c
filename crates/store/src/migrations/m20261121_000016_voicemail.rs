//! Voicemail: a tenant's boxes (each owned by one agent, queue or flow, at
//! most one per owner, with a tenant-unique name) and the messages callers
//! left in them. The audio of a message is a WAV in the voicemail store
//! under the row's `storage_key`; a box's messages go with it.

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VoicemailBoxes {
    Table,
    Id,
    TenantId,
    Name,
    OwnerKind,
    OwnerId,
    GreetingPrompt,
    MaxMessageSeconds,
    NotifyUrl,
    NotifySecret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VoicemailMessages {
    Table,
    Id,
    TenantId,
    BoxId,
    CallId,
    Caller,
    Called,
    DurationMs,
    SizeBytes,
    Sha256,
    StorageKey,
    HeardAt,
    HeardBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VoicemailBoxes::Table)
                .col(pk_uuid(VoicemailBoxes::Id))
                .col(uuid(VoicemailBoxes::TenantId))
                .col(string(VoicemailBoxes::Name))
                // agent, queue or flow.
                .col(string(VoicemailBoxes::OwnerKind))
                .col(uuid(VoicemailBoxes::OwnerId))
                // A prompt name of the tenant's library.
                .col(text_null(VoicemailBoxes::GreetingPrompt))
                .col(integer(VoicemailBoxes::MaxMessageSeconds).default(120))
                .col(text_null(VoicemailBoxes::NotifyUrl))
                .col(text_null(VoicemailBoxes::NotifySecret))
                .col(timestamp_with_time_zone(VoicemailBoxes::CreatedAt))
                .col(timestamp_with_time_zone(VoicemailBoxes::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_voicemail_boxes_tenant",
                    VoicemailBoxes::Table,
                    VoicemailBoxes::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_voicemail_boxes_tenant_name",
                VoicemailBoxes::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;
        // At most one box per owner.
        m.create_index(
            index(
                "ux_voicemail_boxes_tenant_owner",
                VoicemailBoxes::Table,
                &["tenant_id", "owner_kind", "owner_id"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VoicemailMessages::Table)
                .col(pk_uuid(VoicemailMessages::Id))
                .col(uuid(VoicemailMessages::TenantId))
                .col(uuid(VoicemailMessages::BoxId))
                // No foreign key to the call record: the CDR is written on
                // its own queue.
                .col(uuid(VoicemailMessages::CallId))
                .col(text(VoicemailMessages::Caller))
                .col(text(VoicemailMessages::Called))
                .col(big_integer(VoicemailMessages::DurationMs))
                .col(big_integer(VoicemailMessages::SizeBytes))
                .col(text(VoicemailMessages::Sha256))
                .col(text(VoicemailMessages::StorageKey))
                .col(timestamp_with_time_zone_null(VoicemailMessages::HeardAt))
                .col(uuid_null(VoicemailMessages::HeardBy))
                .col(timestamp_with_time_zone(VoicemailMessages::CreatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_voicemail_messages_tenant",
                    VoicemailMessages::Table,
                    VoicemailMessages::TenantId,
                ))
                // A box's messages go with it.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_voicemail_messages_box")
                        .from(VoicemailMessages::Table, VoicemailMessages::BoxId)
                        .to(VoicemailBoxes::Table, VoicemailBoxes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // A box's messages, newest first.
        m.create_index(index(
            "ix_voicemail_messages_tenant_box_created",
            VoicemailMessages::Table,
            &["tenant_id", "box_id", "created_at"],
        ))
        .await?;
        // All of a tenant's messages, newest first.
        m.create_index(index(
            "ix_voicemail_messages_tenant_created",
            VoicemailMessages::Table,
            &["tenant_id", "created_at"],
        ))
        .await?;
        Ok(())
    }
}
