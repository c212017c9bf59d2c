//! CSV import of contacts (upload, inspect, map, run in the background) and
//! CSV export, over HTTP.

pub mod routes;
pub mod schema;
pub mod upload;
pub mod worker;

use serde::{Deserialize, Serialize};

pub use worker::Dedup;

/// What a job needs to run, kept on the job row.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImportSettings {
    /// The file's columns as found at upload (header names or `column N`).
    pub columns: Vec<String>,
    pub encoding: String,
    /// The delimiter used: sniffed at upload or given at start.
    pub delimiter: Option<u8>,
    pub has_header: Option<bool>,
    /// The suggested mapping, then the one the import runs with.
    pub suggested_mapping: serde_json::Value,
    pub mapping: Option<serde_json::Value>,
    #[serde(default)]
    pub dedup: Dedup,
}
