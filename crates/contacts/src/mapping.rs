//! Column mapping: which CSV column feeds which contact field.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ContactsError, MappingProblem};
use crate::schema::{PhoneType, Schema, StandardField};

/// Where a column's values go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A single-valued standard field.
    Standard(StandardField),
    /// One phone number of the given type. Several columns may map to phones,
    /// even of the same type.
    Phone(PhoneType),
    /// A tenant custom field, by key.
    Custom(String),
    /// The column is not imported.
    Ignore,
}

impl Target {
    /// Parses the string form used in API payloads:
    /// `first_name` (any standard field), `phone` (type other),
    /// `phone:mobile|home|work|other`, `custom:<key>`, `ignore` or the empty
    /// string. Any other word is taken as a custom field key, so that
    /// [`Mapping::validate`] can report it as an unknown field.
    pub fn parse(s: &str) -> Target {
        let s = s.trim();
        if s.is_empty() || s == "ignore" {
            return Target::Ignore;
        }
        if let Some(field) = StandardField::from_name(s) {
            return Target::Standard(field);
        }
        if s == "phone" {
            return Target::Phone(PhoneType::Other);
        }
        if let Some(kind) = s.strip_prefix("phone:").and_then(PhoneType::from_name) {
            return Target::Phone(kind);
        }
        Target::Custom(s.strip_prefix("custom:").unwrap_or(s).to_string())
    }

    /// True for targets that accept a single column only.
    fn single_valued(&self) -> bool {
        matches!(self, Target::Standard(_) | Target::Custom(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Standard(field) => f.write_str(field.as_str()),
            Target::Phone(kind) => write!(f, "phone:{kind}"),
            Target::Custom(key) => write!(f, "custom:{key}"),
            Target::Ignore => f.write_str("ignore"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Target::parse(&s))
    }
}

/// Column index -> [`Target`]. Columns past the end of the list are ignored.
/// Serialises as a JSON array of target strings, e.g.
/// `["first_name", "phone:mobile", "custom:tier", "ignore"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mapping {
    columns: Vec<Target>,
}

impl Mapping {
    /// A mapping from a list of targets, index = column.
    pub fn new(columns: Vec<Target>) -> Self {
        Self { columns }
    }

    /// The targets, index = column.
    pub fn columns(&self) -> &[Target] {
        &self.columns
    }

    /// The target of column `index` ([`Target::Ignore`] past the end).
    pub fn target(&self, index: usize) -> &Target {
        self.columns.get(index).unwrap_or(&Target::Ignore)
    }

    /// Checks the mapping against the schema: every custom key must exist,
    /// single-valued fields may be fed by one column only, and at least one
    /// column must be a phone. All problems are reported together, before
    /// any row is read.
    pub fn validate(&self, schema: &Schema) -> Result<(), ContactsError> {
        let mut problems = Vec::new();
        let mut seen: HashMap<&Target, usize> = HashMap::new();
        for (column, target) in self.columns.iter().enumerate() {
            if let Target::Custom(key) = target
                && schema.custom(key).is_none()
            {
                problems.push(MappingProblem::UnknownField {
                    column,
                    target: key.clone(),
                });
                continue;
            }
            if target.single_valued() {
                if let Some(&first) = seen.get(target) {
                    problems.push(MappingProblem::DuplicateTarget {
                        target: target.to_string(),
                        first,
                        second: column,
                    });
                } else {
                    seen.insert(target, column);
                }
            }
        }
        if !self.columns.iter().any(|t| matches!(t, Target::Phone(_))) {
            problems.push(MappingProblem::NoPhoneColumn);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ContactsError::InvalidMapping { problems })
        }
    }
}

/// Lower-cases, folds common Latin accents and drops everything that is not
/// a letter or digit: "Código Postal" -> "codigopostal", "E-mail" -> "email".
pub(crate) fn normalize_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for ch in header.chars().flat_map(char::to_lowercase) {
        let folded = match ch {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ß' => {
                out.push_str("ss");
                continue;
            }
            c => c,
        };
        if folded.is_alphanumeric() {
            out.push(folded);
        }
    }
    out
}

