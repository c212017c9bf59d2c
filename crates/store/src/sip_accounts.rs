//! Agents' SIP phone credentials: digest HA1 hashes per tenant realm.

use crate::entities::sip_account;
use crate::seal::Sealed;
use crate::{Result, Scoped, StoreError, now};
use omnivox_domain::UserId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

pub use sip_account::Model as SipAccountRow;

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Set (or replace) a member's SIP credentials.
    pub async fn set_sip_account(
        &self,
        user: UserId,
        username: &str,
        ha1_md5: &Sealed,
        ha1_sha256: &Sealed,
    ) -> Result<SipAccountRow> {
        sip_account::Entity::insert(sip_account::ActiveModel {
            tenant_id: Set(self.tenant.0),
            user_id: Set(user.0),
            username: Set(username.to_owned()),
            ha1_md5: Set(ha1_md5.clone()),
            ha1_sha256: Set(ha1_sha256.clone()),
            updated_at: Set(now()),
        })
        .on_conflict(
            OnConflict::columns([sip_account::Column::TenantId, sip_account::Column::UserId])
                .update_columns([
                    sip_account::Column::Username,
                    sip_account::Column::Ha1Md5,
                    sip_account::Column::Ha1Sha256,
                    sip_account::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(self.conn)
        .await?;
        self.sip_account_of(user).await?.ok_or(StoreError::NotFound)
    }

    pub async fn sip_account_of(&self, user: UserId) -> Result<Option<SipAccountRow>> {
        Ok(sip_account::Entity::find_by_id((self.tenant.0, user.0))
            .one(self.conn)
            .await?)
    }

    /// The account a phone authenticates as, by its SIP user name.
    pub async fn sip_account_by_username(&self, username: &str) -> Result<Option<SipAccountRow>> {
        Ok(sip_account::Entity::find()
            .filter(sip_account::Column::TenantId.eq(self.tenant.0))
            .filter(sip_account::Column::Username.eq(username))
            .one(self.conn)
            .await?)
    }

    pub async fn delete_sip_account(&self, user: UserId) -> Result<SipAccountRow> {
        let row = self
            .sip_account_of(user)
            .await?
            .ok_or(StoreError::NotFound)?;
        sip_account::Entity::delete_by_id((self.tenant.0, user.0))
            .exec(self.conn)
            .await?;
        Ok(row)
    }
}
