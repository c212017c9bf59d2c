//! Human-readable reasons for time-window deferrals (slow path only).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::{TenantRules, reason};
use crate::decision::{Reason, ReasonCode};
use crate::rules::{Policy, RuleSet};
use crate::short::ShortStr;
use crate::window::local_label;

fn has(out: &[Reason], code: ReasonCode) -> bool {
    out.iter().any(|r| r.code == code)
}

/// Why zone `tz` did not allow `t` (it allows `next`): appends one reason per cause
/// whose code is not in `out` yet (one reason per code; messages are only built then).
#[allow(clippy::too_many_arguments)]
pub(super) fn window(
    out: &mut Vec<Reason>,
    rs: &RuleSet,
    policy: &Policy,
    tenant: &TenantRules<'_>,
    party_holidays: &[NaiveDate],
    tz: Tz,
    t: DateTime<Utc>,
    next: DateTime<Utc>,
) {
    let v = rs.version();
    let local = t.with_timezone(&tz).naive_local();
    let (date, second) = (local.date(), local.num_seconds_from_midnight());
    let day = date.weekday();
    let holiday = rs.holiday(policy, date);
    let tenant_holiday = party_holidays.contains(&date);
    let legal_hours = !policy.hours.day(day).contains_second(second);
    let tenant_hours = tenant.hours.filter(|h| !h.day(day).contains_second(second));
    let any_cause = holiday.is_some() || tenant_holiday || legal_hours || tenant_hours.is_some();
    let wanted = (holiday.is_some() && !has(out, ReasonCode::LegalHoliday))
        || (tenant_holiday && !has(out, ReasonCode::TenantHoliday))
        || ((legal_hours || !any_cause) && !has(out, ReasonCode::CallingWindow))
        || (tenant_hours.is_some() && !has(out, ReasonCode::TenantWindow));
    if !wanted {
        return;
    }
    let when = local_label(tz, t);
    let again = local_label(tz, next);
    if let Some((rule, name)) = holiday
        && !has(out, ReasonCode::LegalHoliday)
    {
        out.push(reason(
            ReasonCode::LegalHoliday,
            format!(
                "{date} is {name} under rule {} in {}; allowed again {again}",
                rule.id,
                tz.name()
            ),
            Some(rule.id),
            v,
        ));
    }
    if tenant_holiday && !has(out, ReasonCode::TenantHoliday) {
        out.push(reason(
            ReasonCode::TenantHoliday,
            format!("{date} is a tenant holiday; allowed again {again}"),
            None,
            v,
        ));
    }
    if legal_hours && !has(out, ReasonCode::CallingWindow) {
        let mut rule = None;
        let mut message = format!(
            "{when} is outside the calling hours {} (",
            policy.hours.day(day)
        );
        for r in policy
            .rules
            .iter()
            .filter_map(|i| rs.rule(i))
            .filter(|r| !r.hours.day(day).contains_second(second))
        {
            if rule.is_some() {
                message.push_str(", ");
            }
            message.push_str(r.id.as_str());
            rule = rule.or(Some(r.id));
        }
        message.push_str("); allowed again ");
        message.push_str(&again);
        out.push(reason(ReasonCode::CallingWindow, message, rule, v));
    }
    if let Some(h) = tenant_hours
        && !has(out, ReasonCode::TenantWindow)
    {
        out.push(reason(
            ReasonCode::TenantWindow,
            format!(
                "{when} is outside the tenant's hours {}; allowed again {again}",
                h.day(day)
            ),
            None,
            v,
        ));
    }
    if !any_cause && !has(out, ReasonCode::CallingWindow) {
        out.push(reason(
            ReasonCode::CallingWindow,
            format!("{when} is not an allowed calling time; allowed again {again}"),
            None,
            v,
        ));
    }
}

/// A tenant holiday in the tenant's own zone.
pub(super) fn tenant_holiday(tz: Tz, t: DateTime<Utc>, next: DateTime<Utc>, v: ShortStr) -> Reason {
    reason(
        ReasonCode::TenantHoliday,
        format!(
            "{} is a tenant holiday ({}); allowed again {}",
            t.with_timezone(&tz).date_naive(),
            tz.name(),
            local_label(tz, next)
        ),
        None,
        v,
    )
}
