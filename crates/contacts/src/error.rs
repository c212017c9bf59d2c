//! File-level errors: the ones that stop an import (or an export) as a whole.
//!
//! Row-level problems are not errors of this kind; they are
//! [`RowError`](crate::RowError)s collected per row.

use std::io;

use thiserror::Error;

/// An error that stops processing of a whole file.
///
/// Every variant has a stable snake_case [`code`](ContactsError::code) meant
/// for the API's `{"error": {"code": ...}}` body.
#[derive(Debug, Error)]
pub enum ContactsError {
    /// The input looks like a binary file (NUL bytes, or many control
    /// characters in the first bytes).
    #[error("the file is not text: {reason}")]
    NotText {
        /// Why the sample was judged binary.
        reason: String,
    },

    /// A line (bytes between two line breaks) is longer than the cap.
    #[error("line {line} is longer than {max} bytes without a line break")]
    LineTooLong {
        /// 1-based line number where the long line starts.
        line: u64,
        /// The configured cap in bytes.
        max: usize,
    },

    /// A CSV record (which may span several lines when quoted) is longer
    /// than the cap.
    #[error("row {row} (line {line}) is longer than {max} bytes")]
    RecordTooLong {
        /// 1-based row number (as a spreadsheet shows it).
        row: u64,
        /// 1-based line where the record starts.
        line: u64,
        /// The configured cap in bytes.
        max: usize,
    },

    /// A record has more columns than allowed.
    #[error("row {row} has more than {max} columns")]
    TooManyColumns {
        /// 1-based row number of the offending record.
        row: u64,
        /// The configured maximum.
        max: usize,
    },

    /// The file has no rows at all (empty, or only blank lines).
    #[error("the file contains no rows")]
    Empty,

    /// The column mapping does not fit the schema. Raised before any row is
    /// processed.
    #[error("invalid column mapping: {}", list(.problems))]
    InvalidMapping {
        /// Every problem found, in column order.
        problems: Vec<MappingProblem>,
    },

    /// The custom field definitions are inconsistent.
    #[error("invalid custom field `{key}`: {reason}")]
    InvalidSchema {
        /// The offending field key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The default region is not an ISO 3166 alpha-2 code known to the
    /// phone-number metadata.
    #[error("unknown region `{0}` (expected an ISO 3166 alpha-2 code such as US or GB)")]
    UnknownRegion(String),

    /// Underlying IO error from the reader or writer.
    #[error("io error: {0}")]
    Io(#[from] io::Error),

    /// Error writing CSV output.
    #[error("csv error: {0}")]
    Csv(String),
}

fn list(problems: &[MappingProblem]) -> String {
    let parts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl ContactsError {
    /// Stable snake_case code for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotText { .. } => "not_text",
            Self::LineTooLong { .. } => "line_too_long",
            Self::RecordTooLong { .. } => "record_too_long",
            Self::TooManyColumns { .. } => "too_many_columns",
            Self::Empty => "empty_file",
            Self::InvalidMapping { .. } => "invalid_mapping",
            Self::InvalidSchema { .. } => "invalid_schema",
            Self::UnknownRegion(_) => "unknown_region",
            Self::Io(_) => "io_error",
            Self::Csv(_) => "csv_error",
        }
    }

    /// Turns an `io::Error` coming out of a [`DecodedReader`](crate::DecodedReader)
    /// back into the decoding error it carries, if any.
    pub(crate) fn from_io(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<DecodeError>()) {
            if let Some(inner) = err.into_inner()
                && let Ok(decode) = inner.downcast::<DecodeError>()
            {
                return (*decode).into();
            }
            return Self::Io(io::Error::other("decode error"));
        }
        Self::Io(err)
    }
}

impl From<csv::Error> for ContactsError {
    fn from(err: csv::Error) -> Self {
        match err.into_kind() {
            csv::ErrorKind::Io(io) => Self::from_io(io),
            other => Self::Csv(format!("{other:?}")),
        }
    }
}

/// One problem in a [`Mapping`](crate::Mapping).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingProblem {
    /// The target names neither a standard field nor a custom field of the
    /// tenant.
    #[error("column {column}: unknown field `{target}`")]
    UnknownField {
        /// 0-based column index.
        column: usize,
        /// The target as written.
        target: String,
    },
    /// A single-valued field is mapped from two columns.
    #[error("field `{target}` is mapped from columns {first} and {second}")]
    DuplicateTarget {
        /// The target as written.
        target: String,
        /// 0-based index of the first column.
        first: usize,
        /// 0-based index of the second column.
        second: usize,
    },
    /// No column is mapped to a phone; every row would be rejected.
    #[error("no column is mapped to a phone number")]
    NoPhoneColumn,
}

impl MappingProblem {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownField { .. } => "unknown_field",
            Self::DuplicateTarget { .. } => "duplicate_target",
            Self::NoPhoneColumn => "no_phone_column",
        }
    }
}

/// Errors raised inside [`DecodedReader`](crate::DecodedReader). They travel
/// through `std::io::Read` wrapped in an `io::Error` (kind `InvalidData`);
/// [`ContactsError`] unwraps them again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// See [`ContactsError::NotText`].
    #[error("the file is not text: {0}")]
    NotText(String),
    /// See [`ContactsError::LineTooLong`].
    #[error("line {line} is longer than {max} bytes without a line break")]
    LineTooLong {
        /// 1-based line number.
        line: u64,
        /// Cap in bytes.
        max: usize,
    },
}

impl From<DecodeError> for ContactsError {
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::NotText(reason) => Self::NotText { reason },
            DecodeError::LineTooLong { line, max } => Self::LineTooLong { line, max },
        }
    }
}

impl From<DecodeError> for io::Error {
    fn from(err: DecodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}
