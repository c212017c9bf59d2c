//! The master key that seals secrets at rest (`omnivox_store::seal`):
//! `auth.master_key` when set (every node of a cluster needs the same),
//! else the `master.key` file in the data directory, created on the first
//! start. It never enters the database, so a copy of the database alone
//! opens none of the secrets in it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use omnivox_store::Store;
use omnivox_store::seal::{self, MIN_KEY_LEN, Sealer};

use crate::auth::tokens::random_token;
use crate::config::Config;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "master.key";

pub fn key_file(config: &Config) -> PathBuf {
    config.storage.data_dir.join(KEY_FILE)
}

/// Load (or, on a database without sealed secrets, create) the master key,
/// check it opens this database's secrets, and seal any an older version
/// kept in clear.
pub async fn load(config: &Config, store: &Store) -> anyhow::Result<Sealer> {
    let (material, source) = match &config.auth.master_key {
        Some(k) => (k.expose().to_owned(), "auth.master_key".to_owned()),
        None => {
            let path = key_file(config);
            let text = match read_key_file(&path)? {
                Some(t) => t,
                None if seal::has_key_check(store.writer()).await? => bail!(
                    "this database's secrets are sealed with a master key, but {} is missing: \
                     restore that file or set auth.master_key",
                    path.display()
                ),
                None => create_key_file(&path)?,
            };
            (text, path.display().to_string())
        }
    };
    let sealer =
        Sealer::new(material.as_bytes()).with_context(|| format!("the master key in {source}"))?;
    seal::verify_key(store.writer(), &sealer)
        .await
        .with_context(|| {
            format!("the master key in {source} does not open this database's secrets")
        })?;
    let sealed = seal::seal_plaintext(store.writer(), &sealer).await?;
    if sealed > 0 {
        tracing::info!(sealed, "secrets kept in clear by an older version sealed");
    }
    Ok(sealer)
}

fn read_key_file(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim().to_owned();
            if text.len() < MIN_KEY_LEN {
                bail!(
                    "{} holds {} characters; a master key has at least {MIN_KEY_LEN}",
                    path.display(),
                    text.len()
                );
            }
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Write a new random key, readable by its owner only. `create_new`: of two
/// processes starting at once on one data directory, the second reads the
/// first one's key.
fn create_key_file(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = random_token(48);
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return read_key_file(path)?
                .with_context(|| format!("{} vanished while being created", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "master key created; back it up apart from the database");
    Ok(key)
}
