//! Operations for `omnivox admin ...`: the only way to make a platform
//! super-admin, and the operator's way to reset passwords and lift lockouts.
//! Every change is audited with the `system` actor.

use crate::auth::password::Hasher;
use crate::auth::principal::RequestMeta;
use crate::config::Config;
use crate::routes::tenants::{CreateTenant, create_tenant_in};
use anyhow::{Context, anyhow, bail};
use omnivox_domain::{Role, TenantId, UserId, password};
use omnivox_store::audit::{self, Actor, NewAuditEntry};
use omnivox_store::{Scoped, Store, commit, lockouts, sessions, tenants, users};

pub struct Admin {
    store: Store,
    hasher: Hasher,
}

fn system_entry(tenant: Option<TenantId>, action: &str, target: &str, id: String) -> NewAuditEntry {
    NewAuditEntry {
        tenant,
        actor: Actor::System,
        action: action.to_owned(),
        target_type: target.to_owned(),
        target_id: Some(id),
        before: None,
        after: None,
        request_id: None,
        source_ip: Some("cli".to_owned()),
    }
}

impl Admin {
    /// Connect and apply pending migrations.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database).await?;
        store.migrate().await?;
        let hasher = Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations)
            .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
        Ok(Self { store, hasher })
    }

    pub async fn create_tenant(
        &self,
        name: &str,
        slug: Option<String>,
        time_zone: Option<String>,
    ) -> anyhow::Result<tenants::Tenant> {
        let new = CreateTenant {
            name: name.to_owned(),
            slug,
            time_zone,
            locale: None,
            business_hours: None,
            require_2fa: false,
        }
        .into_new()
        .map_err(|e| anyhow!("{}", describe(&e)))?;
        let tx = self.store.begin().await?;
        let t = create_tenant_in(&tx, new, Actor::System, &RequestMeta::default())
            .await
            .map_err(|e| anyhow!("{}", describe(&e)))?;
        commit(tx).await?;
        Ok(t)
    }

    /// Create a user, optionally as a member of the tenant `tenant_slug`.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_plain: &str,
        membership: Option<(&str, Role)>,
        superadmin: bool,
    ) -> anyhow::Result<users::User> {
        let email = users::normalize_email(email);
        password::check(password_plain, &email).map_err(|e| anyhow!("password: {e}"))?;
        let tenant = match membership {
            Some((slug, role)) => Some((self.tenant_by_slug(slug).await?, role)),
            None => None,
        };
        let hash = self
            .hasher
            .hash(password_plain)
            .map_err(|e| anyhow!("{e}"))?;
        let tx = self.store.begin().await?;
        let user = users::create(&tx, &email, name, &hash, superadmin)
            .await
            .map_err(|e| match e {
                omnivox_store::StoreError::Conflict(_) => {
                    anyhow!("a user with email {email} exists")
                }
                e => e.into(),
            })?;
        audit::record(
            &tx,
            system_entry(None, "user.created", "user", user.id.to_string()),
        )
        .await?;
        if superadmin {
            audit::record(
                &tx,
                system_entry(None, "user.superadmin_granted", "user", user.id.to_string()),
            )
            .await?;
        }
        if let Some((tid, role)) = tenant {
            Scoped::new(&tx, tid)
                .add_member(UserId(user.id), role)
                .await?;
            let mut e = system_entry(Some(tid), "member.added", "user", user.id.to_string());
            e.after = Some(serde_json::json!({ "email": email, "role": role }));
            audit::record(&tx, e).await?;
        }
        commit(tx).await?;
        Ok(user)
    }

    /// Set a new password, sign out every session and lift any lockout.
    pub async fn reset_password(&self, email: &str, password_plain: &str) -> anyhow::Result<()> {
        let user = self.user_by_email(email).await?;
        password::check(password_plain, &user.email).map_err(|e| anyhow!("password: {e}"))?;
        let hash = self
            .hasher
            .hash(password_plain)
            .map_err(|e| anyhow!("{e}"))?;
        let uid = UserId(user.id);
        let tx = self.store.begin().await?;
        users::set_password(&tx, uid, &hash).await?;
        users::clear_lock(&tx, uid).await?;
        sessions::revoke_all_for_user(&tx, uid, "password_reset").await?;
        audit::record(
            &tx,
            system_entry(None, "user.password_reset", "user", user.id.to_string()),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    pub async fn unlock_user(&self, email: &str) -> anyhow::Result<()> {
        let user = self.user_by_email(email).await?;
        let tx = self.store.begin().await?;
        users::clear_lock(&tx, UserId(user.id)).await?;
        audit::record(
            &tx,
            system_entry(None, "user.unlocked", "user", user.id.to_string()),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    pub async fn unlock_ip(&self, ip: &str) -> anyhow::Result<bool> {
        let ip: std::net::IpAddr = ip.parse().context("not an IP address")?;
        let tx = self.store.begin().await?;
        let was = lockouts::clear(&tx, &ip.to_string()).await?;
        audit::record(&tx, system_entry(None, "ip.unlocked", "ip", ip.to_string())).await?;
        commit(tx).await?;
        Ok(was)
    }

    async fn user_by_email(&self, email: &str) -> anyhow::Result<users::User> {
        users::find_by_email(self.store.reader(), email)
            .await?
            .ok_or_else(|| anyhow!("no user with email {email}"))
    }

    async fn tenant_by_slug(&self, slug: &str) -> anyhow::Result<TenantId> {
        match tenants::find_by_slug(self.store.reader(), slug).await? {
            Some(t) => Ok(TenantId(t.id)),
            None => bail!("no organization with slug {slug}"),
        }
    }
}

/// A one-line description of an API error for the terminal.
fn describe(e: &crate::ApiError) -> String {
    match e {
        crate::ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
