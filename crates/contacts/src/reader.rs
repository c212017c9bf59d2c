//! Streaming import reader: decode, sniff, split records with bounded
//! buffers, normalize.

use std::io::{self, Read};

use csv_core::ReadRecordResult;
use serde::Serialize;

use crate::decode::{DecodeOptions, DecodedReader, Encoding};
use crate::error::ContactsError;
use crate::mapping::Mapping;
use crate::normalize::{Fields, Normalizer, RowOutcome};
use crate::phone::Region;
use crate::schema::Schema;
use crate::sniff::{Dialect, sniff};
use crate::values::unescape_formula;

/// Default maximum number of columns.
pub const DEFAULT_MAX_COLUMNS: usize = 1000;
/// Default maximum size of one CSV record (all its lines), in bytes.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;

const READ_CHUNK: usize = 64 * 1024;

/// Limits and overrides for [`ImportReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Decoding limits (sample size, line cap).
    pub decode: DecodeOptions,
    /// A record with more columns fails the import with `too_many_columns`.
    pub max_columns: usize,
    /// A record larger than this (quoted newlines included) fails the
    /// import with `record_too_long`.
    pub max_record_bytes: usize,
    /// Use this delimiter instead of the sniffed one.
    pub delimiter: Option<u8>,
    /// Use this instead of the sniffed header decision.
    pub has_header: Option<bool>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            decode: DecodeOptions::default(),
            max_columns: DEFAULT_MAX_COLUMNS,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            delimiter: None,
            has_header: None,
        }
    }
}

/// One CSV record; cells borrow from one reused buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    text: String,
    ends: Vec<usize>,
}

impl Record {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the record has no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Length of the record's text (its cells, decoded), in bytes.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The cells in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
}

impl Fields for Record {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index)
    }
}

/// A normalized row and where it was in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// 1-based row number as a spreadsheet shows the file: the header is
    /// row 1 and empty lines count as rows.
    pub row: u64,
    /// 1-based line (counting `\n`) where the record starts.
    pub line: u64,
    /// What became of the row.
    pub outcome: RowOutcome,
}

/// Counters for one import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    /// Data records read (header excluded, blank ones included).
    pub records: u64,
    /// Rows imported.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Blank rows skipped: records whose cells are all blank, plus empty
    /// lines between records (empty lines at the very end are not counted).
    pub blank: u64,
    /// Warnings on accepted rows.
    pub warnings: u64,
}

/// Reads a CSV contact file as a stream: decoding ([`DecodedReader`]),
/// dialect sniffing on the first 64 KiB, record splitting with exact caps on
/// record size and column count (memory stays bounded whatever the input),
/// then normalization row by row.
///
/// ```no_run
/// # use omnivox_contacts::*;
/// # fn run(file: std::fs::File, schema: &Schema) -> Result<(), ContactsError> {
/// let mut reader = ImportReader::open(file, ImportOptions::default())?;
/// let mapping = suggest_mapping(reader.headers().unwrap_or(&[]), schema);
/// let normalizer = reader.normalizer(&mapping, schema, Region::parse("US")?)?;
/// while let Some(row) = reader.next_row(&normalizer)? {
///     // store row.outcome, write errors to an ErrorReportWriter ...
/// }
/// let stats = reader.stats();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ImportReader<R> {
    src: DecodedReader<R>,
    core: csv_core::Reader,
    opts: ImportOptions,
    input: Vec<u8>,
    in_pos: usize,
    eof: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    record: Record,
    pending_first: bool,
    headers: Option<Vec<String>>,
    dialect: Dialect,
    sample_rows: Vec<Vec<String>>,
    newlines: u64,
    last_byte: u8,
    prev_end_line: u64,
    next_row: u64,
    cur_row: u64,
    cur_line: u64,
    stats: ImportStats,
}

