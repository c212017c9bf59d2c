//! SIP trunks: a tenant's connections to carriers, for outbound calls (with
//! failover by priority) and for recognising inbound calls by source address
//! or digest credentials.

use crate::entities::trunk;
use crate::seal::Sealed;
use crate::{Result, Scoped, StoreError, now};
use omnivox_domain::TrunkId;
use omnivox_domain::trunk::{CallerIdMode, NumberFormat, SourceNet, Transport};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

pub use trunk::Model as TrunkRow;

/// A trunk's inbound digest credentials: the user name and its HA1 hashes
/// in the tenant's realm (the password itself is never kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundCredentials {
    pub username: String,
    pub ha1_md5: Sealed,
    pub ha1_sha256: Sealed,
}

/// A new trunk; the caller has validated every field.
#[derive(Clone, Debug)]
pub struct NewTrunk {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub username: Option<String>,
    pub password: Option<Sealed>,
    pub from_user: Option<String>,
    pub from_domain: Option<String>,
    pub caller_id_mode: CallerIdMode,
    pub number_format: NumberFormat,
    pub tech_prefix: String,
    pub max_channels: u32,
    pub max_cps: u32,
    pub priority: i32,
    pub allowed_sources: Vec<SourceNet>,
    pub inbound: Option<InboundCredentials>,
    pub enabled: bool,
}

/// A change to a trunk: `None` keeps a field; `Some(None)` clears a
/// nullable one.
#[derive(Clone, Debug, Default)]
pub struct TrunkPatch {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<Transport>,
    pub username: Option<Option<String>>,
    pub password: Option<Option<Sealed>>,
    pub from_user: Option<Option<String>>,
    pub from_domain: Option<Option<String>>,
    pub caller_id_mode: Option<CallerIdMode>,
    pub number_format: Option<NumberFormat>,
    pub tech_prefix: Option<String>,
    pub max_channels: Option<u32>,
    pub max_cps: Option<u32>,
    pub priority: Option<i32>,
    pub allowed_sources: Option<Vec<SourceNet>>,
    pub inbound: Option<Option<InboundCredentials>>,
    pub enabled: Option<bool>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("trunk {what}: {e}"))
}

