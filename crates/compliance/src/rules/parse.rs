//! Parser of the line-oriented rule file.

use chrono::TimeDelta;
use chrono_tz::Tz;

use super::{Confidence, Consent, Jurisdiction, MAX_RULES, Rule, UnknownLocation};
use crate::error::RuleError;
use crate::geo::{Region, Subdivision};
use crate::hours::{HolidaySpec, US_FEDERAL_HOLIDAYS, WeekHours, parse_day_hours, parse_days};
use crate::short::ShortStr;

pub(super) struct Parsed {
    pub version: ShortStr,
    pub rules: Vec<Rule>,
    pub unknown_location: UnknownLocation,
}

const US_FEDERAL_NAMES: [&str; 11] = [
    "new_years_day",
    "martin_luther_king_jr_day",
    "washingtons_birthday",
    "memorial_day",
    "juneteenth",
    "independence_day",
    "labor_day",
    "columbus_day",
    "veterans_day",
    "thanksgiving_day",
    "christmas_day",
];

fn jurisdiction(s: &str) -> Option<Jurisdiction> {
    if s == "*" {
        return Some(Jurisdiction::Default);
    }
    match s.split_once('-') {
        None => Region::new(s).map(Jurisdiction::Country),
        Some((country, sub)) => {
            let region = Region::new(country)?;
            let b = sub.as_bytes();
            (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic)).then(|| {
                Jurisdiction::Subdivision(Subdivision {
                    region,
                    code: [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()],
                })
            })
        }
    }
}

struct Draft {
    rule: Rule,
    hours_set: bool,
}

