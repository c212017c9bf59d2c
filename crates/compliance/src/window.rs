//! Calling windows in local wall-clock time, DST-exact.
//!
//! A zone allows an instant `t` when `t`'s local time in that zone lies inside the
//! hours of its local weekday and its local date is not closed. The earliest allowed
//! instant at or after `t` is found day by day from interval starts, each converted
//! with [`first_instant_at_or_after`]: a start inside a spring-forward gap maps to the
//! end of the gap (the first instant whose local time is past the start), an ambiguous
//! start (fall-back) to its first occurrence. Every candidate is re-checked with the
//! same predicate, so a returned instant is always allowed. A window end inside a
//! repeated fall-back hour is reached twice: the clock re-enters the window at the
//! transition, which is a candidate too (as is the second occurrence of an ambiguous
//! start).

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::{GapInfo, Tz};

use crate::hours::{MINUTES_PER_DAY, WeekHours};

/// The first instant whose local wall-clock time in `tz` is at or after `naive`.
pub fn first_instant_at_or_after(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(x) => Some(x.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => match GapInfo::new(&naive, &tz).and_then(|g| g.end) {
            Some(end) => Some(end.with_timezone(&Utc)),
            None => gap_search(tz, naive),
        },
    }
}

/// Binary search for the first instant with local time >= `naive` (fallback when the
/// zone data has no gap end, i.e. at the limits of the table).
fn gap_search(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let local =
        |secs: i64| DateTime::from_timestamp(secs, 0).map(|u| u.with_timezone(&tz).naive_local());
    let guess = naive.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 40 * 3600, guess + 40 * 3600);
    if local(hi)? < naive {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local(mid)? >= naive {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Local midnight at the start of `date` as an instant (DST-safe).
pub fn start_of_local_day(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    first_instant_at_or_after(tz, date.and_time(NaiveTime::MIN))
}

/// The next local midnight strictly after `t` in `tz`.
pub fn next_local_midnight(tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = t.with_timezone(&tz).date_naive().succ_opt()?;
    start_of_local_day(tz, date)
}

/// The instants at which local time `minute` of `date` occurs: the first, and the
/// second when a fall-back repeats it. A time skipped by a gap maps to the gap's end.
fn occurrences(
    tz: Tz,
    date: NaiveDate,
    minute: u16,
) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let naive = if minute >= MINUTES_PER_DAY {
        date.succ_opt()?.and_time(NaiveTime::MIN)
    } else {
        date.and_time(NaiveTime::from_hms_opt(
            u32::from(minute / 60),
            u32::from(minute % 60),
            0,
        )?)
    };
    match tz.from_local_datetime(&naive) {
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            Some((a.min(b), Some(a.max(b))))
        }
        _ => first_instant_at_or_after(tz, naive).map(|x| (x, None)),
    }
}

