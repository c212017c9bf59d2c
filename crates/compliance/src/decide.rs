//! The decision made before every dial.
//!
//! Order: number syntax -> DNC (all lists) -> opt-out -> location -> consent ->
//! campaign exclusions -> total attempts. Any of these denies (all deny reasons are
//! reported). Then the time rules are combined: the per-day attempt cap (next local
//! midnight), a state's rolling 24 h cap (k-th most recent call + 24 h), the redial
//! block after an abandon (abandon + 72 h unless an agent is guaranteed), the calling
//! hours and holidays in every zone of the called party, the tenant's hours and
//! holidays. Starting at `now`, every constraint moves the candidate to its earliest
//! allowed instant at or after it, until a full pass moves nothing: that instant is
//! the earliest moment all time rules allow together. Equal to `now` = allow; later =
//! defer; none within [`HORIZON`] = deny (`no_allowed_time`).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::decision::{Audit, Checks, Decision, Reason, ReasonCode, Warnings};
use crate::dnc::{CampaignId, DncList, DncLookup, e164_digits};
use crate::geo::{Geo, NumberKind, Place, ZoneBasis, ca_province_code, us_state_code};
use crate::hours::WeekHours;
use crate::rules::{Confidence, Consent, Policy, RuleSet, UnknownLocation};
use crate::short::ShortStr;
use crate::window::{ClosedDates, ZoneWindow, next_local_midnight, utc_label};

mod explain;

/// How far ahead a deferral may go before the call is denied instead.
pub const HORIZON: TimeDelta = TimeDelta::days(31);
/// Ofcom's redial block after an abandoned call, used in `uk_mode`.
pub const UK_ABANDON_BLOCK: TimeDelta = TimeDelta::hours(72);
const MAX_ROUNDS: usize = 32;
const WINDOW_SEARCH_DAYS: u32 = 16;

/// Facts about the contact.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContactFacts<'a> {
    /// The address, as far as known (narrows zones, adds state rules).
    pub place: Place<'a>,
    /// What the caller knows about the number's type.
    pub number_kind: NumberKind,
    /// Consent on record for automated dialing.
    pub consent: Consent,
    /// The contact asked not to be called.
    pub opted_out: bool,
}

/// Facts about the campaign placing the call.
#[derive(Clone, Copy, Debug, Default)]
pub struct CampaignFacts<'a> {
    /// Campaign id (reported with campaign DNC hits).
    pub id: CampaignId,
    /// Predictive/power/agentless or prerecorded: automated dialing, consent needed.
    pub automated: bool,
    /// Telemarketing with automation: prior express written consent needed
    /// regardless of state (47 CFR § 64.1200(a)(2)).
    pub requires_written_consent: bool,
    /// Apply the UK (Ofcom) 72-hour rule whatever the destination.
    pub uk_mode: bool,
    /// An agent is reserved before dialing (preview/progressive): lifts the abandon block.
    pub agent_guaranteed: bool,
    /// Attempts per lead per local day of the called party.
    pub max_attempts_per_day: Option<u32>,
    /// Attempts per lead in total.
    pub max_attempts_total: Option<u32>,
    /// States not to call: `FL`, `US-FL` or `Florida`.
    pub excluded_states: &'a [&'a str],
    /// Number prefixes not to call: `+1212` (area code 212), `+44`.
    pub excluded_prefixes: &'a [&'a str],
}

/// What happened before.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttemptHistory<'a> {
    /// Attempts for this lead since the start of the called party's local day
    /// (with several zones, count from [`local_day_start`]).
    pub lead_attempts_today: u32,
    /// Attempts for this lead in total.
    pub lead_attempts_total: u32,
    /// Times of calls to this person on this subject over (at least) the last 24 h,
    /// across all numbers and campaigns; older entries are ignored; any order.
    pub person_calls: &'a [DateTime<Utc>],
    /// The last abandoned call to this number.
    pub last_abandoned_at: Option<DateTime<Utc>>,
}

/// In which calendar tenant holiday dates are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HolidayZone {
    /// The called party's local date, in each of their zones (default: "do not call
    /// people on this day").
    #[default]
    CalledParty,
    /// The tenant's own zone ("our call center is closed that day").
    Tenant(Tz),
}

/// The tenant's own, stricter rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantRules<'a> {
    /// Allowed hours in the called party's local time; intersected with the law's.
    pub hours: Option<&'a WeekHours>,
    /// Dates with no calls.
    pub holidays: &'a [NaiveDate],
    /// Calendar of `holidays`.
    pub holiday_zone: HolidayZone,
}

