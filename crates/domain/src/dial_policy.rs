//! The toll-fraud guard: which numbers a tenant's calls may dial out to.
//!
//! Every outbound call (click-to-call, transfers to an external number, the
//! dialer) is checked by [`DialPolicy::check`] before an INVITE goes to a
//! trunk. The rules, in order:
//!
//! 1. The number must be E.164 with its `+` (7 to 15 digits).
//! 2. Of the tenant's `allowed_prefixes`, the tenant's `blocked_prefixes` and
//!    the built-in premium/high-cost list ([`PREMIUM_PREFIXES`], plus the NANP
//!    `976` pay-per-call exchanges), the **longest** prefix that matches the
//!    number decides: allowed lets the call through (it also lifts the
//!    international restriction below), blocked and premium refuse it. On a
//!    tie, blocked beats allowed and allowed beats premium, so an operator
//!    opts into a premium range by allowing exactly that prefix (or a longer
//!    one).
//! 3. Otherwise the number's country code must be one of
//!    `home_country_codes`, unless `allow_international` is on. The check is
//!    a prefix match against the code list, so with the default home `1`
//!    every NANP number (including the Caribbean NPAs such as 876 or 809,
//!    a classic target of "one-ring" fraud) counts as home; block those with
//!    `blocked_prefixes` if the tenant never calls them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant's dialing policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialPolicy {
    /// Allow numbers outside `home_country_codes`.
    #[serde(default)]
    pub allow_international: bool,
    /// Country calling codes without `+` (`1` for NANP, `44` for the UK).
    pub home_country_codes: Vec<String>,
    /// Prefixes (`+` and 1-15 digits) that are always allowed, even premium
    /// or international ones; the longest matching prefix wins.
    #[serde(default)]
    pub allowed_prefixes: Vec<String>,
    /// Prefixes (`+` and 1-15 digits) that are never dialled.
    #[serde(default)]
    pub blocked_prefixes: Vec<String>,
}

impl Default for DialPolicy {
    /// Home `1` (NANP), no international calls, no extra prefixes.
    fn default() -> Self {
        Self {
            allow_international: false,
            home_country_codes: vec!["1".to_owned()],
            allowed_prefixes: Vec::new(),
            blocked_prefixes: Vec::new(),
        }
    }
}

/// Built-in premium-rate and high-cost destinations, refused unless a
/// tenant allows the prefix explicitly. Each entry names its source.
pub const PREMIUM_PREFIXES: &[(&str, &str)] = &[
    // NANP N00 "900" premium services (NANPA, NPA 900: Premium Services;
    // 47 CFR 64.1501 pay-per-call).
    ("+1900", "NANP 900 premium services"),
    // NPA 976 is unassigned in NANP; 976 was the pay-per-call exchange code
    // (NPA-976-XXXX, see also `nanp_976_exchange`). Kept as a guard should
    // it ever be assigned (NANPA reserved codes).
    ("+1976", "NANP 976 pay-per-call"),
    // ITU-T E.164 assigned country codes (ITU Operational Bulletin list of
    // E.164 assigned country codes): shared codes for satellite and
    // international networks, all charged at high rates.
    ("+870", "Inmarsat SNAC (ITU-T E.164 870)"),
    (
        "+878",
        "Universal Personal Telecommunications (ITU-T E.164 878)",
    ),
    ("+881", "Global Mobile Satellite System (ITU-T E.164 881)"),
    ("+882", "International Networks (ITU-T E.164 882)"),
    ("+883", "International Networks (ITU-T E.164 883)"),
    (
        "+979",
        "International Premium Rate Service (ITU-T E.164 979)",
    ),
    (
        "+991",
        "International Telecommunications Public Correspondence Service trial (ITU-T E.164 991)",
    ),
    // UK (Ofcom National Telephone Numbering Plan): 09 premium rate
    // services (090, 091, 098 sexual entertainment services), 087 revenue
    // sharing service-charge numbers, 070 personal numbering (widely abused
    // for fraud, Ofcom 070 review).
    ("+4490", "UK 090 premium rate (Ofcom)"),
    ("+4491", "UK 091 premium rate (Ofcom)"),
    ("+4498", "UK 098 sexual entertainment services (Ofcom)"),
    ("+4487", "UK 087 service charge numbers (Ofcom)"),
    ("+4470", "UK 070 personal numbering (Ofcom)"),
    // Germany 0900 premium rate (Bundesnetzagentur, Premium-Dienste 0900).
    ("+49900", "Germany 0900 premium rate (Bundesnetzagentur)"),
    // France 089 value-added services (ARCEP plan de numérotation, 08 9x).
    ("+3389", "France 089 value-added services (ARCEP)"),
    // Australia 190 premium services (ACMA Telecommunications Numbering Plan).
    ("+61190", "Australia 190 premium services (ACMA)"),
];