pub(super) fn parse(text: &str) -> Result<Parsed, RuleError> {
    let mut version = None;
    let mut unknown_location = UnknownLocation::Deny;
    let mut rules: Vec<Rule> = Vec::new();
    let mut current: Option<Draft> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |message: String| RuleError::Line {
            line: line_no,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = match line.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (line, ""),
        };
        if let Some(draft) = current.as_mut() {
            let rule = &mut draft.rule;
            match key {
                "end" => {
                    let Some(done) = current.take() else { continue };
                    if done.rule.applies.is_empty() {
                        return Err(err(format!("rule {} has no `applies`", done.rule.id)));
                    }
                    if done.rule.sources.is_empty() {
                        return Err(err(format!("rule {} has no `source`", done.rule.id)));
                    }
                    let mut rule = done.rule;
                    rule.hours_restricted = !rule.hours.is_always();
                    rules.push(rule);
                }
                "applies" => {
                    for j in rest.split_whitespace() {
                        rule.applies.push(
                            jurisdiction(j)
                                .ok_or_else(|| err(format!("bad jurisdiction {j:?}")))?,
                        );
                    }
                }
                "hours" => {
                    let (days, hours) = rest
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| err("expected `hours <days> <intervals>`".into()))?;
                    if !draft.hours_set {
                        rule.hours = WeekHours::CLOSED;
                        draft.hours_set = true;
                    }
                    let day_hours =
                        parse_day_hours(hours.trim()).map_err(|e| err(e.to_string()))?;
                    for wd in parse_days(days).map_err(|e| err(e.to_string()))? {
                        rule.hours.set(wd, day_hours);
                    }
                }
                "holidays" => match rest {
                    "us_federal" => {
                        for (name, spec) in US_FEDERAL_NAMES.iter().zip(US_FEDERAL_HOLIDAYS) {
                            rule.holidays.push(((*name).to_owned(), spec));
                        }
                    }
                    other => return Err(err(format!("unknown holiday calendar {other:?}"))),
                },
                "holiday" => {
                    let (name, spec) = rest
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| err("expected `holiday <name> <spec>`".into()))?;
                    let spec = HolidaySpec::parse(spec.trim()).map_err(|e| err(e.to_string()))?;
                    rule.holidays.push((name.to_owned(), spec));
                }
                "max_calls_per_24h" => {
                    let cap: u32 = rest
                        .parse()
                        .map_err(|_| err(format!("bad number {rest:?}")))?;
                    if cap == 0 {
                        return Err(err("max_calls_per_24h must be >= 1".into()));
                    }
                    rule.max_calls_per_24h = Some(cap);
                }
                "consent_for_automated" => {
                    rule.automated_consent = Some(match rest {
                        "express" => Consent::Express,
                        "written" => Consent::ExpressWritten,
                        other => return Err(err(format!("bad consent {other:?}"))),
                    });
                }
                "abandon_redial_block_hours" => {
                    let h: i64 = rest
                        .parse()
                        .map_err(|_| err(format!("bad number {rest:?}")))?;
                    if !(1..=24 * 365).contains(&h) {
                        return Err(err("abandon_redial_block_hours out of range".into()));
                    }
                    rule.abandon_redial_block = Some(TimeDelta::hours(h));
                }
                "confidence" => {
                    rule.confidence = match rest {
                        "high" => Confidence::High,
                        "medium" => Confidence::Medium,
                        "low" => Confidence::Low,
                        "policy" => Confidence::Policy,
                        other => return Err(err(format!("bad confidence {other:?}"))),
                    };
                }
                "source" if !rest.is_empty() => rule.sources.push(rest.to_owned()),
                "note" if !rest.is_empty() => rule.notes.push(rest.to_owned()),
                other => return Err(err(format!("unexpected {other:?} inside rule {}", rule.id))),
            }
            continue;
        }
        match key {
            "version" => {
                if version.is_some() {
                    return Err(err("version given twice".into()));
                }
                version = Some(
                    ShortStr::new(rest)
                        .filter(|v| !v.as_str().is_empty())
                        .ok_or_else(|| err("version must be 1-32 bytes".into()))?,
                );
            }
            "unknown_location" => {
                unknown_location = match rest.split_once(char::is_whitespace) {
                    None if rest == "deny" => UnknownLocation::Deny,
                    Some(("zones", zones)) => UnknownLocation::Zones(
                        zones
                            .split(',')
                            .map(|z| {
                                z.trim()
                                    .parse::<Tz>()
                                    .map_err(|_| err(format!("unknown zone {z:?}")))
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => {
                        return Err(err(
                            "expected `unknown_location deny` or `zones <tz>,...`".into()
                        ));
                    }
                };
            }
            "rule" => {
                let id = ShortStr::new(rest)
                    .filter(|id| {
                        !id.as_str().is_empty()
                            && id
                                .as_str()
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    })
                    .ok_or_else(|| {
                        err(format!("bad rule id {rest:?} (snake_case, <= 32 bytes)"))
                    })?;
                if rules.iter().any(|r| r.id == id) {
                    return Err(err(format!("duplicate rule id {id}")));
                }
                if rules.len() == MAX_RULES {
                    return Err(RuleError::File(format!("more than {MAX_RULES} rules")));
                }
                current = Some(Draft {
                    rule: Rule {
                        id,
                        applies: Vec::new(),
                        hours: WeekHours::ALWAYS,
                        hours_restricted: false,
                        holidays: Vec::new(),
                        max_calls_per_24h: None,
                        automated_consent: None,
                        abandon_redial_block: None,
                        confidence: Confidence::Low,
                        sources: Vec::new(),
                        notes: Vec::new(),
                    },
                    hours_set: false,
                });
            }
            other => return Err(err(format!("unexpected {other:?} outside a rule"))),
        }
    }
    if let Some(d) = current {
        return Err(RuleError::File(format!(
            "rule {} is not closed with `end`",
            d.rule.id
        )));
    }
    let version = version.ok_or_else(|| RuleError::File("missing `version`".into()))?;
    Ok(Parsed {
        version,
        rules,
        unknown_location,
    })
}

#[cfg(test)]
mod tests {
    use super::super::RuleSet;

    #[test]
    fn errors_name_the_line() {
        let bad = "version 1\nrule x\n  applies US\n  hours mon 9-5\n  source s\nend\n";
        let e = RuleSet::parse(bad).unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
        assert!(RuleSet::parse("rule x\n applies US\n source s\nend\n").is_err());
        assert!(RuleSet::parse("version 1\nrule x\n applies US\n").is_err());
        assert!(RuleSet::parse("version 1\nrule x\n source s\nend\n").is_err());
        assert!(RuleSet::parse("version 1\nrule X\n applies US\n source s\nend\n").is_err());
        assert!(RuleSet::parse("version 1\nbogus\n").is_err());
        let ok = RuleSet::parse("version 1\nunknown_location zones Etc/GMT+5,Europe/London\nrule x\n applies *\n source s\nend\n").unwrap();
        assert_eq!(ok.rules().len(), 1);
    }
}
