//! Conditions of a `condition` node: business hours with holidays in a time zone, time of
//! day, variable comparisons and the caller's number. Times are always taken as the UTC
//! instant from the call context and converted to the schedule's zone, so a DST change
//! moves the opening in UTC and never in local time.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A condition; `kind` selects the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Open per the weekly schedule and not a holiday.
    BusinessHours(Schedule),
    /// Local time within `from..to` (wrapping past midnight when `from > to`), optionally
    /// only on some days (the day the window starts).
    TimeOfDay {
        time_zone: TimeZone,
        from: LocalTime,
        to: LocalTime,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        days: Vec<Day>,
    },
    /// Compares a variable; numbers compare numerically when both sides parse.
    Variable {
        name: String,
        op: CompareOp,
        #[serde(default)]
        value: String,
    },
    /// The caller's E.164 number starts with one of the prefixes (`+1212`).
    CallerPrefix { prefixes: Vec<String> },
    /// The caller's country (ISO 3166 alpha-2, resolved by the call actor from the number)
    /// is one of these.
    CallerCountry { countries: Vec<String> },
}

/// Weekly opening hours in a zone, with closed holidays (local dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub time_zone: TimeZone,
    pub weekly: Vec<OpenHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenHours {
    pub days: Vec<Day>,
    pub open: LocalTime,
    /// Exclusive; `24:00` closes at midnight.
    pub close: LocalTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn of(w: Weekday) -> Day {
        match w {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    Exists,
    Missing,
}

/// A wall-clock time `HH:MM` (`00:00` to `24:00`), kept as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(u16);

impl LocalTime {
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for LocalTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid time `{s}`, expected HH:MM between 00:00 and 24:00");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(LocalTime(h * 60 + m))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An IANA time zone, checked when the flow is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone `{s}`")))
    }
}

/// What a condition can look at.
#[derive(Debug, Clone, Copy)]
pub struct ConditionInput<'a> {
    pub now: DateTime<Utc>,
    pub caller: &'a str,
    pub caller_country: Option<&'a str>,
    pub variables: &'a BTreeMap<String, String>,
}

impl Schedule {
    /// True when open at `now`: not a holiday in the zone and inside a weekly window.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.time_zone.0);
        if self.holidays.iter().any(|h| h.date == local.date_naive()) {
            return false;
        }
        let day = Day::of(local.weekday());
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.weekly
            .iter()
            .any(|w| w.days.contains(&day) && w.open.0 <= minute && minute < w.close.0)
    }
}

impl Condition {
    pub fn evaluate(&self, input: &ConditionInput<'_>) -> bool {
        match self {
            Condition::BusinessHours(s) => s.is_open(input.now),
            Condition::TimeOfDay {
                time_zone,
                from,
                to,
                days,
            } => {
                let local = input.now.with_timezone(&time_zone.0);
                let minute = (local.hour() * 60 + local.minute()) as u16;
                let today = Day::of(local.weekday());
                let yesterday = Day::of(local.weekday().pred());
                let day_ok = |d: Day| days.is_empty() || days.contains(&d);
                if from.0 <= to.0 {
                    day_ok(today) && from.0 <= minute && minute < to.0
                } else {
                    // Wraps midnight: the evening part belongs to today, the early-morning
                    // part to the window that started yesterday.
                    (minute >= from.0 && day_ok(today)) || (minute < to.0 && day_ok(yesterday))
                }
            }
            Condition::Variable { name, op, value } => {
                compare(input.variables.get(name).map(String::as_str), *op, value)
            }
            Condition::CallerPrefix { prefixes } => prefixes
                .iter()
                .any(|p| !p.is_empty() && input.caller.starts_with(p.as_str())),
            Condition::CallerCountry { countries } => input
                .caller_country
                .is_some_and(|c| countries.iter().any(|x| x.eq_ignore_ascii_case(c))),
        }
    }
}