/// Why a number may not be dialled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialBlocked {
    /// A premium-rate or high-cost destination from the built-in list.
    PremiumRate { prefix: String },
    /// Outside the home country codes, and international calls are off.
    InternationalNotAllowed,
    /// A prefix the tenant blocked.
    BlockedPrefix { prefix: String },
    /// Not an E.164 number (`+` and 7 to 15 digits).
    InvalidNumber,
}

impl DialBlocked {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            DialBlocked::PremiumRate { .. } => "premium_rate",
            DialBlocked::InternationalNotAllowed => "international_not_allowed",
            DialBlocked::BlockedPrefix { .. } => "blocked_prefix",
            DialBlocked::InvalidNumber => "invalid_number",
        }
    }

    /// A human explanation.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for DialBlocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialBlocked::PremiumRate { prefix } => write!(
                f,
                "{prefix} is a premium-rate or high-cost destination; allow the prefix in the dial policy to call it"
            ),
            DialBlocked::InternationalNotAllowed => f.write_str(
                "international calls are not allowed by the dial policy (outside the home country codes)",
            ),
            DialBlocked::BlockedPrefix { prefix } => {
                write!(f, "{prefix} is blocked by the dial policy")
            }
            DialBlocked::InvalidNumber => {
                f.write_str("not an E.164 number (+ and 7 to 15 digits)")
            }
        }
    }
}

impl std::error::Error for DialBlocked {}

/// One invalid field of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The field, with an index: `blocked_prefixes[2]`.
    pub field: String,
    /// Stable snake_case code.
    pub code: &'static str,
    pub message: String,
}

/// At most this many entries per list.
pub const MAX_ENTRIES: usize = 1000;

/// `+` followed by 1 to 15 digits.
pub fn valid_prefix(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A country calling code: 1 to 3 digits, not starting with 0.
pub fn valid_country_code(c: &str) -> bool {
    (1..=3).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) && !c.starts_with('0')
}

/// `+` and 7 to 15 digits.
fn valid_e164(n: &str) -> bool {
    n.strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    // Ordered by precedence on a tie of prefix length (higher wins).
    Premium,
    Allowed,
    Blocked,
}

