//! Call records (CDRs): list with filters, one call with its legs, and a
//! formula-safe CSV export streamed page by page.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiPath, ApiQuery};
use crate::imports::routes::{csv_response, paged_csv};
use crate::routes::dto::{PageOut, page_request};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use omnivox_domain::call::{Direction, HangupCause};
use omnivox_domain::{CallId, Permission, UserId};
use omnivox_store::cdrs::{CallLegRow, CallRecordRow, CdrFilter};
use omnivox_store::{PageRequest, Scoped};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct CdrOut {
    /// The call id.
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `live` or `ended`.
    pub state: String,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<Uuid>,
    pub did: Option<String>,
    pub agent_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// From start to end.
    pub duration_ms: Option<i64>,
    /// From answer to end.
    pub talk_ms: Option<i64>,
    /// Stable hangup cause: `normal`, `busy`, `no_answer`, `system_shutdown`, ...
    pub cause: Option<String>,
    pub sip_code: Option<i32>,
    /// Transfer targets in order.
    pub transfer_chain: Vec<String>,
}

impl From<CallRecordRow> for CdrOut {
    fn from(r: CallRecordRow) -> Self {
        Self {
            id: r.id,
            direction: r.direction,
            state: r.state,
            from_number: r.from_number,
            to_number: r.to_number,
            trunk_id: r.trunk_id,
            did: r.did,
            agent_id: r.agent_id,
            started_at: r.started_at,
            ringing_at: r.ringing_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            talk_ms: r.talk_ms,
            cause: r.cause,
            sip_code: r.sip_code,
            transfer_chain: serde_json::from_value(r.transfer_chain).unwrap_or_default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LegOut {
    /// `a`, `b` or `consult`.
    pub leg: String,
    /// Order within the call.
    pub seq: i32,
    pub direction: String,
    /// A number or a SIP URI.
    pub peer: String,
    pub trunk_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub sip_code: Option<i32>,
    /// The leg's media quality at its end; null for a leg that carried no
    /// media (never answered, or ended before the media engine reported).
    pub quality: Option<LegQualityOut>,
}

/// Media quality of a leg, from its RTP and RTCP.
#[derive(Serialize, ToSchema)]
pub struct LegQualityOut {
    /// Mean opinion score (1-4.5) from the E-model.
    pub mos: f64,
    /// E-model transmission rating (0-100).
    pub r_factor: f64,
    /// Interarrival jitter, milliseconds.
    pub jitter_ms: Option<f64>,
    /// Packets lost, percent.
    pub loss_percent: Option<f64>,
    /// Round trip from RTCP, milliseconds, when the peer sent reports.
    pub rtt_ms: Option<f64>,
}

impl From<CallLegRow> for LegOut {
    fn from(l: CallLegRow) -> Self {
        Self {
            leg: l.leg,
            seq: l.seq,
            direction: l.direction,
            peer: l.peer,
            trunk_id: l.trunk_id,
            agent_id: l.agent_id,
            started_at: l.started_at,
            ringing_at: l.ringing_at,
            answered_at: l.answered_at,
            ended_at: l.ended_at,
            cause: l.cause,
            sip_code: l.sip_code,
            quality: match (l.mos, l.r_factor) {
                (Some(mos), Some(r_factor)) => Some(LegQualityOut {
                    mos,
                    r_factor,
                    jitter_ms: l.jitter_ms,
                    loss_percent: l.loss_percent,
                    rtt_ms: l.rtt_ms,
                }),
                _ => None,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CdrDetailOut {
    #[serde(flatten)]
    pub call: CdrOut,
    pub legs: Vec<LegOut>,
}

/// CDR filters; every one optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CdrQuery {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
    /// Calls started at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Calls started before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `live` or `ended`.
    pub state: Option<String>,
    /// A hangup cause (`normal`, `busy`, ...).
    pub cause: Option<String>,
    pub agent_id: Option<Uuid>,
    /// Digits (and `+`) found in the from or to number.
    pub number: Option<String>,
}

/// The store filter for a query, with a field error per bad value.
fn filter(q: &CdrQuery) -> ApiResult<CdrFilter> {
    let mut errors = Vec::new();
    let direction = match q.direction.as_deref() {
        None => None,
        Some("inbound") => Some(Direction::Inbound),
        Some("outbound") => Some(Direction::Outbound),
        Some(_) => {
            errors.push(FieldError::new(
                "direction",
                "invalid_direction",
                "inbound or outbound",
            ));
            None
        }
    };
    let state = match q.state.as_deref() {
        None => None,
        Some(s @ ("live" | "ended")) => Some(s.to_owned()),
        Some(_) => {
            errors.push(FieldError::new("state", "invalid_state", "live or ended"));
            None
        }
    };
    let cause = match q.cause.as_deref() {
        None => None,
        Some(c) => match HangupCause::ALL.iter().find(|h| h.as_str() == c) {
            Some(h) => Some(*h),
            None => {
                errors.push(FieldError::new(
                    "cause",
                    "invalid_cause",
                    format!(
                        "one of {}",
                        HangupCause::ALL.map(HangupCause::as_str).join(", ")
                    ),
                ));
                None
            }
        },
    };
    let number = match q.number.as_deref() {
        None => None,
        Some(n) => {
            let n = n.trim();
            if n.is_empty() || n.len() > 16 || !n.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
                errors.push(FieldError::new(
                    "number",
                    "invalid_number",
                    "1 to 16 digits, optionally with +",
                ));
            }
            Some(n.to_owned())
        }
    };
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s >= u
    {
        errors.push(FieldError::new(
            "until",
            "invalid_range",
            "until must be after since",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(CdrFilter {
        since: q.since,
        until: q.until,
        direction,
        state,
        cause,
        agent_id: q.agent_id.map(UserId),
        number,
    })
}

/// The tenant's call records, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/cdrs", tag = "calls",
    params(("tenant_id" = Uuid, Path), CdrQuery),
    responses((status = 200, body = PageOut<CdrOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_cdrs(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<CdrQuery>,
) -> ApiResult<Json<PageOut<CdrOut>>> {
    ctx.require(Permission::CallRead)?;
    let f = filter(&q)?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_cdrs(&f, &page)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// One call record with its legs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/cdrs/{call_id}", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CdrDetailOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_cdr(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CdrDetailOut>> {
    ctx.require(Permission::CallRead)?;
    let (call, legs) = ctx
        .scoped(state.store.reader())
        .get_cdr(CallId(ids.1))
        .await?;
    Ok(Json(CdrDetailOut {
        call: call.into(),
        legs: legs.into_iter().map(Into::into).collect(),
    }))
}

const CSV_HEADER: [&str; 17] = [
    "call_id",
    "direction",
    "state",
    "from_number",
    "to_number",
    "trunk_id",
    "did",
    "agent_id",
    "started_at",
    "ringing_at",
    "answered_at",
    "ended_at",
    "duration_ms",
    "talk_ms",
    "cause",
    "sip_code",
    "transfer_chain",
];

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_rows(rows: Vec<CallRecordRow>, header: bool) -> std::io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        w.write_record(CSV_HEADER)?;
    }
    for r in rows {
        let chain: Vec<String> = serde_json::from_value(r.transfer_chain).unwrap_or_default();
        let cells = [
            r.id.to_string(),
            r.direction,
            r.state,
            r.from_number,
            r.to_number,
            opt(r.trunk_id),
            r.did.unwrap_or_default(),
            opt(r.agent_id),
            time(Some(r.started_at)),
            time(r.ringing_at),
            time(r.answered_at),
            time(r.ended_at),
            opt(r.duration_ms),
            opt(r.talk_ms),
            r.cause.unwrap_or_default(),
            opt(r.sip_code),
            chain.join(" > "),
        ];
        w.write_record(
            cells
                .iter()
                .map(|c| omnivox_contacts::escape_cell(c).into_owned()),
        )?;
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The call records matching the filters as CSV (a header row, then one
/// row per call, newest first), streamed. Cells that a spreadsheet would
/// read as a formula (including `+` numbers) start with `'`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/cdrs/export.csv", tag = "calls",
    params(("tenant_id" = Uuid, Path), CdrQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_cdrs(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<CdrQuery>,
) -> ApiResult<Response> {
    ctx.require(Permission::CallRead)?;
    if q.cursor.is_some() || q.limit.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "the export has every matching call; cursor and limit do not apply",
        ));
    }
    let f = filter(&q)?;
    let header = csv_rows(Vec::new(), true).map_err(ApiError::internal)?;
    let tenant = ctx.tenant;
    let body = paged_csv(header, move |page: PageRequest| {
        let (state, f) = (state.clone(), f.clone());
        async move {
            let rows = Scoped::new(state.store.reader(), tenant)
                .list_cdrs(&f, &page)
                .await
                .map_err(std::io::Error::other)?;
            Ok((csv_rows(rows.items, false)?, rows.next_cursor))
        }
    });
    Ok(csv_response("cdrs.csv", body))
}
