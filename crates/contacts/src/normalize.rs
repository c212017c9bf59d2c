//! Row normalization and validation.
//!
//! Rules (see also the crate docs):
//!
//! * every value is trimmed; a cell our export escaped (`'=...`, `'+1...`)
//!   loses the escaping `'`;
//! * a row whose cells are all blank is [`RowOutcome::Blank`]: skipped and
//!   counted, not an error;
//! * a row needs at least one valid phone, else it is rejected with
//!   `no_phone` (plus one `invalid_phone` error per bad number);
//! * a row with at least one valid phone and some invalid ones is
//!   **accepted**; each bad number is reported as a warning-level
//!   `invalid_phone`. Losing a contact because of a stale second number
//!   helps nobody, and the warning still shows up in the report;
//! * the same number twice in a row is kept once (`duplicate_phone`
//!   warning); the first valid phone, in column order, is the primary one;
//! * any other invalid value (email, date, number, boolean, choice, missing
//!   required custom field, overlong value) rejects the row;
//! * cells beyond the header's width that hold data give an
//!   `extra_columns` warning (the data is not imported).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::ContactsError;
use crate::mapping::{Mapping, Target};
use crate::phone::{Region, parse_phone};
use crate::schema::{CustomField, FieldType, PhoneType, Schema, StandardField};
use crate::values::{
    MAX_CUSTOM_TEXT_BYTES, MAX_STANDARD_BYTES, clean_text, normalize_email, parse_bool, parse_date,
    parse_number, unescape_formula,
};

/// Anything that exposes a row's cells by index: `csv::StringRecord`, our
/// [`Record`](crate::Record), `[&str]`, `[String]`, `Vec<_>` of those.
pub trait Fields {
    /// Number of cells.
    fn field_count(&self) -> usize;
    /// Cell `index`, or `None` past the end.
    fn field(&self, index: usize) -> Option<&str>;
}

impl Fields for csv::StringRecord {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index)
    }
}

impl<S: AsRef<str>> Fields for [S] {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index).map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>> Fields for Vec<S> {
    fn field_count(&self) -> usize {
        self.len()
    }
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index).map(AsRef::as_ref)
    }
}

/// A phone of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContactPhone {
    /// E.164, e.g. `+14155550100`.
    pub e164: String,
    /// Extension digits, if any.
    pub extension: Option<String>,
    /// Type, from the column it came from.
    pub phone_type: PhoneType,
}

/// A typed custom field value.
///
/// Serialises untagged (JSON `true`, `3.5`, `"2024-03-07"`, `"Gold"`); read
/// it back with the schema at hand, the JSON alone cannot tell a date from a
/// text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CustomValue {
    /// Boolean field.
    Boolean(bool),
    /// Number field.
    Number(f64),
    /// Date field (serialised `YYYY-MM-DD`).
    Date(NaiveDate),
    /// Text field, or a choice field's canonical allowed value.
    Text(String),
}

