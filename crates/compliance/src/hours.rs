//! Weekly calling hours and holiday calendars, in local wall-clock time.
//!
//! Hours are kept at minute resolution as half-open intervals `[start, end)` of the
//! local day (`end` may be `24:00`). A day holds at most [`MAX_INTERVALS`] intervals
//! (enough for a lunch break); when an intersection would produce more, the extra
//! intervals are dropped, which only ever makes the hours stricter.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::error::HoursError;

/// Minutes in a day; the largest valid interval end (`24:00`).
pub const MINUTES_PER_DAY: u16 = 1440;
/// Most intervals one day may hold.
pub const MAX_INTERVALS: usize = 4;

/// A half-open interval `[start, end)` of local minutes since midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    start: u16,
    end: u16,
}

impl Interval {
    /// `start < end <= 1440` minutes since local midnight.
    pub fn new(start: u16, end: u16) -> Result<Self, HoursError> {
        if start >= end || end > MINUTES_PER_DAY {
            return Err(HoursError::BadInterval { start, end });
        }
        Ok(Self { start, end })
    }

    /// First allowed minute.
    pub fn start_minute(&self) -> u16 {
        self.start
    }

    /// First minute no longer allowed (1440 = midnight at the end of the day).
    pub fn end_minute(&self) -> u16 {
        self.end
    }

    /// Whether `second` (seconds since local midnight) lies inside.
    pub fn contains_second(&self, second: u32) -> bool {
        second >= u32::from(self.start) * 60 && second < u32::from(self.end) * 60
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// The allowed intervals of one local day, sorted and disjoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DayHours {
    len: u8,
    iv: [Interval; MAX_INTERVALS],
}

const EMPTY_IV: Interval = Interval { start: 0, end: 0 };

impl DayHours {
    /// No calls at all on that day.
    pub const CLOSED: DayHours = DayHours {
        len: 0,
        iv: [EMPTY_IV; MAX_INTERVALS],
    };
    /// No restriction: `00:00-24:00`.
    pub const ALL_DAY: DayHours = DayHours {
        len: 1,
        iv: [
            Interval {
                start: 0,
                end: MINUTES_PER_DAY,
            },
            EMPTY_IV,
            EMPTY_IV,
            EMPTY_IV,
        ],
    };

    /// Build from intervals in any order; they must not overlap.
    pub fn from_intervals(intervals: &[Interval]) -> Result<Self, HoursError> {
        if intervals.len() > MAX_INTERVALS {
            return Err(HoursError::TooManyIntervals);
        }
        let mut iv = [EMPTY_IV; MAX_INTERVALS];
        iv[..intervals.len()].copy_from_slice(intervals);
        iv[..intervals.len()].sort_by_key(|i| i.start);
        for pair in iv[..intervals.len()].windows(2) {
            if pair[1].start < pair[0].end {
                return Err(HoursError::Overlap);
            }
        }
        Ok(Self {
            len: intervals.len() as u8,
            iv,
        })
    }

    /// One interval, from `start` to `end` minutes.
    pub fn between(start: u16, end: u16) -> Result<Self, HoursError> {
        Self::from_intervals(&[Interval::new(start, end)?])
    }

    /// The intervals, sorted by start.
    pub fn intervals(&self) -> &[Interval] {
        &self.iv[..usize::from(self.len)]
    }

    /// Whether no call is allowed at all that day.
    pub fn is_closed(&self) -> bool {
        self.len == 0
    }

    /// Whether `second` since local midnight is allowed.
    pub fn contains_second(&self, second: u32) -> bool {
        self.intervals().iter().any(|i| i.contains_second(second))
    }

    /// The times allowed by both (most restrictive wins).
    pub fn intersect(&self, other: &DayHours) -> DayHours {
        if self.len == 1 && other.len == 1 {
            let start = self.iv[0].start.max(other.iv[0].start);
            let end = self.iv[0].end.min(other.iv[0].end);
            return if start < end {
                DayHours {
                    len: 1,
                    iv: [Interval { start, end }, EMPTY_IV, EMPTY_IV, EMPTY_IV],
                }
            } else {
                DayHours::CLOSED
            };
        }
        let mut out = DayHours::CLOSED;
        let (a, b) = (self.intervals(), other.intervals());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let start = a[i].start.max(b[j].start);
            let end = a[i].end.min(b[j].end);
            if start < end && usize::from(out.len) < MAX_INTERVALS {
                out.iv[usize::from(out.len)] = Interval { start, end };
                out.len += 1;
            }
            if a[i].end < b[j].end {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }
}

impl std::fmt::Display for DayHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_closed() {
            return f.write_str("closed");
        }
        for (n, iv) in self.intervals().iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{iv}")?;
        }
        Ok(())
    }
}

