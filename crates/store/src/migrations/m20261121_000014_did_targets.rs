//! DIDs that route to a queue (Omnivox answers and queues the caller) or
//! to an IVR flow (Omnivox answers and runs its published version).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Dids {
    Table,
    TargetQueueId,
    TargetFlowId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(
            Table::alter()
                .table(Dids::Table)
                .add_column(uuid_null(Dids::TargetQueueId))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Dids::Table)
                .add_column(uuid_null(Dids::TargetFlowId))
                .take(),
        )
        .await
    }
}