impl CustomValue {
    /// The value as written in exports: `true`/`false`, shortest round-trip
    /// decimal, `YYYY-MM-DD`, or the text.
    pub fn to_cell(&self) -> String {
        match self {
            Self::Boolean(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// A validated, normalized contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NormalizedContact {
    /// See [`StandardField::FirstName`].
    pub first_name: Option<String>,
    /// See [`StandardField::LastName`].
    pub last_name: Option<String>,
    /// See [`StandardField::Email`].
    pub email: Option<String>,
    /// See [`StandardField::Address1`].
    pub address1: Option<String>,
    /// See [`StandardField::Address2`].
    pub address2: Option<String>,
    /// See [`StandardField::City`].
    pub city: Option<String>,
    /// See [`StandardField::State`].
    pub state: Option<String>,
    /// See [`StandardField::PostalCode`].
    pub postal_code: Option<String>,
    /// See [`StandardField::Country`].
    pub country: Option<String>,
    /// See [`StandardField::ExternalId`].
    pub external_id: Option<String>,
    /// Valid phones in column order, without duplicates; never empty for a
    /// contact produced by [`Normalizer::normalize`].
    pub phones: Vec<ContactPhone>,
    /// Custom values by field key (blank cells are absent).
    pub custom: BTreeMap<String, CustomValue>,
}

impl NormalizedContact {
    /// The primary phone: the first valid one in column order.
    pub fn primary_phone(&self) -> Option<&ContactPhone> {
        self.phones.first()
    }

    /// A standard field's value.
    pub fn get(&self, field: StandardField) -> Option<&str> {
        self.slot(field).as_deref()
    }

    fn slot(&self, field: StandardField) -> &Option<String> {
        match field {
            StandardField::FirstName => &self.first_name,
            StandardField::LastName => &self.last_name,
            StandardField::Email => &self.email,
            StandardField::Address1 => &self.address1,
            StandardField::Address2 => &self.address2,
            StandardField::City => &self.city,
            StandardField::State => &self.state,
            StandardField::PostalCode => &self.postal_code,
            StandardField::Country => &self.country,
            StandardField::ExternalId => &self.external_id,
        }
    }

    /// Sets a standard field.
    pub fn set(&mut self, field: StandardField, value: Option<String>) {
        let slot = match field {
            StandardField::FirstName => &mut self.first_name,
            StandardField::LastName => &mut self.last_name,
            StandardField::Email => &mut self.email,
            StandardField::Address1 => &mut self.address1,
            StandardField::Address2 => &mut self.address2,
            StandardField::City => &mut self.city,
            StandardField::State => &mut self.state,
            StandardField::PostalCode => &mut self.postal_code,
            StandardField::Country => &mut self.country,
            StandardField::ExternalId => &mut self.external_id,
        };
        *slot = value;
    }
}

/// Stable codes of row problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowErrorCode {
    /// A phone cell is not a valid number.
    InvalidPhone,
    /// The row has no valid phone.
    NoPhone,
    /// The same number appears twice in the row.
    DuplicatePhone,
    /// Bad e-mail syntax.
    InvalidEmail,
    /// Bad or ambiguous date.
    InvalidDate,
    /// Not a recognised boolean.
    InvalidBoolean,
    /// Not a decimal number.
    InvalidNumber,
    /// Not one of the allowed values of a choice field.
    UnknownChoice,
    /// A required custom field is blank.
    MissingValue,
    /// The value is longer than allowed.
    ValueTooLong,
    /// Data in cells past the header's last column.
    ExtraColumns,
}

impl RowErrorCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPhone => "invalid_phone",
            Self::NoPhone => "no_phone",
            Self::DuplicatePhone => "duplicate_phone",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidDate => "invalid_date",
            Self::InvalidBoolean => "invalid_boolean",
            Self::InvalidNumber => "invalid_number",
            Self::UnknownChoice => "unknown_choice",
            Self::MissingValue => "missing_value",
            Self::ValueTooLong => "value_too_long",
            Self::ExtraColumns => "extra_columns",
        }
    }
}

/// Whether a problem rejects the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The row is rejected.
    Error,
    /// The row is accepted; the problem is reported.
    Warning,
}

/// One problem in one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 0-based column index; `None` for row-level problems (`no_phone`).
    pub column: Option<usize>,
    /// The column's header, or `column N` (1-based) without a header row.
    pub column_name: Option<String>,
    /// Stable code.
    pub code: RowErrorCode,
    /// Error or warning.
    pub severity: Severity,
    /// Human explanation.
    pub reason: String,
    /// The cell as it was in the file (empty for row-level problems).
    pub value: String,
}

/// What became of a row.
// `Accepted` is the common case; boxing the contact would add an allocation
// per row to save moving ~300 bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    /// Every cell is blank: skipped, counted, not an error.
    Blank,
    /// Imported, possibly with warnings.
    Accepted {
        /// The contact.
        contact: NormalizedContact,
        /// Warning-level problems.
        warnings: Vec<RowError>,
    },
    /// Not imported.
    Rejected {
        /// All problems, errors and warnings, in column order.
        errors: Vec<RowError>,
    },
}

impl RowOutcome {
    /// The contact of an accepted row.
    pub fn contact(&self) -> Option<&NormalizedContact> {
        match self {
            Self::Accepted { contact, .. } => Some(contact),
            _ => None,
        }
    }

    /// The problems of the row (warnings of an accepted row, everything of a
    /// rejected one, nothing for a blank one).
    pub fn problems(&self) -> &[RowError] {
        match self {
            Self::Blank => &[],
            Self::Accepted { warnings, .. } => warnings,
            Self::Rejected { errors } => errors,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Standard(StandardField),
    Phone(PhoneType),
    Custom(usize),
}

/// Normalizes rows for one mapping, schema and default region. Build once
/// per file; [`normalize`](Normalizer::normalize) takes `&self` and the
/// normalizer is `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Normalizer {
    plan: Vec<(usize, Slot)>,
    custom: Vec<CustomField>,
    region: Region,
    country_column: Option<usize>,
    column_names: Vec<String>,
}

impl Normalizer {
    /// Validates `mapping` against `schema` (fails with `invalid_mapping`
    /// before any row is read) and prepares the per-row plan. National-format
    /// phone numbers are read in `region`, unless the row's `country` cell
    /// holds an ISO 3166 alpha-2 code known to the phone metadata.
    pub fn new(mapping: &Mapping, schema: &Schema, region: Region) -> Result<Self, ContactsError> {
        mapping.validate(schema)?;
        let mut plan = Vec::new();
        let mut country_column = None;
        for (column, target) in mapping.columns().iter().enumerate() {
            let slot = match target {
                Target::Standard(f) => {
                    if *f == StandardField::Country {
                        country_column = Some(column);
                    }
                    Slot::Standard(*f)
                }
                Target::Phone(t) => Slot::Phone(*t),
                Target::Custom(key) => match schema.custom_index(key) {
                    Some(i) => Slot::Custom(i),
                    None => continue,
                },
                Target::Ignore => continue,
            };
            plan.push((column, slot));
        }
        Ok(Self {
            plan,
            custom: schema.custom_fields().to_vec(),
            region,
            country_column,
            column_names: Vec::new(),
        })
    }

