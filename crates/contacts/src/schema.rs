//! The contact field schema: standard fields every tenant has, and typed
//! custom fields defined per tenant.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ContactsError;

/// Single-valued standard contact fields. Phones are not in this list: a
/// contact has several, each with a [`PhoneType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandardField {
    /// Given name.
    FirstName,
    /// Family name.
    LastName,
    /// E-mail address (light syntax check, domain lower-cased).
    Email,
    /// Street address, first line.
    Address1,
    /// Street address, second line.
    Address2,
    /// City or locality.
    City,
    /// State, province or region.
    State,
    /// ZIP or postal code.
    PostalCode,
    /// Country (free text; an ISO 3166 alpha-2 code here also sets the region
    /// used to read this row's national-format phone numbers).
    Country,
    /// The tenant's own identifier for the contact (CRM id). When present it
    /// is the contact's dedup identity.
    ExternalId,
}

impl StandardField {
    /// Every standard field, in canonical export order.
    pub const ALL: [StandardField; 10] = [
        Self::ExternalId,
        Self::FirstName,
        Self::LastName,
        Self::Email,
        Self::Address1,
        Self::Address2,
        Self::City,
        Self::State,
        Self::PostalCode,
        Self::Country,
    ];

    /// The snake_case name used in mappings and export headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Email => "email",
            Self::Address1 => "address1",
            Self::Address2 => "address2",
            Self::City => "city",
            Self::State => "state",
            Self::PostalCode => "postal_code",
            Self::Country => "country",
            Self::ExternalId => "external_id",
        }
    }

    /// Parses the snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for StandardField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneType {
    /// Mobile / cell.
    Mobile,
    /// Home / residence.
    Home,
    /// Work / office / business.
    Work,
    /// Anything else, or unknown.
    Other,
}

impl PhoneType {
    /// Every phone type, in canonical export order.
    pub const ALL: [PhoneType; 4] = [Self::Mobile, Self::Home, Self::Work, Self::Other];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Home => "home",
            Self::Work => "work",
            Self::Other => "other",
        }
    }

    /// Parses the snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for PhoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a custom field and, for choices, its allowed values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A decimal number (`-12`, `3.5`, `1,234.50`).
    Number,
    /// A calendar date (`YYYY-MM-DD`, `MM/DD/YYYY`, `DD.MM.YYYY`).
    Date,
    /// true/false/yes/no/1/0/y/n.
    Boolean,
    /// One of a fixed list of values, matched case-insensitively.
    Choice {
        /// The allowed values, in their canonical spelling.
        allowed: Vec<String>,
    },
}

impl FieldType {
    /// The snake_case name of the type.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Boolean => "boolean",
            Self::Choice { .. } => "choice",
        }
    }
}

/// A custom field defined by a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    /// Stable key: 1-64 chars of `a-z`, `0-9`, `_`, starting with a letter.
    pub key: String,
    /// Display label; also matched against CSV headers by
    /// [`suggest_mapping`](crate::suggest_mapping).
    pub label: String,
    /// Value type.
    #[serde(flatten)]
    pub field_type: FieldType,
    /// When true, a row with an empty value is rejected (`missing_value`).
    #[serde(default)]
    pub required: bool,
}

impl CustomField {
    /// A convenience constructor for an optional field.
    pub fn new(key: impl Into<String>, label: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            field_type,
            required: false,
        }
    }
}

/// The fields a tenant's contacts have: the standard ones plus validated
/// custom fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    custom: Vec<CustomField>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

/// Names a custom field key may not take, because mappings use them.
const RESERVED: [&str; 4] = ["phone", "ignore", "custom", "phones"];

impl Schema {
    /// A schema with only the standard fields.
    pub fn standard() -> Self {
        Self::default()
    }

    /// Builds a schema from custom field definitions, checking keys (syntax,
    /// uniqueness, no clash with standard names) and choice lists (non-empty,
    /// no case-insensitive duplicates).
    pub fn new(custom: Vec<CustomField>) -> Result<Self, ContactsError> {
        let mut index = HashMap::with_capacity(custom.len());
        for (i, field) in custom.iter().enumerate() {
            let bad = |reason: &str| ContactsError::InvalidSchema {
                key: field.key.clone(),
                reason: reason.to_string(),
            };
            let key = field.key.as_str();
            let well_formed = (1..=64).contains(&key.len())
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed {
                return Err(bad(
                    "keys are 1-64 characters of a-z, 0-9 and _, starting with a letter",
                ));
            }
            if StandardField::from_name(key).is_some() || RESERVED.contains(&key) {
                return Err(bad("the key is reserved for a standard field"));
            }
            if index.insert(field.key.clone(), i).is_some() {
                return Err(bad("the key is defined twice"));
            }
            if let FieldType::Choice { allowed } = &field.field_type {
                if allowed.is_empty() || allowed.iter().any(|v| v.trim().is_empty()) {
                    return Err(bad("a choice needs at least one non-empty allowed value"));
                }
                let mut seen: Vec<String> =
                    allowed.iter().map(|v| v.trim().to_lowercase()).collect();
                seen.sort();
                if seen.windows(2).any(|w| w[0] == w[1]) {
                    return Err(bad("allowed values differ only by case or spaces"));
                }
            }
        }
        Ok(Self { custom, index })
    }

    /// The custom fields, in definition order.
    pub fn custom_fields(&self) -> &[CustomField] {
        &self.custom
    }

    /// Looks up a custom field by key.
    pub fn custom(&self, key: &str) -> Option<&CustomField> {
        self.index.get(key).map(|&i| &self.custom[i])
    }

    pub(crate) fn custom_index(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            custom: Vec<CustomField>,
        }
        let raw = Raw::deserialize(d)?;
        Schema::new(raw.custom).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_keys_and_choices() {
        let f = |key: &str, t: FieldType| CustomField::new(key, key, t);
        assert!(Schema::new(vec![f("tier", FieldType::Text)]).is_ok());
        for bad in ["", "Tier", "1tier", "ti-er", "email", "phone"] {
            assert!(Schema::new(vec![f(bad, FieldType::Text)]).is_err(), "{bad}");
        }
        assert!(Schema::new(vec![f("a", FieldType::Text), f("a", FieldType::Date)]).is_err());
        let choice = |v: &[&str]| FieldType::Choice {
            allowed: v.iter().map(|s| s.to_string()).collect(),
        };
        assert!(Schema::new(vec![f("c", choice(&[]))]).is_err());
        assert!(Schema::new(vec![f("c", choice(&["Gold", "gold "]))]).is_err());
        assert!(Schema::new(vec![f("c", choice(&["Gold", "Silver"]))]).is_ok());
    }

    #[test]
    fn serde_round_trip_validates() {
        let json = r#"{"custom":[{"key":"tier","label":"Tier","type":"choice","allowed":["Gold","Silver"]},
                      {"key":"dob","label":"Birthday","type":"date","required":true}]}"#;
        let schema: Schema = serde_json::from_str(json).unwrap();
        assert_eq!(schema.custom("dob").map(|f| f.required), Some(true));
        let back: Schema = serde_json::from_str(&serde_json::to_string(&schema).unwrap()).unwrap();
        assert_eq!(back, schema);
        assert!(
            serde_json::from_str::<Schema>(
                r#"{"custom":[{"key":"Bad","label":"x","type":"text"}]}"#
            )
            .is_err()
        );
    }
}
