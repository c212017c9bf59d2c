//! The one migration set, run on SQLite and PostgreSQL alike.

use sea_orm_migration::prelude::*;

mod m20261121_000001_foundation;
mod m20261121_000002_contacts;
mod m20261121_000003_sip;
mod m20261121_000004_telephony;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_foundation::Migration),
            Box::new(m20261121_000002_contacts::Migration),
            Box::new(m20261121_000003_sip::Migration),
            Box::new(m20261121_000004_telephony::Migration),
        ]
    }
}
