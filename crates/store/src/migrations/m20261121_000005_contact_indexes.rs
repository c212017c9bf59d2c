//! Leaner contact indexes for the CSV import, which adds every row to them:
//! each B-tree kept current per row costs the import time, and a B-tree with
//! keys in random order (a phone number, a dedup key) costs the most: with a
//! large table every row lands on another page, read and written again.
//!
//! * `idx_contact_phones_contact (contact_id)` goes: the primary key
//!   `(contact_id, position)` serves the same lookups.
//! * `idx_contact_phones_e164 (tenant_id, e164)` becomes `(e164)`: half the
//!   size (a uuid less per entry); lookups still filter on the tenant.
//! * `idx_contacts_dedup (tenant_id, dedup_key)` keeps only the keys that do
//!   not come from a phone number (`ext:` keys, from an external id). A
//!   `tel:` key names the contact's first phone, so those contacts are found
//!   through the phone-number index (see `Scoped::existing_dedup_keys`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Contacts {
    Table,
}

#[derive(DeriveIden)]
enum ContactPhones {
    Table,
    E164,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (
                "idx_contact_phones_contact",
                ContactPhones::Table.into_iden(),
            ),
            ("idx_contact_phones_e164", ContactPhones::Table.into_iden()),
            ("idx_contacts_dedup", Contacts::Table.into_iden()),
        ] {
            m.drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_contact_phones_e164")
                .table(ContactPhones::Table)
                .col(ContactPhones::E164)
                .take(),
        )
        .await?;
        // A partial index (SQLite and PostgreSQL alike); queries repeat its
        // condition word for word (`contacts::NOT_PHONE_KEY`) so that both
        // planners use it.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_contacts_dedup_other ON contacts (tenant_id, dedup_key) \
                 WHERE substr(dedup_key, 1, 4) <> 'tel:'",
            )
            .await?;
        Ok(())
    }
}
