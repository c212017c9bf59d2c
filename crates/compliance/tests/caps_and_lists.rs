//! DNC, opt-out, consent, exclusions, attempt caps, the 3-per-24h cap, the 72-hour rule.

mod common;

use common::*;
use omnivox_compliance::*;

const NY: &str = "+12125550100";
const FL: &str = "+13055550100";
const UK: &str = "+442079460018";

#[test]
fn three_calls_per_24h_across_campaigns() {
    // 14:00 EDT; calls from campaign A (23 h and 1 h ago) and campaign B (5 h ago).
    let now = utc("2026-06-10T18:00:00Z");
    let calls = [now - hours(23), now - hours(5), now - hours(1)];
    let mut i = input(FL, "2026-06-10T18:00:00Z");
    i.history.person_calls = &calls;
    let d = decide(&i);
    assert_defer(&d, "2026-06-10T19:00:00Z", ReasonCode::FrequencyCap24h);
    assert_eq!(
        d.reasons()[0].rule.map(|r| r.to_string()),
        Some("us_fl_ftsa".into())
    );
    assert!(d.audit().checks.contains(Checks::FREQUENCY_24H));
    // Two calls: fine. Same three calls to a New York number: no cap there.
    i.history.person_calls = &calls[1..];
    assert_allow(&decide(&i));
    let mut ny = input(NY, "2026-06-10T18:00:00Z");
    ny.history.person_calls = &calls;
    assert_allow(&decide(&ny));
    assert!(!decide(&ny).audit().checks.contains(Checks::FREQUENCY_24H));
    // Four calls in 24 h: wait until the second oldest leaves the window.
    let four = [
        now - hours(23),
        now - hours(20),
        now - hours(5),
        now - hours(1),
    ];
    i.history.person_calls = &four;
    assert_defer(
        &decide(&i),
        "2026-06-10T22:00:00Z",
        ReasonCode::FrequencyCap24h,
    );
    // A call exactly 24 h ago no longer counts; order of the slice does not matter.
    let edge = [now - hours(1), now - hours(24), now - hours(2)];
    i.history.person_calls = &edge;
    assert_allow(&decide(&i));
}

#[test]
fn frequency_cap_release_at_night_waits_for_the_window() {
    // 19:30 EDT; the oldest of three calls leaves at 20:30 EDT, after Florida's 20:00.
    let calls = [
        utc("2026-06-10T00:30:00Z"),
        utc("2026-06-10T15:00:00Z"),
        utc("2026-06-10T20:00:00Z"),
    ];
    let mut i = input(FL, "2026-06-10T23:30:00Z");
    i.history.person_calls = &calls;
    let d = decide(&i);
    assert_defer(&d, "2026-06-11T12:00:00Z", ReasonCode::FrequencyCap24h);
    assert!(d.has_reason(ReasonCode::CallingWindow));
}

#[test]
fn dnc_lists_exact_and_wildcard() {
    let mut internal = DncSet::internal();
    internal.insert("+1212*").unwrap();
    let mut campaign = DncSet::campaign(CampaignId(42));
    campaign.insert("+13055550100").unwrap();
    let (national, _) = NationalDnc::from_numbers(
        ["3055550100"],
        "us_national_dnc",
        utc("2026-05-01T00:00:00Z"),
    );
    let lists: [&dyn DncLookup; 3] = [&internal, &campaign, &national];

    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.dnc = &lists;
    let d = decide(&i);
    assert_deny(&d, ReasonCode::DncInternal);
    assert!(d.reasons()[0].message.contains("wildcard"), "{d:#?}");
    assert!(d.audit().warnings.contains(Warnings::STALE_DNC_REGISTRY));

    let mut i = input(FL, "2026-06-10T18:00:00Z");
    i.dnc = &lists;
    let d = decide(&i);
    assert_eq!(
        d.reason_codes(),
        [ReasonCode::DncCampaign, ReasonCode::DncNational]
    );

    let mut i = input("+12135550100", "2026-06-10T18:00:00Z");
    i.dnc = &lists;
    assert_allow(&decide(&i));
}

#[test]
fn opted_out_is_denied_even_inside_the_window() {
    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.contact.opted_out = true;
    assert_deny(&decide(&i), ReasonCode::OptedOut);
}

#[test]
fn consent_for_automated_dialing() {
    let case = |number, consent, written| {
        let mut i = input(number, "2026-06-10T18:00:00Z");
        i.campaign.automated = true;
        i.campaign.requires_written_consent = written;
        i.contact.consent = consent;
        decide(&i)
    };
    let d = case(FL, Consent::Express, false);
    assert_deny(&d, ReasonCode::ConsentMissing);
    assert_eq!(
        d.reasons()[0].rule.map(|r| r.to_string()),
        Some("us_fl_ftsa".into())
    );
    assert_allow(&case(FL, Consent::ExpressWritten, false));
    assert_allow(&case(NY, Consent::Express, false));
    assert_deny(&case(NY, Consent::None, false), ReasonCode::ConsentMissing);
    assert_deny(
        &case(NY, Consent::Express, true),
        ReasonCode::ConsentMissing,
    );
    // Manual dialing needs no consent record.
    assert_allow(&decide(&input(FL, "2026-06-10T18:00:00Z")));
}

