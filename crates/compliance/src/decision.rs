//! The outcome of [`crate::decide()`]: allow, deny or defer, with reasons and an audit
//! record (which checks ran, which rules applied, the rule-set version).

use chrono::{DateTime, Utc};

use crate::rules::RuleMask;
use crate::short::ShortStr;

/// Stable machine-readable reason codes (serialized as [`ReasonCode::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// The number is not `+` and 1-15 digits.
    InvalidNumber,
    /// On the tenant's own DNC list.
    DncInternal,
    /// On the campaign's DNC list.
    DncCampaign,
    /// On a national DNC registry.
    DncNational,
    /// The contact opted out.
    OptedOut,
    /// Automated dialing without the consent the rules require.
    ConsentMissing,
    /// The campaign excludes the contact's state.
    CampaignExcludedState,
    /// The campaign excludes the number's prefix (area code).
    CampaignExcludedPrefix,
    /// The lead used up its total attempts.
    AttemptsTotalCap,
    /// The lead used up today's attempts (deferred to the next local day).
    AttemptsDailyCap,
    /// A state's calls-per-24-hours cap is reached (deferred).
    FrequencyCap24h,
    /// Redial within the block after an abandoned call (deferred).
    AbandonRedialBlock,
    /// Outside the legal calling hours in one of the called party's zones.
    CallingWindow,
    /// A legal holiday closes calling in the called party's zone.
    LegalHoliday,
    /// Outside the tenant's own calling hours.
    TenantWindow,
    /// A tenant holiday.
    TenantHoliday,
    /// No zone could be determined for the number.
    LocationUnknown,
    /// No allowed time within the search horizon.
    NoAllowedTime,
}

impl ReasonCode {
    /// The snake_case code.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReasonCode::InvalidNumber => "invalid_number",
            ReasonCode::DncInternal => "dnc_internal",
            ReasonCode::DncCampaign => "dnc_campaign",
            ReasonCode::DncNational => "dnc_national",
            ReasonCode::OptedOut => "opted_out",
            ReasonCode::ConsentMissing => "consent_missing",
            ReasonCode::CampaignExcludedState => "campaign_excluded_state",
            ReasonCode::CampaignExcludedPrefix => "campaign_excluded_prefix",
            ReasonCode::AttemptsTotalCap => "attempts_total_cap",
            ReasonCode::AttemptsDailyCap => "attempts_daily_cap",
            ReasonCode::FrequencyCap24h => "frequency_cap_24h",
            ReasonCode::AbandonRedialBlock => "abandon_redial_block",
            ReasonCode::CallingWindow => "calling_window",
            ReasonCode::LegalHoliday => "legal_holiday",
            ReasonCode::TenantWindow => "tenant_window",
            ReasonCode::TenantHoliday => "tenant_holiday",
            ReasonCode::LocationUnknown => "location_unknown",
            ReasonCode::NoAllowedTime => "no_allowed_time",
        }
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call was denied or deferred.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// Human explanation (English).
    pub message: String,
    /// The rule behind it, when a rule of the set is.
    pub rule: Option<ShortStr>,
    /// Version of the rule set that decided.
    pub rule_set_version: ShortStr,
}

macro_rules! flags {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $flag:ident = $bit:expr, $label:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.names()).finish()
            }
        }

        impl $name {
            $($(#[$fm])* pub const $flag: $name = $name(1 << $bit);)*

            /// Whether every flag of `other` is set.
            pub fn contains(&self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// Set the flags of `other`.
            pub fn insert(&mut self, other: $name) {
                self.0 |= other.0;
            }

            /// snake_case names of the set flags.
            pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
                [$(($name::$flag, $label)),*]
                    .into_iter()
                    .filter(move |(f, _)| self.contains(*f))
                    .map(|(_, n)| n)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.names())
            }
        }
    };
}

