//! Wiring the SIP endpoint to the store: phones authenticate against the
//! SIP credentials members are given through the API; calls use the
//! store's DIDs, trunks and dial policies and write CDRs ([`calls`]).

pub mod calls;

use omnivox_domain::{TenantId, UserId};
use omnivox_sip::{AccountOwner, Directory, DirectoryError, SipAccount};
use omnivox_store::seal::{Field, Sealer};
use omnivox_store::{Scoped, Store, tenants};

/// Looks SIP accounts up in the store: the domain names the tenant
/// (`<slug>.<suffix>`), the user name the member's SIP account.
pub struct StoreDirectory {
    pub store: Store,
    pub suffix: String,
    /// Opens the stored HA1s.
    pub sealer: Sealer,
}

/// A tenant's SIP domain.
pub fn tenant_domain(slug: &str, suffix: &str) -> String {
    format!("{slug}.{suffix}")
}

impl Directory for StoreDirectory {
    async fn lookup(&self, domain: &str, user: &str) -> Result<Option<SipAccount>, DirectoryError> {
        let Some(slug) = domain.strip_suffix(&format!(".{}", self.suffix)) else {
            return Ok(None);
        };
        let db = self.store.reader();
        let tenant = tenants::find_by_slug(db, slug)
            .await
            .map_err(|e| DirectoryError(e.to_string()))?;
        let Some(tenant) = tenant else {
            return Ok(None);
        };
        let scoped = Scoped::new(db, TenantId(tenant.id));
        let row = scoped
            .sip_account_by_username(user)
            .await
            .map_err(|e| DirectoryError(e.to_string()))?;
        let open = |field, ha1| {
            self.sealer
                .open(field, ha1)
                .map_err(|e| DirectoryError(e.to_string()))
        };
        if let Some(r) = row {
            return Ok(Some(SipAccount {
                tenant_id: TenantId(r.tenant_id),
                owner: AccountOwner::Agent(UserId(r.user_id)),
                ha1_md5: open(Field::SipHa1Md5, &r.ha1_md5)?,
                ha1_sha256: open(Field::SipHa1Sha256, &r.ha1_sha256)?,
                user: r.username,
                domain: domain.to_owned(),
            }));
        }
        // A carrier authenticating with a trunk's inbound credentials (the
        // API keeps these names distinct from phones' in a tenant).
        let trunks = scoped
            .list_trunks()
            .await
            .map_err(|e| DirectoryError(e.to_string()))?;
        let found = trunks.into_iter().find_map(|t| {
            let creds = t.inbound_credentials()?;
            (t.enabled && creds.username == user).then_some((t, creds))
        });
        let Some((t, creds)) = found else {
            return Ok(None);
        };
        Ok(Some(SipAccount {
            tenant_id: TenantId(t.tenant_id),
            owner: AccountOwner::Trunk(t.id),
            user: creds.username,
            domain: domain.to_owned(),
            ha1_md5: open(Field::TrunkInboundHa1Md5, &creds.ha1_md5)?,
            ha1_sha256: open(Field::TrunkInboundHa1Sha256, &creds.ha1_sha256)?,
        }))
    }
}

/// Publish the registrar's events on the event bus until `stop`.
pub async fn forward_registrations(
    sip: std::sync::Arc<omnivox_sip::SipServer>,
    bus: omnivox_events::EventBus,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = sip.registrar().subscribe();
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            ev = rx.recv() => ev,
        };
        match ev {
            Ok(ev) => {
                let kind = format!("registration.{}", format!("{:?}", ev.kind).to_lowercase());
                let data = serde_json::json!({
                    "user_id": ev.agent_id,
                    "username": ev.user,
                    "domain": ev.domain,
                    "contact": ev.binding.contact,
                    "target": ev.binding.target.to_string(),
                    "nat": ev.binding.nat,
                    "user_agent": ev.binding.user_agent,
                });
                bus.publish(ev.tenant_id, kind, Some(ev.user.clone()), data);
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "registration events dropped before the event bus"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}