fn compare(actual: Option<&str>, op: CompareOp, expected: &str) -> bool {
    use std::cmp::Ordering;
    let Some(actual) = actual else {
        return matches!(op, CompareOp::Missing | CompareOp::Ne);
    };
    let ordering = || match (actual.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(actual.cmp(expected)),
    };
    match op {
        CompareOp::Eq => ordering() == Some(Ordering::Equal),
        CompareOp::Ne => ordering() != Some(Ordering::Equal),
        CompareOp::Lt => ordering() == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ordering() == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Contains => actual.contains(expected),
        CompareOp::StartsWith => actual.starts_with(expected),
        CompareOp::Exists => true,
        CompareOp::Missing => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn ny_schedule() -> Schedule {
        serde_json::from_value(serde_json::json!({
            "time_zone": "America/New_York",
            "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "17:00"}],
            "holidays": [{"date": "2026-12-25", "name": "Christmas"}]
        }))
        .unwrap()
    }

    #[test]
    fn business_hours_follow_local_time_across_dst() {
        let s = ny_schedule();
        // Mon 2 Mar 2026 (EST, UTC-5): 13:30 UTC is 08:30 local -> closed; 14:00 UTC opens.
        assert!(!s.is_open(Utc.with_ymd_and_hms(2026, 3, 2, 13, 30, 0).unwrap()));
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap()));
        // Mon 9 Mar 2026, the day after DST starts (EDT, UTC-4): 13:30 UTC is 09:30 -> open.
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 3, 9, 13, 30, 0).unwrap()));
        // 21:00 UTC is 17:00 EDT -> closed (close is exclusive), but 16:00 EST was open.
        assert!(!s.is_open(Utc.with_ymd_and_hms(2026, 3, 9, 21, 0, 0).unwrap()));
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 3, 6, 21, 0, 0).unwrap()));
    }

    #[test]
    fn holiday_closes_a_weekday_by_local_date() {
        let s = ny_schedule();
        // Fri 25 Dec 2026 at noon local is a holiday.
        assert!(!s.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 17, 0, 0).unwrap()));
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 12, 24, 17, 0, 0).unwrap()));
        // 24 Dec 21:30 UTC is 16:30 local on a working day.
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 12, 24, 21, 30, 0).unwrap()));
    }

    #[test]
    fn holiday_uses_the_local_date_not_the_utc_date() {
        let s: Schedule = serde_json::from_value(serde_json::json!({
            "time_zone": "America/New_York",
            "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "24:00"}],
            "holidays": [{"date": "2026-12-25"}]
        }))
        .unwrap();
        // 26 Dec 03:00 UTC is 25 Dec 22:00 local: closed.
        assert!(!s.is_open(Utc.with_ymd_and_hms(2026, 12, 26, 3, 0, 0).unwrap()));
        // 25 Dec 03:00 UTC is 24 Dec 22:00 local: open.
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 3, 0, 0).unwrap()));
        // 26 Dec 05:00 UTC is 26 Dec 00:00 local: open again.
        assert!(s.is_open(Utc.with_ymd_and_hms(2026, 12, 26, 5, 0, 0).unwrap()));
    }

    #[test]
    fn time_of_day_wraps_midnight() {
        let c: Condition = serde_json::from_value(serde_json::json!({
            "kind": "time_of_day", "time_zone": "Europe/London", "from": "22:00", "to": "06:00",
            "days": ["fri"]
        }))
        .unwrap();
        let vars = BTreeMap::new();
        let at = |h, d| ConditionInput {
            now: Utc.with_ymd_and_hms(2026, 1, d, h, 0, 0).unwrap(),
            caller: "+441234",
            caller_country: Some("GB"),
            variables: &vars,
        };
        // 2 Jan 2026 is a Friday; London is UTC in January.
        assert!(c.evaluate(&at(23, 2)));
        assert!(c.evaluate(&at(3, 3))); // Saturday early morning, window began Friday
        assert!(!c.evaluate(&at(3, 2))); // Friday early morning, window began Thursday
        assert!(!c.evaluate(&at(12, 2)));
    }

    #[test]
    fn variable_comparisons_are_numeric_when_possible() {
        assert!(compare(Some("10"), CompareOp::Gt, "9"));
        assert!(!compare(Some("10"), CompareOp::Gt, "9x"));
        assert!(compare(Some("abc"), CompareOp::StartsWith, "ab"));
        assert!(compare(None, CompareOp::Missing, ""));
        assert!(!compare(None, CompareOp::Eq, ""));
        assert!(compare(Some("1.0"), CompareOp::Eq, "1"));
    }

    #[test]
    fn bad_times_and_zones_are_parse_errors() {
        assert!("25:00".parse::<LocalTime>().is_err());
        assert!("9:00".parse::<LocalTime>().is_err());
        assert_eq!("24:00".parse::<LocalTime>().unwrap().minutes(), 1440);
        let err =
            serde_json::from_value::<TimeZone>(serde_json::json!("Mars/Olympus")).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
    }
}