flags! {
    /// Checks that were evaluated (whether or not they blocked).
    Checks {
        /// number syntax and country
        NUMBER = 0, "number";
        /// every DNC list passed in
        DNC = 1, "dnc";
        /// opt-out flag
        OPT_OUT = 2, "opt_out";
        /// consent for automated dialing
        CONSENT = 3, "consent";
        /// campaign state/prefix exclusions
        EXCLUSIONS = 4, "exclusions";
        /// total attempts
        ATTEMPTS_TOTAL = 5, "attempts_total";
        /// attempts today
        ATTEMPTS_DAILY = 6, "attempts_daily";
        /// a state's rolling 24 h cap
        FREQUENCY_24H = 7, "frequency_24h";
        /// redial block after an abandon
        ABANDON_REDIAL = 8, "abandon_redial";
        /// legal calling hours
        CALLING_WINDOW = 9, "calling_window";
        /// legal holidays
        LEGAL_HOLIDAYS = 10, "legal_holidays";
        /// tenant hours
        TENANT_WINDOW = 11, "tenant_window";
        /// tenant holidays
        TENANT_HOLIDAYS = 12, "tenant_holidays";
    }
}

flags! {
    /// Things worth knowing that did not change the outcome.
    Warnings {
        /// a DNC registry passed in is older than 31 days
        STALE_DNC_REGISTRY = 0, "stale_dnc_registry";
        /// the zones came from the rule set's unknown-location fallback
        LOCATION_FALLBACK_ZONES = 1, "location_fallback_zones";
        /// number and address point to different zones; both were enforced
        LOCATION_CONFLICT = 2, "location_conflict";
        /// a rule with confidence below high applied
        RULE_CONFIDENCE_BELOW_HIGH = 3, "rule_confidence_below_high";
    }
}

/// What was checked and with which rules; present on every decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Audit {
    /// Checks evaluated.
    pub checks: Checks,
    /// Non-blocking findings.
    pub warnings: Warnings,
    /// Rules of the set that applied (see [`crate::RuleSet::rule_ids`]).
    pub rules: RuleMask,
    /// Version of the rule set.
    pub rule_set_version: ShortStr,
}

impl serde::Serialize for Audit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Audit", 4)?;
        st.serialize_field("checks", &self.checks)?;
        st.serialize_field("warnings", &self.warnings)?;
        st.serialize_field("rules", &format!("{:x}", self.rules.0))?;
        st.serialize_field("rule_set_version", &self.rule_set_version)?;
        st.end()
    }
}

/// The decision for one dial attempt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// Dial now.
    Allow {
        /// What was checked.
        audit: Audit,
    },
    /// Never dial this lead under these facts.
    Deny {
        /// Every blocking reason found.
        reasons: Vec<Reason>,
        /// What was checked.
        audit: Audit,
    },
    /// Dial no earlier than `until` (the earliest instant every time rule allows).
    Defer {
        /// Earliest allowed instant.
        until: DateTime<Utc>,
        /// The time rules that pushed the call back.
        reasons: Vec<Reason>,
        /// What was checked.
        audit: Audit,
    },
}

impl Decision {
    /// `allow`, `deny` or `defer`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Deny { .. } => "deny",
            Decision::Defer { .. } => "defer",
        }
    }

    /// Whether the call may be placed now.
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The audit record.
    pub fn audit(&self) -> &Audit {
        match self {
            Decision::Allow { audit }
            | Decision::Deny { audit, .. }
            | Decision::Defer { audit, .. } => audit,
        }
    }

    /// Version of the rule set that decided.
    pub fn rule_set_version(&self) -> &str {
        self.audit().rule_set_version.as_str()
    }

    /// Reasons (empty for allow).
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Decision::Allow { .. } => &[],
            Decision::Deny { reasons, .. } | Decision::Defer { reasons, .. } => reasons,
        }
    }

    /// Whether some reason has `code`.
    pub fn has_reason(&self, code: ReasonCode) -> bool {
        self.reasons().iter().any(|r| r.code == code)
    }

    /// The reason codes, in order.
    pub fn reason_codes(&self) -> Vec<ReasonCode> {
        self.reasons().iter().map(|r| r.code).collect()
    }

    /// `until` of a deferral.
    pub fn deferred_until(&self) -> Option<DateTime<Utc>> {
        match self {
            Decision::Defer { until, .. } => Some(*until),
            _ => None,
        }
    }
}
