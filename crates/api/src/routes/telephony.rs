//! Telephony configuration: SIP trunks and the dial policy (DIDs are in
//! [`super::dids`]).
//!
//! Trunk secrets (the outbound digest password, the inbound HA1s) are
//! written, never read back: responses say `has_password` and
//! `has_inbound_credentials` instead.

use crate::auth::principal::{TenantCtx, cached_tenant};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::dto::json;
use crate::sip::tenant_domain;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::dial_policy::DialPolicy;
use omnivox_domain::trunk::{CallerIdMode, NumberFormat, SourceNet, Transport};
use omnivox_domain::{Permission, TrunkId, password};
use omnivox_sip::{DigestAlgorithm, ha1};
use omnivox_store::seal::Field;
use omnivox_store::trunks::{InboundCredentials, NewTrunk, TrunkPatch, TrunkRow};
use omnivox_store::{ConnectionTrait, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;
use uuid::Uuid;

/// A trunk as the API shows it: no password, no HA1s.
#[derive(Serialize, ToSchema)]
pub struct TrunkOut {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: i32,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Outbound digest user name.
    pub username: Option<String>,
    /// Whether an outbound digest password is set.
    pub has_password: bool,
    pub from_user: Option<String>,
    pub from_domain: Option<String>,
    /// `from`, `pai` or `both`.
    pub caller_id_mode: String,
    /// `e164_plus`, `e164` or `national`.
    pub number_format: String,
    pub tech_prefix: String,
    pub max_channels: i32,
    pub max_cps: i32,
    /// Lower first: the failover order.
    pub priority: i32,
    /// IP addresses and CIDR blocks inbound calls may come from.
    pub allowed_sources: Vec<String>,
    pub inbound_username: Option<String>,
    /// Whether inbound digest credentials are set.
    pub has_inbound_credentials: bool,
    pub enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Live state on this node (absent when the trunk is disabled or SIP is
    /// off).
    pub status: Option<TrunkStatusOut>,
}

/// Health and load of a trunk on this node.
#[derive(Serialize, ToSchema)]
pub struct TrunkStatusOut {
    /// The last OPTIONS check got an answer (true until a check fails).
    pub up: bool,
    /// Calls on the trunk now.
    pub active_channels: u32,
}

impl TrunkOut {
    /// Adds the live status from the SIP layer.
    fn with_status(mut self, state: &AppState, tenant: omnivox_domain::TenantId) -> Self {
        self.status = state.sip.as_ref().and_then(|sip| {
            sip.calls()
                .trunk_status(tenant)
                .into_iter()
                .find(|s| s.id == self.id)
                .map(|s| TrunkStatusOut {
                    up: s.up,
                    active_channels: s.active_channels,
                })
        });
        self
    }
}

/// Pushes the trunk table to the SIP layer after a change.
async fn trunks_changed(state: &AppState) {
    if let Some(sip) = &state.sip
        && let Err(e) =
            crate::sip::calls::reload_trunks(&state.store, &state.sealer, sip.calls()).await
    {
        tracing::error!(error = %e, "trunk table not reloaded");
    }
}

impl From<TrunkRow> for TrunkOut {
    fn from(t: TrunkRow) -> Self {
        let has_inbound_credentials = t.inbound_credentials().is_some();
        Self {
            id: t.id,
            allowed_sources: serde_json::from_value(t.allowed_sources).unwrap_or_default(),
            has_password: t.password.is_some(),
            has_inbound_credentials,
            name: t.name,
            host: t.host,
            port: t.port,
            transport: t.transport,
            username: t.username,
            from_user: t.from_user,
            from_domain: t.from_domain,
            caller_id_mode: t.caller_id_mode,
            number_format: t.number_format,
            tech_prefix: t.tech_prefix,
            max_channels: t.max_channels,
            max_cps: t.max_cps,
            priority: t.priority,
            inbound_username: t.inbound_username,
            enabled: t.enabled,
            created_at: t.created_at,
            updated_at: t.updated_at,
            status: None,
        }
    }
}

/// A new trunk. Numbers are taken as JSON integers and range-checked.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrunk {
    /// 1-100 characters, unique in the tenant.
    pub name: String,
    /// The carrier's host name or IP address.
    pub host: String,
    /// 1-65535, default 5060.
    pub port: Option<i64>,
    /// `udp` (default) or `tcp`.
    pub transport: Option<String>,
    pub username: Option<String>,
    /// The outbound digest password; never returned.
    pub password: Option<String>,
    pub from_user: Option<String>,
    pub from_domain: Option<String>,
    /// `from` (default), `pai` or `both`.
    pub caller_id_mode: Option<String>,
    /// `e164_plus` (default), `e164` or `national`.
    pub number_format: Option<String>,
    /// Digits put before the number (at most 10).
    pub tech_prefix: Option<String>,
    /// 1-10000, default 30.
    pub max_channels: Option<i64>,
    /// Calls per second, 1-1000, default 10.
    pub max_cps: Option<i64>,
    /// Lower first, default 100.
    pub priority: Option<i64>,
    /// IP addresses or CIDR blocks inbound calls may come from.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Inbound digest user name (with `inbound_password`).
    pub inbound_username: Option<String>,
    /// Inbound digest password, 12+ characters; only its HA1s are kept.
    pub inbound_password: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

impl fmt::Debug for CreateTrunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateTrunk")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field(
                "inbound_password",
                &self.inbound_password.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// A change to a trunk: absent fields stay, `null` clears a nullable one.
/// `inbound_username` and `inbound_password` change together; a `null`
/// `inbound_username` removes the inbound credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTrunk {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub transport: Option<String>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub from_user: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub from_domain: Option<Option<String>>,
    pub caller_id_mode: Option<String>,
    pub number_format: Option<String>,
    pub tech_prefix: Option<String>,
    pub max_channels: Option<i64>,
    pub max_cps: Option<i64>,
    pub priority: Option<i64>,
    pub allowed_sources: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub inbound_username: Option<Option<String>>,
    pub inbound_password: Option<String>,
    pub enabled: Option<bool>,
}

impl fmt::Debug for UpdateTrunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateTrunk")
            .field("name", &self.name)
            .field("host", &self.host)
            .field(
                "password",
                &self
                    .password
                    .as_ref()
                    .map(|p| p.as_ref().map(|_| "[redacted]")),
            )
            .field(
                "inbound_password",
                &self.inbound_password.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// Field checks collect every problem before answering.
#[derive(Default)]
pub(super) struct Check(Vec<FieldError>);

impl Check {
    pub(super) fn err(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub(super) fn done(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    fn name(&mut self, v: &str) -> String {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > 100 {
            self.err("name", "invalid_length", "must be 1 to 100 characters");
        }
        v.to_owned()
    }

    fn host(&mut self, field: &str, v: &str) -> String {
        let v = v.trim().to_ascii_lowercase();
        if !valid_host(&v) {
            self.err(
                field,
                "invalid_host",
                "a host name or IP address (no spaces, at most 253 characters)",
            );
        }
        v
    }

    fn range(&mut self, field: &str, v: i64, min: i64, max: i64) -> i64 {
        if !(min..=max).contains(&v) {
            self.err(field, "out_of_range", format!("must be {min} to {max}"));
        }
        v.clamp(min, max)
    }

    fn parsed<T: std::str::FromStr>(&mut self, field: &str, v: &str, allowed: &str) -> Option<T> {
        let parsed = v.parse().ok();
        if parsed.is_none() {
            self.err(
                field,
                &format!("invalid_{field}"),
                format!("one of {allowed}"),
            );
        }
        parsed
    }

    fn token(&mut self, field: &str, v: &str) -> String {
        if !valid_token(v) {
            self.err(
                field,
                "invalid_token",
                "1-64 of letters, digits and - . ! % * _ + ` ' ~",
            );
        }
        v.to_owned()
    }

    fn secret(&mut self, field: &str, v: &str) -> String {
        if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
            self.err(
                field,
                "invalid_password",
                "1 to 128 characters, no control characters",
            );
        }
        v.to_owned()
    }

    fn tech_prefix(&mut self, v: &str) -> String {
        if v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
            self.err("tech_prefix", "invalid_tech_prefix", "at most 10 digits");
        }
        v.to_owned()
    }

    fn sources(&mut self, list: &[String]) -> Vec<SourceNet> {
        if list.len() > 100 {
            self.err("allowed_sources", "too_many", "at most 100 entries");
        }
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match s.trim().parse::<SourceNet>() {
                Ok(n) => out.push(n),
                Err(e) => self.err(
                    &format!("allowed_sources[{i}]"),
                    "invalid_source",
                    e.to_string(),
                ),
            }
        }
        out
    }
}

/// A host name (RFC 1123 labels) or an IP address.
fn valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    h.trim_end_matches('.').split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// An RFC 3261 `token`, 1-64 characters.
fn valid_token(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// The tenant's SIP realm, for inbound HA1s.
async fn realm(state: &AppState, ctx: &TenantCtx) -> ApiResult<String> {
    let slug = cached_tenant(state, ctx.tenant).await?.slug;
    Ok(tenant_domain(&slug, &state.config.sip.domain_suffix))
}

/// Validate inbound credentials and hash them in the tenant's realm.
async fn inbound_credentials(
    state: &AppState,
    ctx: &TenantCtx,
    check: &mut Check,
    username: &str,
    password_in: &str,
) -> ApiResult<InboundCredentials> {
    let username = check.token("inbound_username", username);
    if let Err(e) = password::check(password_in, &username) {
        check.err("inbound_password", e.code(), e.to_string());
    }
    let realm = realm(state, ctx).await?;
    let seal = |field, algorithm| {
        let hash = ha1(algorithm, &username, &realm, password_in);
        state.sealer.seal(field, &hash)
    };
    Ok(InboundCredentials {
        ha1_md5: seal(Field::TrunkInboundHa1Md5, DigestAlgorithm::Md5)?,
        ha1_sha256: seal(Field::TrunkInboundHa1Sha256, DigestAlgorithm::Sha256)?,
        username,
    })
}

/// An inbound user name must not be an agent phone's or another trunk's
/// in the same realm.
async fn inbound_name_free(
    scoped: &Scoped<'_, impl ConnectionTrait>,
    name: &str,
    except: Option<TrunkId>,
) -> ApiResult<()> {
    let taken_by_trunk = scoped
        .list_trunks()
        .await?
        .into_iter()
        .any(|t| t.inbound_username.as_deref() == Some(name) && Some(TrunkId(t.id)) != except);
    if taken_by_trunk || scoped.sip_account_by_username(name).await?.is_some() {
        return Err(ApiError::field(
            "inbound_username",
            "taken",
            "a phone or another trunk of this organization uses this SIP user name",
        ));
    }
    Ok(())
}

fn trunk_name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::field("name", "taken", "a trunk with this name exists")
        }
        e => e.into(),
    }
}

