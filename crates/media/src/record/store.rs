//! Where recordings live: the [`RecordingStore`] trait and its local-files
//! implementation.
//!
//! The recorder writes through the trait, so a later object-store backend
//! (spooling to a local file, uploading on [`RecordingWriter::commit`]) needs
//! no change to the recorder. Keys are a tenant id and a recording id made
//! of `[A-Za-z0-9_-]` only: a key can never name a path outside the store's
//! root, whatever the caller passes in.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::RecordError;

/// Longest tenant or recording id accepted in a key.
pub const MAX_ID_LEN: usize = 128;

/// Identifies one recording: which tenant owns it and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingKey {
    tenant: String,
    recording: String,
}

fn check_id(id: &str, what: &'static str) -> Result<(), RecordError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RecordError::InvalidKey(what))
    }
}

impl RecordingKey {
    /// A key from a tenant id and a recording id (UUIDs, slugs); anything
    /// but ASCII letters, digits, `_` and `-`, or over 128 bytes, is refused.
    pub fn new(
        tenant: impl Into<String>,
        recording: impl Into<String>,
    ) -> Result<Self, RecordError> {
        let (tenant, recording) = (tenant.into(), recording.into());
        check_id(&tenant, "tenant id")?;
        check_id(&recording, "recording id")?;
        Ok(Self { tenant, recording })
    }

    /// The owning tenant's id.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The recording's id.
    pub fn recording(&self) -> &str {
        &self.recording
    }

    /// The key as one string, `<tenant>/<recording>`: what a row keeps.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.tenant, self.recording)
    }

    /// The key a [`Self::storage_key`] string names.
    pub fn from_storage_key(s: &str) -> Result<Self, RecordError> {
        let (tenant, recording) = s
            .split_once('/')
            .ok_or(RecordError::InvalidKey("storage key"))?;
        Self::new(tenant, recording)
    }
}

/// The sink a recording is written to. Seekable because the WAV header's
/// sizes are patched as the recording grows.
pub trait RecordingWriter: Write + Seek + Send {
    /// Makes everything written so far durable (fsync for files).
    fn sync(&mut self) -> io::Result<()>;
    /// The recording is complete: make it durable and visible.
    fn commit(self: Box<Self>) -> io::Result<()>;
}

