//! DIDs: the phone numbers that route inbound calls to a tenant. A number
//! belongs to at most one tenant (unique across the installation).

use crate::entities::did;
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::{DidId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use did::Model as DidRow;

/// Where a DID's calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DidTarget {
    /// A member of the tenant (their registered phones ring).
    Agent(UserId),
    /// An external E.164 number (through the tenant's trunks).
    Number(String),
    /// An ACD queue of the tenant (Omnivox answers and queues the caller).
    Queue(Uuid),
    /// An IVR flow of the tenant (Omnivox answers and runs its published
    /// version).
    Flow(Uuid),
}

/// A target as its columns: the kind and at most one value.
struct TargetColumns {
    kind: &'static str,
    agent: Option<Uuid>,
    number: Option<String>,
    queue: Option<Uuid>,
    flow: Option<Uuid>,
}

impl DidTarget {
    /// The `target_kind` this target is stored as.
    pub fn kind(&self) -> &'static str {
        match self {
            DidTarget::Agent(_) => "agent",
            DidTarget::Number(_) => "number",
            DidTarget::Queue(_) => "queue",
            DidTarget::Flow(_) => "flow",
        }
    }

    fn columns(&self) -> TargetColumns {
        let mut c = TargetColumns {
            kind: self.kind(),
            agent: None,
            number: None,
            queue: None,
            flow: None,
        };
        match self {
            DidTarget::Agent(u) => c.agent = Some(u.0),
            DidTarget::Number(n) => c.number = Some(n.clone()),
            DidTarget::Queue(q) => c.queue = Some(*q),
            DidTarget::Flow(f) => c.flow = Some(*f),
        }
        c
    }
}

impl DidRow {
    pub fn did_id(&self) -> DidId {
        DidId(self.id)
    }

    /// The target, read back from its columns.
    pub fn target(&self) -> Result<DidTarget> {
        let target = match self.target_kind.as_str() {
            "agent" => self.target_agent_id.map(|u| DidTarget::Agent(UserId(u))),
            "number" => self.target_number.clone().map(DidTarget::Number),
            "queue" => self.target_queue_id.map(DidTarget::Queue),
            "flow" => self.target_flow_id.map(DidTarget::Flow),
            _ => None,
        };
        target.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "did {}: target `{}` without its value",
                self.id, self.target_kind
            ))
        })
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
        let c = new.target.columns();
        Ok(did::ActiveModel {
            id: Set(DidId::new().0),
            tenant_id: Set(self.tenant.0),
            number: Set(new.number),
            description: Set(new.description),
            target_kind: Set(c.kind.to_owned()),
            target_agent_id: Set(c.agent),
            target_number: Set(c.number),
            target_queue_id: Set(c.queue),
            target_flow_id: Set(c.flow),
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
            let c = t.columns();
            m.target_kind = Set(c.kind.to_owned());
            m.target_agent_id = Set(c.agent);
            m.target_number = Set(c.number);
            m.target_queue_id = Set(c.queue);
            m.target_flow_id = Set(c.flow);
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

    /// The tenant's DIDs that route to this queue (by number).
    pub async fn dids_targeting_queue(&self, id: Uuid) -> Result<Vec<DidRow>> {
        Ok(did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::TargetKind.eq("queue"))
            .filter(did::Column::TargetQueueId.eq(id))
            .order_by_asc(did::Column::Number)
            .all(self.conn)
            .await?)
    }

    /// The tenant's DIDs that route to this IVR flow (by number).
    pub async fn dids_targeting_flow(&self, id: Uuid) -> Result<Vec<DidRow>> {
        Ok(did::Entity::find()
            .filter(did::Column::TenantId.eq(self.tenant.0))
            .filter(did::Column::TargetKind.eq("flow"))
            .filter(did::Column::TargetFlowId.eq(id))
            .order_by_asc(did::Column::Number)
            .all(self.conn)
            .await?)
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
