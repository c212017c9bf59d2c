//! Phone numbers: parse with the `phonenumber` crate (libphonenumber
//! metadata), validate, and format as E.164.
//!
//! Speed. The crate runs every metadata regex through one global
//! mutex-guarded LRU cache of 100 entries that hashes the full pattern text
//! on each use; `is_valid` alone costs ~5 µs for a US number and ~40 µs for
//! an invalid one. This module therefore:
//!
//! * validates with its own compiled copies of the crate's patterns
//!   (`regex` crate, same sources, same flags, same "match starting at 0"
//!   and possible-length rules, same region-selection logic as the crate's
//!   `is_valid`), built once per region and shared read-only;
//! * takes a fast path for plain NANP numbers when the default region's
//!   calling code is 1 and it has no national-prefix parsing rule (US, CA,
//!   PR, DO, JM): 10 digits, or 11 starting with 1 or +1, with only
//!   spaces, `-`, `.`, `/` and parentheses between digits. The E.164 result
//!   is `+1` and the ten digits, exactly what `phonenumber::parse` returns
//!   for these shapes (checked by a differential test);
//! * sends everything else through `phonenumber::parse` (inside
//!   `catch_unwind`: a panic in the parser becomes `invalid_phone`).
//!
//! Extensions (`x123`, `ext. 123`, `extension 123`, `#123`, `;ext=123`) are
//! split off before parsing and kept separately.
//!
//! `+44 (0)20 ...`: a `(0)` after an international number is dropped.
//!
//! A number written with the `00` or `011` international prefix is accepted
//! whatever the region's own prefix is: when the literal reading is not a
//! valid number, the digits after `00`/`011` are read as `+<country code>...`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use phonenumber::country;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

use crate::error::ContactsError;

/// A phone-numbering region: an ISO 3166 alpha-2 code known to the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    id: country::Id,
    name: &'static str,
    code: u16,
    nanp_fast: bool,
}

impl Region {
    /// Parses `"US"`, `"gb"`, ... Fails with `unknown_region` for codes the
    /// phone metadata does not know.
    pub fn parse(s: &str) -> Result<Region, ContactsError> {
        let upper = s.trim().to_ascii_uppercase();
        let unknown = || ContactsError::UnknownRegion(s.to_string());
        if upper.len() != 2 {
            return Err(unknown());
        }
        let id: country::Id = upper.parse().map_err(|_| unknown())?;
        let meta = DATABASE.by_id(upper.as_str()).ok_or_else(unknown)?;
        let nanp_fast = meta.country_code() == 1
            && meta.national_prefix() == Some("1")
            && meta.national_prefix_for_parsing().is_none();
        Ok(Region {
            id,
            name: meta.id(),
            code: meta.country_code(),
            nanp_fast,
        })
    }

    /// The alpha-2 code, e.g. `"US"`.
    pub fn as_str(&self) -> &'static str {
        self.name
    }

    /// The country calling code, e.g. 1 for US.
    pub fn calling_code(&self) -> u16 {
        self.code
    }
}

/// The country (ISO 3166 alpha-2) an E.164 number belongs to, when the
/// metadata can tell (`+1415...` is `US`, `+44...` is `GB`).
pub fn country_of(e164: &str) -> Option<&'static str> {
    let number = phonenumber::parse(None, e164).ok()?;
    let id = number.country().id()?;
    DATABASE.by_id(id.as_ref()).map(|m| m.id())
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A valid phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParsedPhone {
    /// E.164 form, e.g. `+14155550100`.
    pub e164: String,
    /// Extension digits, if one was written.
    pub extension: Option<String>,
}

/// Why a phone number was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneErrorKind {
    /// No digits that could form a phone number.
    NoNumber,
    /// Fewer digits than any number can have.
    TooShort,
    /// More digits than any number can have.
    TooLong,
    /// The country calling code does not exist.
    InvalidCountryCode,
    /// Parsed, but not a valid number (wrong length for its country, or an
    /// unassigned range).
    InvalidNumber,
}

/// A rejected phone number with a human reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneError {
    /// Machine-readable kind.
    pub kind: PhoneErrorKind,
    /// Human-readable explanation.
    pub reason: String,
}