/// An open byte range of a stored recording.
pub struct RecordingReader {
    /// The whole recording's length in bytes.
    pub total_len: u64,
    /// The bytes this reader yields (end exclusive, clamped to the length).
    pub range: Range<u64>,
    /// Reads exactly `range`.
    pub reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for RecordingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingReader")
            .field("total_len", &self.total_len)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Storage of recordings.
pub trait RecordingStore: Send + Sync {
    /// A writer for a new recording; fails with `AlreadyExists` rather than
    /// overwrite one.
    fn create(&self, key: &RecordingKey) -> Result<Box<dyn RecordingWriter>, RecordError>;
    /// Reads `range` (end exclusive; `None` for the whole file, an end past
    /// the length is clamped, as with HTTP `bytes=N-`).
    fn open(
        &self,
        key: &RecordingKey,
        range: Option<Range<u64>>,
    ) -> Result<RecordingReader, RecordError>;
    /// Deletes a recording; `NotFound` if there is none.
    fn delete(&self, key: &RecordingKey) -> Result<(), RecordError>;
    /// Keys of recordings last written before `t` (for retention).
    fn list_older_than(&self, t: SystemTime) -> Result<Vec<RecordingKey>, RecordError>;
}

/// Recordings as files: `<root>/<tenant>/<recording>.wav`.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

struct LocalWriter(File);

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Seek for LocalWriter {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl RecordingWriter for LocalWriter {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn commit(self: Box<Self>) -> io::Result<()> {
        self.0.sync_all()
    }
}

fn not_found_as(e: io::Error) -> RecordError {
    if e.kind() == io::ErrorKind::NotFound {
        RecordError::NotFound
    } else {
        RecordError::Io(e)
    }
}

impl LocalStore {
    /// A store under `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, RecordError> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a key maps to (inside the root by construction of keys).
    pub fn path_for(&self, key: &RecordingKey) -> PathBuf {
        self.root
            .join(key.tenant())
            .join(format!("{}.wav", key.recording()))
    }

    /// Repairs the header of a recording cut mid-write (see
    /// [`super::repair`]); returns its duration.
    pub fn repair(&self, key: &RecordingKey) -> Result<Duration, RecordError> {
        let path = self.path_for(key);
        if !path.is_file() {
            return Err(RecordError::NotFound);
        }
        super::wav::repair(&path)
    }

    /// All keys in the store (for a start-up repair pass).
    pub fn list(&self) -> Result<Vec<RecordingKey>, RecordError> {
        self.scan(|_| true)
    }

    fn scan(&self, keep: impl Fn(&fs::Metadata) -> bool) -> Result<Vec<RecordingKey>, RecordError> {
        let mut keys = Vec::new();
        for tenant in fs::read_dir(&self.root)? {
            let tenant = tenant?;
            let Some(tenant_id) = tenant.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !tenant.file_type()?.is_dir() || check_id(&tenant_id, "").is_err() {
                continue;
            }
            for file in fs::read_dir(tenant.path())? {
                let file = file?;
                let name = file.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".wav")) else {
                    continue;
                };
                let meta = file.metadata()?;
                if !meta.is_file() || !keep(&meta) {
                    continue;
                }
                if let Ok(key) = RecordingKey::new(tenant_id.clone(), id) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

impl RecordingStore for LocalStore {
    fn create(&self, key: &RecordingKey) -> Result<Box<dyn RecordingWriter>, RecordError> {
        let path = self.path_for(key);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    RecordError::AlreadyExists
                } else {
                    RecordError::Io(e)
                }
            })?;
        Ok(Box::new(LocalWriter(file)))
    }

    fn open(
        &self,
        key: &RecordingKey,
        range: Option<Range<u64>>,
    ) -> Result<RecordingReader, RecordError> {
        let mut file = File::open(self.path_for(key)).map_err(not_found_as)?;
        let total_len = file.metadata()?.len();
        let range = match range {
            None => 0..total_len,
            Some(r) => {
                let end = r.end.min(total_len);
                if r.start >= end {
                    return Err(RecordError::RangeNotSatisfiable {
                        start: r.start,
                        end: r.end,
                        len: total_len,
                    });
                }
                r.start..end
            }
        };
        file.seek(SeekFrom::Start(range.start))?;
        let reader = Box::new(file.take(range.end - range.start));
        Ok(RecordingReader {
            total_len,
            range,
            reader,
        })
    }

    fn delete(&self, key: &RecordingKey) -> Result<(), RecordError> {
        fs::remove_file(self.path_for(key)).map_err(not_found_as)
    }

    fn list_older_than(&self, t: SystemTime) -> Result<Vec<RecordingKey>, RecordError> {
        self.scan(|m| m.modified().map(|mt| mt < t).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_round_trip_and_refuse_what_is_no_key() {
        let k = RecordingKey::new("tenant-1", "call_rec").unwrap();
        assert_eq!(k.storage_key(), "tenant-1/call_rec");
        assert_eq!(RecordingKey::from_storage_key(&k.storage_key()).unwrap(), k);
        for bad in ["tenant-1", "tenant-1/a/b", "/rec", "t/../x"] {
            assert!(RecordingKey::from_storage_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_refuse_anything_that_could_leave_the_root() {
        for bad in [
            "", "..", ".", "a/b", "a\\b", "../x", "x.wav", "é", "a b", "%2e%2e",
        ] {
            assert!(RecordingKey::new(bad, "r1").is_err(), "tenant {bad:?}");
            assert!(RecordingKey::new("t1", bad).is_err(), "recording {bad:?}");
        }
        assert!(RecordingKey::new("t", "x".repeat(MAX_ID_LEN + 1)).is_err());
        let k = RecordingKey::new("tenant-1", "0190c0de-aaaa_b").unwrap();
        assert_eq!((k.tenant(), k.recording()), ("tenant-1", "0190c0de-aaaa_b"));
    }

    #[test]
    fn paths_stay_under_the_root() {
        let store = LocalStore {
            root: PathBuf::from("/data/rec"),
        };
        let k = RecordingKey::new("t1", "r1").unwrap();
        assert_eq!(store.path_for(&k), PathBuf::from("/data/rec/t1/r1.wav"));
    }
}