/// Header synonyms, already in [`normalize_header`] form.
#[rustfmt::skip]
const SYNONYMS: &[(&str, &[&str])] = &[
    ("first_name", &["firstname", "fname", "first", "givenname", "given", "forename", "prenom", "vorname",
        "nombre", "contactfirstname"]),
    ("last_name", &["lastname", "lname", "last", "surname", "familyname", "nom", "nachname", "apellido",
        "apellidos", "contactlastname"]),
    ("email", &["email", "emailaddress", "mail", "courriel", "correo", "correoelectronico", "emailadresse",
        "primaryemail"]),
    ("phone:other", &["phone", "phonenumber", "phoneno", "phonenum", "telephone", "telephonenumber", "tel",
        "telno", "telefon", "telefono", "number", "contactnumber", "contactphone", "primaryphone", "otherphone",
        "altphone", "alternatephone", "alternativephone", "secondaryphone", "dialnumber"]),
    ("phone:mobile", &["mobile", "mobilephone", "mobilenumber", "mobileno", "mobilephonenumber", "mobil", "cell",
        "cellphone", "cellular", "cellnumber", "cellno", "cellphonenumber", "handy", "portable", "movil",
        "celular", "wireless"]),
    ("phone:home", &["home", "homephone", "homenumber", "homephonenumber", "residence", "residencephone",
        "landline", "privatephone"]),
    ("phone:work", &["work", "workphone", "worknumber", "workphonenumber", "business", "businessphone",
        "businessphonenumber", "office", "officephone", "officenumber", "companyphone", "directline", "direct"]),
    ("address1", &["address", "address1", "addressline1", "addressline", "street", "street1", "streetaddress",
        "streetaddress1", "addr", "addr1", "mailingaddress", "mailingstreet", "adresse", "direccion"]),
    ("address2", &["address2", "addressline2", "addr2", "street2", "streetaddress2", "suite", "apt", "apartment",
        "unit"]),
    ("city", &["city", "town", "locality", "municipality", "mailingcity", "ort", "stadt", "ville", "ciudad"]),
    ("state", &["state", "province", "region", "stateprovince", "stateorprovince", "provincestate", "statecode",
        "provincecode", "st", "prov", "mailingstate", "bundesland", "estado"]),
    ("postal_code", &["zip", "zipcode", "zip5", "postalcode", "postcode", "postal", "zippostalcode", "postalzip",
        "zippostal", "mailingzip", "mailingpostalcode", "plz", "postleitzahl", "codepostal", "codigopostal", "cp"]),
    ("country", &["country", "countrycode", "countryname", "nation", "mailingcountry", "pays", "land", "pais"]),
    ("external_id", &["externalid", "extid", "id", "uid", "crmid", "contactid", "customerid", "leadid", "recordid",
        "externalreference"]),
];

fn lookup_synonym(key: &str) -> Option<Target> {
    SYNONYMS
        .iter()
        .find(|(_, words)| words.contains(&key))
        .map(|(target, _)| Target::parse(target))
}

/// Suggests a mapping from header names.
///
/// Matching ignores case, spaces, punctuation and common accents. A tenant's
/// custom field wins when its key or label matches the header exactly;
/// otherwise a table of synonyms is used ("First Name", "fname", "Phone
/// Number", "Mobile", "Cell", "Zip", "Postcode", "Province", ...). A trailing
/// number is ignored for phones ("Phone 2", "mobile_phone_2"). Each
/// single-valued field is suggested for its first matching column only;
/// unmatched columns are [`Target::Ignore`].
pub fn suggest_mapping<S: AsRef<str>>(headers: &[S], schema: &Schema) -> Mapping {
    let custom: Vec<(String, String, &str)> = schema
        .custom_fields()
        .iter()
        .map(|f| {
            (
                normalize_header(&f.key),
                normalize_header(&f.label),
                f.key.as_str(),
            )
        })
        .collect();
    let mut used: Vec<Target> = Vec::new();
    let columns = headers
        .iter()
        .map(|header| {
            let key = normalize_header(header.as_ref());
            let custom_hit = custom
                .iter()
                .find(|(k, label, _)| !key.is_empty() && (*k == key || *label == key))
                .map(|(_, _, original)| Target::Custom((*original).to_string()));
            let target = custom_hit.or_else(|| lookup_synonym(&key)).or_else(|| {
                // "Phone 2", "mobile_phone_2", "other_phone_3", "Work 2".
                let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
                let bare = base.strip_suffix("phone").filter(|b| !b.is_empty());
                let kind = match lookup_synonym(base) {
                    Some(t @ Target::Phone(_)) => Some(t),
                    _ => bare
                        .and_then(lookup_synonym)
                        .filter(|t| matches!(t, Target::Phone(_))),
                };
                kind.or_else(|| (bare == Some("other")).then_some(Target::Phone(PhoneType::Other)))
            });
            match target {
                Some(t) if t.single_valued() && used.contains(&t) => Target::Ignore,
                Some(t) => {
                    used.push(t.clone());
                    t
                }
                None => Target::Ignore,
            }
        })
        .collect();
    Mapping { columns }
}

