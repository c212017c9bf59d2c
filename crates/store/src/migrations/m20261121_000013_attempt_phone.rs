//! Attempts by number: the UK rule's 72-hour lock after an abandoned call
//! asks for a number's latest abandoned attempt before every dial.

use super::common::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CampaignAttempts {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "idx_campaign_attempts_phone",
            CampaignAttempts::Table,
            &["tenant_id", "phone", "outcome"],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_campaign_attempts_phone")
                .table(CampaignAttempts::Table)
                .to_owned(),
        )
        .await
    }
}