    /// Column names used in [`RowError::column_name`] (normally the header
    /// row). Their count is also the expected row width for the
    /// `extra_columns` warning.
    pub fn with_column_names(mut self, names: Vec<String>) -> Self {
        self.column_names = names;
        self
    }

    /// The default region.
    pub fn region(&self) -> Region {
        self.region
    }

    fn error(
        &self,
        column: Option<usize>,
        code: RowErrorCode,
        severity: Severity,
        reason: String,
        value: &str,
    ) -> RowError {
        let column_name = column.map(|c| match self.column_names.get(c) {
            Some(name) if !name.trim().is_empty() => name.clone(),
            _ => format!("column {}", c + 1),
        });
        RowError {
            column,
            column_name,
            code,
            severity,
            reason,
            value: value.to_string(),
        }
    }

    /// Normalizes and validates one row. See the module docs for the rules.
    pub fn normalize<F: Fields + ?Sized>(&self, record: &F) -> RowOutcome {
        let count = record.field_count();
        if (0..count).all(|i| record.field(i).is_none_or(|v| v.trim().is_empty())) {
            return RowOutcome::Blank;
        }
        let region = self
            .country_column
            .and_then(|c| record.field(c))
            .map(str::trim)
            .filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()))
            .and_then(|v| Region::parse(v).ok())
            .unwrap_or(self.region);

        let mut contact = NormalizedContact::default();
        let mut problems: Vec<RowError> = Vec::new();
        let mut bad_phones: Vec<usize> = Vec::new();
        for &(column, slot) in &self.plan {
            let raw = record.field(column).unwrap_or("");
            let value = unescape_formula(raw.trim()).trim();
            match slot {
                Slot::Phone(phone_type) => {
                    if value.is_empty() {
                        continue;
                    }
                    match parse_phone(value, region) {
                        Ok(p) => {
                            if contact
                                .phones
                                .iter()
                                .any(|q| q.e164 == p.e164 && q.extension == p.extension)
                            {
                                problems.push(self.error(
                                    Some(column),
                                    RowErrorCode::DuplicatePhone,
                                    Severity::Warning,
                                    format!("the number {} already appears in this row", p.e164),
                                    raw,
                                ));
                            } else {
                                contact.phones.push(ContactPhone {
                                    e164: p.e164,
                                    extension: p.extension,
                                    phone_type,
                                });
                            }
                        }
                        Err(e) => {
                            bad_phones.push(problems.len());
                            problems.push(self.error(
                                Some(column),
                                RowErrorCode::InvalidPhone,
                                Severity::Error,
                                e.reason,
                                raw,
                            ));
                        }
                    }
                }
                Slot::Standard(field) => {
                    if value.is_empty() {
                        continue;
                    }
                    let text = clean_text(value);
                    if text.len() > MAX_STANDARD_BYTES {
                        let reason = format!("longer than {MAX_STANDARD_BYTES} bytes");
                        problems.push(self.error(
                            Some(column),
                            RowErrorCode::ValueTooLong,
                            Severity::Error,
                            reason,
                            raw,
                        ));
                        continue;
                    }
                    if field == StandardField::Email {
                        match normalize_email(&text) {
                            Ok(email) => contact.email = Some(email),
                            Err(reason) => problems.push(self.error(
                                Some(column),
                                RowErrorCode::InvalidEmail,
                                Severity::Error,
                                reason,
                                raw,
                            )),
                        }
                    } else {
                        contact.set(field, Some(text.into_owned()));
                    }
                }
                Slot::Custom(index) => {
                    let field = &self.custom[index];
                    if value.is_empty() {
                        if field.required {
                            let reason = format!("`{}` is required", field.label);
                            problems.push(self.error(
                                Some(column),
                                RowErrorCode::MissingValue,
                                Severity::Error,
                                reason,
                                raw,
                            ));
                        }
                        continue;
                    }
                    match custom_value(field, value) {
                        Ok(v) => {
                            contact.custom.insert(field.key.clone(), v);
                        }
                        Err((code, reason)) => {
                            problems.push(self.error(
                                Some(column),
                                code,
                                Severity::Error,
                                reason,
                                raw,
                            ));
                        }
                    }
                }
            }
        }
        if contact.phones.is_empty() {
            let reason = if bad_phones.is_empty() {
                "the row has no phone number".to_string()
            } else {
                "the row has no valid phone number".to_string()
            };
            problems.push(self.error(None, RowErrorCode::NoPhone, Severity::Error, reason, ""));
        } else {
            for i in bad_phones {
                problems[i].severity = Severity::Warning;
            }
        }
        let width = self.column_names.len();
        if width > 0
            && count > width
            && (width..count).any(|i| record.field(i).is_some_and(|v| !v.trim().is_empty()))
        {
            let extra: Vec<&str> = (width..count).filter_map(|i| record.field(i)).collect();
            problems.push(self.error(
                Some(width),
                RowErrorCode::ExtraColumns,
                Severity::Warning,
                format!(
                    "{} cells past the last header column were not imported",
                    count - width
                ),
                &extra.join(","),
            ));
        }
        if problems.iter().any(|p| p.severity == Severity::Error) {
            RowOutcome::Rejected { errors: problems }
        } else {
            RowOutcome::Accepted {
                contact,
                warnings: problems,
            }
        }
    }
}

