use crate::Result;
use crate::migrations::Migrator;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Where the data lives. `url` is `sqlite://path` (the default, embedded) or
/// `postgres://...`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// PostgreSQL only: the schema to use (created if missing).
    #[serde(default)]
    pub schema: Option<String>,
}

fn default_max_connections() -> u32 {
    16
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://omnivox-data/omnivox.db".into(),
            max_connections: default_max_connections(),
            schema: None,
        }
    }
}

/// The URL with any password replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:[redacted]{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The database: a reader pool and a writer. On SQLite the writer is one
/// connection, so write transactions queue in-process instead of failing with
/// `SQLITE_BUSY`; on PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    /// The writer's driver pool, for the import's hand-written statements.
    raw_write: RawWriter,
}

#[derive(Clone, Debug)]
pub(crate) enum RawWriter {
    Sqlite(sea_orm::sqlx::SqlitePool),
    Postgres(sea_orm::sqlx::PgPool),
}

impl Store {
    pub async fn connect(cfg: &DbConfig) -> Result<Self> {
        if cfg.url.starts_with("sqlite:") {
            if let Some(dir) = sqlite_parent_dir(&cfg.url) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| crate::StoreError::Corrupt(format!("cannot create {dir}: {e}")))?;
            }
            let readers = sqlite_options(&cfg.url, cfg.max_connections.max(2));
            let read = Database::connect(readers).await?;
            let write = Database::connect(sqlite_writer_options(&cfg.url)).await?;
            let raw_write = RawWriter::Sqlite(write.get_sqlite_connection_pool().clone());
            Ok(Self {
                read,
                write,
                raw_write,
            })
        } else {
            if let Some(schema) = &cfg.schema {
                let plain = Database::connect(base_options(&cfg.url, 1)).await?;
                plain
                    .execute_unprepared(&format!(
                        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                        schema.replace('"', "")
                    ))
                    .await?;
                plain.close().await?;
            }
            let mut opts = base_options(&cfg.url, cfg.max_connections);
            if let Some(schema) = &cfg.schema {
                opts.set_schema_search_path(schema.clone());
            }
            let pool = Database::connect(opts).await?;
            let raw_write = RawWriter::Postgres(pool.get_postgres_connection_pool().clone());
            Ok(Self {
                read: pool.clone(),
                write: pool,
                raw_write,
            })
        }
    }

    /// Connections for reads outside a transaction.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// The connection writes go through; begin transactions on it.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    pub(crate) fn raw_writer(&self) -> &RawWriter {
        &self.raw_write
    }

    /// Begin a write transaction.
    pub async fn begin(&self) -> Result<sea_orm::DatabaseTransaction> {
        use sea_orm::TransactionTrait;
        Ok(self.write.begin().await?)
    }

    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.write, None).await?;
        Ok(())
    }

    /// How many migrations this binary knows that the database lacks.
    pub async fn pending_migrations(&self) -> Result<usize> {
        Ok(Migrator::get_pending_migrations(&self.read).await?.len())
    }

    pub async fn ping(&self) -> Result<()> {
        self.read.ping().await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

fn base_options(url: &str, max: u32) -> ConnectOptions {
    let mut o = ConnectOptions::new(url.to_owned());
    o.max_connections(max)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    o
}

fn sqlite_options(url: &str, max: u32) -> ConnectOptions {
    let mut o = base_options(url, max);
    o.map_sqlx_sqlite_opts(|s| {
        s.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
    });
    o
}

/// The writer: one connection, with a larger page cache than the readers'
/// (2 MiB): a CSV import adds every row to the phone-number index, whose
/// pages are then read and written in random order; kept in memory they are
/// read once, not once per batch. Readers keep SQLite's default.
fn sqlite_writer_options(url: &str) -> ConnectOptions {
    let mut o = sqlite_options(url, 1);
    o.map_sqlx_sqlite_opts(|s| {
        s.pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
    });
    o
}

/// The writer's page cache, in KiB (`PRAGMA cache_size` takes it negated).
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// The size the WAL file is cut back to after a checkpoint (bytes): an
/// import lets it grow (see `imports::IMPORT_PRAGMAS`).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

fn sqlite_parent_dir(url: &str) -> Option<&str> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let dir = path.rsplit_once('/')?.0;
    (!dir.is_empty()).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug() {
        let cfg = DbConfig {
            url: "postgres://omni:s3cret@db.local:5432/ov".into(),
            ..DbConfig::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(dbg.contains("omni:[redacted]@db.local"), "{dbg}");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn sqlite_parent_dir_is_found() {
        assert_eq!(
            sqlite_parent_dir("sqlite://omnivox-data/o.db"),
            Some("omnivox-data")
        );
        assert_eq!(
            sqlite_parent_dir("sqlite:///tmp/x/o.db?mode=rwc"),
            Some("/tmp/x")
        );
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("sqlite://o.db"), None);
    }
}
