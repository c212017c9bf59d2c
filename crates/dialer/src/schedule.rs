//! When a campaign dials, on top of every number's legal window: an
//! optional start and end, and windows of the day in the tenant's time zone
//! that recur on weekdays (`days`) or by an iCalendar recurrence rule
//! (`rrule`, RFC 5545: `FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE`,
//! `FREQ=MONTHLY;BYDAY=1MO`, `FREQ=DAILY;COUNT=10`, ...). A rule recurs from
//! the local date of `start_at`, so a campaign with a rule needs one.
//!
//! Only the dates of a rule's occurrences count: a window is open from its
//! `start` to its `end` on each date the rule produces.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rrule::{Frequency, RRuleSet};
use serde::{Deserialize, Serialize};

/// A window of the day (`start` to `end`, tenant time) on the days `days`
/// names, or on the dates `rrule` produces; neither: every day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveWindow {
    #[serde(default)]
    pub days: Vec<Weekday>,
    /// An RFC 5545 `RRULE` value (with or without the `RRULE:` name),
    /// recurring from the local date of the schedule's `start_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// When the campaign dials (on top of every number's legal window).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Start no earlier than this (a start before it schedules the
    /// campaign); the first date of every window's recurrence rule.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
    /// Stop dialing after this.
    #[serde(default)]
    pub end_at: Option<DateTime<Utc>>,
    /// Windows; empty: any time the law allows.
    #[serde(default)]
    pub windows: Vec<ActiveWindow>,
}

/// Why a window's recurrence rule cannot be used.
fn rule_set(rule: &str, first: NaiveDate) -> Result<RRuleSet, String> {
    let rule = rule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
    if rule.contains(['\n', '\r']) {
        return Err("one RRULE value, without DTSTART or other lines".into());
    }
    let text = format!("DTSTART:{}T000000Z\nRRULE:{rule}", first.format("%Y%m%d"));
    let set: RRuleSet = text.parse().map_err(|e: rrule::RRuleError| e.to_string())?;
    if set.get_rrule().iter().any(|r| {
        matches!(
            r.get_freq(),
            Frequency::Hourly | Frequency::Minutely | Frequency::Secondly
        )
    }) {
        return Err("recurs by days at the finest (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)".into());
    }
    Ok(set)
}

/// Whether `set` has an occurrence on `date`.
fn occurs_on(set: RRuleSet, date: NaiveDate) -> bool {
    let day = rrule::Tz::UTC.from_utc_datetime(&date.and_time(NaiveTime::MIN));
    !set.after(day - TimeDelta::seconds(1))
        .before(day + TimeDelta::days(1) - TimeDelta::seconds(1))
        .all(1)
        .dates
        .is_empty()
}

impl Schedule {
    /// Whether the campaign may dial at `at`, the windows read in `tz` (the
    /// tenant's time zone).
    pub fn open_at(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        use chrono::Datelike;
        if self.windows.is_empty() {
            return true;
        }
        let local = at.with_timezone(&tz).naive_local();
        let first = self.start_at.map(|s| s.with_timezone(&tz).date_naive());
        self.windows.iter().any(|w| {
            if local.time() < w.start || local.time() >= w.end {
                return false;
            }
            if !w.days.is_empty() && !w.days.contains(&local.weekday()) {
                return false;
            }
            match (&w.rrule, first) {
                (None, _) => true,
                (Some(rule), Some(first)) => {
                    rule_set(rule, first).is_ok_and(|set| occurs_on(set, local.date()))
                }
                // Refused by `problems`; never open rather than always.
                (Some(_), None) => false,
            }
        })
    }

