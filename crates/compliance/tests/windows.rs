//! Calling windows: boundaries, DST, several zones, state hours, holidays, tenant rules.

mod common;

use chrono::NaiveDate;
use chrono_tz::Tz;
use common::*;
use omnivox_compliance::*;

const NY: &str = "+12125550100"; // America/New_York, federal rules only
const FL: &str = "+13055550100"; // Miami: Florida rules
const SD: &str = "+16055550100"; // South Dakota: America/Denver + America/North_Dakota/Center

fn at(number: &str, now: &str) -> Decision {
    decide(&input(number, now))
}

#[test]
fn new_york_boundaries_0759_0800_2059_2100() {
    // 2026-06-10 is a Wednesday; EDT = UTC-4.
    assert_defer(
        &at(NY, "2026-06-10T11:59:00Z"),
        "2026-06-10T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at(NY, "2026-06-10T11:59:59.999Z"),
        "2026-06-10T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(NY, "2026-06-10T12:00:00Z"));
    assert_allow(&at(NY, "2026-06-11T00:59:00Z"));
    assert_allow(&at(NY, "2026-06-11T00:59:59Z"));
    assert_defer(
        &at(NY, "2026-06-11T01:00:00Z"),
        "2026-06-11T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    let d = at(NY, "2026-06-11T01:00:00Z");
    let r = &d.reasons()[0];
    assert_eq!(r.rule.map(|r| r.to_string()), Some("us_federal".into()));
    assert_eq!(r.rule_set_version.as_str(), "2026.11.1");
    assert!(
        r.message.contains("2026-06-10 21:00 EDT America/New_York"),
        "{}",
        r.message
    );
}

#[test]
fn spring_forward_day_in_new_york() {
    // Sat 2026-03-07 21:00 EST -> Sunday 2026-03-08 08:00 EDT (12:00Z, not 13:00Z).
    assert_defer(
        &at(NY, "2026-03-08T02:00:00Z"),
        "2026-03-08T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at(NY, "2026-03-08T11:59:00Z"),
        "2026-03-08T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(NY, "2026-03-08T12:00:00Z"));
    assert_allow(&at(NY, "2026-03-09T00:59:00Z"));
    assert_defer(
        &at(NY, "2026-03-09T01:00:00Z"),
        "2026-03-09T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    // The day before, 08:00 EST is 13:00Z.
    assert_defer(
        &at(NY, "2026-03-07T12:30:00Z"),
        "2026-03-07T13:00:00Z",
        ReasonCode::CallingWindow,
    );
}

#[test]
fn fall_back_day_in_new_york() {
    // Sat 2026-10-31 21:00 EDT -> Sunday 2026-11-01 08:00 EST (13:00Z).
    assert_defer(
        &at(NY, "2026-11-01T01:00:00Z"),
        "2026-11-01T13:00:00Z",
        ReasonCode::CallingWindow,
    );
    // 05:30Z and 06:30Z are both 01:30 local (the repeated hour).
    assert_defer(
        &at(NY, "2026-11-01T05:30:00Z"),
        "2026-11-01T13:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at(NY, "2026-11-01T06:30:00Z"),
        "2026-11-01T13:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at(NY, "2026-11-01T12:59:00Z"),
        "2026-11-01T13:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(NY, "2026-11-01T13:00:00Z"));
    assert_allow(&at(NY, "2026-11-02T01:59:00Z"));
    assert_defer(
        &at(NY, "2026-11-02T02:00:00Z"),
        "2026-11-02T13:00:00Z",
        ReasonCode::CallingWindow,
    );
}

#[test]
fn area_code_with_two_zones_must_pass_in_both() {
    // 08:30 CDT is 07:30 MDT: wait for 08:00 MDT (14:00Z).
    assert_defer(
        &at(SD, "2026-06-10T13:30:00Z"),
        "2026-06-10T14:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(SD, "2026-06-10T14:00:00Z"));
    assert_allow(&at(SD, "2026-06-11T01:59:00Z")); // 20:59 CDT
    // 21:00 CDT is only 20:00 MDT, but Central is closed: next 08:00 MDT.
    assert_defer(
        &at(SD, "2026-06-11T02:00:00Z"),
        "2026-06-11T14:00:00Z",
        ReasonCode::CallingWindow,
    );
    // A Colorado address narrows the number to Mountain time: 21:30 CDT / 20:30 MDT is fine.
    let mut i = input(SD, "2026-06-11T02:30:00Z");
    i.contact.place.postal_code = Some("80202");
    assert_allow(&decide(&i));
    assert_defer(
        &at(SD, "2026-06-11T02:30:00Z"),
        "2026-06-11T14:00:00Z",
        ReasonCode::CallingWindow,
    );
}

#[test]
fn number_and_address_in_different_zones_must_pass_in_both() {
    // New York number, Californian address: from 08:00 PDT (15:00Z) to 21:00 EDT (01:00Z).
    let mut i = input(NY, "2026-06-10T14:00:00Z");
    i.contact.place.state = Some("CA");
    let d = decide(&i);
    assert_defer(&d, "2026-06-10T15:00:00Z", ReasonCode::CallingWindow);
    assert!(d.audit().warnings.contains(Warnings::LOCATION_CONFLICT));
}

#[test]
fn country_with_several_zones() {
    // An Australian mobile (non-geographic): Cocos (UTC+6:30) to Lord Howe (UTC+10:30
    // in June): 08:00 in Cocos = 01:30Z, 21:00 on Lord Howe = 10:30Z.
    let case = |now: &str| {
        let mut i = input("+61412345678", now);
        i.contact.number_kind = NumberKind::NonGeographic;
        decide(&i)
    };
    assert_defer(
        &case("2026-06-15T01:00:00Z"),
        "2026-06-15T01:30:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&case("2026-06-15T01:30:00Z"));
    assert_allow(&case("2026-06-15T10:29:00Z"));
    assert_defer(
        &case("2026-06-15T10:30:00Z"),
        "2026-06-16T01:30:00Z",
        ReasonCode::CallingWindow,
    );
    // The same number located by prefix is Sydney only: open until 21:00 AEST = 11:00Z.
    assert_allow(&at("+61412345678", "2026-06-15T10:30:00Z"));
}

#[test]
fn florida_closes_at_2000_federal_states_at_2100() {
    // 20:00 EDT = 00:00Z.
    let d = at(FL, "2026-06-11T00:00:00Z");
    assert_defer(&d, "2026-06-11T12:00:00Z", ReasonCode::CallingWindow);
    assert!(
        d.reasons()
            .iter()
            .any(|r| r.rule.is_some_and(|id| id == "us_fl_ftsa")),
        "{d:#?}"
    );
    assert_allow(&at(FL, "2026-06-10T23:59:00Z"));
    assert_allow(&at(NY, "2026-06-11T00:00:00Z"));
    // A New York number of a Florida resident gets Florida's hours too.
    let mut i = input(NY, "2026-06-11T00:00:00Z");
    i.contact.place.state = Some("Florida");
    assert_defer(
        &decide(&i),
        "2026-06-11T12:00:00Z",
        ReasonCode::CallingWindow,
    );
    // Oklahoma (Central) and Maryland (Eastern) as well.
    assert_defer(
        &at("+14055550100", "2026-06-11T01:00:00Z"),
        "2026-06-11T13:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at("+14105550100", "2026-06-11T00:00:00Z"),
        "2026-06-11T12:00:00Z",
        ReasonCode::CallingWindow,
    );
}

#[test]
fn texas_sunday_starts_at_noon() {
    let tx = "+12145550100"; // Dallas, Central
    assert_defer(
        &at(tx, "2026-06-14T15:00:00Z"),
        "2026-06-14T17:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_defer(
        &at(tx, "2026-06-13T13:30:00Z"),
        "2026-06-13T14:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(tx, "2026-06-14T17:00:00Z"));
}

#[test]
fn louisiana_holiday_then_sunday() {
    // Fri 2026-07-03 is Independence Day observed, Sat the 4th the holiday itself,
    // Sunday closed: next is Monday 08:00 CDT.
    let d = at("+15045550100", "2026-07-03T15:00:00Z");
    assert_defer(&d, "2026-07-06T13:00:00Z", ReasonCode::LegalHoliday);
    assert!(
        d.reasons()
            .iter()
            .any(|r| r.message.contains("independence_day")),
        "{d:#?}"
    );
    assert!(d.audit().checks.contains(Checks::LEGAL_HOLIDAYS));
    assert!(
        d.audit()
            .warnings
            .contains(Warnings::RULE_CONFIDENCE_BELOW_HIGH)
    );
}

#[test]
fn canada_weekend_hours() {
    let to = "+14165550100";
    assert_defer(
        &at(to, "2026-06-13T13:30:00Z"),
        "2026-06-13T14:00:00Z",
        ReasonCode::CallingWindow,
    );
    assert_allow(&at(to, "2026-06-11T01:15:00Z")); // Wed 21:15 EDT
    assert_defer(
        &at(to, "2026-06-11T01:30:00Z"),
        "2026-06-11T13:00:00Z",
        ReasonCode::CallingWindow,
    );
}

#[test]
fn tenant_hours_and_holidays() {
    let week = WeekHours::parse("mon-fri 09:00-17:00").unwrap();
    let mut i = input(NY, "2026-06-13T14:00:00Z"); // Saturday 10:00 EDT
    i.tenant.hours = Some(&week);
    let d = decide(&i);
    assert_defer(&d, "2026-06-15T13:00:00Z", ReasonCode::TenantWindow);
    assert!(!d.has_reason(ReasonCode::CallingWindow));

    let days = [NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()];
    let mut i = input(NY, "2026-12-24T15:00:00Z"); // Thursday 10:00 EST
    i.tenant.holidays = &days;
    assert_defer(
        &decide(&i),
        "2026-12-25T13:00:00Z",
        ReasonCode::TenantHoliday,
    );
    // The same date in the tenant's London calendar ends at 00:00 GMT = 19:00 EST.
    i.tenant.holiday_zone = HolidayZone::Tenant(Tz::Europe__London);
    assert_defer(
        &decide(&i),
        "2026-12-25T00:00:00Z",
        ReasonCode::TenantHoliday,
    );
}

#[test]
fn no_allowed_time_denies() {
    let mut i = input(NY, "2026-06-10T14:00:00Z");
    i.tenant.hours = Some(&WeekHours::CLOSED);
    assert_deny(&decide(&i), ReasonCode::NoAllowedTime);
}

#[test]
fn unknown_location_denies_or_uses_fallback_zones() {
    assert_deny(
        &at("+80012345678", "2026-06-10T14:00:00Z"),
        ReasonCode::LocationUnknown,
    );
    let rules = RuleSet::parse(
        "version test-1\nunknown_location zones Etc/GMT+5\nrule d\n applies *\n hours all 08:00-21:00\n source test\nend\n",
    )
    .unwrap();
    let mut i = input("+80012345678", "2026-06-10T12:00:00Z");
    i.rules = &rules;
    let d = decide(&i);
    assert_defer(&d, "2026-06-10T13:00:00Z", ReasonCode::CallingWindow);
    assert!(
        d.audit()
            .warnings
            .contains(Warnings::LOCATION_FALLBACK_ZONES)
    );
    assert_eq!(d.rule_set_version(), "test-1");
}

#[test]
fn window_starts_that_do_not_exist_or_repeat_on_dst_days() {
    // A (hypothetical) rule opening at 02:30: on 2026-03-08 02:30 does not exist in New
    // York; the window opens when the clock jumps to 03:00 EDT (07:00Z).
    let gap = RuleSet::parse(
        "version dst-1\nrule r\n applies US\n hours all 02:30-04:00\n source test\nend\n",
    )
    .unwrap();
    let mut i = input(NY, "2026-03-08T05:00:00Z");
    i.rules = &gap;
    assert_defer(
        &decide(&i),
        "2026-03-08T07:00:00Z",
        ReasonCode::CallingWindow,
    );
    // Opening at 01:30 on 2026-11-01 (01:30 happens twice): the first one, 01:30 EDT.
    let fold = RuleSet::parse(
        "version dst-2\nrule r\n applies US\n hours all 01:30-03:00\n source test\nend\n",
    )
    .unwrap();
    let mut i = input(NY, "2026-11-01T04:00:00Z");
    i.rules = &fold;
    assert_defer(
        &decide(&i),
        "2026-11-01T05:30:00Z",
        ReasonCode::CallingWindow,
    );
    // A tenant window 00:00-01:30 closes at 01:30 EDT and reopens at 01:00 EST.
    let week = WeekHours::parse("all 00:00-01:30").unwrap();
    let open = RuleSet::parse("version dst-3\nrule r\n applies US\n source test\nend\n").unwrap();
    let mut i = input(NY, "2026-11-01T05:45:00Z");
    i.rules = &open;
    i.tenant.hours = Some(&week);
    assert_defer(
        &decide(&i),
        "2026-11-01T06:00:00Z",
        ReasonCode::TenantWindow,
    );
}
