//! Tenant settings and their validation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Opening hours per weekday, in the tenant's time zone:
/// `{"mon": [["09:00","17:00"]], "sat": [], ...}`. A missing day is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct BusinessHours(pub BTreeMap<String, Vec<(String, String)>>);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl BusinessHours {
    /// Monday to Friday, 09:00 to 17:00.
    pub fn weekdays_9_to_5() -> Self {
        Self(
            DAYS[..5]
                .iter()
                .map(|d| {
                    (
                        (*d).to_owned(),
                        vec![("09:00".to_owned(), "17:00".to_owned())],
                    )
                })
                .collect(),
        )
    }

    pub fn validate(&self) -> Result<(), String> {
        for (day, ranges) in &self.0 {
            if !DAYS.contains(&day.as_str()) {
                return Err(format!("unknown day `{day}` (use mon..sun)"));
            }
            let mut prev_end = 0;
            for (start, end) in ranges {
                let (s, e) = (minutes(start)?, minutes(end)?);
                if s >= e {
                    return Err(format!("{day}: {start} is not before {end}"));
                }
                if s < prev_end {
                    return Err(format!("{day}: ranges overlap or are out of order"));
                }
                prev_end = e;
            }
        }
        Ok(())
    }
}

fn minutes(hhmm: &str) -> Result<u32, String> {
    let bad = || format!("`{hhmm}` is not a time like 09:30 (24:00 ends a day)");
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// `acme-sales`: lowercase letters, digits and dashes, 2 to 63 long, starting
/// with a letter or digit.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("use 2-63 lowercase letters, digits and dashes".into())
    }
}

/// A slug made from a display name: `Acme Sales, Inc.` -> `acme-sales-inc`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_owned();
    if out.len() < 2 {
        format!("org-{out}")
    } else {
        out
    }
}

/// An IANA time zone name such as `America/New_York`.
pub fn validate_time_zone(tz: &str) -> Result<(), String> {
    tz.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| format!("`{tz}` is not an IANA time zone (e.g. America/New_York)"))
}

/// A language tag such as `en`, `en-US` or `es-419`.
pub fn validate_locale(locale: &str) -> Result<(), String> {
    let mut parts = locale.split('-');
    let lang = parts.next().unwrap_or("");
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(r), None) => {
            (r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
                || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
        }
        _ => false,
    };
    if lang_ok && region_ok {
        Ok(())
    } else {
        Err(format!("`{locale}` is not a language tag like en or en-US"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_hours_validate() {
        assert_eq!(BusinessHours::weekdays_9_to_5().validate(), Ok(()));
        let parse = |j: &str| serde_json::from_str::<BusinessHours>(j).unwrap().validate();
        assert!(parse(r#"{"mon":[["09:00","12:00"],["13:00","24:00"]]}"#).is_ok());
        assert!(parse(r#"{"funday":[]}"#).is_err());
        assert!(parse(r#"{"mon":[["17:00","09:00"]]}"#).is_err());
        assert!(parse(r#"{"mon":[["09:00","12:00"],["11:00","13:00"]]}"#).is_err());
        assert!(parse(r#"{"mon":[["9:00","12:00"]]}"#).is_err());
        assert!(parse(r#"{"mon":[["09:60","12:00"]]}"#).is_err());
    }

    #[test]
    fn slugs_time_zones_and_locales() {
        assert!(validate_slug("acme-sales").is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-acme").is_err());
        assert!(validate_slug("a").is_err());
        assert_eq!(slugify("Acme Sales, Inc."), "acme-sales-inc");
        assert_eq!(slugify("X"), "org-x");
        assert!(validate_slug(&slugify("¿Qué? Llamadas")).is_ok());
        assert!(validate_time_zone("America/New_York").is_ok());
        assert!(validate_time_zone("Mars/Olympus").is_err());
        for ok in ["en", "en-US", "es-419", "fil"] {
            assert!(validate_locale(ok).is_ok(), "{ok}");
        }
        for bad in ["EN", "en_US", "en-us", "english", "en-US-x"] {
            assert!(validate_locale(bad).is_err(), "{bad}");
        }
    }
}
