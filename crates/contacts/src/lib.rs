//! Contact data without IO of its own: the engine behind CSV import and
//! export.
//!
//! The pieces, in the order an import uses them:
//!
//! 1. [`DecodedReader`] turns any `Read` (UTF-8 with or without BOM,
//!    Windows-1252/Latin-1, UTF-16) into UTF-8 in bounded memory and
//!    rejects binary input and runaway lines.
//! 2. [`sniff`] finds the delimiter (`,` `;` tab `|`) and whether the first
//!    row is a header.
//! 3. [`Schema`] (standard + typed custom fields) and [`Mapping`] (column ->
//!    [`Target`]); [`suggest_mapping`] proposes one from header names,
//!    [`Mapping::validate`] rejects unknown fields before any row is read.
//! 4. [`Normalizer`] validates and normalizes a row into a
//!    [`NormalizedContact`] (phones in E.164 via [`parse_phone`]) or a list
//!    of [`RowError`]s with stable codes.
//! 5. [`ImportReader`] ties 1, 2 and 4 together as a stream, with exact caps
//!    on record size and column count, row/line numbers and counters.
//! 6. [`dedup_key`] gives each contact its identity (external id, else
//!    primary phone) for dedup in a file ([`Deduper`]), a list or a tenant.
//! 7. [`ContactCsvWriter`] exports with formula-injection escaping;
//!    [`ErrorReportWriter`] writes the row-level error report.
//!
//! Nothing here touches a database, the network or the file system.

pub mod decode;
pub mod dedup;
pub mod error;
pub mod export;
pub mod mapping;
pub mod normalize;
pub mod phone;
pub mod reader;
pub mod report;
pub mod schema;
pub mod sniff;
pub mod values;

pub use decode::{DecodeOptions, DecodedReader, Encoding};
pub use dedup::{DedupKey, Deduper, dedup_key, hash_key};
pub use error::{ContactsError, DecodeError, MappingProblem};
pub use export::{ContactCsvWriter, escape_cell, export_mapping};
pub use mapping::{Mapping, Target, suggest_mapping, suggest_mapping_from_values};
pub use normalize::{
    ContactPhone, CustomValue, Fields, NormalizedContact, Normalizer, RowError, RowErrorCode,
    RowOutcome, Severity,
};
pub use phone::{ParsedPhone, PhoneError, PhoneErrorKind, Region, country_of, parse_phone};
pub use reader::{ImportOptions, ImportReader, ImportRow, ImportStats, Record};
pub use report::ErrorReportWriter;
pub use schema::{CustomField, FieldType, PhoneType, Schema, StandardField};
pub use sniff::{Dialect, Sniffed, sniff};
