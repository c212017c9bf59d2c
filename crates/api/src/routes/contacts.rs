//! Contacts: search, read, delete; the consent ledger per contact.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::Permission;
use omnivox_store::consent::{ConsentEvent, NewConsentEvent};
use omnivox_store::contacts::{Contact, ContactFilter};
use omnivox_store::{PageRequest, audit, commit};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct PhoneOut {
    pub e164: String,
    /// mobile, home, work or other.
    pub kind: String,
    pub extension: Option<String>,
    /// Where the number may be: IANA zones (all must allow a call), from the
    /// number and the contact's address.
    pub time_zones: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactOut {
    pub id: Uuid,
    pub list_id: Uuid,
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
    #[schema(value_type = Object)]
    pub custom: serde_json::Value,
    pub status: String,
    pub phones: Vec<PhoneOut>,
    pub import_id: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Contact> for ContactOut {
    fn from(c: Contact) -> Self {
        let r = c.row;
        let place = omnivox_compliance::Place {
            country: r.country.as_deref(),
            state: r.state.as_deref(),
            postal_code: r.postal_code.as_deref(),
        };
        let zones = |e164: &str| match omnivox_compliance::Geo::embedded() {
            Ok(geo) => geo
                .locate(e164, omnivox_compliance::NumberKind::default(), &place)
                .zones
                .iter()
                .map(|z| z.name().to_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        let phones_out = c
            .phones
            .into_iter()
            .map(|p| PhoneOut {
                time_zones: zones(&p.e164),
                e164: p.e164,
                kind: p.kind,
                extension: p.extension,
            })
            .collect();
        Self {
            id: r.id,
            list_id: r.list_id,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            address1: r.address1,
            address2: r.address2,
            city: r.city,
            state: r.state,
            postal_code: r.postal_code,
            country: r.country,
            external_id: r.external_id,
            custom: r.custom,
            status: r.status,
            import_id: r.import_id,
            created_at: r.created_at,
            phones: phones_out,
        }
    }
}

/// Search filters. Any other `custom.<key>=<value>` parameter filters on a
/// custom field.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    pub cursor: Option<String>,
    pub limit: Option<u64>,
    pub list_id: Option<Uuid>,
    /// Any phone of the contact, in E.164 (`+14155550100`).
    pub phone: Option<String>,
    pub status: Option<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub last_name: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: HashMap<String, String>,
}

impl ContactQuery {
    pub fn filter(self) -> ApiResult<(ContactFilter, PageRequest)> {
        let page = crate::routes::dto::page_request(self.cursor.as_deref(), self.limit)?;
        let mut custom = Vec::new();
        for (k, v) in self.rest {
            let Some(key) = k.strip_prefix("custom.") else {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown query parameter `{k}`"),
                ));
            };
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("`{k}` is not a custom field key"),
                ));
            }
            custom.push((key.to_owned(), v));
        }
        let phone = match self.phone {
            Some(p) if !p.starts_with('+') || p.len() < 8 => {
                return Err(ApiError::field(
                    "phone",
                    "invalid_phone",
                    "search by E.164, e.g. +14155550100",
                ));
            }
            other => other,
        };
        Ok((
            ContactFilter {
                list_id: self.list_id,
                phone,
                status: self.status,
                external_id: self.external_id,
                email: self.email.map(|e| e.to_lowercase()),
                last_name: self.last_name,
                state: self.state,
                postal_code: self.postal_code,
                custom,
            },
            page,
        ))
    }
}