#[test]
fn campaign_exclusions() {
    for states in [&["FL"][..], &["US-FL"], &["florida"]] {
        let mut i = input(FL, "2026-06-10T18:00:00Z");
        i.campaign.excluded_states = states;
        assert_deny(&decide(&i), ReasonCode::CampaignExcludedState);
    }
    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.campaign.excluded_states = &["FL"];
    assert_allow(&decide(&i));
    i.contact.place.postal_code = Some("33101");
    assert_deny(&decide(&i), ReasonCode::CampaignExcludedState);
    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.campaign.excluded_prefixes = &["+1212*"];
    assert_deny(&decide(&i), ReasonCode::CampaignExcludedPrefix);
    i.campaign.excluded_prefixes = &["+1213"];
    assert_allow(&decide(&i));
}

#[test]
fn attempt_caps() {
    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.campaign.max_attempts_total = Some(5);
    i.history.lead_attempts_total = 5;
    assert_deny(&decide(&i), ReasonCode::AttemptsTotalCap);
    i.history.lead_attempts_total = 4;
    assert_allow(&decide(&i));
    // Daily cap: next local midnight, then the window opens at 08:00 EDT.
    i.campaign.max_attempts_per_day = Some(3);
    i.history.lead_attempts_today = 3;
    let d = decide(&i);
    assert_defer(&d, "2026-06-11T12:00:00Z", ReasonCode::AttemptsDailyCap);
    assert!(d.has_reason(ReasonCode::CallingWindow));
    // Local day start for counting.
    let zones = [
        chrono_tz::Tz::America__New_York,
        chrono_tz::Tz::America__Los_Angeles,
    ];
    assert_eq!(
        local_day_start(&zones, utc("2026-06-10T18:00:00Z")),
        Some(utc("2026-06-10T04:00:00Z"))
    );
}

#[test]
fn uk_72_hour_rule_after_an_abandon() {
    // 11:00 BST; abandoned 22 h ago -> 72 h after it is 13:00 BST two days later.
    let mut i = input(UK, "2026-06-10T10:00:00Z");
    i.history.last_abandoned_at = Some(utc("2026-06-09T12:00:00Z"));
    let d = decide(&i);
    assert_defer(&d, "2026-06-12T12:00:00Z", ReasonCode::AbandonRedialBlock);
    assert_eq!(
        d.reasons()[0].rule.map(|r| r.to_string()),
        Some("gb_ofcom_abandoned_calls".into())
    );
    i.campaign.agent_guaranteed = true;
    assert_allow(&decide(&i));
    i.campaign.agent_guaranteed = false;
    // Block over: fine.
    i.history.last_abandoned_at = Some(utc("2026-06-07T09:00:00Z"));
    assert_allow(&decide(&i));
    // Block ending at 21:30 BST: next window start 08:00 BST.
    i.history.last_abandoned_at = Some(utc("2026-06-09T20:30:00Z"));
    let d = decide(&i);
    assert_defer(&d, "2026-06-13T07:00:00Z", ReasonCode::AbandonRedialBlock);
    assert!(d.has_reason(ReasonCode::CallingWindow));
}

#[test]
fn uk_mode_applies_the_72_hour_rule_anywhere() {
    let mut i = input(NY, "2026-06-10T18:00:00Z");
    i.history.last_abandoned_at = Some(utc("2026-06-10T17:00:00Z"));
    assert_allow(&decide(&i));
    i.campaign.uk_mode = true;
    assert_defer(
        &decide(&i),
        "2026-06-13T17:00:00Z",
        ReasonCode::AbandonRedialBlock,
    );
    i.campaign.agent_guaranteed = true;
    assert_allow(&decide(&i));
}

#[test]
fn invalid_numbers_are_denied() {
    for n in [
        "12125550100",
        "+",
        "+0212",
        "+1 212 555 0100",
        "+1234567890123456",
    ] {
        assert_deny(
            &decide(&input(n, "2026-06-10T18:00:00Z")),
            ReasonCode::InvalidNumber,
        );
    }
}

#[test]
fn all_deny_reasons_are_reported_together() {
    let mut internal = DncSet::internal();
    internal.insert(FL).unwrap();
    let lists: [&dyn DncLookup; 1] = [&internal];
    let mut i = input(FL, "2026-06-10T18:00:00Z");
    i.dnc = &lists;
    i.contact.opted_out = true;
    i.campaign.automated = true;
    assert_eq!(
        decide(&i).reason_codes(),
        [
            ReasonCode::DncInternal,
            ReasonCode::OptedOut,
            ReasonCode::ConsentMissing
        ]
    );
}

#[test]
fn decisions_serialize_with_stable_codes() {
    let mut i = input(FL, "2026-06-11T00:00:00Z");
    i.campaign.automated = true;
    i.contact.consent = Consent::ExpressWritten;
    let d = decide(&i);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["outcome"], "defer");
    assert_eq!(json["until"], "2026-06-11T12:00:00Z");
    assert_eq!(json["reasons"][0]["code"], "calling_window");
    assert_eq!(json["reasons"][0]["rule"], "us_fl_ftsa");
    assert_eq!(json["reasons"][0]["rule_set_version"], "2026.11.1");
    assert_eq!(json["audit"]["rule_set_version"], "2026.11.1");
    assert!(
        json["audit"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "consent")
    );
    let rules = RuleSet::embedded().unwrap();
    let ids: Vec<&str> = rules.rule_ids(d.audit().rules).collect();
    assert_eq!(ids, ["us_federal", "us_fl_ftsa"]);
    for code in [
        ReasonCode::FrequencyCap24h,
        ReasonCode::DncNational,
        ReasonCode::NoAllowedTime,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}