/// Suggests a mapping for a file without a header row by looking at sample
/// values, column by column: a column where at least 80% of the non-empty
/// values look like phone numbers becomes a phone (type other), one where
/// they look like e-mail addresses becomes `email`; the rest is ignored.
pub fn suggest_mapping_from_values<S: AsRef<str>>(rows: &[Vec<S>]) -> Mapping {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut email_taken = false;
    let columns = (0..width)
        .map(|col| {
            let values: Vec<&str> = rows
                .iter()
                .filter_map(|r| r.get(col))
                .map(|v| v.as_ref().trim())
                .filter(|v| !v.is_empty())
                .collect();
            let share = |pred: fn(&str) -> bool| {
                !values.is_empty()
                    && values.iter().filter(|v| pred(v)).count() * 5 >= values.len() * 4
            };
            if share(looks_like_phone) {
                Target::Phone(PhoneType::Other)
            } else if !email_taken && share(|v| v.contains('@') && !v.contains(' ')) {
                email_taken = true;
                Target::Standard(StandardField::Email)
            } else {
                Target::Ignore
            }
        })
        .collect();
    Mapping { columns }
}

/// 7 to 15 digits and only characters seen in written phone numbers.
pub(crate) fn looks_like_phone(v: &str) -> bool {
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b" +-().'/x".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CustomField, FieldType};

    fn names(m: &Mapping) -> Vec<String> {
        m.columns().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn suggests_from_messy_headers() {
        let schema = Schema::new(vec![CustomField::new(
            "loyalty_tier",
            "Loyalty Tier",
            FieldType::Text,
        )])
        .unwrap();
        let headers = [
            "First Name",
            "LNAME",
            "Phone Number",
            "Mobile",
            "Cell",
            "E-Mail",
            "Zip",
            "Province",
            "Address Line 2",
            "Street",
            "Loyalty tier",
            "Phone 2",
            "mobile_phone_2",
            "Notes",
            "first",
        ];
        let m = suggest_mapping(&headers, &schema);
        assert_eq!(
            names(&m),
            [
                "first_name",
                "last_name",
                "phone:other",
                "phone:mobile",
                "phone:mobile",
                "email",
                "postal_code",
                "state",
                "address2",
                "address1",
                "custom:loyalty_tier",
                "phone:other",
                "phone:mobile",
                "ignore",
                "ignore"
            ]
        );
        assert!(m.validate(&schema).is_ok());
        let m = suggest_mapping(
            &["Postcode", "Código Postal", "Work Phone", "home_phone"],
            &Schema::standard(),
        );
        assert_eq!(
            names(&m),
            ["postal_code", "ignore", "phone:work", "phone:home"]
        );
    }

    #[test]
    fn validation_lists_every_problem() {
        let m: Mapping =
            serde_json::from_str(r#"["first_name","favorite_color","first_name","custom:x"]"#)
                .unwrap();
        let err = m.validate(&Schema::standard()).unwrap_err();
        assert_eq!(err.code(), "invalid_mapping");
        let msg = err.to_string();
        assert!(msg.contains("unknown field `favorite_color`"), "{msg}");
        assert!(msg.contains("unknown field `x`"), "{msg}");
        assert!(msg.contains("mapped from columns 0 and 2"), "{msg}");
        assert!(msg.contains("no column is mapped to a phone"), "{msg}");
    }

    #[test]
    fn target_string_round_trip() {
        for s in [
            "first_name",
            "phone:mobile",
            "phone:other",
            "custom:tier",
            "ignore",
        ] {
            assert_eq!(Target::parse(s).to_string(), s);
        }
        assert_eq!(Target::parse("phone"), Target::Phone(PhoneType::Other));
        assert_eq!(Target::parse(""), Target::Ignore);
    }

    #[test]
    fn values_suggest_phone_and_email() {
        let rows = vec![
            vec!["Ann", "(415) 555-0100", "ann@example.com"],
            vec!["Bob", "+44 20 7946 0958", "bob@example.org"],
        ];
        assert_eq!(
            names(&suggest_mapping_from_values(&rows)),
            ["ignore", "phone:other", "email"]
        );
    }
}