fn custom_value(field: &CustomField, value: &str) -> Result<CustomValue, (RowErrorCode, String)> {
    match &field.field_type {
        FieldType::Text => {
            let text = clean_text(value);
            if text.len() > MAX_CUSTOM_TEXT_BYTES {
                return Err((
                    RowErrorCode::ValueTooLong,
                    format!("longer than {MAX_CUSTOM_TEXT_BYTES} bytes"),
                ));
            }
            Ok(CustomValue::Text(text.into_owned()))
        }
        FieldType::Number => parse_number(value)
            .map(CustomValue::Number)
            .map_err(|r| (RowErrorCode::InvalidNumber, r)),
        FieldType::Date => parse_date(value)
            .map(CustomValue::Date)
            .map_err(|r| (RowErrorCode::InvalidDate, r)),
        FieldType::Boolean => parse_bool(value)
            .map(CustomValue::Boolean)
            .map_err(|r| (RowErrorCode::InvalidBoolean, r)),
        FieldType::Choice { allowed } => allowed
            .iter()
            .find(|a| {
                a.trim().eq_ignore_ascii_case(value)
                    || a.trim().to_lowercase() == value.to_lowercase()
            })
            .map(|a| CustomValue::Text(a.trim().to_string()))
            .ok_or_else(|| {
                let mut list = allowed
                    .iter()
                    .take(10)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if allowed.len() > 10 {
                    list.push_str(", ...");
                }
                (
                    RowErrorCode::UnknownChoice,
                    format!("`{value}` is not one of: {list}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        let schema = Schema::new(vec![CustomField {
            required: true,
            ..CustomField::new("score", "Score", FieldType::Number)
        }])
        .unwrap();
        let mapping: Mapping =
            serde_json::from_str(r#"["first_name","phone:mobile","phone:work","custom:score"]"#)
                .unwrap();
        Normalizer::new(&mapping, &schema, Region::parse("US").unwrap())
            .unwrap()
            .with_column_names(vec![
                "First".into(),
                "Cell".into(),
                "Office".into(),
                "Score".into(),
            ])
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Normalizer>();
        check::<NormalizedContact>();
    }

    #[test]
    fn blank_and_slices() {
        let n = normalizer();
        assert_eq!(n.normalize(&["", "  ", "\t"][..]), RowOutcome::Blank);
        assert_eq!(n.normalize(&Vec::<String>::new()), RowOutcome::Blank);
        let rec = csv::StringRecord::from(vec!["Ann", "(415) 555-0100", "", "7"]);
        let out = n.normalize(&rec);
        let c = out.contact().unwrap();
        assert_eq!(c.phones[0].phone_type, PhoneType::Mobile);
        assert_eq!(c.custom.get("score"), Some(&CustomValue::Number(7.0)));
        assert!(out.problems().is_empty());
    }

    #[test]
    fn bad_second_phone_is_a_warning_and_required_field() {
        let n = normalizer();
        let out = n.normalize(&["Ann", "(415) 555-0100", "12", "1"][..]);
        let w = out.problems();
        assert!(out.contact().is_some());
        assert_eq!(
            (w[0].code, w[0].severity, w[0].column_name.as_deref()),
            (
                RowErrorCode::InvalidPhone,
                Severity::Warning,
                Some("Office")
            )
        );
        let out = n.normalize(&["Ann", "(415) 555-0100", "", ""][..]);
        assert_eq!(out.problems()[0].code, RowErrorCode::MissingValue);
        assert!(out.contact().is_none());
        let json = serde_json::to_value(&out.problems()[0]).unwrap();
        assert_eq!(json["code"], "missing_value");
        assert_eq!(json["severity"], "error");
    }
}
