//! The versioned rule set (`rules/calling_rules.txt`) and the per-call [`Policy`]
//! that combines every rule applying to a called party (most restrictive wins).

use std::sync::OnceLock;

use chrono::{NaiveDate, TimeDelta};
use chrono_tz::Tz;

use crate::error::RuleError;
use crate::geo::{Location, Region, Subdivision};
use crate::hours::{HolidaySpec, WeekHours};
use crate::short::ShortStr;

mod parse;

/// The embedded rule file.
pub const EMBEDDED_RULES: &str = include_str!("../rules/calling_rules.txt");

/// Most rules a set may hold (they are tracked in a 128-bit mask).
pub const MAX_RULES: usize = 128;

/// Consent the contact gave for automated (autodialed / predictive / prerecorded) calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// No consent on record.
    #[default]
    None,
    /// Prior express consent (e.g. the person gave the number for this purpose).
    Express,
    /// Prior express written consent (signed, including e-sign).
    ExpressWritten,
}

impl Consent {
    /// Stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Consent::None => "none",
            Consent::Express => "express",
            Consent::ExpressWritten => "express_written",
        }
    }
}

/// How sure we are that a rule reflects the law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Checked against the statute or regulator text.
    High,
    /// Consistent across secondary sources; verify before relying on it.
    Medium,
    /// A single or conflicting source.
    Low,
    /// Not law: this project's conservative default.
    Policy,
}

/// Who a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jurisdiction {
    /// Any country without a country-level rule of its own.
    Default,
    /// A whole country (ISO region).
    Country(Region),
    /// A US state or CA province.
    Subdivision(Subdivision),
}

/// One rule of the file.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id (`us_fl_ftsa`), recorded in reasons.
    pub id: ShortStr,
    /// Where it applies.
    pub applies: Vec<Jurisdiction>,
    /// Allowed local hours ([`WeekHours::ALWAYS`] when the rule sets none).
    pub hours: WeekHours,
    /// Whether `hours` restricts anything (set by the parser).
    pub(crate) hours_restricted: bool,
    /// Closed dates (local date of the called party), with their names.
    pub holidays: Vec<(String, HolidaySpec)>,
    /// Rolling 24-hour cap per person and subject, across numbers and campaigns.
    pub max_calls_per_24h: Option<u32>,
    /// Consent needed before automated dialing.
    pub automated_consent: Option<Consent>,
    /// No redial after an abandoned call for this long unless an agent is guaranteed.
    pub abandon_redial_block: Option<TimeDelta>,
    /// How sure we are.
    pub confidence: Confidence,
    /// Legal sources, one per `source` line.
    pub sources: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

/// What to do when no time zone at all is known for a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownLocation {
    /// Do not dial (`location_unknown`).
    Deny,
    /// Check the default rules' windows in all of these zones.
    Zones(Vec<Tz>),
}

/// A set of rules selected for one call, as a bit mask over [`RuleSet::rules`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleMask(pub u128);

impl RuleMask {
    /// Whether rule `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        i < MAX_RULES && self.0 & (1u128 << i) != 0
    }

    /// Indices of the rules in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + use<> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(i)
        })
    }

    /// Whether no rule is selected.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// Everything that applies to one called party, merged (most restrictive wins).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The selected rules.
    pub rules: RuleMask,
    /// Intersection of the selected rules' hours.
    pub hours: WeekHours,
    /// Smallest rolling-24 h cap and the rule index setting it.
    pub max_calls_per_24h: Option<(u32, usize)>,
    /// Strictest consent needed for automated dialing, and the rule index.
    pub automated_consent: Option<(Consent, usize)>,
    /// Longest abandon redial block, and the rule index.
    pub abandon_redial_block: Option<(TimeDelta, usize)>,
    /// Whether any selected rule closes holidays.
    pub has_holidays: bool,
}

/// A parsed, versioned rule file.
#[derive(Clone, Debug)]
pub struct RuleSet {
    version: ShortStr,
    rules: Vec<Rule>,
    index: Vec<(u32, RuleMask)>,
    default_mask: RuleMask,
    unknown_location: UnknownLocation,
    /// Merged policies of the common masks (one country's rules, optionally plus one
    /// subdivision's), sorted by mask; other masks are merged on the fly.
    cache: Vec<(u128, Policy)>,
}

static EMBEDDED: OnceLock<Result<RuleSet, RuleError>> = OnceLock::new();