/// Allowed hours for each weekday (Monday first), in the called party's local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WeekHours {
    days: [DayHours; 7],
}

impl Default for WeekHours {
    fn default() -> Self {
        Self::ALWAYS
    }
}

impl WeekHours {
    /// No restriction on any day.
    pub const ALWAYS: WeekHours = WeekHours {
        days: [DayHours::ALL_DAY; 7],
    };
    /// Closed every day.
    pub const CLOSED: WeekHours = WeekHours {
        days: [DayHours::CLOSED; 7],
    };

    /// The same hours every day.
    pub fn every_day(day: DayHours) -> Self {
        Self { days: [day; 7] }
    }

    /// Hours of `weekday`.
    pub fn day(&self, weekday: Weekday) -> &DayHours {
        &self.days[weekday.num_days_from_monday() as usize]
    }

    /// Replace the hours of `weekday`.
    pub fn set(&mut self, weekday: Weekday, hours: DayHours) {
        self.days[weekday.num_days_from_monday() as usize] = hours;
    }

    /// Day-by-day intersection (most restrictive wins).
    pub fn intersect(&self, other: &WeekHours) -> WeekHours {
        let mut out = *self;
        for (d, o) in out.days.iter_mut().zip(other.days.iter()) {
            *d = d.intersect(o);
        }
        out
    }

    /// Whether every day is `00:00-24:00`.
    pub fn is_always(&self) -> bool {
        self.days.iter().all(|d| *d == DayHours::ALL_DAY)
    }

    /// Parse `"mon-fri 09:00-18:00; sat 10:00-13:00,14:00-17:00; sun closed"`.
    /// Day groups: `all`, `mon`..`sun`, ranges `mon-fri`, lists `sat,sun`. Days that
    /// no clause mentions are closed.
    pub fn parse(spec: &str) -> Result<WeekHours, HoursError> {
        let mut out = WeekHours::CLOSED;
        let mut any = false;
        for clause in spec.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let (days, hours) = clause
                .split_once(char::is_whitespace)
                .ok_or_else(|| HoursError::Syntax(clause.to_owned()))?;
            let day_hours = parse_day_hours(hours.trim())?;
            for wd in parse_days(days)? {
                out.set(wd, day_hours);
            }
            any = true;
        }
        if !any {
            return Err(HoursError::Syntax(spec.to_owned()));
        }
        Ok(out)
    }
}

impl std::fmt::Display for WeekHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.days.iter().all(|d| *d == self.days[0]) {
            return write!(f, "all {}", self.days[0]);
        }
        for (n, (name, d)) in DAY_NAMES.iter().zip(self.days.iter()).enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name} {d}")?;
        }
        Ok(())
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_of(name: &str) -> Result<usize, HoursError> {
    let lower = name.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| *d == lower)
        .ok_or_else(|| HoursError::Syntax(name.to_owned()))
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Parse a day group (`all`, `mon-fri`, `sat,sun`, `mon-wed,fri`).
pub(crate) fn parse_days(spec: &str) -> Result<Vec<Weekday>, HoursError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.eq_ignore_ascii_case("all") {
            out.extend_from_slice(&WEEKDAYS);
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (weekday_of(a)?, weekday_of(b)?);
            if a > b {
                return Err(HoursError::Syntax(part.to_owned()));
            }
            out.extend_from_slice(&WEEKDAYS[a..=b]);
        } else {
            out.push(WEEKDAYS[weekday_of(part)?]);
        }
    }
    Ok(out)
}

