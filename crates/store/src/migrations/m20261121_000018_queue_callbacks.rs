//! Callbacks in queue: a caller who left an ACD queue to be called back
//! keeps their place (priority and the time they entered the queue), so a
//! restart can put the entry back, and each dial-back attempt is counted.
//! The id is the caller's original call (also the ACD entry); a deleted
//! queue takes its callbacks with it.

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QueueCallbacks {
    Table,
    Id,
    TenantId,
    QueueId,
    Number,
    CallerId,
    Priority,
    RequestedAt,
    Status,
    Attempts,
    LastCause,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Queues {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(QueueCallbacks::Table)
                // The caller's original call id (also the ACD entry id).
                .col(pk_uuid(QueueCallbacks::Id))
                .col(uuid(QueueCallbacks::TenantId))
                .col(uuid(QueueCallbacks::QueueId))
                // E.164, the number dialled back.
                .col(text(QueueCallbacks::Number))
                // The DID the caller called: the callback's caller ID.
                .col(text_null(QueueCallbacks::CallerId))
                .col(integer(QueueCallbacks::Priority))
                // When the caller entered the queue: the place they keep.
                .col(timestamp_with_time_zone(QueueCallbacks::RequestedAt))
                // waiting, done, failed or cancelled.
                .col(string(QueueCallbacks::Status))
                .col(integer(QueueCallbacks::Attempts).default(0))
                // no_answer, busy, ... (the last attempt's, or the cancel's).
                .col(string_null(QueueCallbacks::LastCause))
                .col(timestamp_with_time_zone(QueueCallbacks::CreatedAt))
                .col(timestamp_with_time_zone(QueueCallbacks::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_queue_callbacks_tenant",
                    QueueCallbacks::Table,
                    QueueCallbacks::TenantId,
                ))
                // A deleted queue takes its callbacks.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_queue_callbacks_queue")
                        .from(QueueCallbacks::Table, QueueCallbacks::QueueId)
                        .to(Queues::Table, Queues::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // A tenant's waiting callbacks in the order the ACD serves them
        // (loaded when the ACD is rebuilt after a restart).
        m.create_index(
            Index::create()
                .name("ix_queue_callbacks_tenant_status_order")
                .table(QueueCallbacks::Table)
                .col(QueueCallbacks::TenantId)
                .col(QueueCallbacks::Status)
                .col((QueueCallbacks::Priority, IndexOrder::Desc))
                .col(QueueCallbacks::RequestedAt)
                .col(QueueCallbacks::Id)
                .take(),
        )
        .await?;
        // One queue's callbacks in the same order (the supervisors' list),
        // and the rows a queue's deletion cascades to.
        m.create_index(
            Index::create()
                .name("ix_queue_callbacks_queue_status_order")
                .table(QueueCallbacks::Table)
                .col(QueueCallbacks::QueueId)
                .col(QueueCallbacks::Status)
                .col((QueueCallbacks::Priority, IndexOrder::Desc))
                .col(QueueCallbacks::RequestedAt)
                .col(QueueCallbacks::Id)
                .take(),
        )
        .await?;
        Ok(())
    }
}