    /// What is wrong with the schedule: `(field, message)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut unanchored = false;
        if let (Some(s), Some(e)) = (self.start_at, self.end_at)
            && e <= s
        {
            out.push(("schedule.end_at".into(), "is not after start_at".into()));
        }
        for (i, w) in self.windows.iter().enumerate() {
            if w.end <= w.start {
                out.push((
                    format!("schedule.windows[{i}]"),
                    "end is not after start".into(),
                ));
            }
            let Some(rule) = &w.rrule else { continue };
            let field = format!("schedule.windows[{i}].rrule");
            if !w.days.is_empty() {
                out.push((field, "give days or rrule, not both".into()));
            } else if let Some(start) = self.start_at {
                if let Err(e) = rule_set(rule, start.date_naive()) {
                    out.push((field, e));
                }
            } else {
                unanchored = true;
            }
        }
        if unanchored {
            out.push((
                "schedule.start_at".into(),
                "windows with an rrule recur from start_at: give one".into(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schedule(v: serde_json::Value) -> Schedule {
        serde_json::from_value(v).unwrap()
    }

    /// `h`:00 in New York on 2026-11-`day`.
    fn ny(day: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 11, day, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn weekday_windows_open_on_their_days_only() {
        let s = schedule(serde_json::json!({
            "windows": [{"days": ["Mon", "Tue"], "start": "09:00:00", "end": "17:00:00"}]
        }));
        // 2026-11-02 is a Monday.
        assert!(s.open_at(ny(2, 10), NY));
        assert!(!s.open_at(ny(2, 18), NY));
        assert!(!s.open_at(ny(4, 10), NY));
        // 10:00 in New York is 15:00 UTC: the zone is applied.
        assert!(!s.open_at(ny(2, 10), chrono_tz::Asia::Tokyo));
        assert!(Schedule::default().open_at(ny(4, 3), NY));
        assert!(s.problems().is_empty());
    }

    #[test]
    fn a_fortnightly_rule_opens_every_other_week_from_the_start() {
        // From Monday 2026-11-02, Mondays and Wednesdays of every other week.
        let s = schedule(serde_json::json!({
            "start_at": ny(2, 8),
            "windows": [{"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
                         "start": "09:00:00", "end": "17:00:00"}]
        }));
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert!(s.open_at(ny(2, 10), NY));
        assert!(s.open_at(ny(4, 16), NY));
        assert!(!s.open_at(ny(4, 17), NY), "after the window's end");
        assert!(!s.open_at(ny(3, 10), NY), "a Tuesday");
        assert!(!s.open_at(ny(9, 10), NY), "the week off");
        assert!(!s.open_at(ny(11, 10), NY), "the week off");
        assert!(s.open_at(ny(16, 10), NY));
        assert!(s.open_at(ny(18, 10), NY));
    }

    #[test]
    fn monthly_and_counted_rules() {
        let first_monday = schedule(serde_json::json!({
            "start_at": ny(1, 0),
            "windows": [{"rrule": "RRULE:FREQ=MONTHLY;BYDAY=1MO", "start": "08:00:00", "end": "20:00:00"}]
        }));
        assert!(first_monday.open_at(ny(2, 12), NY));
        assert!(!first_monday.open_at(ny(9, 12), NY));
        let dec_7 = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(first_monday.open_at(dec_7, NY));
        let three_days = schedule(serde_json::json!({
            "start_at": ny(20, 9),
            "windows": [{"rrule": "FREQ=DAILY;COUNT=3", "start": "08:00:00", "end": "20:00:00"}]
        }));
        assert!(!three_days.open_at(ny(19, 12), NY), "before the first date");
        assert!(three_days.open_at(ny(20, 12), NY));
        assert!(three_days.open_at(ny(22, 12), NY));
        assert!(!three_days.open_at(ny(23, 12), NY), "after COUNT");
    }

    #[test]
    fn bad_rules_are_problems_with_their_field() {
        let fields =
            |v| -> Vec<String> { schedule(v).problems().into_iter().map(|(f, _)| f).collect() };
        assert_eq!(
            fields(serde_json::json!({"windows": [
                {"rrule": "FREQ=DAILY", "start": "09:00:00", "end": "17:00:00"},
                {"rrule": "FREQ=WEEKLY", "start": "09:00:00", "end": "17:00:00"}]})),
            ["schedule.start_at"],
            "reported once"
        );
        for bad in [
            "FREQ=SOMETIMES",
            "FREQ=HOURLY",
            "BYDAY=MO",
            "FREQ=DAILY\nEXDATE:20261225T000000Z",
        ] {
            assert_eq!(
                fields(serde_json::json!({"start_at": ny(2, 8), "windows": [
                    {"rrule": bad, "start": "09:00:00", "end": "17:00:00"}]})),
                ["schedule.windows[0].rrule"],
                "{bad:?}"
            );
        }
        assert_eq!(
            fields(serde_json::json!({"start_at": ny(2, 8), "windows": [
                {"days": ["Mon"], "rrule": "FREQ=DAILY", "start": "09:00:00", "end": "17:00:00"}]})),
            ["schedule.windows[0].rrule"]
        );
        // A rule is never open without its anchor, even if stored somehow.
        let unanchored = schedule(serde_json::json!({"windows": [
            {"rrule": "FREQ=DAILY", "start": "00:00:00", "end": "23:59:59"}]}));
        assert!(!unanchored.open_at(ny(2, 10), NY));
    }
}
