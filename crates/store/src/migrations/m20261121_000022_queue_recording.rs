//! A queue's own recording policy (`all`, `none`, `on_demand`) for the
//! calls it connects; null: the tenant's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Queues {
    Table,
    Recording,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Queues::Table)
                .add_column(ColumnDef::new(Queues::Recording).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Queues::Table)
                .drop_column(Queues::Recording)
                .to_owned(),
        )
        .await
    }
}