/// Everything one decision needs, borrowed.
#[derive(Clone, Copy)]
pub struct DecisionInput<'a> {
    /// E.164 number to dial (`+12125550100`).
    pub number: &'a str,
    /// The contact.
    pub contact: ContactFacts<'a>,
    /// The campaign.
    pub campaign: CampaignFacts<'a>,
    /// Attempt history.
    pub history: AttemptHistory<'a>,
    /// Tenant rules.
    pub tenant: TenantRules<'a>,
    /// DNC lists to consult (internal, campaign, national...).
    pub dnc: &'a [&'a dyn DncLookup],
    /// The current instant.
    pub now: DateTime<Utc>,
    /// The rule set (usually [`RuleSet::embedded`]).
    pub rules: &'a RuleSet,
    /// Location data (usually [`Geo::embedded`]).
    pub geo: &'a Geo,
}

/// Earliest start of the called party's current local day over `zones` (count the
/// lead's attempts "today" from here).
pub fn local_day_start(zones: &[Tz], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    zones
        .iter()
        .filter_map(|tz| crate::window::start_of_local_day(*tz, now.with_timezone(tz).date_naive()))
        .min()
}

fn reason(code: ReasonCode, message: String, rule: Option<ShortStr>, v: ShortStr) -> Reason {
    Reason {
        code,
        message,
        rule,
        rule_set_version: v,
    }
}

/// Decide whether the number may be dialed now. Pure: no IO, no clock.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let rs = input.rules;
    let v = rs.version();
    let mut audit = Audit {
        checks: Checks::NUMBER,
        warnings: Warnings::default(),
        rules: Default::default(),
        rule_set_version: v,
    };
    let mut deny: Vec<Reason> = Vec::new();
    let number = input.number;
    if e164_digits(number).is_none() {
        deny.push(reason(
            ReasonCode::InvalidNumber,
            format!("{number:?} is not an E.164 number (+ and 1-15 digits)"),
            None,
            v,
        ));
        return Decision::Deny {
            reasons: deny,
            audit,
        };
    }

    audit.checks.insert(Checks::DNC);
    for list in input.dnc {
        if list.is_stale(input.now) {
            audit.warnings.insert(Warnings::STALE_DNC_REGISTRY);
        }
        if let Some(hit) = list.check(number) {
            let via = if hit.wildcard {
                " (prefix wildcard)"
            } else {
                ""
            };
            let (code, message) = match &hit.list {
                DncList::Internal => (
                    ReasonCode::DncInternal,
                    format!("number is on the internal do-not-call list{via}"),
                ),
                DncList::Campaign(id) => (
                    ReasonCode::DncCampaign,
                    format!("number is on the do-not-call list of campaign {id}{via}"),
                ),
                DncList::National {
                    registry,
                    refreshed_at,
                } => (
                    ReasonCode::DncNational,
                    format!(
                        "number is on the national registry {registry} (copy refreshed {})",
                        utc_label(*refreshed_at)
                    ),
                ),
            };
            deny.push(reason(code, message, None, v));
        }
    }

    audit.checks.insert(Checks::OPT_OUT);
    if input.contact.opted_out {
        deny.push(reason(
            ReasonCode::OptedOut,
            "the contact opted out of calls".into(),
            None,
            v,
        ));
    }

    let loc = input
        .geo
        .locate(number, input.contact.number_kind, &input.contact.place);
    let mut zones: &[Tz] = &loc.zones;
    if zones.is_empty() {
        match rs.unknown_location() {
            UnknownLocation::Deny => deny.push(reason(
                ReasonCode::LocationUnknown,
                "no time zone is known for this number, so calling hours cannot be verified".into(),
                None,
                v,
            )),
            UnknownLocation::Zones(z) => {
                zones = z;
                audit.warnings.insert(Warnings::LOCATION_FALLBACK_ZONES);
            }
        }
    }
    if loc.basis == ZoneBasis::StateUnion {
        audit.warnings.insert(Warnings::LOCATION_CONFLICT);
    }
    let policy = rs.policy(&loc);
    audit.rules = policy.rules;
    if policy
        .rules
        .iter()
        .filter_map(|i| rs.rule(i))
        .any(|r| matches!(r.confidence, Confidence::Medium | Confidence::Low))
    {
        audit.warnings.insert(Warnings::RULE_CONFIDENCE_BELOW_HIGH);
    }

    let campaign = &input.campaign;
    if campaign.automated {
        audit.checks.insert(Checks::CONSENT);
        let mut need = (Consent::Express, None);
        if campaign.requires_written_consent {
            need = (Consent::ExpressWritten, None);
        }
        if let Some((c, i)) = policy.automated_consent
            && c > need.0
        {
            need = (c, rs.rule(i).map(|r| r.id));
        }
        if input.contact.consent < need.0 {
            let by = need
                .1
                .map_or_else(|| "campaign".to_owned(), |id| format!("rule {id}"));
            deny.push(reason(
                ReasonCode::ConsentMissing,
                format!(
                    "automated dialing needs {} consent ({by}); the contact has {}",
                    need.0.as_str(),
                    input.contact.consent.as_str()
                ),
                need.1,
                v,
            ));
        }
    }

    audit.checks.insert(Checks::EXCLUSIONS);
    for st in campaign.excluded_states {
        let wanted = excluded_state_code(st);
        if let Some(s) = loc
            .subdivisions
            .as_slice()
            .iter()
            .find(|s| Some(s.code) == wanted)
        {
            deny.push(reason(
                ReasonCode::CampaignExcludedState,
                format!("the campaign excludes {s}"),
                None,
                v,
            ));
        }
    }
    let digits = &number[1..];
    for p in campaign.excluded_prefixes {
        let p = p.trim().trim_start_matches('+').trim_end_matches('*');
        if !p.is_empty() && digits.starts_with(p) {
            deny.push(reason(
                ReasonCode::CampaignExcludedPrefix,
                format!("the campaign excludes numbers starting +{p}"),
                None,
                v,
            ));
        }
    }

    let hist = &input.history;
    if let Some(max) = campaign.max_attempts_total {
        audit.checks.insert(Checks::ATTEMPTS_TOTAL);
        if hist.lead_attempts_total >= max {
            deny.push(reason(
                ReasonCode::AttemptsTotalCap,
                format!(
                    "{} of {max} attempts for this lead are used",
                    hist.lead_attempts_total
                ),
                None,
                v,
            ));
        }
    }
    if !deny.is_empty() {
        return Decision::Deny {
            reasons: deny,
            audit,
        };
    }
    schedule(input, &policy, zones, audit)
}

