//! The row-level error report, as CSV.

use std::io::Write;

use crate::error::ContactsError;
use crate::export::escape_cell;
use crate::normalize::RowError;
use crate::reader::ImportRow;

/// Header of the report.
pub const REPORT_HEADER: [&str; 8] = [
    "row",
    "line",
    "column",
    "column_name",
    "severity",
    "code",
    "reason",
    "value",
];

/// Writes one CSV line per problem: spreadsheet row number, line, 1-based
/// column number, column name, severity, code, reason and the original
/// value (escaped against formula injection like every exported cell).
#[derive(Debug)]
pub struct ErrorReportWriter<W: Write> {
    writer: csv::Writer<W>,
    written: u64,
}

impl<W: Write> ErrorReportWriter<W> {
    /// Starts a report and writes its header.
    pub fn new(writer: W) -> Result<Self, ContactsError> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(writer);
        writer
            .write_record(REPORT_HEADER)
            .map_err(ContactsError::from)?;
        Ok(Self { writer, written: 0 })
    }

    /// Writes one problem.
    pub fn write_error(
        &mut self,
        row: u64,
        line: u64,
        error: &RowError,
    ) -> Result<(), ContactsError> {
        let column = error
            .column
            .map(|c| (c + 1).to_string())
            .unwrap_or_default();
        let record = [
            row.to_string(),
            line.to_string(),
            column,
            escape_cell(error.column_name.as_deref().unwrap_or("")).into_owned(),
            match error.severity {
                crate::normalize::Severity::Error => "error".to_string(),
                crate::normalize::Severity::Warning => "warning".to_string(),
            },
            error.code.as_str().to_string(),
            escape_cell(&error.reason).into_owned(),
            escape_cell(&error.value).into_owned(),
        ];
        self.written += 1;
        self.writer
            .write_record(&record)
            .map_err(ContactsError::from)
    }

    /// Writes every problem of a row (errors of a rejected row, warnings of
    /// an accepted one; nothing for blank rows).
    pub fn write_row(&mut self, row: &ImportRow) -> Result<(), ContactsError> {
        for p in row.outcome.problems() {
            self.write_error(row.row, row.line, p)?;
        }
        Ok(())
    }

    /// Lines written, header excluded.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, ContactsError> {
        self.writer
            .into_inner()
            .map_err(|e| ContactsError::Io(e.into_error()))
    }
}