/// Search contacts.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/contacts", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ContactQuery),
    responses((status = 200, body = PageOut<ContactOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search_contacts(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<PageOut<ContactOut>>> {
    ctx.require(Permission::ContactRead)?;
    let (filter, page) = q.filter()?;
    let found = ctx
        .scoped(state.store.reader())
        .search_contacts(&filter, &page)
        .await?;
    Ok(Json(PageOut::from_page(found)))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 200, body = ContactOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ContactOut>> {
    ctx.require(Permission::ContactRead)?;
    Ok(Json(
        ctx.scoped(state.store.reader())
            .get_contact(ids.1)
            .await?
            .into(),
    ))
}

/// Delete a contact.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}", tag = "contacts",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_contact(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::ContactManage)?;
    let tx = state.store.begin().await?;
    let before = ContactOut::from(ctx.scoped(&tx).delete_contact(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("contact.deleted", "contact", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ConsentOut {
    pub id: Uuid,
    pub phone: Option<String>,
    pub channel: String,
    pub kind: String,
    pub method: String,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub evidence: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ConsentEvent> for ConsentOut {
    fn from(e: ConsentEvent) -> Self {
        Self {
            id: e.id,
            phone: e.phone,
            channel: e.channel,
            kind: e.kind,
            method: e.method,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            evidence: e.evidence,
            created_at: e.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsent {
    /// voice, sms or email.
    pub channel: String,
    /// consent, opt_out or revoke.
    pub kind: String,
    /// keypress, agent_disposition, api, sms_stop, spoken, written or import.
    pub method: String,
    /// One of the contact's numbers (E.164); omit for all of them.
    pub phone: Option<String>,
    /// A reference to the evidence: a recording id, a form URL, a message id.
    pub evidence: Option<String>,
}

const CHANNELS: [&str; 3] = ["voice", "sms", "email"];
const KINDS: [&str; 3] = ["consent", "opt_out", "revoke"];
const METHODS: [&str; 7] = [
    "keypress",
    "agent_disposition",
    "api",
    "sms_stop",
    "spoken",
    "written",
    "import",
];

/// Record consent or an opt-out. An opt-out binds every campaign of the
/// tenant at once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}/consent", tag = "compliance",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = RecordConsent,
    responses((status = 201, body = Vec<ConsentOut>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn record_consent(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<RecordConsent>,
) -> ApiResult<(StatusCode, Json<Vec<ConsentOut>>)> {
    ctx.require(Permission::ConsentRecord)?;
    for (field, value, allowed) in [
        ("channel", &req.channel, &CHANNELS[..]),
        ("kind", &req.kind, &KINDS[..]),
        ("method", &req.method, &METHODS[..]),
    ] {
        if !allowed.contains(&value.as_str()) {
            return Err(ApiError::field(
                field,
                "invalid_value",
                format!("use one of {}", allowed.join(", ")),
            ));
        }
    }
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    let contact = scoped.get_contact(ids.1).await?;
    // Per number: the ledger is what the dial decision reads.
    let phones: Vec<Option<String>> = match &req.phone {
        Some(p) if contact.phones.iter().any(|cp| &cp.e164 == p) => vec![Some(p.clone())],
        Some(_) => {
            return Err(ApiError::field(
                "phone",
                "not_contact_phone",
                "not one of this contact's numbers",
            ));
        }
        None if req.channel == "email" || contact.phones.is_empty() => vec![None],
        None => contact
            .phones
            .iter()
            .map(|p| Some(p.e164.clone()))
            .collect(),
    };
    let mut out = Vec::new();
    for phone in &phones {
        let e = scoped
            .record_consent(NewConsentEvent {
                contact_id: ids.1,
                phone: phone.as_deref(),
                channel: &req.channel,
                kind: &req.kind,
                method: &req.method,
                actor: ctx.principal.actor(),
                evidence: req.evidence.as_deref(),
            })
            .await?;
        out.push(ConsentOut::from(e));
    }
    audit::record(
        &tx,
        ctx.audit(
            &format!("consent.{}", req.kind),
            "contact",
            ids.1,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// A contact's consent and opt-out history, oldest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}/consent", tag = "compliance",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<ConsentOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consent_history(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<ConsentOut>>> {
    ctx.require(Permission::ComplianceRead)?;
    let scoped = ctx.scoped(state.store.reader());
    scoped.get_contact(ids.1).await?;
    Ok(Json(PageOut::from_page(
        scoped.consent_history(ids.1, &q.page()?).await?,
    )))
}
