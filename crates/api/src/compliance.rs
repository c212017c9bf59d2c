//! The glue between the pure decision engine and the store: gathering a
//! decision's facts (contact, consent ledger, history, DNC lists, the
//! tenant's rules), caching the DNC lists per tenant, storing decisions.

use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use omnivox_compliance::{
    AttemptHistory, CampaignFacts, CampaignId, Consent, ContactFacts, Decision, DecisionInput,
    DncLookup, DncSet, Geo, HolidayZone, NationalDnc, NumberKind, Place, RuleSet, TenantRules,
    WeekHours, decide,
};
use omnivox_domain::TenantId;
use omnivox_store::decisions::NewDecision;
use omnivox_store::{Scoped, commit};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// A tenant's DNC lists, built from the store and kept until a change.
pub struct TenantDnc {
    internal: DncSet,
    campaigns: HashMap<Uuid, DncSet>,
    national: Vec<Arc<NationalDnc>>,
}

#[derive(Default)]
pub struct ComplianceCache {
    tenants: RwLock<HashMap<TenantId, Arc<TenantDnc>>>,
    /// Loaded registries by id (they never change once stored).
    registries: RwLock<HashMap<Uuid, Arc<NationalDnc>>>,
}

impl ComplianceCache {
    /// Drop a tenant's lists (after a DNC change); rebuilt on next use.
    pub fn forget(&self, tenant: TenantId) {
        if let Ok(mut t) = self.tenants.write() {
            t.remove(&tenant);
        }
    }

    pub fn keep_registry(&self, id: Uuid, dnc: Arc<NationalDnc>) {
        if let Ok(mut r) = self.registries.write() {
            r.insert(id, dnc);
        }
    }

    fn registry(&self, id: Uuid) -> Option<Arc<NationalDnc>> {
        self.registries.read().ok()?.get(&id).cloned()
    }

    fn cached(&self, tenant: TenantId) -> Option<Arc<TenantDnc>> {
        self.tenants.read().ok()?.get(&tenant).cloned()
    }
}

fn rules() -> Result<(&'static RuleSet, &'static Geo), ApiError> {
    let rules = RuleSet::embedded().map_err(|e| ApiError::internal(format!("rule set: {e}")))?;
    let geo = Geo::embedded().map_err(|e| ApiError::internal(format!("location data: {e}")))?;
    Ok((rules, geo))
}

/// The time zones `number` of `contact` rings in: the number's zones,
/// narrowed by the contact's address as for the dial decision; empty when
/// none is known.
pub fn zones_of(
    number: &str,
    contact: &omnivox_store::contacts::ContactRow,
) -> Result<Vec<chrono_tz::Tz>, ApiError> {
    let (_, geo) = rules()?;
    let place = Place {
        country: contact.country.as_deref(),
        state: contact.state.as_deref(),
        postal_code: contact.postal_code.as_deref(),
    };
    Ok(geo
        .locate(number, NumberKind::default(), &place)
        .zones
        .into_owned())
}

/// The version of the calling rules in force.
pub fn rule_set_version() -> Result<String, ApiError> {
    Ok(rules()?.0.version().as_str().to_owned())
}

/// Load a stored national registry file.
pub async fn load_registry(
    path: String,
    name: String,
    refreshed_at: DateTime<Utc>,
) -> Result<(NationalDnc, u64, u64), ApiError> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path).map_err(ApiError::internal)?;
        let (dnc, report) = NationalDnc::load_from_reader(
            std::io::BufReader::with_capacity(1 << 20, f),
            &name,
            refreshed_at,
        )
        .map_err(|e| ApiError::bad_request("invalid_registry", e.to_string()))?;
        let accepted = dnc.len() as u64;
        Ok((dnc, accepted, report.junk))
    })
    .await
    .map_err(ApiError::internal)?
}

