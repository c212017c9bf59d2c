//! Property check: a deferral's `until` is allowed, and nothing before it is.
//! Random leads over 2026 (including both DST days), brute-forced on a 7-minute grid
//! plus every second of the last two minutes before `until`.

mod common;

use chrono::{NaiveDate, TimeDelta};
use common::*;
use omnivox_compliance::*;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const NUMBERS: [(&str, NumberKind); 12] = [
    ("+12125550100", NumberKind::Unknown),
    ("+13055550100", NumberKind::Unknown),
    ("+16055550100", NumberKind::Unknown),
    ("+12145550100", NumberKind::Unknown),
    ("+15045550100", NumberKind::Unknown),
    ("+14015550100", NumberKind::Unknown),
    ("+18015550100", NumberKind::Unknown),
    ("+14165550100", NumberKind::Unknown),
    ("+442079460018", NumberKind::Unknown),
    ("+61412345678", NumberKind::NonGeographic),
    ("+19075550100", NumberKind::Unknown),
    ("+14055550100", NumberKind::Unknown),
];

#[test]
fn until_is_the_earliest_allowed_instant() {
    let mut rng = Rng(0xC0FF_EE11_D00D_F00D);
    let week =
        WeekHours::parse("mon-fri 09:00-12:00,13:00-19:30; sat 10:00-14:00; sun closed").unwrap();
    let holidays = [
        NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
    ];
    let year_start = utc("2026-01-01T00:00:00Z");
    let dst_days = [utc("2026-03-07T12:00:00Z"), utc("2026-10-31T12:00:00Z")];
    let (mut deferred, mut checked) = (0, 0);
    for case in 0..600 {
        let (number, kind) = NUMBERS[rng.below(NUMBERS.len() as u64) as usize];
        let now = if case % 4 == 0 {
            dst_days[rng.below(2) as usize] + TimeDelta::minutes(rng.below(36 * 60) as i64)
        } else {
            year_start + TimeDelta::seconds(rng.below(365 * 86_400) as i64)
        };
        let calls: Vec<_> = (0..rng.below(5))
            .map(|_| now - TimeDelta::minutes(rng.below(26 * 60) as i64))
            .collect();
        let now_s = now.to_rfc3339();
        let mut i = input(number, &now_s);
        i.contact.number_kind = kind;
        i.history.person_calls = &calls;
        if rng.below(4) == 0 {
            i.history.last_abandoned_at = Some(now - TimeDelta::minutes(rng.below(80 * 60) as i64));
            i.campaign.uk_mode = rng.below(2) == 0;
        }
        if rng.below(3) == 0 {
            i.tenant.hours = Some(&week);
        }
        if rng.below(3) == 0 {
            i.tenant.holidays = &holidays;
            if rng.below(2) == 0 {
                i.tenant.holiday_zone = HolidayZone::Tenant(chrono_tz::Tz::Europe__Paris);
            }
        }
        let d = decide(&i);
        let Some(until) = d.deferred_until() else {
            assert!(d.is_allow(), "case {case}: {d:#?}");
            continue;
        };
        deferred += 1;
        let at = |t| {
            let mut j = i;
            j.now = t;
            decide(&j)
        };
        assert!(
            at(until).is_allow(),
            "case {case} {number} now {now}: until {until} not allowed: {:#?}",
            at(until)
        );
        if until - now > TimeDelta::days(5) {
            continue;
        }
        let mut t = now;
        while t < until {
            assert!(
                !at(t).is_allow(),
                "case {case} {number} now {now}: {t} is allowed before until {until}"
            );
            t += TimeDelta::minutes(7);
            checked += 1;
        }
        let mut t = (until - TimeDelta::minutes(2)).max(now);
        while t < until {
            assert!(
                !at(t).is_allow(),
                "case {case} {number} now {now}: {t} is allowed before until {until}"
            );
            t += TimeDelta::seconds(1);
            checked += 1;
        }
    }
    println!("{deferred} deferred, {checked} instants checked");
    assert!(
        deferred > 200 && checked > 50_000,
        "{deferred} deferred, {checked} instants checked"
    );
}
