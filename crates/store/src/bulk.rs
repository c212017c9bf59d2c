//! Hand-written multi-row INSERT statements for the import's hot path, with
//! their values bound ahead of time (see [`crate::imports::BatchBuilder`]).
//!
//! A batch goes in as statements of a few fixed shapes (rows per statement):
//! as many of the largest as fit, then at most one of each smaller one. The
//! drivers cache prepared statements by their text, so a handful of small
//! statements stay cached instead of one large statement per distinct batch
//! size (each a few hundred kilobytes of compiled SQLite program).
//!
//! Values shared by every row (tenant, list, ...) are bound once per
//! statement: on PostgreSQL as `$1`, ... repeated in each row; on SQLite as a
//! one-row `WITH` table the rows are joined to, since the driver looks up
//! each numbered parameter (`?NNN`) by name, in time linear in their count.

use crate::{Result, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sqlx::Arguments;
use sea_orm::sqlx::postgres::PgArguments;
use sea_orm::sqlx::sqlite::SqliteArguments;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// Rows per statement, largest first.
const SHAPES: [usize; 6] = [512, 128, 32, 8, 2, 1];

/// The statement sizes, in rows, that together insert `n` rows.
pub(crate) fn shapes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let s = SHAPES.iter().copied().find(|&s| s <= n)?;
        n -= s;
        Some(s)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A statement's bound values.
pub(crate) enum Args {
    Sqlite(SqliteArguments),
    Postgres(PgArguments),
}

/// A statement and its values, ready to run.
pub(crate) struct Prepared {
    pub(crate) sql: &'static str,
    pub(crate) args: Args,
}

/// One value to bind.
#[derive(Clone)]
pub(crate) enum V {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Text(Option<String>),
    /// Text shared by many rows (bound without a copy on SQLite).
    Shared(Arc<str>),
    Json(serde_json::Value),
    Int(i32),
    BigInt(i64),
    Time(DateTime<Utc>),
}

impl From<Option<String>> for V {
    fn from(v: Option<String>) -> Self {
        V::Text(v)
    }
}

impl From<String> for V {
    fn from(v: String) -> Self {
        V::Text(Some(v))
    }
}

/// A timestamp as bound on `backend`. On SQLite, the text the driver
/// would store for it, made once and shared by the rows.
pub(crate) fn time(backend: Backend, t: DateTime<Utc>) -> V {
    match backend {
        Backend::Postgres => V::Time(t),
        Backend::Sqlite => V::Shared(t.to_rfc3339_opts(SecondsFormat::AutoSi, false).into()),
    }
}

fn encode_err(e: sea_orm::sqlx::error::BoxDynError) -> StoreError {
    StoreError::Corrupt(format!("encoding a statement value: {e}"))
}

impl Args {
    pub(crate) fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Args::Sqlite(SqliteArguments::default()),
            Backend::Postgres => Args::Postgres(PgArguments::default()),
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            Args::Sqlite(a) => a.reserve(n, 0),
            Args::Postgres(a) => a.reserve(n, n * 16),
        }
    }

    pub(crate) fn push(&mut self, v: V) -> Result<()> {
        match self {
            // Text as `Arc<str>`: one allocation for the driver to free
            // (on its thread, after the statement), not two.
            Args::Sqlite(a) => match v {
                V::Uuid(u) => a.add(u),
                V::OptUuid(u) => a.add(u),
                V::Text(t) => a.add(t.map(Arc::<str>::from)),
                V::Shared(t) => a.add(t),
                V::Json(j) => a.add(Arc::<str>::from(j.to_string())),
                V::Int(i) => a.add(i),
                V::BigInt(i) => a.add(i),
                V::Time(t) => a.add(t),
            },
            Args::Postgres(a) => match v {
                V::Uuid(u) => a.add(u),
                V::OptUuid(u) => a.add(u),
                V::Text(t) => a.add(t),
                V::Shared(t) => a.add(&*t),
                V::Json(j) => a.add(j),
                V::Int(i) => a.add(i),
                V::BigInt(i) => a.add(i),
                V::Time(t) => a.add(t),
            },
        }
        .map_err(encode_err)
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Table {
    Contacts,
    Phones,
    Errors,
}

/// A value of a row: one shared by the statement's rows (`Shared(k)`,
/// the k-th, from 0) or the row's own next one.
#[derive(Clone, Copy)]
enum P {
    Shared(usize),
    Own,
}
use P::{Own, Shared};

struct Spec {
    table: &'static str,
    columns: &'static str,
    shared: usize,
    /// The row's values in column order.
    row: &'static [P],
}

impl Spec {
    fn own(&self) -> usize {
        self.row.iter().filter(|p| matches!(p, Own)).count()
    }
}

const CONTACTS: Spec = Spec {
    table: "contacts",
    columns: "id, tenant_id, list_id, first_name, last_name, email, address1, address2, \
              city, state, postal_code, country, external_id, custom, status, dedup_key, \
              import_id, created_at, updated_at",
    // tenant, list, import, status, time
    shared: 5,
    row: &[
        Own,
        Shared(0),
        Shared(1),
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Own,
        Shared(3),
        Own,
        Shared(2),
        Shared(4),
        Shared(4),
    ],
};

const PHONES: Spec = Spec {
    table: "contact_phones",
    columns: "tenant_id, contact_id, e164, kind, extension, position",
    // tenant
    shared: 1,
    row: &[Shared(0), Own, Own, Own, Own, Own],
};

const ERRORS: Spec = Spec {
    table: "import_errors",
    columns: "id, tenant_id, import_id, row_number, line, \"column\", severity, code, \
              reason, value",
    // tenant, import
    shared: 2,
    row: &[Own, Shared(0), Shared(1), Own, Own, Own, Own, Own, Own, Own],
};

fn spec(table: Table) -> &'static Spec {
    match table {
        Table::Contacts => &CONTACTS,
        Table::Phones => &PHONES,
        Table::Errors => &ERRORS,
    }
}