impl<R: Read> ImportReader<R> {
    /// Opens a file: detects the encoding, sniffs the dialect (unless
    /// overridden) and reads the header row. Fails on binary input, an
    /// empty file, or a first record over the column or size caps, before
    /// any data row is processed.
    pub fn open(reader: R, opts: ImportOptions) -> Result<Self, ContactsError> {
        let mut src = DecodedReader::with_options(reader, opts.decode);
        let sample_bytes = opts.decode.sample_bytes.max(1);
        let mut input = vec![0u8; sample_bytes];
        let mut len = 0;
        let mut eof = false;
        while len < sample_bytes {
            match src.read(&mut input[len..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ContactsError::from_io(e)),
            }
        }
        input.truncate(len);
        let text = match std::str::from_utf8(&input) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
        };
        if eof && text.trim().is_empty() {
            return Err(ContactsError::Empty);
        }
        let sniffed = sniff(text, eof);
        let dialect = Dialect {
            delimiter: opts.delimiter.unwrap_or(sniffed.dialect.delimiter),
            has_header: opts.has_header.unwrap_or(sniffed.dialect.has_header),
        };
        let reparse = dialect.delimiter != sniffed.dialect.delimiter;
        let mut sample_rows: Vec<Vec<String>> = if reparse {
            sniff_rows_with(text, dialect.delimiter, eof)
        } else {
            sniffed.rows
        };
        sample_rows.retain(|r| r.iter().any(|c| !c.trim().is_empty()));
        if dialect.has_header && !sample_rows.is_empty() {
            sample_rows.remove(0);
        }
        let core = csv_core::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .build();
        let mut this = Self {
            src,
            core,
            opts,
            input,
            in_pos: 0,
            eof,
            out: vec![0; 4096.min(opts.max_record_bytes.max(1))],
            ends: vec![0; 64.min(opts.max_columns.max(1))],
            record: Record::default(),
            pending_first: false,
            headers: None,
            dialect,
            sample_rows,
            newlines: 0,
            last_byte: 0,
            prev_end_line: 0,
            next_row: 1,
            cur_row: 0,
            cur_line: 0,
            stats: ImportStats::default(),
        };
        loop {
            if !this.read_record()? {
                return Err(ContactsError::Empty);
            }
            if this.record.iter().any(|c| !c.trim().is_empty()) {
                break;
            }
            this.stats.blank += 1;
        }
        if dialect.has_header {
            this.headers = Some(
                this.record
                    .iter()
                    .map(|c| unescape_formula(c.trim()).trim().to_string())
                    .collect(),
            );
        } else {
            this.pending_first = true;
        }
        Ok(this)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The detected encoding.
    pub fn encoding(&self) -> Encoding {
        self.src.encoding().unwrap_or(Encoding::Utf8)
    }

    /// Bytes of a UTF-8 file that were not UTF-8 and were read as
    /// Windows-1252 (see [`DecodedReader`]).
    pub fn fallback_bytes(&self) -> u64 {
        self.src.fallback_bytes()
    }

    /// The header row, trimmed, when the file has one.
    pub fn headers(&self) -> Option<&[String]> {
        self.headers.as_deref()
    }

    /// Up to ~200 data rows from the start of the file (blank rows and the
    /// header left out), for previews and
    /// [`suggest_mapping_from_values`](crate::suggest_mapping_from_values).
    pub fn sample_rows(&self) -> &[Vec<String>] {
        &self.sample_rows
    }

    /// Column names for error reports: the headers, or `column 1`,
    /// `column 2`, ... for files without a header row.
    pub fn column_names(&self) -> Vec<String> {
        match &self.headers {
            Some(h) => h.clone(),
            None => {
                let width = self
                    .sample_rows
                    .iter()
                    .map(Vec::len)
                    .max()
                    .unwrap_or(0)
                    .max(self.record.len());
                (1..=width).map(|i| format!("column {i}")).collect()
            }
        }
    }

    /// Builds a [`Normalizer`] for this file (validating the mapping) with
    /// the file's column names.
    pub fn normalizer(
        &self,
        mapping: &Mapping,
        schema: &Schema,
        region: Region,
    ) -> Result<Normalizer, ContactsError> {
        Ok(Normalizer::new(mapping, schema, region)?.with_column_names(self.column_names()))
    }