async fn tenant_dnc(state: &AppState, tenant: TenantId) -> Result<Arc<TenantDnc>, ApiError> {
    if let Some(t) = state.compliance.cached(tenant) {
        return Ok(t);
    }
    let scoped = Scoped::new(state.store.reader(), tenant);
    let mut internal = DncSet::internal();
    let mut campaigns: HashMap<Uuid, DncSet> = HashMap::new();
    for e in scoped.all_dnc().await? {
        let set = match e.campaign_id {
            Some(c) => campaigns
                .entry(c)
                .or_insert_with(|| DncSet::campaign(CampaignId(c.as_u128()))),
            None => &mut internal,
        };
        if let Err(err) = set.insert(&e.pattern) {
            tracing::warn!(tenant_id = %tenant, entry = %e.id, error = %err, "unusable DNC entry");
        }
    }
    // The newest registry of each name is the one in force.
    let mut national = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in scoped.registries().await? {
        if !seen.insert(r.name.clone()) {
            continue;
        }
        let dnc = match state.compliance.registry(r.id) {
            Some(d) => d,
            None => {
                let (d, _, _) =
                    load_registry(r.stored_path.clone(), r.name.clone(), r.refreshed_at).await?;
                let d = Arc::new(d);
                state.compliance.keep_registry(r.id, d.clone());
                d
            }
        };
        national.push(dnc);
    }
    let t = Arc::new(TenantDnc {
        internal,
        campaigns,
        national,
    });
    if let Ok(mut map) = state.compliance.tenants.write() {
        map.insert(tenant, t.clone());
    }
    Ok(t)
}

/// The campaign side of a decision, until campaigns are stored objects.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub id: Option<Uuid>,
    /// Predictive, power or agentless dialing (consent required).
    #[serde(default)]
    pub automated: bool,
    /// Telemarketing with automation: prior express written consent required.
    #[serde(default)]
    pub requires_written_consent: bool,
    /// Apply the UK 72-hour rule after an abandoned call.
    #[serde(default)]
    pub uk_mode: bool,
    /// An agent is reserved before dialing (preview/progressive).
    #[serde(default)]
    pub agent_guaranteed: bool,
    pub max_attempts_per_day: Option<u32>,
    pub max_attempts_total: Option<u32>,
    #[serde(default)]
    pub excluded_states: Vec<String>,
    #[serde(default)]
    pub excluded_prefixes: Vec<String>,
}

