//! Contacts and their phone numbers.

use crate::entities::{contact, contact_phone};
use crate::{Page, PageRequest, Result, Scoped, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
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

/// Keys per dedup lookup statement.
const LOOKUP_CHUNK: usize = 1000;

/// The prefix of a dedup key made from a phone number.
const PHONE_KEY: &str = "tel:";

/// The condition of the partial index `idx_contacts_dedup_other` (migration
/// `m20261121_000005`), word for word: a query must repeat it for the
/// planners to use the index.
const NOT_PHONE_KEY: &str = "substr(dedup_key, 1, 4) <> 'tel:'";

/// A hand-written lookup: its placeholders (`?` or `$n`) and values.
pub(crate) struct Lookup {
    backend: DbBackend,
    values: Vec<sea_orm::Value>,
}

impl Lookup {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    pub(crate) fn one(&mut self, v: sea_orm::Value) -> String {
        self.values.push(v);
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn list(&mut self, vs: impl Iterator<Item = sea_orm::Value>) -> String {
        let marks: Vec<String> = vs.map(|v| self.one(v)).collect();
        marks.join(", ")
    }

    /// The statement to run with `sql`, which holds this lookup's placeholders.
    pub(crate) fn statement(self, sql: String) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, sql, self.values)
    }

    /// Run it; the first column of each row.
    async fn keys(self, conn: &impl ConnectionTrait, sql: String) -> Result<Vec<String>> {
        let rows = conn.query_all_raw(self.statement(sql)).await?;
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).map_err(Into::into))
            .collect()
    }
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Which of `keys` already exist in `scope`.
    ///
    /// A `tel:` key (`tel:+14155550100`, `tel:+14155550100;ext=12`) names the
    /// contact's first phone, so such contacts are found through the
    /// phone-number index; other keys (`ext:...`) through
    /// `idx_contacts_dedup_other`, which holds only those.
    pub async fn existing_dedup_keys(
        &self,
        keys: &[&str],
        scope: DedupScope,
    ) -> Result<HashSet<String>> {
        let backend = self.conn.get_database_backend();
        let (phone, other): (Vec<&str>, Vec<&str>) =
            keys.iter().partition(|k| k.starts_with(PHONE_KEY));
        let mut found = HashSet::new();
        for chunk in phone.chunks(LOOKUP_CHUNK) {
            let mut numbers: Vec<&str> = chunk
                .iter()
                .filter_map(|k| k[PHONE_KEY.len()..].split(';').next())
                .collect();
            numbers.sort_unstable();
            numbers.dedup();
            let mut q = Lookup::new(backend);
            // Phones first (CROSS JOIN keeps that order on SQLite), then
            // their contacts by id; the keys decide.
            let sql = format!(
                "SELECT c.dedup_key FROM contact_phones p CROSS JOIN contacts c \
                 WHERE p.e164 IN ({}) AND p.tenant_id = {} AND c.id = p.contact_id \
                 AND c.tenant_id = {} AND c.dedup_key IN ({}){}",
                q.list(numbers.iter().map(|n| (*n).into())),
                q.one(self.tenant.0.into()),
                q.one(self.tenant.0.into()),
                q.list(chunk.iter().map(|k| (*k).into())),
                match scope {
                    DedupScope::List(id) => format!(" AND c.list_id = {}", q.one(id.into())),
                    DedupScope::Tenant => String::new(),
                },
            );
            found.extend(q.keys(self.conn, sql).await?);
        }
        for chunk in other.chunks(LOOKUP_CHUNK) {
            let mut q = Lookup::new(backend);
            // `+list_id`: SQLite must not pick the list index (a scan of the
            // list) over the dedup index.
            let list_col = match backend {
                DbBackend::Postgres => "list_id",
                _ => "+list_id",
            };
            let sql = format!(
                "SELECT dedup_key FROM contacts WHERE tenant_id = {} AND {NOT_PHONE_KEY} \
                 AND dedup_key IN ({}){}",
                q.one(self.tenant.0.into()),
                q.list(chunk.iter().map(|k| (*k).into())),
                match scope {
                    DedupScope::List(id) => format!(" AND {list_col} = {}", q.one(id.into())),
                    DedupScope::Tenant => String::new(),
                },
            );
            found.extend(q.keys(self.conn, sql).await?);
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
