//! Call records (CDRs) and their legs.
//!
//! The SIP layer writes them with system-level batch functions (each row
//! names its tenant, and every UPDATE filters on it): [`open_calls`] when
//! calls start, [`close_calls`] when they end (in the caller's transaction),
//! and [`close_orphans`] at start-up for calls a crash left live. The API
//! reads them through [`Scoped`].

use crate::entities::{call_leg, call_record};
use crate::{Page, PageRequest, Result, Scoped, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use omnivox_domain::call::{Direction, HangupCause, LegId};
use omnivox_domain::{CallId, TenantId, TrunkId, UserId};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use call_leg::Model as CallLegRow;
pub use call_record::Model as CallRecordRow;

/// Rows per INSERT statement (well under SQLite's bound-parameter limit).
const BATCH: usize = 500;

/// A call that started: written as a `live` CDR.
#[derive(Clone, Debug, PartialEq)]
pub struct CallStart {
    pub id: CallId,
    pub tenant: TenantId,
    pub direction: Direction,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<TrunkId>,
    pub did: Option<String>,
    pub agent_id: Option<UserId>,
    pub started_at: DateTime<Utc>,
}

/// A call that ended, with everything its CDR keeps. Closing a call that
/// was never opened writes the whole row.
#[derive(Clone, Debug, PartialEq)]
pub struct CallEnd {
    pub id: CallId,
    pub tenant: TenantId,
    pub direction: Direction,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<TrunkId>,
    pub did: Option<String>,
    pub agent_id: Option<UserId>,
    pub started_at: DateTime<Utc>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub cause: HangupCause,
    pub sip_code: Option<u16>,
    /// Transfer targets in order (numbers or SIP URIs).
    pub transfer_chain: Vec<String>,
    pub legs: Vec<LegRecord>,
}

/// One leg of an ended call.
#[derive(Clone, Debug, PartialEq)]
pub struct LegRecord {
    pub leg: LegId,
    /// Order of the legs within the call (0, 1, 2, ...): `leg` names repeat
    /// after transfers.
    pub seq: u32,
    pub direction: Direction,
    /// A number or a SIP URI.
    pub peer: String,
    pub trunk_id: Option<TrunkId>,
    pub agent_id: Option<UserId>,
    pub started_at: DateTime<Utc>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cause: Option<HangupCause>,
    pub sip_code: Option<u16>,
}

/// Filters of the CDR list (all optional, combined with AND).
#[derive(Clone, Debug, Default)]
pub struct CdrFilter {
    /// `started_at >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `started_at < until`.
    pub until: Option<DateTime<Utc>>,
    pub direction: Option<Direction>,
    /// `live` or `ended`.
    pub state: Option<String>,
    pub cause: Option<HangupCause>,
    pub agent_id: Option<UserId>,
    /// Digits (and `+`) found anywhere in the from or to number.
    pub number: Option<String>,
}

pub const LIVE: &str = "live";
pub const ENDED: &str = "ended";

pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

pub fn leg_str(l: LegId) -> &'static str {
    match l {
        LegId::A => "a",
        LegId::B => "b",
        LegId::Consult => "consult",
        LegId::Monitor => "monitor",
    }
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds().max(0)
}

fn chain_json(chain: &[String]) -> serde_json::Value {
    serde_json::Value::Array(
        chain
            .iter()
            .map(|s| serde_json::Value::String(s.clone()))
            .collect(),
    )
}

/// Write `live` CDRs for calls that started. A call already written (say
/// its close was stored first) is left as it is.
pub async fn open_calls(conn: &impl ConnectionTrait, calls: &[CallStart]) -> Result<()> {
    for chunk in calls.chunks(BATCH) {
        let rows = chunk.iter().map(|c| call_record::ActiveModel {
            id: Set(c.id.0),
            tenant_id: Set(c.tenant.0),
            direction: Set(direction_str(c.direction).to_owned()),
            state: Set(LIVE.to_owned()),
            from_number: Set(c.from_number.clone()),
            to_number: Set(c.to_number.clone()),
            trunk_id: Set(c.trunk_id.map(|t| t.0)),
            did: Set(c.did.clone()),
            agent_id: Set(c.agent_id.map(|a| a.0)),
            started_at: Set(micros(c.started_at)),
            ringing_at: Set(None),
            answered_at: Set(None),
            ended_at: Set(None),
            duration_ms: Set(None),
            talk_ms: Set(None),
            cause: Set(None),
            sip_code: Set(None),
            transfer_chain: Set(serde_json::json!([])),
        });
        call_record::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec(conn)
            .await?;
    }
    Ok(())
}

