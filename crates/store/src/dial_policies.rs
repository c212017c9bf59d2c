//! Each tenant's dial policy (the toll-fraud guard), stored as JSON.

use crate::entities::dial_policy;
use crate::{Result, Scoped, StoreError, now};
use omnivox_domain::dial_policy::DialPolicy;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The tenant's dial policy; [`DialPolicy::default`] when never set.
    pub async fn dial_policy(&self) -> Result<DialPolicy> {
        match dial_policy::Entity::find_by_id(self.tenant.0)
            .one(self.conn)
            .await?
        {
            Some(row) => serde_json::from_value(row.policy)
                .map_err(|e| StoreError::Corrupt(format!("dial policy: {e}"))),
            None => Ok(DialPolicy::default()),
        }
    }

    /// Replace the tenant's dial policy (the caller has validated it).
    pub async fn set_dial_policy(&self, policy: &DialPolicy) -> Result<DialPolicy> {
        let value = serde_json::to_value(policy)
            .map_err(|e| StoreError::Corrupt(format!("dial policy: {e}")))?;
        dial_policy::Entity::insert(dial_policy::ActiveModel {
            tenant_id: Set(self.tenant.0),
            policy: Set(value),
            updated_at: Set(now()),
        })
        .on_conflict(
            OnConflict::column(dial_policy::Column::TenantId)
                .update_columns([dial_policy::Column::Policy, dial_policy::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(self.conn)
        .await?;
        self.dial_policy().await
    }
}
