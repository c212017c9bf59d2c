//! Response bodies shared by several routes.

use omnivox_domain::Role;
use omnivox_domain::tenant::BusinessHours;
use omnivox_store::Page;
use omnivox_store::api_keys::ApiKey;
use omnivox_store::audit::AuditEntry;
use omnivox_store::members::Member;
use omnivox_store::tenants::Tenant;
use omnivox_store::users::User;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// For `#[serde(default, deserialize_with = "crate::routes::dto::nullable")]`
/// on an `Option<Option<T>>` field: `null` kept apart from absent, so
/// `Some(None)` clears a field and `None` leaves it.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct TenantOut {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub locale: String,
    pub business_hours: BusinessHours,
    pub require_2fa: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name,
            slug: t.slug,
            time_zone: t.time_zone,
            locale: t.locale,
            business_hours: serde_json::from_value(t.business_hours).unwrap_or_default(),
            require_2fa: t.require_2fa,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub totp_enabled: bool,
    pub locked: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            locked: u.locked_until.is_some_and(|t| t > chrono::Utc::now()),
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            totp_enabled: u.totp_enabled,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberOut {
    pub user: UserOut,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            user: m.user.into(),
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: Uuid,
    pub name: String,
    /// The visible start of the key, e.g. `ovx_3fa9c2d1`.
    pub prefix: String,
    pub role: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            role: k.role,
            created_by: k.created_by,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditOut {
    pub id: Uuid,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<AuditEntry> for AuditOut {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
            source_ip: e.source_ip,
            created_at: e.created_at,
        }
    }
}

/// A page of results; pass `next_cursor` as `cursor` to get the next one.
#[derive(Serialize, ToSchema)]
pub struct PageOut<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> PageOut<T> {
    pub fn from_page<S>(p: Page<S>) -> Self
    where
        T: From<S>,
    {
        let p = p.map(T::from);
        Self {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// `?cursor=&limit=` on list endpoints.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<omnivox_store::PageRequest, crate::ApiError> {
        page_request(self.cursor.as_deref(), self.limit)
    }
}

/// The page a list endpoint's `cursor` and `limit` ask for; a cursor this
/// API did not issue is 400 `invalid_cursor`.
pub fn page_request(
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<omnivox_store::PageRequest, crate::ApiError> {
    omnivox_store::PageRequest::parse(cursor, limit)
        .map_err(|e| crate::ApiError::bad_request("invalid_cursor", e.to_string()))
}

pub fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