/// The first instant in `(a, b]` with `b`'s UTC offset (one transition in between).
fn transition_between(tz: Tz, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let offset = |secs: i64| {
        DateTime::from_timestamp(secs, 0).map(|u| {
            tz.offset_from_utc_datetime(&u.naive_utc())
                .fix()
                .local_minus_utc()
        })
    };
    let target = offset(b.timestamp())?;
    let (mut lo, mut hi) = (a.timestamp(), b.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset(mid)? == target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Allowed hours in one zone, with a predicate for closed local dates.
pub struct ZoneWindow<'a, F: Fn(NaiveDate) -> bool> {
    /// The zone.
    pub tz: Tz,
    /// Allowed hours by local weekday.
    pub hours: &'a WeekHours,
    /// Whether a local date is closed (holidays).
    pub closed: F,
}

impl<F: Fn(NaiveDate) -> bool> ZoneWindow<'_, F> {
    /// Whether a call at `t` is inside the window.
    pub fn allows(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz).naive_local();
        let date = local.date();
        self.hours
            .day(date.weekday())
            .contains_second(local.num_seconds_from_midnight())
            && !(self.closed)(date)
    }

    /// The earliest allowed instant at or after `t`, looking at most `max_days` local
    /// days ahead; `None` when there is none in that span.
    pub fn next_allowed(&self, t: DateTime<Utc>, max_days: u32) -> Option<DateTime<Utc>> {
        if self.allows(t) {
            return Some(t);
        }
        let tz = self.tz;
        let mut date = t.with_timezone(&tz).date_naive();
        for _ in 0..max_days {
            if !(self.closed)(date) {
                let mut best: Option<DateTime<Utc>> = None;
                for iv in self.hours.day(date.weekday()).intervals() {
                    let (end1, end2) = occurrences(tz, date, iv.end_minute())?;
                    if t >= end2.unwrap_or(end1) {
                        continue;
                    }
                    let (start1, start2) = occurrences(tz, date, iv.start_minute())?;
                    // An end inside a repeated (fall-back) hour: the clock re-enters the
                    // interval at the transition.
                    let fold = end2.and_then(|e2| transition_between(tz, end1, e2));
                    for c in [Some(start1), start2, fold].into_iter().flatten() {
                        let c = c.max(t);
                        if best.is_none_or(|b| c < b) && self.allows(c) {
                            best = Some(c);
                        }
                    }
                }
                if best.is_some() {
                    return best;
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// Whole local dates closed in one zone (tenant holidays kept in the tenant's zone).
pub struct ClosedDates<'a> {
    /// The zone whose calendar the dates are in.
    pub tz: Tz,
    /// The closed dates.
    pub dates: &'a [NaiveDate],
}

impl ClosedDates<'_> {
    /// Whether `t` falls on a closed date.
    pub fn allows(&self, t: DateTime<Utc>) -> bool {
        !self.dates.contains(&t.with_timezone(&self.tz).date_naive())
    }

    /// The earliest instant at or after `t` not on a closed date.
    pub fn next_allowed(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut date = t.with_timezone(&self.tz).date_naive();
        if !self.dates.contains(&date) {
            return Some(t);
        }
        for _ in 0..=self.dates.len() {
            date = date.succ_opt()?;
            if !self.dates.contains(&date) {
                return start_of_local_day(self.tz, date).map(|s| s.max(t));
            }
        }
        None
    }
}

fn push_digits(s: &mut String, n: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = n;
    let mut i = buf.len();
    while v > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if i == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

/// Append `YYYY-MM-DD` and a separator and `HH:MM` of a datetime.
fn push_date_time<T: Datelike + Timelike>(s: &mut String, t: &T, sep: char) {
    push_digits(s, t.year().max(0) as u32, 4);
    s.push('-');
    push_digits(s, t.month(), 2);
    s.push('-');
    push_digits(s, t.day(), 2);
    s.push(sep);
    push_digits(s, t.hour(), 2);
    s.push(':');
    push_digits(s, t.minute(), 2);
}

/// For messages: `YYYY-MM-DD HH:MM ABBR Zone/Name`, the local time of `t` in `tz`.
pub fn local_label(tz: Tz, t: DateTime<Utc>) -> String {
    use chrono_tz::OffsetName;
    let l = t.with_timezone(&tz);
    let mut s = String::with_capacity(48);
    push_date_time(&mut s, &l, ' ');
    s.push(' ');
    s.push_str(l.offset().abbreviation().unwrap_or(""));
    s.push(' ');
    s.push_str(tz.name());
    s
}

/// For messages: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_label(t: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(20);
    push_date_time(&mut s, &t, 'T');
    s.push(':');
    push_digits(&mut s, t.second(), 2);
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::DayHours;
    use chrono_tz::America::New_York;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn gap_and_fold_resolution() {
        // 2025-03-09 02:30 does not exist in New York: first instant after is 03:00 EDT.
        assert_eq!(
            first_instant_at_or_after(New_York, naive("2025-03-09 02:30")),
            Some(utc("2025-03-09T07:00:00Z"))
        );
        // 2025-11-02 01:30 happens twice: the first (EDT) occurrence.
        assert_eq!(
            first_instant_at_or_after(New_York, naive("2025-11-02 01:30")),
            Some(utc("2025-11-02T05:30:00Z"))
        );
        assert_eq!(
            first_instant_at_or_after(New_York, naive("2025-07-01 08:00")),
            Some(utc("2025-07-01T12:00:00Z"))
        );
        // Fallback search agrees with GapInfo.
        assert_eq!(
            gap_search(New_York, naive("2025-03-09 02:30")),
            Some(utc("2025-03-09T07:00:00Z"))
        );
    }

    #[test]
    fn window_start_inside_gap() {
        let hours = WeekHours::every_day(DayHours::between(2 * 60 + 30, 4 * 60).unwrap());
        let w = ZoneWindow {
            tz: New_York,
            hours: &hours,
            closed: |_| false,
        };
        // Saturday 2025-03-08 23:00 EST -> Sunday 02:30 does not exist -> 03:00 EDT.
        assert_eq!(
            w.next_allowed(utc("2025-03-09T04:00:00Z"), 3),
            Some(utc("2025-03-09T07:00:00Z"))
        );
        // A window entirely inside the gap is skipped to the next day.
        let gap_only = WeekHours::every_day(DayHours::between(2 * 60 + 10, 2 * 60 + 50).unwrap());
        let w = ZoneWindow {
            tz: New_York,
            hours: &gap_only,
            closed: |_| false,
        };
        assert_eq!(
            w.next_allowed(utc("2025-03-09T04:00:00Z"), 3),
            Some(utc("2025-03-10T06:10:00Z"))
        );
    }

    #[test]
    fn fall_back_repeats_window_edges() {
        // 2026-11-01 in New York: 01:00-02:00 happens twice (EDT 05:00-06:00Z, EST 06:00-07:00Z).
        let ambiguous_start = WeekHours::every_day(DayHours::between(90, 180).unwrap());
        let w = ZoneWindow {
            tz: New_York,
            hours: &ambiguous_start,
            closed: |_| false,
        };
        assert_eq!(
            w.next_allowed(utc("2026-11-01T04:00:00Z"), 2),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        // The window 00:00-01:30 closes at 01:30 EDT and opens again when the clock
        // falls back to 01:00 EST (06:00Z).
        let ends_in_fold = WeekHours::every_day(DayHours::between(0, 90).unwrap());
        let w = ZoneWindow {
            tz: New_York,
            hours: &ends_in_fold,
            closed: |_| false,
        };
        assert!(!w.allows(utc("2026-11-01T05:45:00Z")));
        assert_eq!(
            w.next_allowed(utc("2026-11-01T05:45:00Z"), 2),
            Some(utc("2026-11-01T06:00:00Z"))
        );
        assert!(!w.allows(utc("2026-11-01T06:30:00Z")));
        assert_eq!(
            w.next_allowed(utc("2026-11-01T06:30:00Z"), 2),
            Some(utc("2026-11-02T05:00:00Z"))
        );
        // 01:15-01:30 occurs twice: after the first, the second (06:15Z).
        let inside_fold = WeekHours::every_day(DayHours::between(75, 90).unwrap());
        let w = ZoneWindow {
            tz: New_York,
            hours: &inside_fold,
            closed: |_| false,
        };
        assert_eq!(
            w.next_allowed(utc("2026-11-01T05:40:00Z"), 2),
            Some(utc("2026-11-01T06:15:00Z"))
        );
        assert_eq!(
            transition_between(
                New_York,
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-01T06:30:00Z")
            ),
            Some(utc("2026-11-01T06:00:00Z"))
        );
    }

    #[test]
    fn closed_dates_skip_whole_days() {
        let dates = [
            NaiveDate::from_ymd_opt(2025, 12, 25).unwrap(),
            NaiveDate::from_ymd_opt(2025, 12, 26).unwrap(),
        ];
        let c = ClosedDates {
            tz: New_York,
            dates: &dates,
        };
        assert!(!c.allows(utc("2025-12-25T15:00:00Z")));
        assert_eq!(
            c.next_allowed(utc("2025-12-25T15:00:00Z")),
            Some(utc("2025-12-27T05:00:00Z"))
        );
        assert_eq!(
            c.next_allowed(utc("2025-12-24T15:00:00Z")),
            Some(utc("2025-12-24T15:00:00Z"))
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            utc_label(utc("2026-03-08T07:05:09Z")),
            "2026-03-08T07:05:09Z"
        );
        assert_eq!(
            local_label(New_York, utc("2026-03-08T07:05:09Z")),
            "2026-03-08 03:05 EDT America/New_York"
        );
        assert_eq!(
            utc_label(utc("0999-01-01T00:00:00Z")),
            "0999-01-01T00:00:00Z"
        );
    }

    #[test]
    fn midnights() {
        assert_eq!(
            next_local_midnight(New_York, utc("2025-03-08T23:00:00Z")),
            Some(utc("2025-03-09T05:00:00Z"))
        );
        assert_eq!(
            next_local_midnight(New_York, utc("2025-03-09T05:00:00Z")),
            Some(utc("2025-03-10T04:00:00Z"))
        );
    }
}
