//! Pieces the migrations share.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

/// A foreign key from `table`.`col` to its tenant: the row goes when the
/// tenant does.
pub(super) fn tenant_fk(
    name: &str,
    table: impl IntoIden,
    col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// A plain index on `cols` of `table`.
pub(super) fn index(
    name: &str,
    table: impl IntoIden,
    cols: &[&'static str],
) -> IndexCreateStatement {
    let mut i = Index::create().name(name).table(table).take();
    for c in cols {
        i.col(Alias::new(*c));
    }
    i
}
