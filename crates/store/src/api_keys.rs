//! Tenant API keys. Only a SHA-256 hash of the secret is stored; the prefix
//! stays visible so people can tell their keys apart.

use crate::entities::api_key;
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::{ApiKeyId, Role, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub use api_key::Model as ApiKey;

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub role: Role,
    pub created_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Find a key by the hash of its secret, whatever its tenant: this is how a
/// request's key is authenticated, before any tenant is known.
pub async fn find_by_hash(conn: &impl ConnectionTrait, key_hash: &str) -> Result<Option<ApiKey>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .one(conn)
        .await?)
}

pub async fn touch_last_used(conn: &impl ConnectionTrait, id: ApiKeyId) -> Result<()> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(now()))
        .filter(api_key::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn create_api_key(&self, new: NewApiKey<'_>) -> Result<ApiKey> {
        Ok(api_key::ActiveModel {
            id: Set(ApiKeyId::new().0),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name.to_owned()),
            prefix: Set(new.prefix.to_owned()),
            key_hash: Set(new.key_hash.to_owned()),
            role: Set(new.role.as_str().to_owned()),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(now()),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn get_api_key(&self, id: ApiKeyId) -> Result<ApiKey> {
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(self.tenant.0))
            .filter(api_key::Column::Id.eq(id.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn list_api_keys(&self, page: &PageRequest) -> Result<Page<ApiKey>> {
        let mut q = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(api_key::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(api_key::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |k| k.id))
    }

    /// Revoke a key; returns the key as it was. Revoking twice is NotFound.
    pub async fn revoke_api_key(&self, id: ApiKeyId) -> Result<ApiKey> {
        let before = self.get_api_key(id).await?;
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now()))
            .filter(api_key::Column::TenantId.eq(self.tenant.0))
            .filter(api_key::Column::Id.eq(id.0))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(before)
    }
}
