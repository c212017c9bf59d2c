//! Contacts and their phone numbers.

use crate::entities::{contact, contact_phone};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashSet;
use uuid::Uuid;

pub use contact::Model as ContactRow;
pub use contact_phone::Model as PhoneRow;

/// A contact with its phones, in the order they were given.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub row: ContactRow,
    pub phones: Vec<PhoneRow>,
}

#[derive(Clone, Debug, Default)]
pub struct NewPhone {
    pub e164: String,
    pub kind: String,
    pub extension: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub external_id: Option<String>,
    pub custom: serde_json::Map<String, serde_json::Value>,
    pub dedup_key: String,
    pub phones: Vec<NewPhone>,
}

/// Where to look for an existing contact with the same dedup key.
#[derive(Clone, Copy, Debug)]
pub enum DedupScope {
    List(Uuid),
    Tenant,
}

/// Search filters; all optional and combined with AND.
#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    pub list_id: Option<Uuid>,
    /// An E.164 number any of the contact's phones equals.
    pub phone: Option<String>,
    pub status: Option<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub last_name: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Custom field equality: key (validated `[a-z0-9_]+`) and the value as text.
    pub custom: Vec<(String, String)>,
}

/// Rows per INSERT statement, well under the bound-parameter limits
/// (SQLite 32,766; PostgreSQL 65,535): fewer, larger statements.
const CONTACT_CHUNK: usize = 1000;
const PHONE_CHUNK: usize = 2000;
const LOOKUP_CHUNK: usize = 1000;

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Insert contacts and their phones into `list` (call inside a
    /// transaction: a batch lands whole or not at all).
    pub async fn insert_contacts(
        &self,
        list: Uuid,
        import: Option<Uuid>,
        batch: Vec<NewContact>,
    ) -> Result<Vec<Uuid>> {
        let t = now();
        let mut ids = Vec::with_capacity(batch.len());
        // Rows become statement values one chunk at a time, so a large batch
        // never holds more than one chunk's worth of copies.
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let mut rows = Vec::with_capacity(CONTACT_CHUNK);
            let mut phones = Vec::new();
            for c in batch.by_ref().take(CONTACT_CHUNK) {
                let id = Uuid::now_v7();
                ids.push(id);
                for (pos, p) in c.phones.into_iter().enumerate() {
                    phones.push(contact_phone::ActiveModel {
                        tenant_id: Set(self.tenant.0),
                        contact_id: Set(id),
                        e164: Set(p.e164),
                        kind: Set(p.kind),
                        extension: Set(p.extension),
                        position: Set(i32::try_from(pos).unwrap_or(i32::MAX)),
                    });
                }
                rows.push(contact::ActiveModel {
                    id: Set(id),
                    tenant_id: Set(self.tenant.0),
                    list_id: Set(list),
                    first_name: Set(c.first_name),
                    last_name: Set(c.last_name),
                    email: Set(c.email),
                    address1: Set(c.address1),
                    address2: Set(c.address2),
                    city: Set(c.city),
                    state: Set(c.state),
                    postal_code: Set(c.postal_code),
                    country: Set(c.country),
                    external_id: Set(c.external_id),
                    custom: Set(serde_json::Value::Object(c.custom)),
                    status: Set("new".to_owned()),
                    dedup_key: Set(c.dedup_key),
                    import_id: Set(import),
                    created_at: Set(t),
                    updated_at: Set(t),
                });
            }
            contact::Entity::insert_many(rows)
                .exec_without_returning(self.conn)
                .await?;
            while !phones.is_empty() {
                let rest = phones.split_off(phones.len().min(PHONE_CHUNK));
                contact_phone::Entity::insert_many(std::mem::replace(&mut phones, rest))
                    .exec_without_returning(self.conn)
                    .await?;
            }
        }
        Ok(ids)
    }

    /// Which of `keys` already exist in `scope`.
    pub async fn existing_dedup_keys(
        &self,
        keys: &[String],
        scope: DedupScope,
    ) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let q = contact::Entity::find()
                .select_only()
                .column(contact::Column::DedupKey)
                .filter(contact::Column::TenantId.eq(self.tenant.0))
                .filter(contact::Column::DedupKey.is_in(chunk.iter().cloned()));
            let q = match scope {
                DedupScope::List(id) => q.filter(contact::Column::ListId.eq(id)),
                DedupScope::Tenant => q,
            };
            let rows: Vec<String> = q.into_tuple().all(self.conn).await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The dedup keys of the contacts an import has added so far (to resume
    /// its in-file dedup after a restart; a scan, rare by design).
    pub async fn import_dedup_keys(&self, import: Uuid) -> Result<Vec<String>> {
        Ok(contact::Entity::find()
            .select_only()
            .column(contact::Column::DedupKey)
            .filter(contact::Column::TenantId.eq(self.tenant.0))
            .filter(contact::Column::ImportId.eq(import))
            .into_tuple()
            .all(self.conn)
            .await?)
    }

    pub async fn get_contact(&self, id: Uuid) -> Result<Contact> {
        let row = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(self.tenant.0))
            .filter(contact::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let phones = self.phones_of(&[id]).await?;
        Ok(Contact { row, phones })
    }

    async fn phones_of(&self, ids: &[Uuid]) -> Result<Vec<PhoneRow>> {
        Ok(contact_phone::Entity::find()
            .filter(contact_phone::Column::TenantId.eq(self.tenant.0))
            .filter(contact_phone::Column::ContactId.is_in(ids.iter().copied()))
            .order_by_asc(contact_phone::Column::ContactId)
            .order_by_asc(contact_phone::Column::Position)
            .all(self.conn)
            .await?)
    }

    pub async fn search_contacts(
        &self,
        f: &ContactFilter,
        page: &PageRequest,
    ) -> Result<Page<Contact>> {
        use contact::Column as Col;
        let mut q = contact::Entity::find()
            .filter(Col::TenantId.eq(self.tenant.0))
            .order_by_asc(Col::Id);
        if let Some(after) = page.after {
            q = q.filter(Col::Id.gt(after));
        }
        let eq = |q: sea_orm::Select<contact::Entity>, col: Col, v: &Option<String>| match v {
            Some(v) => q.filter(col.eq(v.as_str())),
            None => q,
        };
        if let Some(l) = f.list_id {
            q = q.filter(Col::ListId.eq(l));
        }
        q = eq(q, Col::Status, &f.status);
        q = eq(q, Col::ExternalId, &f.external_id);
        q = eq(q, Col::Email, &f.email);
        q = eq(q, Col::LastName, &f.last_name);
        q = eq(q, Col::State, &f.state);
        q = eq(q, Col::PostalCode, &f.postal_code);
        if let Some(phone) = &f.phone {
            let sub = sea_orm::sea_query::Query::select()
                .column(contact_phone::Column::ContactId)
                .from(contact_phone::Entity)
                .and_where(Expr::col(contact_phone::Column::TenantId).eq(self.tenant.0))
                .and_where(Expr::col(contact_phone::Column::E164).eq(phone.as_str()))
                .to_owned();
            q = q.filter(Col::Id.in_subquery(sub));
        }
        for (key, value) in &f.custom {
            if !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(StoreError::Corrupt(format!(
                    "invalid custom field key {key}"
                )));
            }
            let expr = match self.conn.get_database_backend() {
                DbBackend::Postgres => format!("custom->>'{key}'"),
                _ => format!("json_extract(custom, '$.{key}')"),
            };
            q = q.filter(Expr::cust(expr).cast_as("TEXT").eq(value.as_str()));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut phones = self.phones_of(&ids).await?;
        let contacts = rows
            .into_iter()
            .map(|row| {
                let mine: Vec<PhoneRow> =
                    phones.extract_if(.., |p| p.contact_id == row.id).collect();
                Contact { row, phones: mine }
            })
            .collect();
        Ok(Page::from_rows(contacts, page.limit, |c| c.row.id))
    }

    pub async fn delete_contact(&self, id: Uuid) -> Result<Contact> {
        let before = self.get_contact(id).await?;
        contact::Entity::delete_many()
            .filter(contact::Column::TenantId.eq(self.tenant.0))
            .filter(contact::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(before)
    }
}