/// Decide whether `phone` of `contact` may be dialed at `at`. With
/// `acted_on`, the decision is stored as one the dialer acted on (its attempt
/// counts in later decisions); otherwise it is a dry run and not stored.
pub async fn decide_for(
    state: &AppState,
    tenant: TenantId,
    contact_id: Uuid,
    phone: Option<&str>,
    campaign: &CampaignInput,
    at: DateTime<Utc>,
    acted_on: bool,
) -> Result<(String, Decision), ApiError> {
    let (rules, geo) = rules()?;
    let scoped = Scoped::new(state.store.reader(), tenant);
    let contact = scoped.get_contact(contact_id).await?;
    let number = match phone {
        Some(p) if contact.phones.iter().any(|cp| cp.e164 == p) => p.to_owned(),
        Some(_) => {
            return Err(ApiError::field(
                "phone",
                "not_contact_phone",
                "not one of this contact's numbers",
            ));
        }
        None => contact
            .phones
            .first()
            .map(|p| p.e164.clone())
            .ok_or_else(|| {
                ApiError::field("phone", "no_phone", "the contact has no phone number")
            })?,
    };
    let phones: Vec<String> = contact.phones.iter().map(|p| p.e164.clone()).collect();

    // The ledger: the latest voice consent or opt-out of this number.
    let events = scoped.consent_events(contact_id, "voice").await?;
    let mut consent = Consent::None;
    let mut opted_out = false;
    for e in events
        .iter()
        .filter(|e| e.phone.as_deref().is_none_or(|p| p == number))
    {
        match e.kind.as_str() {
            "consent" => {
                consent = if e.method == "written" {
                    Consent::ExpressWritten
                } else {
                    Consent::Express
                };
                opted_out = false;
            }
            "revoke" => consent = Consent::None,
            "opt_out" => {
                opted_out = true;
                consent = Consent::None;
            }
            _ => {}
        }
    }
    // An opt-out of the number by any contact of the tenant binds every campaign.
    opted_out |= scoped.opted_out_phone(&number, "voice").await?;

    let dials = scoped
        .dials_since(&phones, at - chrono::Duration::days(400))
        .await?;
    // For the redial block after an abandoned call (Ofcom's 72 hours, and
    // any rule of the number's place).
    let last_abandoned_at = scoped
        .last_abandoned_at(std::slice::from_ref(&number))
        .await?;
    let person_calls: Vec<DateTime<Utc>> = dials
        .iter()
        .copied()
        .filter(|t| *t > at - chrono::Duration::hours(24) && *t <= at)
        .collect();
    let zones = geo.locate(&number, NumberKind::default(), &Place::default());
    let day_start = omnivox_compliance::local_day_start(&zones.zones, at)
        .unwrap_or(at - chrono::Duration::hours(24));
    let lead_today = dials
        .iter()
        .filter(|t| **t >= day_start && **t <= at)
        .count();
    let lead_total = dials.iter().filter(|t| **t <= at).count();

    let settings = scoped.tenant_compliance().await?;
    let hours = match &settings.calling_hours {
        Some(spec) => Some(
            WeekHours::parse(spec)
                .map_err(|e| ApiError::internal(format!("stored calling hours: {e}")))?,
        ),
        None => None,
    };
    let holidays: Vec<NaiveDate> =
        serde_json::from_value(settings.holidays.clone()).unwrap_or_default();
    let holiday_zone = if settings.holiday_zone == "tenant" {
        HolidayZone::Tenant(crate::auth::principal::tenant_zone(state, tenant).await?)
    } else {
        HolidayZone::CalledParty
    };

    let dnc = tenant_dnc(state, tenant).await?;
    // The lookups borrow `dnc`; keep them out of the awaits below.
    let decision = {
        let mut lists: Vec<&dyn DncLookup> = vec![&dnc.internal];
        if let Some(c) = campaign.id.and_then(|id| dnc.campaigns.get(&id)) {
            lists.push(c);
        }
        for n in &dnc.national {
            lists.push(n.as_ref());
        }
        let excluded_states: Vec<&str> = campaign
            .excluded_states
            .iter()
            .map(String::as_str)
            .collect();
        let excluded_prefixes: Vec<&str> = campaign
            .excluded_prefixes
            .iter()
            .map(String::as_str)
            .collect();
        let input = DecisionInput {
            number: &number,
            contact: ContactFacts {
                place: Place {
                    country: contact.row.country.as_deref(),
                    state: contact.row.state.as_deref(),
                    postal_code: contact.row.postal_code.as_deref(),
                },
                number_kind: NumberKind::default(),
                consent,
                opted_out,
            },
            campaign: CampaignFacts {
                id: CampaignId(campaign.id.map(|u| u.as_u128()).unwrap_or_default()),
                automated: campaign.automated,
                requires_written_consent: campaign.requires_written_consent,
                uk_mode: campaign.uk_mode,
                agent_guaranteed: campaign.agent_guaranteed,
                max_attempts_per_day: campaign.max_attempts_per_day,
                max_attempts_total: campaign.max_attempts_total,
                excluded_states: &excluded_states,
                excluded_prefixes: &excluded_prefixes,
            },
            history: AttemptHistory {
                lead_attempts_today: u32::try_from(lead_today).unwrap_or(u32::MAX),
                lead_attempts_total: u32::try_from(lead_total).unwrap_or(u32::MAX),
                person_calls: &person_calls,
                last_abandoned_at,
            },
            tenant: TenantRules {
                hours: hours.as_ref(),
                holidays: &holidays,
                holiday_zone,
            },
            dnc: &lists,
            now: at,
            rules,
            geo,
        };
        decide(&input)
    };
    if acted_on {
        let tx = state.store.begin().await?;
        Scoped::new(&tx, tenant)
            .record_decision(NewDecision {
                contact_id,
                phone: &number,
                campaign_id: campaign.id,
                outcome: decision.outcome(),
                defer_until: decision.deferred_until(),
                reasons: serde_json::to_value(decision.reasons()).map_err(ApiError::internal)?,
                rule_set_version: decision.rule_set_version(),
                dry_run: false,
                decided_at: at,
            })
            .await?;
        commit(tx).await?;
    }
    Ok((number, decision))
}