fn key_country(r: Region) -> u32 {
    let b = r.as_str().as_bytes();
    (u32::from(b[0]) << 24) | (u32::from(b[1]) << 16)
}

fn key_sub(s: &Subdivision) -> u32 {
    key_country(s.region) | (u32::from(s.code[0]) << 8) | u32::from(s.code[1])
}

impl RuleSet {
    /// The embedded rule file, parsed on first use (tested to parse).
    pub fn embedded() -> Result<&'static RuleSet, &'static RuleError> {
        EMBEDDED
            .get_or_init(|| RuleSet::parse(EMBEDDED_RULES))
            .as_ref()
    }

    /// Parse a rule file (format in the header of `rules/calling_rules.txt`).
    pub fn parse(text: &str) -> Result<RuleSet, RuleError> {
        let parsed = parse::parse(text)?;
        let mut index: Vec<(u32, RuleMask)> = Vec::new();
        let mut default_mask = RuleMask::default();
        for (i, rule) in parsed.rules.iter().enumerate() {
            for j in &rule.applies {
                let key = match j {
                    Jurisdiction::Default => {
                        default_mask.0 |= 1u128 << i;
                        continue;
                    }
                    Jurisdiction::Country(r) => key_country(*r),
                    Jurisdiction::Subdivision(s) => key_sub(s),
                };
                match index.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, m)) => m.0 |= 1u128 << i,
                    None => index.push((key, RuleMask(1u128 << i))),
                }
            }
        }
        index.sort_by_key(|(k, _)| *k);
        let mut set = RuleSet {
            version: parsed.version,
            rules: parsed.rules,
            index,
            default_mask,
            unknown_location: parsed.unknown_location,
            cache: Vec::new(),
        };
        let is_country = |k: u32| k & 0xffff == 0;
        let mut bases: Vec<u128> = vec![set.default_mask.0];
        bases.extend(
            set.index
                .iter()
                .filter(|(k, _)| is_country(*k))
                .map(|(_, m)| m.0),
        );
        let subs: Vec<u128> = set
            .index
            .iter()
            .filter(|(k, _)| !is_country(*k))
            .map(|(_, m)| m.0)
            .collect();
        let mut masks: Vec<u128> = Vec::new();
        for b in &bases {
            masks.push(*b);
            masks.extend(subs.iter().map(|s| b | s));
        }
        masks.sort_unstable();
        masks.dedup();
        set.cache = masks
            .into_iter()
            .map(|m| (m, set.merge(RuleMask(m))))
            .collect();
        Ok(set)
    }

    /// The version string recorded with every decision.
    pub fn version(&self) -> ShortStr {
        self.version
    }

    /// All rules, in file order (indices match [`RuleMask`]).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Rule by index.
    pub fn rule(&self, i: usize) -> Option<&Rule> {
        self.rules.get(i)
    }

    /// Rule by id.
    pub fn rule_by_id(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.as_str() == id)
    }

    /// Ids of the rules in `mask`.
    pub fn rule_ids(&self, mask: RuleMask) -> impl Iterator<Item = &str> + '_ {
        mask.iter()
            .filter_map(|i| self.rules.get(i))
            .map(|r| r.id.as_str())
    }

    /// What to do when no zone is known.
    pub fn unknown_location(&self) -> &UnknownLocation {
        &self.unknown_location
    }

    fn lookup(&self, key: u32) -> Option<RuleMask> {
        self.index
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|i| self.index[i].1)
    }

    /// The policy for a located called party: the rules of the number's region, of
    /// the address region, of every subdivision, and the default rules for a region
    /// without rules of its own (or when no region is known).
    pub fn policy(&self, loc: &Location<'_>) -> Policy {
        let mut regions = [None, None];
        regions[0] = loc.region;
        if loc.contact_region != loc.region {
            regions[1] = loc.contact_region;
        }
        let mut mask = RuleMask::default();
        let mut any_region = false;
        for r in regions.into_iter().flatten() {
            any_region = true;
            match self.lookup(key_country(r)) {
                Some(m) => mask.0 |= m.0,
                None => mask.0 |= self.default_mask.0,
            }
        }
        if !any_region {
            mask.0 |= self.default_mask.0;
        }
        for s in loc.subdivisions.as_slice() {
            if let Some(m) = self.lookup(key_sub(s)) {
                mask.0 |= m.0;
            }
        }
        match self.cache.binary_search_by_key(&mask.0, |(m, _)| *m) {
            Ok(i) => self.cache[i].1,
            Err(_) => self.merge(mask),
        }
    }

    /// Merge the rules of `mask` into one policy.
    pub fn merge(&self, mask: RuleMask) -> Policy {
        let mut p = Policy {
            rules: mask,
            hours: WeekHours::ALWAYS,
            max_calls_per_24h: None,
            automated_consent: None,
            abandon_redial_block: None,
            has_holidays: false,
        };
        let mut hours_set = false;
        for i in mask.iter() {
            let Some(r) = self.rules.get(i) else { continue };
            if r.hours_restricted {
                p.hours = if hours_set {
                    p.hours.intersect(&r.hours)
                } else {
                    r.hours
                };
                hours_set = true;
            }
            if let Some(cap) = r.max_calls_per_24h
                && p.max_calls_per_24h.is_none_or(|(c, _)| cap < c)
            {
                p.max_calls_per_24h = Some((cap, i));
            }
            if let Some(c) = r.automated_consent
                && p.automated_consent.is_none_or(|(have, _)| c > have)
            {
                p.automated_consent = Some((c, i));
            }
            if let Some(b) = r.abandon_redial_block
                && p.abandon_redial_block.is_none_or(|(have, _)| b > have)
            {
                p.abandon_redial_block = Some((b, i));
            }
            p.has_holidays |= !r.holidays.is_empty();
        }
        p
    }

    /// The first selected rule closing `date` (local date), with the holiday name.
    pub fn holiday(&self, policy: &Policy, date: NaiveDate) -> Option<(&Rule, &str)> {
        if !policy.has_holidays {
            return None;
        }
        policy
            .rules
            .iter()
            .filter_map(|i| self.rules.get(i))
            .find_map(|r| {
                r.holidays
                    .iter()
                    .find(|(_, h)| h.matches(date))
                    .map(|(name, _)| (r, name.as_str()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_parse() {
        let rs = RuleSet::embedded().unwrap();
        assert_eq!(rs.version().as_str(), "2026.11.1");
        assert_eq!(rs.unknown_location(), &UnknownLocation::Deny);
        let fl = rs.rule_by_id("us_fl_ftsa").unwrap();
        assert_eq!(fl.max_calls_per_24h, Some(3));
        assert_eq!(fl.automated_consent, Some(Consent::ExpressWritten));
        assert_eq!(fl.hours.to_string(), "all 08:00-20:00");
        let tx = rs.rule_by_id("us_tx").unwrap();
        assert_eq!(
            tx.hours.day(chrono::Weekday::Sun).to_string(),
            "12:00-21:00"
        );
        let uk = rs.rule_by_id("gb_ofcom_abandoned_calls").unwrap();
        assert_eq!(uk.abandon_redial_block, Some(TimeDelta::hours(72)));
        for r in rs.rules() {
            assert!(!r.sources.is_empty(), "{} has no source", r.id);
        }
    }

    #[test]
    fn cached_policies_equal_merged_ones() {
        let rs = RuleSet::embedded().unwrap();
        assert!(rs.cache.len() > 20);
        for (mask, p) in &rs.cache {
            let m = rs.merge(RuleMask(*mask));
            assert_eq!(
                (p.hours, p.max_calls_per_24h, p.automated_consent),
                (m.hours, m.max_calls_per_24h, m.automated_consent)
            );
            assert_eq!(
                (p.abandon_redial_block, p.has_holidays, p.rules),
                (m.abandon_redial_block, m.has_holidays, m.rules)
            );
        }
    }

    #[test]
    fn merge_is_most_restrictive() {
        let rs = RuleSet::embedded().unwrap();
        let mut mask = RuleMask::default();
        for id in ["us_federal", "us_fl_ftsa", "us_tx"] {
            let i = rs.rules().iter().position(|r| r.id.as_str() == id).unwrap();
            mask.0 |= 1 << i;
        }
        let p = rs.merge(mask);
        assert_eq!(p.hours.day(chrono::Weekday::Mon).to_string(), "09:00-20:00");
        assert_eq!(p.hours.day(chrono::Weekday::Sun).to_string(), "12:00-20:00");
        assert_eq!(p.max_calls_per_24h.map(|c| c.0), Some(3));
        assert_eq!(
            p.automated_consent.map(|c| c.0),
            Some(Consent::ExpressWritten)
        );
    }
}