fn sources_json(sources: &[SourceNet]) -> serde_json::Value {
    serde_json::Value::Array(
        sources
            .iter()
            .map(|s| serde_json::Value::String(s.to_string()))
            .collect(),
    )
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl TrunkRow {
    pub fn trunk_id(&self) -> TrunkId {
        TrunkId(self.id)
    }

    pub fn transport(&self) -> Result<Transport> {
        self.transport.parse().map_err(|e| corrupt("transport", e))
    }

    pub fn caller_id_mode(&self) -> Result<CallerIdMode> {
        self.caller_id_mode
            .parse()
            .map_err(|e| corrupt("caller_id_mode", e))
    }

    pub fn number_format(&self) -> Result<NumberFormat> {
        self.number_format
            .parse()
            .map_err(|e| corrupt("number_format", e))
    }

    /// The addresses and networks inbound calls may come from.
    pub fn allowed_sources(&self) -> Result<Vec<SourceNet>> {
        let list: Vec<String> = serde_json::from_value(self.allowed_sources.clone())
            .map_err(|e| corrupt("allowed_sources", e))?;
        list.iter()
            .map(|s| s.parse().map_err(|e| corrupt("allowed_sources", e)))
            .collect()
    }

    /// Inbound digest credentials, when the trunk has them.
    pub fn inbound_credentials(&self) -> Option<InboundCredentials> {
        match (
            &self.inbound_username,
            &self.inbound_ha1_md5,
            &self.inbound_ha1_sha256,
        ) {
            (Some(u), Some(md5), Some(sha)) => Some(InboundCredentials {
                username: u.clone(),
                ha1_md5: md5.clone(),
                ha1_sha256: sha.clone(),
            }),
            _ => None,
        }
    }
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn create_trunk(&self, new: NewTrunk) -> Result<TrunkRow> {
        let t = now();
        let (in_user, in_md5, in_sha) = match new.inbound {
            Some(c) => (Some(c.username), Some(c.ha1_md5), Some(c.ha1_sha256)),
            None => (None, None, None),
        };
        Ok(trunk::ActiveModel {
            id: Set(TrunkId::new().0),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name),
            host: Set(new.host),
            port: Set(i32::from(new.port)),
            transport: Set(new.transport.as_str().to_owned()),
            username: Set(new.username),
            password: Set(new.password),
            from_user: Set(new.from_user),
            from_domain: Set(new.from_domain),
            caller_id_mode: Set(new.caller_id_mode.as_str().to_owned()),
            number_format: Set(new.number_format.as_str().to_owned()),
            tech_prefix: Set(new.tech_prefix),
            max_channels: Set(clamp_i32(new.max_channels)),
            max_cps: Set(clamp_i32(new.max_cps)),
            priority: Set(new.priority),
            allowed_sources: Set(sources_json(&new.allowed_sources)),
            inbound_username: Set(in_user),
            inbound_ha1_md5: Set(in_md5),
            inbound_ha1_sha256: Set(in_sha),
            enabled: Set(new.enabled),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    /// The tenant's trunks in failover order (priority, then name).
    pub async fn list_trunks(&self) -> Result<Vec<TrunkRow>> {
        Ok(trunk::Entity::find()
            .filter(trunk::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(trunk::Column::Priority)
            .order_by_asc(trunk::Column::Name)
            .all(self.conn)
            .await?)
    }

    pub async fn get_trunk(&self, id: TrunkId) -> Result<TrunkRow> {
        trunk::Entity::find()
            .filter(trunk::Column::TenantId.eq(self.tenant.0))
            .filter(trunk::Column::Id.eq(id.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Apply a patch; returns the trunk before and after.
    pub async fn update_trunk(&self, id: TrunkId, p: TrunkPatch) -> Result<(TrunkRow, TrunkRow)> {
        let before = self.get_trunk(id).await?;
        let mut m = trunk::ActiveModel {
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(v) = p.name {
            m.name = Set(v);
        }
        if let Some(v) = p.host {
            m.host = Set(v);
        }
        if let Some(v) = p.port {
            m.port = Set(i32::from(v));
        }
        if let Some(v) = p.transport {
            m.transport = Set(v.as_str().to_owned());
        }
        if let Some(v) = p.username {
            m.username = Set(v);
        }
        if let Some(v) = p.password {
            m.password = Set(v);
        }
        if let Some(v) = p.from_user {
            m.from_user = Set(v);
        }
        if let Some(v) = p.from_domain {
            m.from_domain = Set(v);
        }
        if let Some(v) = p.caller_id_mode {
            m.caller_id_mode = Set(v.as_str().to_owned());
        }
        if let Some(v) = p.number_format {
            m.number_format = Set(v.as_str().to_owned());
        }
        if let Some(v) = p.tech_prefix {
            m.tech_prefix = Set(v);
        }
        if let Some(v) = p.max_channels {
            m.max_channels = Set(clamp_i32(v));
        }
        if let Some(v) = p.max_cps {
            m.max_cps = Set(clamp_i32(v));
        }
        if let Some(v) = p.priority {
            m.priority = Set(v);
        }
        if let Some(v) = p.allowed_sources {
            m.allowed_sources = Set(sources_json(&v));
        }
        if let Some(v) = p.inbound {
            let (u, md5, sha) = match v {
                Some(c) => (Some(c.username), Some(c.ha1_md5), Some(c.ha1_sha256)),
                None => (None, None, None),
            };
            m.inbound_username = Set(u);
            m.inbound_ha1_md5 = Set(md5);
            m.inbound_ha1_sha256 = Set(sha);
        }
        if let Some(v) = p.enabled {
            m.enabled = Set(v);
        }
        trunk::Entity::update_many()
            .set(m)
            .filter(trunk::Column::TenantId.eq(self.tenant.0))
            .filter(trunk::Column::Id.eq(id.0))
            .exec(self.conn)
            .await?;
        let after = self.get_trunk(id).await?;
        Ok((before, after))
    }

    pub async fn delete_trunk(&self, id: TrunkId) -> Result<TrunkRow> {
        let before = self.get_trunk(id).await?;
        trunk::Entity::delete_many()
            .filter(trunk::Column::TenantId.eq(self.tenant.0))
            .filter(trunk::Column::Id.eq(id.0))
            .exec(self.conn)
            .await?;
        Ok(before)
    }
}

/// Every enabled trunk of every tenant (each row names its tenant), by
/// tenant and failover order: the SIP layer's in-memory trunk table, which
/// matches inbound calls by source address across all tenants.
pub async fn all_enabled(conn: &impl ConnectionTrait) -> Result<Vec<TrunkRow>> {
    Ok(trunk::Entity::find()
        .filter(trunk::Column::Enabled.eq(true))
        .order_by_asc(trunk::Column::TenantId)
        .order_by_asc(trunk::Column::Priority)
        .order_by_asc(trunk::Column::Name)
        .all(conn)
        .await?)
}
