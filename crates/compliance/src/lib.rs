//! The dial decision engine of Omnivox: before every dial the dialer calls
//! [`decide()`] with the number, the contact, the campaign, the attempt history, the
//! tenant's own rules, the DNC lists and the current instant, and gets back
//! [`Decision::Allow`], [`Decision::Deny`] or [`Decision::Defer`] with stable reason
//! codes, the rules that applied and the rule-set version.
//!
//! Pure logic: no IO, no clock, no database. Location data (libphonenumber's
//! timezone map and friends, see `data/NOTICE`) and the rule file
//! (`rules/calling_rules.txt`) are embedded and parsed once ([`Geo::embedded`],
//! [`RuleSet::embedded`]).
//!
//! ```
//! use omnivox_compliance::*;
//!
//! let geo = Geo::embedded().expect("embedded data");
//! let rules = RuleSet::embedded().expect("embedded rules");
//! let input = DecisionInput {
//!     number: "+12125550100",
//!     contact: ContactFacts::default(),
//!     campaign: CampaignFacts::default(),
//!     history: AttemptHistory::default(),
//!     tenant: TenantRules::default(),
//!     dnc: &[],
//!     now: "2026-06-01T16:00:00Z".parse().expect("instant"), // 12:00 in New York
//!     rules,
//!     geo,
//! };
//! assert!(decide(&input).is_allow());
//! ```
//!
//! Main rules of the engine (details on each module):
//! * where: the number's zones by longest prefix ([`tz`]); a known US state of the
//!   contact (state field, or ZIP through ZIP3) narrows them to `number ∩ state`, or
//!   widens them to `number ∪ state` when the two do not overlap ([`geo`]);
//! * a number with several possible zones must be inside the window in all of them;
//! * every rule that applies (federal, each state from the area code *and* from the
//!   address, the address country, the tenant) is enforced together: most
//!   restrictive wins ([`rules`]);
//! * tenant holidays are dates of the called party's local calendar unless the
//!   tenant names its own zone ([`HolidayZone`]);
//! * a deferral's `until` is the earliest instant that all time rules allow together,
//!   DST-exact ([`window`], [`decide()`]);
//! * no zone at all (e.g. `+881` satellite numbers, `+800` freephone) denies with
//!   `location_unknown`: no hour is safe everywhere. The rule file can instead name
//!   fallback zones (`unknown_location zones ...`) in all of which the default
//!   window must hold.

pub mod decide;
pub mod decision;
pub mod dnc;
pub mod error;
pub mod geo;
pub mod hours;
pub mod national;
pub mod rules;
pub mod short;
pub mod tz;
pub mod window;

pub use decide::{
    AttemptHistory, CampaignFacts, ContactFacts, DecisionInput, HolidayZone, TenantRules, decide,
    local_day_start,
};
pub use decision::{Audit, Checks, Decision, Reason, ReasonCode, Warnings};
pub use dnc::{CampaignId, DncHit, DncList, DncLookup, DncSet};
pub use error::{DataError, DncError, HoursError, RuleError};
pub use geo::{Geo, Location, NumberKind, Place, Region, Subdivision, ZoneBasis};
pub use hours::{DayHours, HolidaySpec, Interval, WeekHours};
pub use national::{LoadReport, NationalDnc, NationalDncBuilder};
pub use rules::{Confidence, Consent, Policy, Rule, RuleMask, RuleSet, UnknownLocation};
pub use short::ShortStr;
pub use tz::{TzTable, zones_for};
