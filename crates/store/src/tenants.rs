//! Tenants (organizations). Creating and listing all tenants is a platform
//! operation; reading and updating one goes through [`Scoped`].

use crate::entities::{membership, tenant};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::{TenantId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Set,
};

pub use tenant::Model as Tenant;

#[derive(Clone, Debug)]
pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub locale: String,
    pub business_hours: serde_json::Value,
    pub require_2fa: bool,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub business_hours: Option<serde_json::Value>,
    pub require_2fa: Option<bool>,
}

pub async fn create(conn: &impl ConnectionTrait, new: NewTenant) -> Result<Tenant> {
    let t = now();
    let model = tenant::ActiveModel {
        id: Set(TenantId::new().0),
        name: Set(new.name),
        slug: Set(new.slug),
        time_zone: Set(new.time_zone),
        locale: Set(new.locale),
        business_hours: Set(new.business_hours),
        require_2fa: Set(new.require_2fa),
        created_at: Set(t),
        updated_at: Set(t),
    };
    Ok(model.insert(conn).await?)
}

/// Every tenant (platform super-admins only).
pub async fn list_all(conn: &impl ConnectionTrait, page: &PageRequest) -> Result<Page<Tenant>> {
    let mut q = tenant::Entity::find().order_by_asc(tenant::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(tenant::Column::Id.gt(after));
    }
    let rows = q.limit(page.limit + 1).all(conn).await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id))
}

fn membership_to_tenant() -> RelationDef {
    tenant::Entity::belongs_to(membership::Entity)
        .from(tenant::Column::Id)
        .to(membership::Column::TenantId)
        .into()
}

/// The tenants a user belongs to.
pub async fn list_for_user(
    conn: &impl ConnectionTrait,
    user: UserId,
    page: &PageRequest,
) -> Result<Page<Tenant>> {
    let mut q = tenant::Entity::find()
        .join(JoinType::InnerJoin, membership_to_tenant())
        .filter(membership::Column::UserId.eq(user.0))
        .order_by_asc(tenant::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(tenant::Column::Id.gt(after));
    }
    let rows = q.limit(page.limit + 1).all(conn).await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id))
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn get_tenant(&self) -> Result<Tenant> {
        tenant::Entity::find_by_id(self.tenant.0)
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Apply `patch`; returns the tenant before and after.
    pub async fn update_tenant(&self, patch: TenantPatch) -> Result<(Tenant, Tenant)> {
        let before = self.get_tenant().await?;
        let mut m = before.clone().into_active_model();
        if let Some(v) = patch.name {
            m.name = Set(v);
        }
        if let Some(v) = patch.slug {
            m.slug = Set(v);
        }
        if let Some(v) = patch.time_zone {
            m.time_zone = Set(v);
        }
        if let Some(v) = patch.locale {
            m.locale = Set(v);
        }
        if let Some(v) = patch.business_hours {
            m.business_hours = Set(v);
        }
        if let Some(v) = patch.require_2fa {
            m.require_2fa = Set(v);
        }
        m.updated_at = Set(now());
        let after = m.update(self.conn).await?;
        Ok((before, after))
    }
}

/// Look a tenant up by its slug (the command line names tenants this way).
pub async fn find_by_slug(conn: &impl ConnectionTrait, slug: &str) -> Result<Option<Tenant>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(conn)
        .await?)
}
