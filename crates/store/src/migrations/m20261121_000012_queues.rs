//! ACD queues: a tenant's queues with their routing settings (strategy,
//! required skills, offer timeout, maximum wait, wrap-up, overflow rules,
//! announcements, prompts, callback), and the queues of an agent's login
//! in the state history (restored after a restart, like its campaigns).

use super::common::{index, tenant_fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Queues {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Strategy,
    RequiredSkills,
    Priority,
    OfferTimeoutS,
    MaxWaitS,
    WrapUpSeconds,
    DispositionRequired,
    Overflow,
    AnnouncePosition,
    AnnounceEwt,
    AnnounceEveryS,
    MusicPrompt,
    ComfortPrompt,
    CallbackInQueue,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentStateHistory {
    Table,
    Queues,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Queues::Table)
                .col(pk_uuid(Queues::Id))
                .col(uuid(Queues::TenantId))
                .col(string(Queues::Name))
                .col(text(Queues::Description))
                // longest_idle, fewest_calls_today, round_robin,
                // skill_weighted or ring_all.
                .col(string(Queues::Strategy))
                // JSON list of {skill, min_level, weight}.
                .col(text(Queues::RequiredSkills))
                // The priority of calls entering the queue.
                .col(integer(Queues::Priority))
                .col(integer(Queues::OfferTimeoutS))
                .col(integer_null(Queues::MaxWaitS))
                .col(integer(Queues::WrapUpSeconds))
                .col(boolean(Queues::DispositionRequired))
                // JSON list of overflow rules, checked in order.
                .col(text(Queues::Overflow))
                .col(boolean(Queues::AnnouncePosition))
                .col(boolean(Queues::AnnounceEwt))
                .col(integer_null(Queues::AnnounceEveryS))
                // Prompt names of the tenant's prompt library.
                .col(string_null(Queues::MusicPrompt))
                .col(string_null(Queues::ComfortPrompt))
                .col(boolean(Queues::CallbackInQueue))
                .col(timestamp_with_time_zone(Queues::CreatedAt))
                .col(timestamp_with_time_zone(Queues::UpdatedAt))
                .foreign_key(&mut tenant_fk(
                    "fk_queues_tenant",
                    Queues::Table,
                    Queues::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_queues_tenant_name",
                Queues::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;

        // A login's queues (JSON list of ids), beside its campaigns.
        m.alter_table(
            Table::alter()
                .table(AgentStateHistory::Table)
                .add_column(text_null(AgentStateHistory::Queues))
                .take(),
        )
        .await?;
        Ok(())
    }
}