impl DialPolicy {
    /// Every problem with the policy (empty when valid).
    pub fn problems(&self) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        if self.home_country_codes.is_empty() {
            out.push(PolicyProblem {
                field: "home_country_codes".into(),
                code: "required",
                message: "name at least one home country calling code (1 for NANP)".into(),
            });
        }
        let lists: [(&str, &Vec<String>); 3] = [
            ("home_country_codes", &self.home_country_codes),
            ("allowed_prefixes", &self.allowed_prefixes),
            ("blocked_prefixes", &self.blocked_prefixes),
        ];
        for (name, list) in lists {
            if list.len() > MAX_ENTRIES {
                out.push(PolicyProblem {
                    field: name.into(),
                    code: "too_many",
                    message: format!("at most {MAX_ENTRIES} entries"),
                });
            }
        }
        for (i, c) in self.home_country_codes.iter().enumerate() {
            if !valid_country_code(c) {
                out.push(PolicyProblem {
                    field: format!("home_country_codes[{i}]"),
                    code: "invalid_country_code",
                    message: "a country calling code: 1 to 3 digits without + (e.g. 1, 44)".into(),
                });
            }
        }
        for (name, list) in [
            ("allowed_prefixes", &self.allowed_prefixes),
            ("blocked_prefixes", &self.blocked_prefixes),
        ] {
            for (i, p) in list.iter().enumerate() {
                if !valid_prefix(p) {
                    out.push(PolicyProblem {
                        field: format!("{name}[{i}]"),
                        code: "invalid_prefix",
                        message: "+ followed by 1 to 15 digits (e.g. +44, +1900)".into(),
                    });
                }
            }
        }
        for (i, p) in self.blocked_prefixes.iter().enumerate() {
            if self.allowed_prefixes.contains(p) {
                out.push(PolicyProblem {
                    field: format!("blocked_prefixes[{i}]"),
                    code: "conflicting_prefix",
                    message: format!("{p} is both allowed and blocked"),
                });
            }
        }
        out
    }

    /// Whether a number may be dialled (see the module docs for the rules).
    pub fn check(&self, e164: &str) -> Result<(), DialBlocked> {
        if !valid_e164(e164) {
            return Err(DialBlocked::InvalidNumber);
        }
        let mut best: Option<(usize, Verdict, &str)> = None;
        let candidates = self
            .allowed_prefixes
            .iter()
            .map(|p| (p.as_str(), Verdict::Allowed))
            .chain(
                self.blocked_prefixes
                    .iter()
                    .map(|p| (p.as_str(), Verdict::Blocked)),
            )
            .chain(PREMIUM_PREFIXES.iter().map(|(p, _)| (*p, Verdict::Premium)))
            .chain(nanp_976_exchange(e164).map(|p| (p, Verdict::Premium)));
        for (prefix, verdict) in candidates {
            if !e164.starts_with(prefix) {
                continue;
            }
            let better = match best {
                None => true,
                Some((len, v, _)) => (prefix.len(), verdict) > (len, v),
            };
            if better {
                best = Some((prefix.len(), verdict, prefix));
            }
        }
        match best {
            Some((_, Verdict::Allowed, _)) => return Ok(()),
            Some((_, Verdict::Blocked, p)) => {
                return Err(DialBlocked::BlockedPrefix {
                    prefix: p.to_owned(),
                });
            }
            Some((_, Verdict::Premium, p)) => {
                return Err(DialBlocked::PremiumRate {
                    prefix: p.to_owned(),
                });
            }
            None => {}
        }
        if self.allow_international || self.is_home(e164) {
            Ok(())
        } else {
            Err(DialBlocked::InternationalNotAllowed)
        }
    }

    /// Whether the number's country code is one of the home codes.
    pub fn is_home(&self, e164: &str) -> bool {
        let digits = e164.strip_prefix('+').unwrap_or(e164);
        self.home_country_codes
            .iter()
            .any(|c| !c.is_empty() && digits.starts_with(c.as_str()))
    }
}