impl PhoneError {
    fn new(kind: PhoneErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// Parses, validates and formats one phone number written in any common
/// shape, reading national-format numbers in `region`. A leading `'` (from a
/// spreadsheet or our own formula-safe export) is ignored.
pub fn parse_phone(raw: &str, region: Region) -> Result<ParsedPhone, PhoneError> {
    let text = raw.trim().trim_start_matches('\'').trim();
    if text.is_empty() {
        return Err(PhoneError::new(
            PhoneErrorKind::NoNumber,
            "the value is empty",
        ));
    }
    let (main, extension) = split_extension(text);
    if region.nanp_fast
        && let Some(national) = nanp_digits(main)
    {
        let national = std::str::from_utf8(&national).unwrap_or_default();
        return match VALIDATOR.nanp_valid(national) {
            Some(true) => Ok(ParsedPhone {
                e164: format!("+1{national}"),
                extension,
            }),
            Some(false) => Err(invalid_reason(1, national)),
            None => slow_parse(main, extension, region),
        };
    }
    slow_parse(main, extension, region)
}

fn slow_parse(
    main: &str,
    extension: Option<String>,
    region: Region,
) -> Result<ParsedPhone, PhoneError> {
    // "+44 (0)20 ..." - the optional trunk prefix written after the country
    // code is not part of the number.
    let cleaned;
    let main = if main.starts_with('+') && main.contains("(0)") {
        cleaned = main.replacen("(0)", "", 1);
        cleaned.as_str()
    } else {
        main
    };
    let first = crate_parse(main, region, extension.clone());
    if first.is_ok() {
        return first;
    }
    // Retry `00...` / `011...` as an international prefix.
    let digits_start = main.trim_start_matches(['(', ' ']);
    for idd in ["00", "011"] {
        if let Some(rest) = digits_start.strip_prefix(idd)
            && (rest.starts_with(|c: char| c.is_ascii_digit() && c != '0')
                || rest.starts_with([' ', '-', '.']))
            && let Ok(ok) = crate_parse(&format!("+{rest}"), region, extension.clone())
        {
            return Ok(ok);
        }
    }
    first
}

fn crate_parse(
    main: &str,
    region: Region,
    extension: Option<String>,
) -> Result<ParsedPhone, PhoneError> {
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(Some(region.id), main))
        .map_err(|_| PhoneError::new(PhoneErrorKind::NoNumber, "the number could not be parsed"))?;
    let number = parsed.map_err(|e| {
        use phonenumber::ParseError as P;
        match e {
            P::NoNumber | P::MalformedInteger(_) => PhoneError::new(
                PhoneErrorKind::NoNumber,
                "no phone number found in the value",
            ),
            P::InvalidCountryCode => PhoneError::new(
                PhoneErrorKind::InvalidCountryCode,
                "unknown country calling code",
            ),
            P::TooShortAfterIdd | P::TooShortNsn => {
                PhoneError::new(PhoneErrorKind::TooShort, "too short to be a phone number")
            }
            P::TooLong => PhoneError::new(PhoneErrorKind::TooLong, "too long to be a phone number"),
        }
    })?;
    let code = number.code().value();
    let national = number.national().to_string();
    let valid = match VALIDATOR.is_valid(code, &national) {
        Some(v) => v,
        None => number.is_valid(),
    };
    if !valid {
        return Err(invalid_reason(code, &national));
    }
    let extension = extension.or_else(|| number.extension().map(|e| e.to_string()));
    Ok(ParsedPhone {
        e164: format!("+{code}{national}"),
        extension,
    })
}

fn invalid_reason(code: u16, national: &str) -> PhoneError {
    let mut lengths: Vec<u16> = if code == 1 {
        vec![10]
    } else {
        DATABASE
            .by_code(&code)
            .and_then(|metas| metas.first().copied())
            .map(|m| {
                let d = m.descriptors();
                let all = [
                    Some(d.general()),
                    d.fixed_line(),
                    d.mobile(),
                    d.toll_free(),
                    d.premium_rate(),
                    d.shared_cost(),
                    d.personal_number(),
                    d.voip(),
                    d.uan(),
                    d.pager(),
                    d.voicemail(),
                ];
                all.into_iter()
                    .flatten()
                    .flat_map(|x| x.possible_length().iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    lengths.sort_unstable();
    lengths.dedup();
    let len = national.len() as u16;
    let (kind, reason) = match (lengths.first(), lengths.last()) {
        (Some(&min), _) if len < min => (
            PhoneErrorKind::TooShort,
            format!(
                "too short for +{code}: {len} digits after the country code, expected at least {min}"
            ),
        ),
        (_, Some(&max)) if len > max => (
            PhoneErrorKind::TooLong,
            format!(
                "too long for +{code}: {len} digits after the country code, expected at most {max}"
            ),
        ),
        (Some(&min), Some(&max)) if !lengths.contains(&len) => {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            (
                PhoneErrorKind::InvalidNumber,
                format!(
                    "wrong length for +{code}: {len} digits after the country code, expected {expected}"
                ),
            )
        }
        _ if code == 1 => (
            PhoneErrorKind::InvalidNumber,
            format!(
                "not a valid number for +1: area code or exchange {} is not in service",
                &national[..6.min(national.len())]
            ),
        ),
        _ => (
            PhoneErrorKind::InvalidNumber,
            format!("not a valid number for +{code}: no such number range"),
        ),
    };
    PhoneError::new(kind, reason)
}

/// Splits a trailing extension off: `x123`, `ext 123`, `ext. 123`,
/// `extn 123`, `extension 123`, `#123`, `;ext=123`.
fn split_extension(text: &str) -> (&str, Option<String>) {
    let without_digits = text.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &text[without_digits.len()..];
    if digits.is_empty() || digits.len() > 10 {
        return (text, None);
    }
    let before = without_digits.trim_end_matches([' ', '.', ':', '=']);
    let lower = before.to_ascii_lowercase();
    for marker in [";ext", "extension", "extn", "ext", "x", "#"] {
        if lower.ends_with(marker) {
            let main = before[..before.len() - marker.len()].trim_end_matches([' ', ',', ';']);
            if main.bytes().any(|b| b.is_ascii_digit()) {
                return (main, Some(digits.to_string()));
            }
        }
    }
    (text, None)
}

/// The ten NANP digits of a plainly written number, or `None` when the
/// shape is anything else.
fn nanp_digits(s: &str) -> Option<[u8; 10]> {
    let bytes = s.as_bytes();
    let (plus, body) = match bytes.split_first() {
        Some((b'+', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let mut digits = [0u8; 11];
    let mut n = 0;
    for &b in body {
        match b {
            b'0'..=b'9' => {
                if n == 11 {
                    return None;
                }
                digits[n] = b;
                n += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' => {}
            _ => return None,
        }
    }
    let national = match (plus, n) {
        (false, 10) => &digits[..10],
        (_, 11) if digits[0] == b'1' => &digits[1..11],
        _ => return None,
    };
    // NANP area codes and exchanges start with 2-9; anything else goes the
    // slow way so that the crate's national-prefix rules apply.
    if national[0] < b'2' {
        return None;
    }
    let mut out = [0u8; 10];
    out.copy_from_slice(national);
    Some(out)
}

/// Our compiled copy of one region's validation patterns.
struct RegionPatterns {
    leading_digits: Option<Regex>,
    general: Pattern,
    types: Vec<Pattern>,
}

struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn compile(desc: &Descriptor) -> Option<Self> {
        Some(Self {
            regex: anchored(desc.national_number().as_str())?,
            lengths: desc.possible_length().to_vec(),
        })
    }

    /// Same rule as `Descriptor::is_match`: a possible length, and a match
    /// that starts at the first digit.
    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

/// Compiles `source` as the crate does (verbose mode), anchored at the start;
/// a leftmost match starting at 0 exists iff this matches.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{source}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

impl RegionPatterns {
    fn compile(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let types = [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.personal_number(),
            d.voip(),
            d.shared_cost(),
            d.uan(),
            d.pager(),
            d.voicemail(),
        ];
        Some(Self {
            leading_digits: match meta.leading_digits() {
                Some(re) => Some(anchored(re.as_str())?),
                None => None,
            },
            general: Pattern::compile(d.general())?,
            types: types
                .into_iter()
                .flatten()
                .map(Pattern::compile)
                .collect::<Option<_>>()?,
        })
    }

    /// `number_type(meta, national) != Unknown` in the crate.
    fn has_type(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

type PatternKey = (u16, &'static str);

/// Compiled patterns per (calling code, region id), built on first use.
struct Validator {
    nanp: Vec<Arc<RegionPatterns>>,
    nanp_complete: bool,
    cache: RwLock<HashMap<PatternKey, Option<Arc<RegionPatterns>>>>,
}

static VALIDATOR: LazyLock<Validator> = LazyLock::new(Validator::new);

impl Validator {
    fn new() -> Self {
        let regions = DATABASE.region(&1).unwrap_or_default();
        let nanp: Vec<Arc<RegionPatterns>> = regions
            .iter()
            .filter_map(|id| {
                DATABASE
                    .by_id(*id)
                    .and_then(RegionPatterns::compile)
                    .map(Arc::new)
            })
            .collect();
        let nanp_complete = !regions.is_empty() && nanp.len() == regions.len();
        Self {
            nanp,
            nanp_complete,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The crate's `is_valid` for a +1 number, with precompiled patterns.
    fn nanp_valid(&self, national: &str) -> Option<bool> {
        if !self.nanp_complete {
            return None;
        }
        Some(Self::select_and_check(&self.nanp, national))
    }

    /// `validator::source_for` followed by `number_type != Unknown`.
    fn select_and_check(regions: &[Arc<RegionPatterns>], national: &str) -> bool {
        for region in regions {
            match &region.leading_digits {
                Some(leading) if leading.is_match(national) => return region.has_type(national),
                Some(_) => {}
                None if region.has_type(national) => return true,
                None => {}
            }
        }
        false
    }

    fn patterns(&self, code: u16, id: &'static str) -> Option<Arc<RegionPatterns>> {
        let key = (code, id);
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return hit.clone();
        }
        let meta = if id == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            DATABASE.by_id(id)
        };
        let compiled = meta.and_then(RegionPatterns::compile).map(Arc::new);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, compiled.clone());
        compiled
    }

    /// The crate's `is_valid_with(&DATABASE, number)`; `None` if a pattern
    /// could not be compiled here (the caller then asks the crate).
    fn is_valid(&self, code: u16, national: &str) -> Option<bool> {
        if code == 1 {
            return self.nanp_valid(national);
        }
        let Some(regions) = DATABASE.region(&code) else {
            return Some(false);
        };
        if let [only] = regions[..] {
            return Some(self.patterns(code, only)?.has_type(national));
        }
        let mut compiled = Vec::with_capacity(regions.len());
        for id in regions {
            compiled.push(self.patterns(code, id)?);
        }
        Some(Self::select_and_check(&compiled, national))
    }
}

#[cfg(test)]
mod tests;