/// Parse `closed` or `HH:MM-HH:MM[,HH:MM-HH:MM...]`.
pub(crate) fn parse_day_hours(spec: &str) -> Result<DayHours, HoursError> {
    if spec.eq_ignore_ascii_case("closed") {
        return Ok(DayHours::CLOSED);
    }
    let mut ivs = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| HoursError::Syntax(part.to_owned()))?;
        ivs.push(Interval::new(parse_hhmm(a)?, parse_hhmm(b)?)?);
    }
    DayHours::from_intervals(&ivs)
}

fn parse_hhmm(s: &str) -> Result<u16, HoursError> {
    let s = s.trim();
    let bad = || HoursError::Syntax(s.to_owned());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A recurring holiday on which calls are not allowed (local date of the called party).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolidaySpec {
    /// A fixed date. With `observed`, the Friday before a Saturday date and the Monday
    /// after a Sunday date are closed as well (US practice; both days are kept closed).
    Fixed {
        /// 1-12
        month: u32,
        /// 1-31
        day: u32,
        /// also close the weekday it is observed on
        observed: bool,
    },
    /// The n-th (1-5) `weekday` of `month`, e.g. the 3rd Monday of January.
    Nth {
        /// 1-5
        n: u8,
        /// weekday
        weekday: Weekday,
        /// 1-12
        month: u32,
    },
    /// The last `weekday` of `month`, e.g. the last Monday of May.
    Last {
        /// weekday
        weekday: Weekday,
        /// 1-12
        month: u32,
    },
}

/// US federal legal holidays (5 U.S.C. § 6103), with the Friday/Monday observance.
pub const US_FEDERAL_HOLIDAYS: [HolidaySpec; 11] = [
    HolidaySpec::Fixed {
        month: 1,
        day: 1,
        observed: true,
    },
    HolidaySpec::Nth {
        n: 3,
        weekday: Weekday::Mon,
        month: 1,
    },
    HolidaySpec::Nth {
        n: 3,
        weekday: Weekday::Mon,
        month: 2,
    },
    HolidaySpec::Last {
        weekday: Weekday::Mon,
        month: 5,
    },
    HolidaySpec::Fixed {
        month: 6,
        day: 19,
        observed: true,
    },
    HolidaySpec::Fixed {
        month: 7,
        day: 4,
        observed: true,
    },
    HolidaySpec::Nth {
        n: 1,
        weekday: Weekday::Mon,
        month: 9,
    },
    HolidaySpec::Nth {
        n: 2,
        weekday: Weekday::Mon,
        month: 10,
    },
    HolidaySpec::Fixed {
        month: 11,
        day: 11,
        observed: true,
    },
    HolidaySpec::Nth {
        n: 4,
        weekday: Weekday::Thu,
        month: 11,
    },
    HolidaySpec::Fixed {
        month: 12,
        day: 25,
        observed: true,
    },
];

impl HolidaySpec {
    /// Whether `date` is closed by this holiday.
    pub fn matches(&self, date: NaiveDate) -> bool {
        match *self {
            HolidaySpec::Fixed {
                month,
                day,
                observed,
            } => {
                let is = |d: NaiveDate| d.month() == month && d.day() == day;
                if is(date) {
                    return true;
                }
                observed
                    && match date.weekday() {
                        Weekday::Fri => date.succ_opt().is_some_and(is),
                        Weekday::Mon => date.pred_opt().is_some_and(is),
                        _ => false,
                    }
            }
            HolidaySpec::Nth { n, weekday, month } => {
                date.month() == month
                    && date.weekday() == weekday
                    && (date.day() - 1) / 7 + 1 == u32::from(n)
            }
            HolidaySpec::Last { weekday, month } => {
                date.month() == month
                    && date.weekday() == weekday
                    && date.day() + 7 > days_in_month(date)
            }
        }
    }

    /// Parse `MM-DD`, `MM-DD observed`, `3rd-mon-jan` (1st..5th) or `last-mon-may`.
    pub fn parse(spec: &str) -> Result<HolidaySpec, HoursError> {
        let bad = || HoursError::Syntax(spec.to_owned());
        let mut words = spec.split_whitespace();
        let head = words.next().ok_or_else(bad)?;
        let observed = match words.next() {
            None => false,
            Some("observed") => true,
            Some(_) => return Err(bad()),
        };
        let parts: Vec<&str> = head.split('-').collect();
        match parts.as_slice() {
            [m, d] => {
                let month: u32 = m.parse().map_err(|_| bad())?;
                let day: u32 = d.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                    return Err(bad());
                }
                Ok(HolidaySpec::Fixed {
                    month,
                    day,
                    observed,
                })
            }
            [nth, wd, mon] if !observed => {
                let weekday = WEEKDAYS[weekday_of(wd)?];
                let month = MONTHS
                    .iter()
                    .position(|m| m.eq_ignore_ascii_case(mon))
                    .ok_or_else(bad)? as u32
                    + 1;
                match *nth {
                    "last" => Ok(HolidaySpec::Last { weekday, month }),
                    "1st" | "2nd" | "3rd" | "4th" | "5th" => {
                        let n = nth.as_bytes()[0] - b'0';
                        Ok(HolidaySpec::Nth { n, weekday, month })
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn days_in_month(date: NaiveDate) -> u32 {
    let (y, m) = (date.year(), date.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    first_next
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn parse_and_display_week() {
        let w = WeekHours::parse("mon-fri 09:00-21:30; sat-sun 10:00-18:00").unwrap();
        assert_eq!(w.day(Weekday::Wed).to_string(), "09:00-21:30");
        assert_eq!(w.day(Weekday::Sun).to_string(), "10:00-18:00");
        let only = WeekHours::parse("mon 08:00-12:00,13:00-24:00").unwrap();
        assert!(only.day(Weekday::Tue).is_closed());
        assert_eq!(only.day(Weekday::Mon).intervals().len(), 2);
        assert!(WeekHours::parse("mon 10:00-09:00").is_err());
        assert!(WeekHours::parse("xyz 10:00-11:00").is_err());
        assert!(WeekHours::parse("mon 08:00-12:00,11:00-13:00").is_err());
        assert!(WeekHours::parse("").is_err());
    }

    #[test]
    fn intersection_is_most_restrictive() {
        let a = DayHours::between(8 * 60, 21 * 60).unwrap();
        let b = parse_day_hours("07:00-12:00,13:00-20:00").unwrap();
        assert_eq!(a.intersect(&b).to_string(), "08:00-12:00,13:00-20:00");
        assert!(a.intersect(&DayHours::CLOSED).is_closed());
        assert_eq!(DayHours::ALL_DAY.intersect(&a), a);
    }

    #[test]
    fn federal_holidays_2025() {
        let closed = |date| US_FEDERAL_HOLIDAYS.iter().any(|h| h.matches(date));
        for date in [
            d(2025, 1, 1),
            d(2025, 1, 20),
            d(2025, 2, 17),
            d(2025, 5, 26),
            d(2025, 6, 19),
            d(2025, 7, 4),
            d(2025, 9, 1),
            d(2025, 10, 13),
            d(2025, 11, 11),
            d(2025, 11, 27),
            d(2025, 12, 25),
        ] {
            assert!(closed(date), "{date}");
        }
        assert!(!closed(d(2025, 5, 19)));
        assert!(!closed(d(2025, 11, 20)));
        // 2026-07-04 is a Saturday: observed Friday 3rd; 2021-12-25 Saturday -> Friday 24th;
        // 2022-01-01 Saturday -> Friday 2021-12-31; 2023-01-01 Sunday -> Monday 2nd.
        assert!(closed(d(2026, 7, 3)));
        assert!(closed(d(2021, 12, 24)));
        assert!(closed(d(2021, 12, 31)));
        assert!(closed(d(2023, 1, 2)));
        assert!(!closed(d(2026, 7, 6)));
    }

    #[test]
    fn holiday_spec_parse() {
        assert_eq!(
            HolidaySpec::parse("07-24").unwrap(),
            HolidaySpec::Fixed {
                month: 7,
                day: 24,
                observed: false
            }
        );
        assert_eq!(
            HolidaySpec::parse("2nd-mon-aug").unwrap(),
            HolidaySpec::Nth {
                n: 2,
                weekday: Weekday::Mon,
                month: 8
            }
        );
        assert!(
            HolidaySpec::parse("last-mon-may")
                .unwrap()
                .matches(d(2024, 5, 27))
        );
        assert!(HolidaySpec::parse("13-01").is_err());
        assert!(HolidaySpec::parse("6th-mon-may").is_err());
    }
}
