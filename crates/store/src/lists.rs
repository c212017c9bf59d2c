//! Contact lists and the tenant's custom contact fields.

use crate::entities::{contact_list, custom_field};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::UserId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use contact_list::Model as ContactList;
pub use custom_field::Model as CustomField;

pub struct NewList<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub default_region: &'a str,
    pub source: &'a str,
    pub created_by: Option<UserId>,
}

#[derive(Default)]
pub struct ListPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_region: Option<String>,
    pub source: Option<String>,
}

pub struct NewCustomField<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub choices: serde_json::Value,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn create_list(&self, new: NewList<'_>) -> Result<ContactList> {
        let t = now();
        Ok(contact_list::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name.to_owned()),
            description: Set(new.description.to_owned()),
            default_region: Set(new.default_region.to_owned()),
            source: Set(new.source.to_owned()),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn get_list(&self, id: Uuid) -> Result<ContactList> {
        contact_list::Entity::find()
            .filter(contact_list::Column::TenantId.eq(self.tenant.0))
            .filter(contact_list::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn list_lists(&self, page: &PageRequest) -> Result<Page<ContactList>> {
        let mut q = contact_list::Entity::find()
            .filter(contact_list::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(contact_list::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(contact_list::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |l| l.id))
    }

    pub async fn update_list(&self, id: Uuid, p: ListPatch) -> Result<(ContactList, ContactList)> {
        let before = self.get_list(id).await?;
        let mut m = before.clone().into_active_model();
        if let Some(v) = p.name {
            m.name = Set(v);
        }
        if let Some(v) = p.description {
            m.description = Set(v);
        }
        if let Some(v) = p.default_region {
            m.default_region = Set(v);
        }
        if let Some(v) = p.source {
            m.source = Set(v);
        }
        m.updated_at = Set(now());
        Ok((before, m.update(self.conn).await?))
    }

    /// Delete a list and (by cascade) its contacts.
    pub async fn delete_list(&self, id: Uuid) -> Result<ContactList> {
        let before = self.get_list(id).await?;
        contact_list::Entity::delete_many()
            .filter(contact_list::Column::TenantId.eq(self.tenant.0))
            .filter(contact_list::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(before)
    }

    pub async fn create_custom_field(&self, new: NewCustomField<'_>) -> Result<CustomField> {
        Ok(custom_field::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            key: Set(new.key.to_owned()),
            label: Set(new.label.to_owned()),
            kind: Set(new.kind.to_owned()),
            choices: Set(new.choices),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?)
    }

    /// All of the tenant's custom fields (a short list), oldest first.
    pub async fn custom_fields(&self) -> Result<Vec<CustomField>> {
        Ok(custom_field::Entity::find()
            .filter(custom_field::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(custom_field::Column::Id)
            .all(self.conn)
            .await?)
    }

    pub async fn delete_custom_field(&self, id: Uuid) -> Result<CustomField> {
        let f = custom_field::Entity::find()
            .filter(custom_field::Column::TenantId.eq(self.tenant.0))
            .filter(custom_field::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        custom_field::Entity::delete_by_id(id)
            .exec(self.conn)
            .await?;
        Ok(f)
    }
}
