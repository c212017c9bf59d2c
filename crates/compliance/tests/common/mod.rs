//! Shared helpers of the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use omnivox_compliance::*;

pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

/// A decision input with neutral facts: no DNC, no caps, no tenant rules.
pub fn input<'a>(number: &'a str, now: &str) -> DecisionInput<'a> {
    DecisionInput {
        number,
        contact: ContactFacts::default(),
        campaign: CampaignFacts::default(),
        history: AttemptHistory::default(),
        tenant: TenantRules::default(),
        dnc: &[],
        now: utc(now),
        rules: RuleSet::embedded().unwrap(),
        geo: Geo::embedded().unwrap(),
    }
}

#[track_caller]
pub fn assert_allow(d: &Decision) {
    assert!(d.is_allow(), "expected allow, got {d:#?}");
}

#[track_caller]
pub fn assert_defer(d: &Decision, until: &str, code: ReasonCode) {
    assert_eq!(d.deferred_until(), Some(utc(until)), "{d:#?}");
    assert!(d.has_reason(code), "expected reason {code}, got {d:#?}");
}

#[track_caller]
pub fn assert_deny(d: &Decision, code: ReasonCode) {
    assert_eq!(d.outcome(), "deny", "{d:#?}");
    assert!(d.has_reason(code), "expected reason {code}, got {d:#?}");
}
