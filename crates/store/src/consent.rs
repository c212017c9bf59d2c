//! The consent and opt-out ledger: append-only events per contact and channel.

use crate::entities::consent_event;
use crate::{Page, PageRequest, Result, Scoped, now};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use consent_event::Model as ConsentEvent;

pub struct NewConsentEvent<'a> {
    pub contact_id: Uuid,
    pub phone: Option<&'a str>,
    /// `voice`, `sms` or `email`.
    pub channel: &'a str,
    /// `consent`, `opt_out` or `revoke` (of an earlier consent).
    pub kind: &'a str,
    /// `keypress`, `agent_disposition`, `api`, `sms_stop`, `spoken`, `written`, `import`.
    pub method: &'a str,
    pub actor: crate::audit::Actor,
    pub evidence: Option<&'a str>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn record_consent(&self, e: NewConsentEvent<'_>) -> Result<ConsentEvent> {
        let (actor_type, actor_id) = match e.actor {
            crate::audit::Actor::User(id) => ("user", Some(id)),
            crate::audit::Actor::ApiKey(id) => ("api_key", Some(id)),
            crate::audit::Actor::System => ("system", None),
        };
        Ok(consent_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            contact_id: Set(e.contact_id),
            phone: Set(e.phone.map(str::to_owned)),
            channel: Set(e.channel.to_owned()),
            kind: Set(e.kind.to_owned()),
            method: Set(e.method.to_owned()),
            actor_type: Set(actor_type.to_owned()),
            actor_id: Set(actor_id),
            evidence: Set(e.evidence.map(str::to_owned)),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?)
    }

    /// A contact's ledger, oldest first.
    pub async fn consent_history(
        &self,
        contact: Uuid,
        page: &PageRequest,
    ) -> Result<Page<ConsentEvent>> {
        let mut q = consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(self.tenant.0))
            .filter(consent_event::Column::ContactId.eq(contact))
            .order_by_asc(consent_event::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(consent_event::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }

    /// Every event on a channel for a contact, oldest first (small).
    pub async fn consent_events(&self, contact: Uuid, channel: &str) -> Result<Vec<ConsentEvent>> {
        Ok(consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(self.tenant.0))
            .filter(consent_event::Column::ContactId.eq(contact))
            .filter(consent_event::Column::Channel.eq(channel))
            .order_by_asc(consent_event::Column::Id)
            .all(self.conn)
            .await?)
    }

    /// Numbers opted out on a channel anywhere in the tenant (an opt-out
    /// binds every campaign at once).
    pub async fn opted_out_phone(&self, phone: &str, channel: &str) -> Result<bool> {
        let last = consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(self.tenant.0))
            .filter(consent_event::Column::Phone.eq(phone))
            .filter(consent_event::Column::Channel.eq(channel))
            .filter(consent_event::Column::Kind.is_in(["opt_out", "consent"]))
            .order_by_desc(consent_event::Column::Id)
            .one(self.conn)
            .await?;
        Ok(last.is_some_and(|e| e.kind == "opt_out"))
    }
}