    /// Counters so far.
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    /// Reads the next data record without normalizing it. Returns its row
    /// and line numbers; the cells are in [`record`](Self::record).
    pub fn next_record(&mut self) -> Result<Option<(u64, u64)>, ContactsError> {
        if self.pending_first {
            self.pending_first = false;
        } else if !self.read_record()? {
            return Ok(None);
        }
        self.stats.records += 1;
        Ok(Some((self.cur_row, self.cur_line)))
    }

    /// The record last returned by [`next_record`](Self::next_record) (or the
    /// header right after opening).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Reads and normalizes the next data row, updating the counters.
    pub fn next_row(
        &mut self,
        normalizer: &Normalizer,
    ) -> Result<Option<ImportRow>, ContactsError> {
        let Some((row, line)) = self.next_record()? else {
            return Ok(None);
        };
        let outcome = normalizer.normalize(&self.record);
        match &outcome {
            RowOutcome::Blank => self.stats.blank += 1,
            RowOutcome::Accepted { warnings, .. } => {
                self.stats.accepted += 1;
                self.stats.warnings += warnings.len() as u64;
            }
            RowOutcome::Rejected { .. } => self.stats.rejected += 1,
        }
        Ok(Some(ImportRow { row, line, outcome }))
    }

    fn refill(&mut self) -> Result<(), ContactsError> {
        if self.in_pos > 0 {
            self.input.drain(..self.in_pos);
            self.in_pos = 0;
        }
        let len = self.input.len();
        self.input.resize(len + READ_CHUNK, 0);
        loop {
            match self.src.read(&mut self.input[len..]) {
                Ok(n) => {
                    self.input.truncate(len + n);
                    self.eof = n == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.input.truncate(len);
                    return Err(ContactsError::from_io(e));
                }
            }
        }
    }

    /// Reads one record into `self.record`; false at the end of the input.
    fn read_record(&mut self) -> Result<bool, ContactsError> {
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            if self.in_pos >= self.input.len() && !self.eof {
                self.refill()?;
            }
            let input = &self.input[self.in_pos..];
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            let consumed = &input[..nin];
            self.newlines += memchr::memchr_iter(b'\n', consumed).count() as u64;
            if let Some(&b) = consumed.last() {
                self.last_byte = b;
            }
            let input_was_empty = input.is_empty();
            self.in_pos += nin;
            outlen += nout;
            endlen += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    if input_was_empty && self.eof {
                        return Ok(false);
                    }
                }
                ReadRecordResult::OutputFull => {
                    let max = self.opts.max_record_bytes;
                    if self.out.len() >= max {
                        return Err(ContactsError::RecordTooLong {
                            row: self.next_row,
                            line: self.prev_end_line + 1,
                            max,
                        });
                    }
                    let grown = (self.out.len() * 2).min(max);
                    self.out.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let max = self.opts.max_columns;
                    if self.ends.len() >= max {
                        return Err(ContactsError::TooManyColumns {
                            row: self.next_row,
                            max,
                        });
                    }
                    let grown = (self.ends.len() * 2).min(max);
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.finish_record(outlen, endlen);
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }

    fn finish_record(&mut self, outlen: usize, endlen: usize) {
        let bytes = &self.out[..outlen];
        self.record.text.clear();
        match std::str::from_utf8(bytes) {
            Ok(s) => self.record.text.push_str(s),
            Err(_) => self.record.text.push_str(&String::from_utf8_lossy(bytes)),
        }
        self.record.ends.clear();
        self.record.ends.extend_from_slice(&self.ends[..endlen]);
        let embedded = memchr::memchr_iter(b'\n', self.record.text.as_bytes()).count() as u64;
        let end_line = self.newlines + u64::from(self.last_byte != b'\n');
        let start_line = end_line.saturating_sub(embedded).max(1);
        let gap = start_line.saturating_sub(self.prev_end_line + 1);
        self.stats.blank += gap;
        self.prev_end_line = end_line;
        self.cur_row = self.next_row + gap;
        self.next_row = self.cur_row + 1;
        self.cur_line = start_line;
    }
}

fn sniff_rows_with(text: &str, delimiter: u8, complete: bool) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .take(201)
        .map_while(Result::ok)
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    if !complete && rows.len() <= 200 {
        rows.pop();
    }
    rows.truncate(200);
    rows
}