/// The tenant's trunks in failover order.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/trunks", tag = "telephony",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Vec<TrunkOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_trunks(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<Vec<TrunkOut>>> {
    ctx.require(Permission::TelephonyRead)?;
    let rows = ctx.scoped(state.store.reader()).list_trunks().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| TrunkOut::from(r).with_status(&state, ctx.tenant))
            .collect(),
    ))
}

/// Add a trunk.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/trunks", tag = "telephony",
    params(("tenant_id" = Uuid, Path)), request_body = CreateTrunk,
    responses((status = 201, body = TrunkOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_trunk(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<CreateTrunk>,
) -> ApiResult<(StatusCode, Json<TrunkOut>)> {
    ctx.require(Permission::TelephonyManage)?;
    let mut c = Check::default();
    let name = c.name(&req.name);
    let host = c.host("host", &req.host);
    let port = c.range("port", req.port.unwrap_or(5060), 1, 65535);
    let transport = c.parsed::<Transport>(
        "transport",
        req.transport.as_deref().unwrap_or("udp"),
        "udp, tcp",
    );
    let caller_id_mode = c.parsed::<CallerIdMode>(
        "caller_id_mode",
        req.caller_id_mode.as_deref().unwrap_or("from"),
        "from, pai, both",
    );
    let number_format = c.parsed::<NumberFormat>(
        "number_format",
        req.number_format.as_deref().unwrap_or("e164_plus"),
        "e164_plus, e164, national",
    );
    let username = req.username.as_deref().map(|u| c.token("username", u));
    let password = req.password.as_deref().map(|p| c.secret("password", p));
    let from_user = req.from_user.as_deref().map(|u| c.token("from_user", u));
    let from_domain = req.from_domain.as_deref().map(|d| c.host("from_domain", d));
    let tech_prefix = c.tech_prefix(req.tech_prefix.as_deref().unwrap_or(""));
    let max_channels = c.range("max_channels", req.max_channels.unwrap_or(30), 1, 10_000);
    let max_cps = c.range("max_cps", req.max_cps.unwrap_or(10), 1, 1000);
    let priority = c.range("priority", req.priority.unwrap_or(100), 0, 1_000_000);
    let allowed_sources = c.sources(&req.allowed_sources);
    let inbound = match (&req.inbound_username, &req.inbound_password) {
        (Some(u), Some(p)) => Some(inbound_credentials(&state, &ctx, &mut c, u, p).await?),
        (None, None) => None,
        _ => {
            c.err(
                "inbound_password",
                "incomplete_credentials",
                "give inbound_username and inbound_password together",
            );
            None
        }
    };
    c.done()?;
    let password = state
        .sealer
        .seal_opt(Field::TrunkPassword, password.as_deref())?;
    let (Some(transport), Some(caller_id_mode), Some(number_format)) =
        (transport, caller_id_mode, number_format)
    else {
        return Err(ApiError::internal("validated trunk enums missing"));
    };
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    if let Some(i) = &inbound {
        inbound_name_free(&scoped, &i.username, None).await?;
    }
    let row = scoped
        .create_trunk(NewTrunk {
            name,
            host,
            port: u16::try_from(port).unwrap_or(5060),
            transport,
            username,
            password,
            from_user,
            from_domain,
            caller_id_mode,
            number_format,
            tech_prefix,
            max_channels: u32::try_from(max_channels).unwrap_or(1),
            max_cps: u32::try_from(max_cps).unwrap_or(1),
            priority: i32::try_from(priority).unwrap_or(0),
            allowed_sources,
            inbound,
            enabled: req.enabled.unwrap_or(true),
        })
        .await
        .map_err(trunk_name_taken)?;
    let out = TrunkOut::from(row);
    audit::record(
        &tx,
        ctx.audit("trunk.created", "trunk", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    trunks_changed(&state).await;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One trunk.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/trunks/{trunk_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("trunk_id" = Uuid, Path)),
    responses((status = 200, body = TrunkOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_trunk(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<TrunkOut>> {
    ctx.require(Permission::TelephonyRead)?;
    let row = ctx
        .scoped(state.store.reader())
        .get_trunk(TrunkId(ids.1))
        .await?;
    Ok(Json(TrunkOut::from(row).with_status(&state, ctx.tenant)))
}

/// Change a trunk.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/trunks/{trunk_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("trunk_id" = Uuid, Path)), request_body = UpdateTrunk,
    responses((status = 200, body = TrunkOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_trunk(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<UpdateTrunk>,
) -> ApiResult<Json<TrunkOut>> {
    ctx.require(Permission::TelephonyManage)?;
    let id = TrunkId(ids.1);
    let mut c = Check::default();
    let num = |c: &mut Check, f: &str, v: Option<i64>, min: i64, max: i64| {
        v.map(|v| c.range(f, v, min, max))
    };
    let port = num(&mut c, "port", req.port, 1, 65535);
    let password = req.password.map(|p| p.map(|p| c.secret("password", &p)));
    let max_channels = num(&mut c, "max_channels", req.max_channels, 1, 10_000);
    let max_cps = num(&mut c, "max_cps", req.max_cps, 1, 1000);
    let priority = num(&mut c, "priority", req.priority, 0, 1_000_000);
    let mut patch = TrunkPatch {
        name: req.name.as_deref().map(|n| c.name(n)),
        host: req.host.as_deref().map(|h| c.host("host", h)),
        port: port.and_then(|p| u16::try_from(p).ok()),
        transport: req
            .transport
            .as_deref()
            .and_then(|v| c.parsed("transport", v, "udp, tcp")),
        username: req.username.map(|u| u.map(|u| c.token("username", &u))),
        password: None,
        from_user: req.from_user.map(|u| u.map(|u| c.token("from_user", &u))),
        from_domain: req
            .from_domain
            .map(|d| d.map(|d| c.host("from_domain", &d))),
        caller_id_mode: req
            .caller_id_mode
            .as_deref()
            .and_then(|v| c.parsed("caller_id_mode", v, "from, pai, both")),
        number_format: req
            .number_format
            .as_deref()
            .and_then(|v| c.parsed("number_format", v, "e164_plus, e164, national")),
        tech_prefix: req.tech_prefix.as_deref().map(|t| c.tech_prefix(t)),
        max_channels: max_channels.and_then(|v| u32::try_from(v).ok()),
        max_cps: max_cps.and_then(|v| u32::try_from(v).ok()),
        priority: priority.and_then(|v| i32::try_from(v).ok()),
        allowed_sources: req.allowed_sources.as_deref().map(|s| c.sources(s)),
        inbound: None,
        enabled: req.enabled,
    };
    match (&req.inbound_username, &req.inbound_password) {
        (None, None) => {}
        (Some(None), None) => patch.inbound = Some(None),
        (Some(Some(u)), Some(p)) => {
            patch.inbound = Some(Some(inbound_credentials(&state, &ctx, &mut c, u, p).await?));
        }
        _ => c.err(
            "inbound_password",
            "incomplete_credentials",
            "give inbound_username and inbound_password together (a null inbound_username removes them)",
        ),
    }
    c.done()?;
    patch.password = password
        .map(|p| state.sealer.seal_opt(Field::TrunkPassword, p.as_deref()))
        .transpose()?;
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    if let Some(Some(i)) = &patch.inbound {
        scoped.get_trunk(id).await?;
        inbound_name_free(&scoped, &i.username, Some(id)).await?;
    }
    let (before, after) = scoped
        .update_trunk(id, patch)
        .await
        .map_err(trunk_name_taken)?;
    let (before, after) = (TrunkOut::from(before), TrunkOut::from(after));
    audit::record(
        &tx,
        ctx.audit("trunk.updated", "trunk", id, json(&before), json(&after)),
    )
    .await?;
    commit(tx).await?;
    trunks_changed(&state).await;
    Ok(Json(after))
}

/// Delete a trunk. Its call records keep its id.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/trunks/{trunk_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("trunk_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_trunk(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::TelephonyManage)?;
    let tx = state.store.begin().await?;
    let before = TrunkOut::from(ctx.scoped(&tx).delete_trunk(TrunkId(ids.1)).await?);
    audit::record(
        &tx,
        ctx.audit("trunk.deleted", "trunk", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    trunks_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's dial policy (the default when never set).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/dial-policy", tag = "telephony",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = DialPolicy), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_dial_policy(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<DialPolicy>> {
    ctx.require(Permission::TelephonyRead)?;
    Ok(Json(ctx.scoped(state.store.reader()).dial_policy().await?))
}

/// Replace the dial policy: which numbers outbound calls may reach.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/dial-policy", tag = "telephony",
    params(("tenant_id" = Uuid, Path)), request_body = DialPolicy,
    responses((status = 200, body = DialPolicy), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_dial_policy(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<DialPolicy>,
) -> ApiResult<Json<DialPolicy>> {
    ctx.require(Permission::TelephonyManage)?;
    let problems = req.problems();
    if !problems.is_empty() {
        return Err(ApiError::Validation(
            problems
                .into_iter()
                .map(|p| FieldError::new(&p.field, p.code, p.message))
                .collect(),
        ));
    }
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    let before = scoped.dial_policy().await?;
    let after = scoped.set_dial_policy(&req).await?;
    audit::record(
        &tx,
        ctx.audit(
            "dial_policy.updated",
            "tenant",
            ctx.tenant,
            json(&before),
            json(&after),
        ),
    )
    .await?;
    commit(tx).await?;
    trunks_changed(&state).await;
    Ok(Json(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_tokens() {
        for ok in [
            "sip.example.com",
            "10.0.0.1",
            "::1",
            "carrier-1.example",
            "localhost",
            "a.b.",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "sip example.com",
            "-bad.example",
            "a..b",
            "x_y.example",
            &"a".repeat(254),
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert!(valid_token("acct-1.x_y+z"));
        assert!(!valid_token("has space"));
        assert!(!valid_token(""));
        assert!(!valid_token("a@b"));
    }
}
