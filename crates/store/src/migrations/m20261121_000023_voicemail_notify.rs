//! A voicemail message's notification to its box's URL, kept with the
//! message so it survives a restart and is retried until the receiver takes
//! it: `notify_state` (`none`: the box had no URL; `pending`, `delivered`,
//! `failed`), the attempts so far, when the next is due (set only while
//! pending) and the last error.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VoicemailMessages {
    Table,
    NotifyState,
    NotifyAttempts,
    NotifyNextAt,
    NotifyError,
}

const DUE_INDEX: &str = "idx_voicemail_messages_notify_due";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [
            ColumnDef::new(VoicemailMessages::NotifyState)
                .string()
                .not_null()
                .default("none")
                .to_owned(),
            ColumnDef::new(VoicemailMessages::NotifyAttempts)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(VoicemailMessages::NotifyNextAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(VoicemailMessages::NotifyError)
                .text()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(VoicemailMessages::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        // The worker's query: notifications due by now (all nodes, all
        // tenants).
        m.create_index(
            Index::create()
                .name(DUE_INDEX)
                .table(VoicemailMessages::Table)
                .col(VoicemailMessages::NotifyNextAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(DUE_INDEX)
                .table(VoicemailMessages::Table)
                .to_owned(),
        )
        .await?;
        for column in [
            VoicemailMessages::NotifyError,
            VoicemailMessages::NotifyNextAt,
            VoicemailMessages::NotifyAttempts,
            VoicemailMessages::NotifyState,
        ] {
            m.alter_table(
                Table::alter()
                    .table(VoicemailMessages::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
