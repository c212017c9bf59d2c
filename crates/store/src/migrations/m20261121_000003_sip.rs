//! SIP credentials of agents' phones (digest HA1 hashes, never passwords).

use super::common::tenant_fk;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SipAccounts {
    Table,
    TenantId,
    UserId,
    Username,
    Ha1Md5,
    Ha1Sha256,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SipAccounts::Table)
                .col(uuid(SipAccounts::TenantId))
                .col(uuid(SipAccounts::UserId))
                .col(string(SipAccounts::Username))
                .col(string(SipAccounts::Ha1Md5))
                .col(string(SipAccounts::Ha1Sha256))
                .col(timestamp_with_time_zone(SipAccounts::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(SipAccounts::TenantId)
                        .col(SipAccounts::UserId),
                )
                .foreign_key(&mut tenant_fk(
                    "fk_sip_accounts_tenant",
                    SipAccounts::Table,
                    SipAccounts::TenantId,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_sip_accounts_user")
                        .from(SipAccounts::Table, SipAccounts::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_sip_accounts_username")
                .table(SipAccounts::Table)
                .col(SipAccounts::TenantId)
                .col(SipAccounts::Username)
                .unique()
                .take(),
        )
        .await
    }
}