/// For a NANP number `+1 NPA 976 XXXX`, its first 8 characters
/// (`+1NPA976`): the 976 exchanges were the pay-per-call ranges of each area
/// code (FCC 47 CFR 64.1501 and the state 976 rules). An allowed prefix of
/// the same length lets one through.
fn nanp_976_exchange(e164: &str) -> Option<&str> {
    let digits = e164.strip_prefix("+1")?;
    (digits.len() == 10 && &digits[3..6] == "976").then(|| &e164[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], blocked: &[&str]) -> DialPolicy {
        DialPolicy {
            allowed_prefixes: allowed.iter().map(|s| (*s).to_owned()).collect(),
            blocked_prefixes: blocked.iter().map(|s| (*s).to_owned()).collect(),
            ..DialPolicy::default()
        }
    }

    #[test]
    fn the_default_allows_nanp_and_refuses_the_rest() {
        let p = DialPolicy::default();
        assert!(p.problems().is_empty());
        assert_eq!(p.check("+14155550100"), Ok(()));
        assert_eq!(
            p.check("+442079460958"),
            Err(DialBlocked::InternationalNotAllowed)
        );
        assert_eq!(
            p.check("+442079460958").unwrap_err().code(),
            "international_not_allowed"
        );
    }

    #[test]
    fn premium_prefixes_are_refused_even_at_home() {
        let p = DialPolicy::default();
        let e = p.check("+19005550100").unwrap_err();
        assert_eq!(e.code(), "premium_rate");
        assert_eq!(
            e,
            DialBlocked::PremiumRate {
                prefix: "+1900".into()
            }
        );
        assert_eq!(p.check("+19765550100").unwrap_err().code(), "premium_rate");
        // A 976 exchange inside an ordinary area code.
        assert_eq!(
            p.check("+12129761234").unwrap_err(),
            DialBlocked::PremiumRate {
                prefix: "+1212976".into()
            }
        );
        let intl = DialPolicy {
            allow_international: true,
            ..DialPolicy::default()
        };
        for n in [
            "+870772123456",
            "+881631234567",
            "+88234123456",
            "+88312345678",
            "+97912345678",
            "+449012345678",
            "+449112345678",
            "+449812345678",
            "+448712345678",
            "+447012345678",
            "+499001234567",
            "+33899123456",
            "+61190123456",
        ] {
            assert_eq!(intl.check(n).unwrap_err().code(), "premium_rate", "{n}");
        }
        assert_eq!(intl.check("+442079460958"), Ok(()));
        assert_eq!(intl.check("+447911123456"), Ok(()));
    }

    #[test]
    fn allowed_prefixes_override_premium_and_international() {
        let p = policy(&["+1900", "+44"], &[]);
        assert_eq!(p.check("+19005550100"), Ok(()));
        assert_eq!(p.check("+442079460958"), Ok(()));
        // The longer premium prefix still wins over a shorter allowance.
        assert_eq!(p.check("+449012345678").unwrap_err().code(), "premium_rate");
        let p = policy(&["+4490"], &[]);
        assert_eq!(p.check("+449012345678"), Ok(()));
        // An allowance of the 976 exchange itself.
        let p = policy(&["+1212976"], &[]);
        assert_eq!(p.check("+12129761234"), Ok(()));
    }

    #[test]
    fn longest_match_wins_between_allowed_and_blocked() {
        let p = policy(&["+1415555"], &["+1415"]);
        assert_eq!(p.check("+14155550100"), Ok(()));
        assert_eq!(
            p.check("+14156660100").unwrap_err(),
            DialBlocked::BlockedPrefix {
                prefix: "+1415".into()
            }
        );
        let p = policy(&["+1"], &["+1876"]);
        assert_eq!(
            p.check("+18765550100").unwrap_err().code(),
            "blocked_prefix"
        );
        assert_eq!(p.check("+14155550100"), Ok(()));
    }

    #[test]
    fn blocked_beats_premium_on_a_tie() {
        let p = policy(&[], &["+1900"]);
        assert_eq!(
            p.check("+19005550100").unwrap_err().code(),
            "blocked_prefix"
        );
    }

    #[test]
    fn home_codes_are_prefix_matched() {
        let p = DialPolicy {
            home_country_codes: vec!["44".into(), "353".into()],
            ..DialPolicy::default()
        };
        assert_eq!(p.check("+442079460958"), Ok(()));
        assert_eq!(p.check("+35312345678"), Ok(()));
        assert_eq!(
            p.check("+14155550100"),
            Err(DialBlocked::InternationalNotAllowed)
        );
    }

    #[test]
    fn malformed_numbers_are_invalid() {
        let p = DialPolicy::default();
        for n in [
            "",
            "+",
            "14155550100",
            "+1 415 555 0100",
            "+123456",
            "+1234567890123456",
            "+1415555010a",
        ] {
            assert_eq!(p.check(n), Err(DialBlocked::InvalidNumber), "{n}");
            assert_eq!(p.check(n).unwrap_err().code(), "invalid_number");
        }
    }

    #[test]
    fn validation_names_each_bad_entry() {
        let p = DialPolicy {
            allow_international: false,
            home_country_codes: vec!["1".into(), "+44".into(), "0".into()],
            allowed_prefixes: vec!["+44".into(), "44".into()],
            blocked_prefixes: vec!["+44".into(), "+1234567890123456".into(), "+".into()],
        };
        let fields: Vec<_> = p
            .problems()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("home_country_codes[1]".to_owned(), "invalid_country_code"),
                ("home_country_codes[2]".to_owned(), "invalid_country_code"),
                ("allowed_prefixes[1]".to_owned(), "invalid_prefix"),
                ("blocked_prefixes[1]".to_owned(), "invalid_prefix"),
                ("blocked_prefixes[2]".to_owned(), "invalid_prefix"),
                ("blocked_prefixes[0]".to_owned(), "conflicting_prefix"),
            ]
        );
        let empty = DialPolicy {
            home_country_codes: Vec::new(),
            ..DialPolicy::default()
        };
        assert_eq!(empty.problems()[0].code, "required");
    }

    #[test]
    fn serde_round_trip_and_defaults() {
        let p: DialPolicy = serde_json::from_str(r#"{"home_country_codes":["1"]}"#).unwrap();
        assert_eq!(p, DialPolicy::default());
        assert!(
            serde_json::from_str::<DialPolicy>(r#"{"home_country_codes":["1"],"x":1}"#).is_err()
        );
        let s = serde_json::to_value(DialPolicy::default()).unwrap();
        assert_eq!(
            s,
            serde_json::json!({"allow_international": false, "home_country_codes": ["1"],
                "allowed_prefixes": [], "blocked_prefixes": []})
        );
    }
}
