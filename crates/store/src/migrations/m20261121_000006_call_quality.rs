//! Media quality on call legs: the media engine rates every leg (RFC 3550
//! jitter and loss, RTT from RTCP, ITU-T G.107 E-model) and the call's CDR
//! keeps the final figures per leg. All nullable: legs without RTP (never
//! answered, signalling-only) have none, and rows from before stay as they
//! are. One ALTER per column (SQLite adds one column per statement).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum CallLegs {
    Table,
    Mos,
    RFactor,
    JitterMs,
    LossPercent,
    RttMs,
}

const COLUMNS: [CallLegs; 5] = [
    CallLegs::Mos,
    CallLegs::RFactor,
    CallLegs::JitterMs,
    CallLegs::LossPercent,
    CallLegs::RttMs,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(CallLegs::Table)
                    .add_column(ColumnDef::new(col).double().null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(CallLegs::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