fn ended_model(c: &CallEnd) -> call_record::ActiveModel {
    let ended = micros(c.ended_at);
    call_record::ActiveModel {
        id: Set(c.id.0),
        tenant_id: Set(c.tenant.0),
        direction: Set(direction_str(c.direction).to_owned()),
        state: Set(ENDED.to_owned()),
        from_number: Set(c.from_number.clone()),
        to_number: Set(c.to_number.clone()),
        trunk_id: Set(c.trunk_id.map(|t| t.0)),
        did: Set(c.did.clone()),
        agent_id: Set(c.agent_id.map(|a| a.0)),
        started_at: Set(micros(c.started_at)),
        ringing_at: Set(c.ringing_at.map(micros)),
        answered_at: Set(c.answered_at.map(micros)),
        ended_at: Set(Some(ended)),
        duration_ms: Set(Some(millis_between(micros(c.started_at), ended))),
        talk_ms: Set(c.answered_at.map(|a| millis_between(micros(a), ended))),
        cause: Set(Some(c.cause.as_str().to_owned())),
        sip_code: Set(c.sip_code.map(i32::from)),
        transfer_chain: Set(chain_json(&c.transfer_chain)),
    }
}

/// Close CDRs: each row becomes `ended` with every field (durations are
/// computed here) and its legs are inserted. A call never opened is
/// written whole. Run it in a transaction: a call and its legs go together.
/// Closing the same call again rewrites the row and keeps the first legs.
pub async fn close_calls(conn: &impl ConnectionTrait, calls: &[CallEnd]) -> Result<()> {
    for c in calls {
        let mut update = ended_model(c);
        // The key columns stay in the WHERE clause only.
        update.id = sea_orm::ActiveValue::NotSet;
        update.tenant_id = sea_orm::ActiveValue::NotSet;
        let res = call_record::Entity::update_many()
            .set(update)
            .filter(call_record::Column::TenantId.eq(c.tenant.0))
            .filter(call_record::Column::Id.eq(c.id.0))
            .exec(conn)
            .await?;
        if res.rows_affected == 0 {
            call_record::Entity::insert(ended_model(c))
                .exec(conn)
                .await?;
        }
    }
    let legs: Vec<call_leg::ActiveModel> = calls
        .iter()
        .flat_map(|c| c.legs.iter().map(move |l| (c, l)))
        .map(|(c, l)| call_leg::ActiveModel {
            id: Set(Uuid::now_v7()),
            call_id: Set(c.id.0),
            tenant_id: Set(c.tenant.0),
            leg: Set(leg_str(l.leg).to_owned()),
            seq: Set(i32::try_from(l.seq).unwrap_or(i32::MAX)),
            direction: Set(direction_str(l.direction).to_owned()),
            peer: Set(l.peer.clone()),
            trunk_id: Set(l.trunk_id.map(|t| t.0)),
            agent_id: Set(l.agent_id.map(|a| a.0)),
            started_at: Set(micros(l.started_at)),
            ringing_at: Set(l.ringing_at.map(micros)),
            answered_at: Set(l.answered_at.map(micros)),
            ended_at: Set(l.ended_at.map(micros)),
            cause: Set(l.cause.map(|c| c.as_str().to_owned())),
            sip_code: Set(l.sip_code.map(i32::from)),
            ..Default::default()
        })
        .collect();
    let mut legs = legs.into_iter().peekable();
    while legs.peek().is_some() {
        let chunk: Vec<_> = legs.by_ref().take(BATCH).collect();
        call_leg::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([call_leg::Column::CallId, call_leg::Column::Seq])
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The media quality of one leg of a closed call.
#[derive(Clone, Debug, PartialEq)]
pub struct LegQuality {
    pub tenant: TenantId,
    pub call: CallId,
    /// The leg's `seq` within the call.
    pub seq: u32,
    pub mos: f64,
    pub r_factor: f64,
    pub jitter_ms: f64,
    pub loss_percent: f64,
    pub rtt_ms: Option<f64>,
}

/// Puts the media quality on legs written by [`close_calls`] (in the same
/// transaction, after it). A leg that is not there is skipped.
pub async fn set_leg_quality(conn: &impl ConnectionTrait, legs: &[LegQuality]) -> Result<()> {
    for q in legs {
        let update = call_leg::ActiveModel {
            mos: Set(Some(q.mos)),
            r_factor: Set(Some(q.r_factor)),
            jitter_ms: Set(Some(q.jitter_ms)),
            loss_percent: Set(Some(q.loss_percent)),
            rtt_ms: Set(q.rtt_ms),
            ..Default::default()
        };
        call_leg::Entity::update_many()
            .set(update)
            .filter(call_leg::Column::TenantId.eq(q.tenant.0))
            .filter(call_leg::Column::CallId.eq(q.call.0))
            .filter(call_leg::Column::Seq.eq(i32::try_from(q.seq).unwrap_or(i32::MAX)))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Id, tenant, start and answer of a live call.
type LiveRow = (Uuid, Uuid, DateTime<Utc>, Option<DateTime<Utc>>);

/// End every `live` CDR of every tenant as `system_shutdown` at `now`, with
/// its durations: run at start-up, when no call of a previous run can still
/// be up. Returns how many were closed.
pub async fn close_orphans(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    let now = micros(now);
    let live: Vec<LiveRow> = call_record::Entity::find()
        .select_only()
        .column(call_record::Column::Id)
        .column(call_record::Column::TenantId)
        .column(call_record::Column::StartedAt)
        .column(call_record::Column::AnsweredAt)
        .filter(call_record::Column::State.eq(LIVE))
        .into_tuple()
        .all(conn)
        .await?;
    let mut closed = 0;
    for (id, tenant, started, answered) in live {
        let res = call_record::Entity::update_many()
            .set(call_record::ActiveModel {
                state: Set(ENDED.to_owned()),
                ended_at: Set(Some(now)),
                duration_ms: Set(Some(millis_between(started, now))),
                talk_ms: Set(answered.map(|a| millis_between(a, now))),
                cause: Set(Some(HangupCause::SystemShutdown.as_str().to_owned())),
                ..Default::default()
            })
            .filter(call_record::Column::TenantId.eq(tenant))
            .filter(call_record::Column::Id.eq(id))
            .filter(call_record::Column::State.eq(LIVE))
            .exec(conn)
            .await?;
        closed += res.rows_affected;
    }
    Ok(closed)
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The tenant's CDRs, newest first (call ids are UUIDv7, so id order
    /// is start order).
    pub async fn list_cdrs(
        &self,
        f: &CdrFilter,
        page: &PageRequest,
    ) -> Result<Page<CallRecordRow>> {
        use call_record::Column as C;
        let mut q = call_record::Entity::find()
            .filter(C::TenantId.eq(self.tenant.0))
            .order_by_desc(C::Id);
        if let Some(t) = f.since {
            q = q.filter(C::StartedAt.gte(t));
        }
        if let Some(t) = f.until {
            q = q.filter(C::StartedAt.lt(t));
        }
        if let Some(d) = f.direction {
            q = q.filter(C::Direction.eq(direction_str(d)));
        }
        if let Some(s) = &f.state {
            q = q.filter(C::State.eq(s.as_str()));
        }
        if let Some(c) = f.cause {
            q = q.filter(C::Cause.eq(c.as_str()));
        }
        if let Some(a) = f.agent_id {
            q = q.filter(C::AgentId.eq(a.0));
        }
        if let Some(n) = &f.number {
            // Only digits and `+`: nothing for LIKE to interpret.
            let n: String = n
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect();
            if !n.is_empty() {
                q = q.filter(
                    Condition::any()
                        .add(C::FromNumber.contains(&n))
                        .add(C::ToNumber.contains(&n)),
                );
            }
        }
        if let Some(after) = page.after {
            q = q.filter(C::Id.lt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// One CDR with its legs in order.
    pub async fn get_cdr(&self, id: CallId) -> Result<(CallRecordRow, Vec<CallLegRow>)> {
        let call = call_record::Entity::find()
            .filter(call_record::Column::TenantId.eq(self.tenant.0))
            .filter(call_record::Column::Id.eq(id.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let legs = call_leg::Entity::find()
            .filter(call_leg::Column::TenantId.eq(self.tenant.0))
            .filter(call_leg::Column::CallId.eq(id.0))
            .order_by_asc(call_leg::Column::Seq)
            .all(self.conn)
            .await?;
        Ok((call, legs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::tenants::{self, NewTenant};
    use chrono::Duration;

    #[tokio::test]
    async fn leg_quality_lands_on_its_leg_in_its_tenant_only() {
        // SQLite in a temporary directory (the testkit's helper builds the
        // config type of the testkit's own copy of this crate).
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::DbConfig {
            url: format!("sqlite://{}/omnivox.db", dir.path().display()),
            max_connections: 4,
            schema: None,
        };
        let s = Store::connect(&cfg).await.unwrap();
        s.migrate().await.unwrap();
        let tenant = TenantId(
            tenants::create(
                s.writer(),
                NewTenant {
                    name: "Q".into(),
                    slug: "quality".into(),
                    time_zone: "UTC".into(),
                    locale: "en-US".into(),
                    business_hours: serde_json::json!({}),
                    require_2fa: false,
                },
            )
            .await
            .unwrap()
            .id,
        );
        let t0 = Utc::now() - Duration::minutes(1);
        let call = CallId::new();
        let leg = |l: LegId, seq: u32| LegRecord {
            leg: l,
            seq,
            direction: Direction::Outbound,
            peer: "+14155550111".into(),
            trunk_id: None,
            agent_id: None,
            started_at: t0,
            ringing_at: None,
            answered_at: Some(t0),
            ended_at: Some(t0 + Duration::seconds(30)),
            cause: Some(HangupCause::Normal),
            sip_code: None,
        };
        let end = CallEnd {
            id: call,
            tenant,
            direction: Direction::Outbound,
            from_number: "+14155550100".into(),
            to_number: "+14155550111".into(),
            trunk_id: None,
            did: None,
            agent_id: None,
            started_at: t0,
            ringing_at: None,
            answered_at: Some(t0),
            ended_at: t0 + Duration::seconds(30),
            cause: HangupCause::Normal,
            sip_code: None,
            transfer_chain: Vec::new(),
            legs: vec![leg(LegId::A, 0), leg(LegId::B, 1)],
        };
        close_calls(s.writer(), &[end]).await.unwrap();
        let q = LegQuality {
            tenant,
            call,
            seq: 1,
            mos: 4.2,
            r_factor: 86.5,
            jitter_ms: 3.5,
            loss_percent: 0.5,
            rtt_ms: Some(12.0),
        };
        // Another tenant's id changes nothing.
        let foreign = LegQuality {
            tenant: TenantId::new(),
            seq: 0,
            ..q.clone()
        };
        set_leg_quality(s.writer(), &[q, foreign]).await.unwrap();
        let (_, legs) = Scoped::new(s.reader(), tenant).get_cdr(call).await.unwrap();
        assert_eq!(legs.len(), 2);
        assert_eq!(legs[0].mos, None, "leg A has no rating");
        let b = &legs[1];
        assert_eq!(
            (b.mos, b.r_factor, b.jitter_ms, b.loss_percent, b.rtt_ms),
            (Some(4.2), Some(86.5), Some(3.5), Some(0.5), Some(12.0))
        );
    }
}
