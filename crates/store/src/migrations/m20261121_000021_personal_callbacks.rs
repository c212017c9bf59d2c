//! A campaign callback an agent kept for themselves: the lead is dialed
//! only for that agent (null: anyone's lead, as before).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CampaignLeads {
    Table,
    CallbackAgent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(CampaignLeads::Table)
                .add_column(ColumnDef::new(CampaignLeads::CallbackAgent).uuid().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(CampaignLeads::Table)
                .drop_column(CampaignLeads::CallbackAgent)
                .to_owned(),
        )
        .await
    }
}
