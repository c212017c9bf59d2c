//! Numbers and URIs.

use omnivox_domain::trunk::NumberFormat;
use rsipstack::sip::Uri;

/// A dialled string as E.164 (`+` and 8-15 digits): `+` numbers as they
/// are, 11 digits starting with 1 and 10-digit NANP numbers get `+1`, other
/// digit strings of 8-15 digits get a `+`. Separators (space, `-`, `.`,
/// parentheses) are ignored. `None` for anything else.
pub(crate) fn normalize_number(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let plus = raw.starts_with('+');
    let mut digits = String::with_capacity(raw.len());
    for c in raw.trim_start_matches('+').chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let e164 = if plus {
        digits
    } else if digits.len() == 10 && !digits.starts_with(['0', '1']) {
        format!("1{digits}")
    } else {
        digits
    };
    (8..=15).contains(&e164.len()).then(|| format!("+{e164}"))
}

/// `e164` (`+` and digits) written the way a carrier wants it.
pub(crate) fn format_number(format: NumberFormat, e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    match format {
        NumberFormat::E164Plus => format!("+{digits}"),
        NumberFormat::E164 => digits.to_string(),
        NumberFormat::National => match digits.strip_prefix('1') {
            Some(rest) if rest.len() == 10 => rest.to_string(),
            _ => digits.to_string(),
        },
    }
}

/// `sip:user@host`, rejecting user parts that are not plain tokens.
pub(crate) fn sip_uri(user: &str, host: &str) -> Result<Uri, ()> {
    let ok = !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-_.!~*'()&=$,;?/".contains(&b));
    if !ok {
        return Err(());
    }
    Uri::try_from(format!("sip:{user}@{host}").as_str()).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(
            normalize_number("+1 (555) 010-2030").as_deref(),
            Some("+15550102030")
        );
        assert_eq!(
            normalize_number("5550102030").as_deref(),
            Some("+15550102030")
        );
        assert_eq!(
            normalize_number("15550102030").as_deref(),
            Some("+15550102030")
        );
        assert_eq!(
            normalize_number("442071234567").as_deref(),
            Some("+442071234567")
        );
        assert_eq!(normalize_number("1234"), None);
        assert_eq!(normalize_number("alice"), None);
        assert_eq!(normalize_number("+1555x"), None);
    }

    #[test]
    fn carrier_formats() {
        let n = "+14155550100";
        assert_eq!(format_number(NumberFormat::E164Plus, n), n);
        assert_eq!(format_number(NumberFormat::E164, n), "14155550100");
        assert_eq!(format_number(NumberFormat::National, n), "4155550100");
        assert_eq!(
            format_number(NumberFormat::National, "+442071234567"),
            "442071234567"
        );
    }

    #[test]
    fn uris() {
        let u = sip_uri("+15550102030", "127.0.0.1:5080").unwrap();
        assert_eq!(u.to_string(), "sip:+15550102030@127.0.0.1:5080");
        assert!(sip_uri("a b", "h").is_err());
        assert!(sip_uri("a@b", "h").is_err());
        assert!(sip_uri("", "h").is_err());
    }
}
