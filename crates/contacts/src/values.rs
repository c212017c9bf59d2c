//! Parsers for typed values: dates, booleans, numbers, e-mail, text.
//!
//! Each returns the normalized value or a human reason.

use std::borrow::Cow;

use chrono::NaiveDate;

/// Longest accepted standard text value, in bytes (after trimming).
pub const MAX_STANDARD_BYTES: usize = 1024;
/// Longest accepted custom text value, in bytes (after trimming).
pub const MAX_CUSTOM_TEXT_BYTES: usize = 4096;

/// Cells that start with one of these are escaped with a leading `'` on
/// export (OWASP CSV injection list), and the `'` is removed again on import.
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Removes the `'` our export puts in front of a formula-like cell (or of a
/// cell that itself starts with `'`), so that an exported file imports to
/// the same values.
pub fn unescape_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Trims, replaces control characters (which PostgreSQL text and most UIs
/// reject) by spaces and then collapses whitespace runs. Cheap when the
/// value is already clean.
pub fn clean_text(value: &str) -> Cow<'_, str> {
    let trimmed = value.trim();
    if !trimmed.chars().any(char::is_control) {
        return Cow::Borrowed(trimmed);
    }
    let spaced: String = trimmed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Cow::Owned(spaced.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Parses a date.
///
/// Accepted: `YYYY-MM-DD` (also with `/` or `.` between parts), `MM/DD/YYYY`
/// (a slash with the year last is always month first, US style) and
/// `DD.MM.YYYY` (a dot with the year last is always day first). Day and month
/// may have one digit. A time after the date (`2024-01-05 10:00`,
/// `2024-01-05T10:00:00Z`) is ignored. Rejected as ambiguous: two-digit
/// years and `DD-MM-YYYY`/`MM-DD-YYYY` with dashes.
pub fn parse_date(value: &str) -> Result<NaiveDate, String> {
    let date_part = value.split([' ', 'T']).next().unwrap_or(value);
    let sep = date_part.chars().find(|c| !c.is_ascii_digit());
    let Some(sep) = sep.filter(|c| matches!(c, '-' | '/' | '.')) else {
        return Err("expected YYYY-MM-DD, MM/DD/YYYY or DD.MM.YYYY".into());
    };
    let parts: Vec<&str> = date_part.split(sep).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("expected YYYY-MM-DD, MM/DD/YYYY or DD.MM.YYYY".into());
    }
    let num = |s: &str| s.parse::<u32>().unwrap_or(0);
    let (y, m, d) = match (parts[0].len(), parts[1].len(), parts[2].len(), sep) {
        (4, 1..=2, 1..=2, _) => (parts[0], parts[1], parts[2]),
        (1..=2, 1..=2, 4, '/') => (parts[2], parts[0], parts[1]),
        (1..=2, 1..=2, 4, '.') => (parts[2], parts[1], parts[0]),
        (1..=2, 1..=2, 4, _) => {
            return Err("day and month order is ambiguous with dashes; use YYYY-MM-DD, MM/DD/YYYY or DD.MM.YYYY".into());
        }
        (1..=2, 1..=2, 1..=2, _) => {
            return Err("two-digit years are ambiguous; write the year with four digits".into());
        }
        _ => return Err("expected YYYY-MM-DD, MM/DD/YYYY or DD.MM.YYYY".into()),
    };
    let (y, m, d) = (num(y) as i32, num(m), num(d));
    if !(1..=12).contains(&m) {
        let hint = if sep == '/' && parts[2].len() == 4 {
            " (slash dates are read as MM/DD/YYYY)"
        } else {
            ""
        };
        return Err(format!("month {m} is out of range{hint}"));
    }
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("day {d} does not exist in {y}-{m:02}"))
}

/// Parses true/false/yes/no/1/0/y/n, case-insensitively.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Ok(true),
        "false" | "no" | "0" | "n" => Ok(false),
        _ => Err("expected true/false, yes/no, y/n or 1/0".into()),
    }
}

/// Parses a decimal number: optional sign, digits with optional `,`
/// thousands separators in groups of three, optional `.` and decimals.
/// A decimal comma (`3,5`, `1.234,56`) is rejected rather than guessed.
pub fn parse_number(value: &str) -> Result<f64, String> {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = int.is_empty() && frac.is_some_and(digits) || digits(int) || {
        let groups: Vec<&str> = int.split(',').collect();
        groups.len() > 1
            && (1..=3).contains(&groups[0].len())
            && groups.iter().all(|g| digits(g))
            && groups[1..].iter().all(|g| g.len() == 3)
    };
    if !int_ok || frac.is_some_and(|f| !digits(f)) {
        return Err(
            "expected a number such as 42, -3.5 or 1,234.50 (dot as decimal separator)".into(),
        );
    }
    let plain: String = value.chars().filter(|c| *c != ',').collect();
    plain
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| "the number is out of range".to_string())
}

/// Light e-mail syntax check. Returns the address with its domain
/// lower-cased (the local part is kept as written).
pub fn normalize_email(value: &str) -> Result<String, String> {
    let Some((local, domain)) = value.split_once('@') else {
        return Err("missing @".into());
    };
    if domain.contains('@') {
        return Err("more than one @".into());
    }
    if local.is_empty() || local.len() > 64 {
        return Err("the part before @ must have 1 to 64 characters".into());
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err("invalid characters before @".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.chars().count() >= 2 && !t.bytes().all(|b| b.is_ascii_digit()));
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(format!("`{domain}` is not a valid domain"));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2024-03-07"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("2024/3/7"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("03/07/2024"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("3/7/2024"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("07.03.2024"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("2024-03-07T10:00:00Z"), Ok(d(2024, 3, 7)));
        assert_eq!(parse_date("3/7/2024 0:00"), Ok(d(2024, 3, 7)));
        assert!(parse_date("13/02/2024").unwrap_err().contains("MM/DD/YYYY"));
        assert!(
            parse_date("2023-02-29")
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(parse_date("07-03-2024").unwrap_err().contains("ambiguous"));
        assert!(parse_date("3/7/24").unwrap_err().contains("two-digit"));
        assert!(parse_date("yesterday").is_err());
        assert!(parse_date("2024-03").is_err());
    }

    #[test]
    fn booleans_numbers() {
        for t in ["true", "YES", "1", "y", "Y"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["false", "No", "0", "n"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
        assert_eq!(parse_number("42"), Ok(42.0));
        assert_eq!(parse_number("-3.5"), Ok(-3.5));
        assert_eq!(parse_number("+.5"), Ok(0.5));
        assert_eq!(parse_number("1,234,567.25"), Ok(1_234_567.25));
        for bad in [
            "1.234,56", "3,5", "12,34", "abc", "inf", "NaN", "1e5", "", "-", "1.", "1,2345",
        ] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("Jane.Doe+x@Example.COM"),
            Ok("Jane.Doe+x@example.com".into())
        );
        assert_eq!(normalize_email("zoë@bücher.de"), Ok("zoë@bücher.de".into()));
        for bad in [
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@c.com",
            "a@-c.com",
            "a@c.123",
            ".a@c.com",
            "a..b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_and_formula_unescape() {
        assert_eq!(clean_text("  José  Müller "), "José  Müller");
        assert_eq!(clean_text("a\u{0}b\r\n c"), "a b c");
        assert_eq!(unescape_formula("'+14155550100"), "+14155550100");
        assert_eq!(unescape_formula("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unescape_formula("''quoted"), "'quoted");
        assert_eq!(unescape_formula("'hello"), "'hello");
        assert_eq!(unescape_formula("O'Brien"), "O'Brien");
    }
}
