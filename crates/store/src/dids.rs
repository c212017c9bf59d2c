//! DIDs: the phone numbers that route inbound calls to a tenant. A number
//! belongs to at most one tenant (unique across the installation).

use crate::entities::did;
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::{DidId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub use did::Model as DidRow;

/// Where a DID's calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DidTarget {
    /// A member of the tenant (their registered phones ring).
    Agent(UserId),
    /// An external E.164 number (through the tenant's trunks).
    Number(String),
}

impl DidTarget {
    fn columns(&self) -> (&'static str, Option<uuid::Uuid>, Option<String>) {
        match self {
            DidTarget::Agent(u) => ("agent", Some(u.0), None),
            DidTarget::Number(n) => ("number", None, Some(n.clone())),
        }
    }
}

impl DidRow {
    pub fn did_id(&self) -> DidId {
        DidId(self.id)
    }

    /// The target, read back from its columns.
    pub fn target(&self) -> Result<DidTarget> {
        match (
            self.target_kind.as_str(),
            self.target_agent_id,
            &self.target_number,
        ) {
            ("agent", Some(u), _) => Ok(DidTarget::Agent(UserId(u))),
            ("number", _, Some(n)) => Ok(DidTarget::Number(n.clone())),
            (kind, _, _) => Err(StoreError::Corrupt(format!(
                "did {}: target `{kind}` without its value",
                self.id
            ))),
        }
    }
}

/// A new DID; `number` is E.164 with `+`.
#[derive(Clone, Debug)]
pub struct NewDid {
    pub number: String,
    pub description: String,
    pub target: DidTarget,
}

#[derive(Clone, Debug, Default)]
pub struct DidPatch {
    pub number: Option<String>,
    pub description: Option<String>,
    pub target: Option<DidTarget>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a DID. A number held by any tenant is `StoreError::Conflict`.
    pub async fn create_did(&self, new: NewDid) -> Result<DidRow> {
        let t = now();
        let (kind, agent, number) = new.target.columns();
        Ok(did::ActiveModel {
            id: Set(DidId::new().0),
            tenant_id: Set(self.tenant.0),
            number: Set(new.number),
            description: Set(new.description),
            target_kind: Set(kind.to_owned()),
            target_agent_id: Set(agent),
            target_number: Set(number),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_dids(&self, page: &PageRequest) -> Result<Page<DidRow>> {
        let mut q = did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(did::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(did::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |d| d.id))
    }

    pub async fn get_did(&self, id: DidId) -> Result<DidRow> {
        did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::Id.eq(id.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// One of the tenant's DIDs whose number starts with `prefix` (the
    /// lowest), for local-presence caller ID.
    pub async fn did_with_prefix(&self, prefix: &str) -> Result<Option<String>> {
        Ok(did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::Number.starts_with(prefix))
            .order_by_asc(did::Column::Number)
            .one(self.conn)
            .await?
            .map(|d| d.number))
    }

    /// The tenant's DID with this number, if it has it.
    pub async fn did_by_number(&self, e164: &str) -> Result<Option<DidRow>> {
        Ok(did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::Number.eq(e164))
            .one(self.conn)
            .await?)
    }

    /// Apply a patch; returns the DID before and after.
    pub async fn update_did(&self, id: DidId, p: DidPatch) -> Result<(DidRow, DidRow)> {
        let before = self.get_did(id).await?;
        let mut m = did::ActiveModel {
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(v) = p.number {
            m.number = Set(v);
        }
        if let Some(v) = p.description {
            m.description = Set(v);
        }
        if let Some(t) = p.target {
            let (kind, agent, number) = t.columns();
            m.target_kind = Set(kind.to_owned());
            m.target_agent_id = Set(agent);
            m.target_number = Set(number);
        }
        did::Entity::update_many()
            .set(m)
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::Id.eq(id.0))
            .exec(self.conn)
            .await?;
        let after = self.get_did(id).await?;
        Ok((before, after))
    }

    pub async fn delete_did(&self, id: DidId) -> Result<DidRow> {
        let before = self.get_did(id).await?;
        did::Entity::delete_many()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::Id.eq(id.0))
            .exec(self.conn)
            .await?;
        Ok(before)
    }
}

/// Which tenant (and target) an inbound call to `e164` belongs to. Not
/// tenant-scoped: the SIP layer learns the tenant from the result.
pub async fn route_for_number(conn: &impl ConnectionTrait, e164: &str) -> Result<Option<DidRow>> {
    Ok(did::Entity::find()
        .filter(did::Column::Number.eq(e164))
        .one(conn)
        .await?)
}