/// The statement inserting `rows` rows (a size [`shapes`] gives) into
/// `table`, for `backend`; built once.
fn sql(backend: Backend, table: Table, rows: usize) -> &'static str {
    static CACHE: [OnceLock<String>; 2 * 3 * SHAPES.len()] =
        [const { OnceLock::new() }; 2 * 3 * SHAPES.len()];
    let pg = backend == Backend::Postgres;
    let spec = spec(table);
    let s = SHAPES
        .iter()
        .position(|&s| s == rows)
        .unwrap_or(SHAPES.len() - 1);
    let rows = SHAPES[s];
    CACHE[(usize::from(pg) * 3 + table as usize) * SHAPES.len() + s].get_or_init(|| {
        if pg {
            postgres_sql(spec, rows)
        } else {
            sqlite_sql(spec, rows)
        }
    })
}

/// `INSERT INTO t (..) VALUES ($6, $1, $7, ...), ($19, $1, ...)`.
fn postgres_sql(spec: &Spec, rows: usize) -> String {
    use std::fmt::Write;
    let own = spec.own();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", spec.table, spec.columns);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        let mut next = spec.shared + r * own;
        for (i, p) in spec.row.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let n = match *p {
                Shared(k) => k + 1,
                Own => {
                    next += 1;
                    next
                }
            };
            let _ = write!(sql, "${n}");
        }
        sql.push(')');
    }
    sql
}

/// `WITH s(s0, s1, ..) AS (VALUES (?, ?, ..)) INSERT INTO t (..)
/// SELECT v.column1, s.s0, .. FROM s, (VALUES (?, ?, ..), ..) AS v`.
fn sqlite_sql(spec: &Spec, rows: usize) -> String {
    use std::fmt::Write;
    let own = spec.own();
    let names: Vec<String> = (0..spec.shared).map(|k| format!("s{k}")).collect();
    let marks = vec!["?"; spec.shared].join(", ");
    let mut sql = format!(
        "WITH s({}) AS (VALUES ({marks})) INSERT INTO {} ({}) SELECT ",
        names.join(", "),
        spec.table,
        spec.columns
    );
    let mut next = 0;
    for (i, p) in spec.row.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        match *p {
            Shared(k) => {
                let _ = write!(sql, "s.s{k}");
            }
            Own => {
                next += 1;
                let _ = write!(sql, "v.column{next}");
            }
        }
    }
    sql.push_str(" FROM s, (VALUES ");
    let row = format!("({})", vec!["?"; own].join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql.push_str(") AS v");
    sql
}

/// One statement being filled: [`row`](Self::row) once per row, with the
/// row's own values in column order.
pub(crate) struct Insert {
    backend: Backend,
    table: Table,
    rows: usize,
    args: Args,
}

impl Insert {
    pub(crate) fn new<const S: usize>(
        backend: Backend,
        table: Table,
        rows: usize,
        shared: [V; S],
    ) -> Result<Self> {
        let spec = spec(table);
        debug_assert_eq!(spec.shared, S);
        let mut args = Args::new(backend);
        args.reserve(S + rows * spec.own());
        for v in shared {
            args.push(v)?;
        }
        Ok(Self {
            backend,
            table,
            rows,
            args,
        })
    }

    pub(crate) fn row<const N: usize>(&mut self, own: [V; N]) -> Result<()> {
        debug_assert_eq!(spec(self.table).own(), N);
        for v in own {
            self.args.push(v)?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Prepared {
        Prepared {
            sql: sql(self.backend, self.table, self.rows),
            args: self.args,
        }
    }
}