fn excluded_state_code(entry: &str) -> Option<[u8; 2]> {
    let e = entry.trim();
    let e = e
        .strip_prefix("US-")
        .or_else(|| e.strip_prefix("CA-"))
        .unwrap_or(e);
    us_state_code(e).or_else(|| ca_province_code(e))
}

/// A "not before" time constraint.
struct NotBefore {
    at: DateTime<Utc>,
    code: ReasonCode,
    rule: Option<ShortStr>,
    message: String,
}

fn schedule(
    input: &DecisionInput<'_>,
    policy: &Policy,
    zones: &[Tz],
    mut audit: Audit,
) -> Decision {
    let rs = input.rules;
    let v = audit.rule_set_version;
    let now = input.now;
    let campaign = &input.campaign;
    let hist = &input.history;
    let mut nb: [Option<NotBefore>; 3] = [None, None, None];

    if let Some(max) = campaign.max_attempts_per_day {
        audit.checks.insert(Checks::ATTEMPTS_DAILY);
        if hist.lead_attempts_today >= max {
            let at = zones
                .iter()
                .filter_map(|tz| next_local_midnight(*tz, now))
                .max()
                .unwrap_or(now + TimeDelta::days(1));
            nb[0] = Some(NotBefore {
                at,
                code: ReasonCode::AttemptsDailyCap,
                rule: None,
                message: format!(
                    "{} of {max} attempts for today are used; the next local day starts {}",
                    hist.lead_attempts_today,
                    utc_label(at)
                ),
            });
        }
    }
    if let Some((cap, ri)) = policy.max_calls_per_24h {
        audit.checks.insert(Checks::FREQUENCY_24H);
        let since = now - TimeDelta::hours(24);
        let recent = hist.person_calls.iter().filter(|c| **c > since).count();
        if recent >= cap as usize {
            let mut times: Vec<DateTime<Utc>> = hist
                .person_calls
                .iter()
                .copied()
                .filter(|c| *c > since)
                .collect();
            times.sort_unstable();
            let kth = times[recent - cap as usize];
            let at = kth + TimeDelta::hours(24);
            let rule = rs.rule(ri).map(|r| r.id);
            nb[1] = Some(NotBefore {
                at,
                code: ReasonCode::FrequencyCap24h,
                rule,
                message: format!(
                    "{recent} calls to this person in the last 24 h (cap {cap}); the call at {} leaves the window at {}",
                    utc_label(kth),
                    utc_label(at)
                ),
            });
        }
    }
    let block = match (policy.abandon_redial_block, campaign.uk_mode) {
        (Some((b, i)), uk) => Some((
            if uk { b.max(UK_ABANDON_BLOCK) } else { b },
            rs.rule(i).map(|r| r.id),
        )),
        (None, true) => Some((UK_ABANDON_BLOCK, None)),
        (None, false) => None,
    };
    if let (Some((block, rule)), Some(abandoned)) = (block, hist.last_abandoned_at) {
        audit.checks.insert(Checks::ABANDON_REDIAL);
        let at = abandoned + block;
        if !campaign.agent_guaranteed && now < at {
            nb[2] = Some(NotBefore {
                at,
                code: ReasonCode::AbandonRedialBlock,
                rule,
                message: format!(
                    "abandoned call at {}: no redial for {} h unless an agent is guaranteed",
                    utc_label(abandoned),
                    block.num_hours()
                ),
            });
        }
    }

    let tenant = &input.tenant;
    let hours = match tenant.hours {
        Some(t) => {
            audit.checks.insert(Checks::TENANT_WINDOW);
            policy.hours.intersect(t)
        }
        None => policy.hours,
    };
    audit.checks.insert(Checks::CALLING_WINDOW);
    if policy.has_holidays {
        audit.checks.insert(Checks::LEGAL_HOLIDAYS);
    }
    if !tenant.holidays.is_empty() {
        audit.checks.insert(Checks::TENANT_HOLIDAYS);
    }
    let party_holidays: &[NaiveDate] = match tenant.holiday_zone {
        HolidayZone::CalledParty => tenant.holidays,
        HolidayZone::Tenant(_) => &[],
    };
    let closed =
        |date: NaiveDate| party_holidays.contains(&date) || rs.holiday(policy, date).is_some();
    let tenant_closed = match tenant.holiday_zone {
        HolidayZone::Tenant(tz) if !tenant.holidays.is_empty() => Some(ClosedDates {
            tz,
            dates: tenant.holidays,
        }),
        _ => None,
    };

    // One reason per code (the first cause found), in the order they bound.
    let mut reasons: Vec<Reason> = Vec::new();
    let has = |reasons: &Vec<Reason>, code| reasons.iter().any(|x: &Reason| x.code == code);
    let horizon = now + HORIZON;
    let mut t = now;
    for _ in 0..MAX_ROUNDS {
        let start = t;
        for c in nb.iter().flatten() {
            if t < c.at {
                t = c.at;
                if !has(&reasons, c.code) {
                    reasons.push(reason(c.code, c.message.clone(), c.rule, v));
                }
            }
        }
        for tz in zones {
            let w = ZoneWindow {
                tz: *tz,
                hours: &hours,
                closed,
            };
            match w.next_allowed(t, WINDOW_SEARCH_DAYS) {
                Some(next) if next == t => {}
                Some(next) => {
                    explain::window(
                        &mut reasons,
                        rs,
                        policy,
                        tenant,
                        party_holidays,
                        *tz,
                        t,
                        next,
                    );
                    t = next;
                }
                None => {
                    return no_time(
                        audit,
                        v,
                        format!(
                            "no allowed calling time within {WINDOW_SEARCH_DAYS} days in {}",
                            tz.name()
                        ),
                    );
                }
            }
        }
        if let Some(c) = &tenant_closed {
            match c.next_allowed(t) {
                Some(next) if next == t => {}
                Some(next) => {
                    if !has(&reasons, ReasonCode::TenantHoliday) {
                        reasons.push(explain::tenant_holiday(c.tz, t, next, v));
                    }
                    t = next;
                }
                None => {
                    return no_time(audit, v, "tenant holidays close every day in reach".into());
                }
            }
        }
        if t > horizon {
            return no_time(
                audit,
                v,
                format!(
                    "the earliest allowed time {} is beyond the {}-day horizon",
                    utc_label(t),
                    HORIZON.num_days()
                ),
            );
        }
        if t == start {
            return if t == now {
                Decision::Allow { audit }
            } else {
                Decision::Defer {
                    until: t,
                    reasons,
                    audit,
                }
            };
        }
    }
    no_time(audit, v, "time rules did not converge".into())
}

fn no_time(audit: Audit, v: ShortStr, message: String) -> Decision {
    Decision::Deny {
        reasons: vec![reason(ReasonCode::NoAllowedTime, message, None, v)],
        audit,
    }
}
