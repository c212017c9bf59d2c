//! A queue's measured handle time (the EWMA behind its estimated waits),
//! kept so a restart does not start the estimates over from the default.
//! Nullable: a queue that never handled a call has none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Queues {
    Table,
    HandleTimeMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Queues::Table)
                .add_column(ColumnDef::new(Queues::HandleTimeMs).double().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Queues::Table)
                .drop_column(Queues::HandleTimeMs)
                .to_owned(),
        )
        .await
    }
}
