//! CSV export of contacts, safe to open in a spreadsheet.
//!
//! Formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or CR
//! (the OWASP list) is written with a leading `'`, so spreadsheets show it
//! as text instead of evaluating it. This includes E.164 phone numbers
//! (`'+14155550100`): we choose the safe option over a bare `+`, which Excel
//! would read as a formula. A cell that itself starts with `'` gets a second
//! one, so the escaping is reversible; the importer removes exactly one
//! leading `'` before such characters (and any leading `'` from phone
//! cells), so an exported file imports to the same contacts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use crate::error::{ContactsError, MappingProblem};
use crate::mapping::{Mapping, Target};
use crate::normalize::{ContactPhone, NormalizedContact};
use crate::schema::{PhoneType, Schema, StandardField};
use crate::values::FORMULA_TRIGGERS;

/// Escapes a cell against formula injection (see the module docs).
pub fn escape_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_TRIGGERS) || value.starts_with('\'') {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The default export layout: external id, names, the given phone columns,
/// e-mail, address, country, then every custom field.
pub fn export_mapping(schema: &Schema, phones: &[PhoneType]) -> Mapping {
    use StandardField as F;
    let mut columns: Vec<Target> = [F::ExternalId, F::FirstName, F::LastName]
        .map(Target::Standard)
        .to_vec();
    columns.extend(phones.iter().map(|t| Target::Phone(*t)));
    columns.extend(
        [
            F::Email,
            F::Address1,
            F::Address2,
            F::City,
            F::State,
            F::PostalCode,
            F::Country,
        ]
        .map(Target::Standard),
    );
    columns.extend(
        schema
            .custom_fields()
            .iter()
            .map(|f| Target::Custom(f.key.clone())),
    );
    Mapping::new(columns)
}

/// Writes contacts as CSV with a header row, one column per non-ignored
/// target of a mapping.
///
/// Headers are the field names (`first_name`, `postal_code`, custom keys) and
/// `<type>_phone`, `<type>_phone_2`, ... for phones; [`suggest_mapping`]
/// maps them back to the same targets. The k-th phone column of a type
/// receives the contact's k-th phone of that type; phones without a column
/// are counted in [`dropped_phones`](Self::dropped_phones). Export with the
/// mapping used for import and re-import gives the same contacts.
///
/// [`suggest_mapping`]: crate::suggest_mapping
#[derive(Debug)]
pub struct ContactCsvWriter<W: Write> {
    writer: csv::Writer<W>,
    columns: Vec<Target>,
    dropped_phones: u64,
    cells: Vec<String>,
}

impl<W: Write> ContactCsvWriter<W> {
    /// Like [`new`](Self::new), but starts the file with a UTF-8 byte-order
    /// mark, which Excel needs to read non-ASCII names correctly (our
    /// importer strips it).
    pub fn new_with_bom(
        mut writer: W,
        mapping: &Mapping,
        schema: &Schema,
    ) -> Result<Self, ContactsError> {
        writer.write_all(b"\xEF\xBB\xBF")?;
        Self::new(writer, mapping, schema)
    }

    /// Checks the mapping against the schema (unknown or duplicate fields
    /// fail; no phone column is fine for an export) and writes the header.
    pub fn new(writer: W, mapping: &Mapping, schema: &Schema) -> Result<Self, ContactsError> {
        Self::build(writer, mapping, schema, true)
    }

    /// Like [`new`](Self::new) without the header row: for a file written
    /// in several pieces (a streamed export), all but the first.
    pub fn new_headerless(
        writer: W,
        mapping: &Mapping,
        schema: &Schema,
    ) -> Result<Self, ContactsError> {
        Self::build(writer, mapping, schema, false)
    }

    fn build(
        writer: W,
        mapping: &Mapping,
        schema: &Schema,
        header: bool,
    ) -> Result<Self, ContactsError> {
        if let Err(ContactsError::InvalidMapping { problems }) = mapping.validate(schema) {
            let problems: Vec<MappingProblem> = problems
                .into_iter()
                .filter(|p| *p != MappingProblem::NoPhoneColumn)
                .collect();
            if !problems.is_empty() {
                return Err(ContactsError::InvalidMapping { problems });
            }
        }
        let columns: Vec<Target> = mapping
            .columns()
            .iter()
            .filter(|t| **t != Target::Ignore)
            .cloned()
            .collect();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(writer);
        let mut per_kind: HashMap<PhoneType, usize> = HashMap::new();
        let headers: Vec<String> = columns
            .iter()
            .map(|t| match t {
                Target::Standard(f) => f.as_str().to_string(),
                Target::Custom(key) => key.clone(),
                Target::Phone(kind) => {
                    let n = per_kind.entry(*kind).or_insert(0);
                    *n += 1;
                    if *n == 1 {
                        format!("{kind}_phone")
                    } else {
                        format!("{kind}_phone_{n}")
                    }
                }
                Target::Ignore => String::new(),
            })
            .collect();
        if header {
            writer.write_record(&headers).map_err(ContactsError::from)?;
        }
        Ok(Self {
            writer,
            cells: Vec::with_capacity(columns.len()),
            columns,
            dropped_phones: 0,
        })
    }

    /// Writes one contact.
    pub fn write_contact(&mut self, contact: &NormalizedContact) -> Result<(), ContactsError> {
        let mut used = vec![false; contact.phones.len()];
        self.cells.clear();
        for target in &self.columns {
            let cell = match target {
                Target::Standard(f) => contact.get(*f).map(str::to_string).unwrap_or_default(),
                Target::Custom(key) => contact
                    .custom
                    .get(key)
                    .map(|v| v.to_cell())
                    .unwrap_or_default(),
                Target::Phone(kind) => {
                    let next = contact
                        .phones
                        .iter()
                        .enumerate()
                        .find(|(i, p)| !used[*i] && p.phone_type == *kind);
                    match next {
                        Some((i, phone)) => {
                            used[i] = true;
                            phone_cell(phone)
                        }
                        None => String::new(),
                    }
                }
                Target::Ignore => String::new(),
            };
            self.cells.push(escape_cell(&cell).into_owned());
        }
        self.dropped_phones += used.iter().filter(|u| !**u).count() as u64;
        self.writer
            .write_record(&self.cells)
            .map_err(ContactsError::from)
    }

    /// Phones that had no column of their type.
    pub fn dropped_phones(&self) -> u64 {
        self.dropped_phones
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, ContactsError> {
        self.writer
            .into_inner()
            .map_err(|e| ContactsError::Io(e.into_error()))
    }
}

fn phone_cell(phone: &ContactPhone) -> String {
    match &phone.extension {
        Some(ext) => format!("{};ext={ext}", phone.e164),
        None => phone.e164.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        for (raw, out) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+14155550100", "'+14155550100"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("José", "José"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(escape_cell(raw), out);
            assert_eq!(crate::values::unescape_formula(out), raw);
        }
    }
}
