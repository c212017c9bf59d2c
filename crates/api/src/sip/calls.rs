//! Wiring the call layer to the store and the event bus: DIDs, dial
//! policies and agents' SIP names from the store; the trunk table loaded
//! from the store (and reloaded when trunks change); call records written
//! in batches; call notices published as tenant events.
//!
//! Call records: a call's row is written `live` when it starts and closed
//! when it ends, by one writer task that batches whatever is queued into
//! one transaction (so a busy node writes hundreds of calls per commit).
//! A crash leaves rows `live`; [`close_orphans`] closes them as
//! `system_shutdown` at the next start, before any new call can begin.

use omnivox_domain::trunk::Transport;
use omnivox_domain::{CallId, TenantId, TrunkId, UserId};
use omnivox_events::EventBus;
use omnivox_sip::calls::model::BoxFuture;
use omnivox_sip::{
    CallDirectory, CallNotice, CallRecord, CallRecorder, CallService, CallSnapshot, DialRefusal,
    DidRoute, DidTarget, DirectoryError, FinishedRecording, RecordingPolicy, Secret, SipTransport,
    Trunk, TrunkCredentials, TrunkSource,
};
use omnivox_store::seal::{Field, Sealer};
use omnivox_store::{Scoped, Store, cdrs, dids, recordings, trunks};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn dir_err(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError(e.to_string())
}

/// DIDs, dial policies and SIP user names from the store. DID routes and
/// dial policies are cached for [`LOOKUP_TTL`] (every call needs them; a
/// change applies within that time).
pub struct StoreCallDirectory {
    store: Store,
    dids: TtlMap<String, Option<DidRoute>>,
    policies: TtlMap<TenantId, omnivox_domain::dial_policy::DialPolicy>,
}

impl StoreCallDirectory {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            dids: TtlMap::default(),
            policies: TtlMap::default(),
        }
    }
}

/// How long a DID route or dial policy read from the store is reused.
pub const LOOKUP_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A small map whose entries expire after [`LOOKUP_TTL`].
struct TtlMap<K, V> {
    entries: std::sync::Mutex<std::collections::HashMap<K, (std::time::Instant, V)>>,
}

impl<K, V> Default for TtlMap<K, V> {
    fn default() -> Self {
        Self {
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> TtlMap<K, V> {
    /// Most entries kept; the map is emptied when it would grow past this.
    const MAX: usize = 100_000;

    fn get(&self, key: &K) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < LOOKUP_TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(key, (std::time::Instant::now(), value));
    }
}

impl CallDirectory for StoreCallDirectory {
    fn did_route<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<DidRoute>, DirectoryError>> {
        Box::pin(async move {
            if let Some(hit) = self.dids.get(&number.to_owned()) {
                return Ok(hit);
            }
            let Some(row) = dids::route_for_number(self.store.reader(), number)
                .await
                .map_err(dir_err)?
            else {
                self.dids.put(number.to_owned(), None);
                return Ok(None);
            };
            let target = match row.target().map_err(dir_err)? {
                dids::DidTarget::Agent(agent_id) => DidTarget::Agent { agent_id },
                dids::DidTarget::Number(number) => DidTarget::Number { number },
                dids::DidTarget::Queue(queue_id) => DidTarget::Queue { queue_id },
                dids::DidTarget::Flow(flow_id) => DidTarget::Flow { flow_id },
            };
            let route = DidRoute {
                tenant_id: TenantId(row.tenant_id),
                number: row.number,
                target,
            };
            self.dids.put(number.to_owned(), Some(route.clone()));
            Ok(Some(route))
        })
    }

    fn check_dial<'a>(
        &'a self,
        tenant: TenantId,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Result<(), DialRefusal>, DirectoryError>> {
        Box::pin(async move {
            let policy = match self.policies.get(&tenant) {
                Some(p) => p,
                None => {
                    let p = Scoped::new(self.store.reader(), tenant)
                        .dial_policy()
                        .await
                        .map_err(dir_err)?;
                    self.policies.put(tenant, p.clone());
                    p
                }
            };
            Ok(policy.check(number).map_err(|b| DialRefusal {
                code: b.code().to_string(),
                message: b.message(),
            }))
        })
    }

    fn agent_user<'a>(
        &'a self,
        tenant: TenantId,
        agent: UserId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>> {
        Box::pin(async move {
            let row = Scoped::new(self.store.reader(), tenant)
                .sip_account_of(agent)
                .await
                .map_err(dir_err)?;
            Ok(row.map(|r| r.username))
        })
    }

    fn recording_policy(
        &self,
        tenant: TenantId,
    ) -> BoxFuture<'_, Result<RecordingPolicy, DirectoryError>> {
        Box::pin(async move {
            let settings = Scoped::new(self.store.reader(), tenant)
                .recording_settings()
                .await
                .map_err(dir_err)?;
            Ok(call_policy(settings.policy))
        })
    }
}

/// A stored recording policy as the call layer's.
pub fn call_policy(p: recordings::RecordingPolicy) -> RecordingPolicy {
    match p {
        recordings::RecordingPolicy::All => RecordingPolicy::All,
        recordings::RecordingPolicy::None => RecordingPolicy::None,
        recordings::RecordingPolicy::OnDemand => RecordingPolicy::OnDemand,
    }
}

/// A campaign's or queue's `recording` setting (validated when stored) as
/// the call layer's policy; `None`: the tenant's.
pub fn policy_named(name: Option<&str>) -> Option<RecordingPolicy> {
    name.and_then(recordings::RecordingPolicy::parse)
        .map(call_policy)
}

/// Loads every tenant's enabled trunks into the call layer. A trunk whose
/// stored settings cannot be read is left out (and logged), not the rest.
pub async fn reload_trunks(
    store: &Store,
    sealer: &Sealer,
    calls: &CallService,
) -> Result<usize, omnivox_store::StoreError> {
    let rows = trunks::all_enabled(store.reader()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match trunk_from_row(&row, sealer) {
            Ok(t) => out.push(t),
            Err(e) => {
                tracing::error!(trunk = %row.id, error = %e, "trunk skipped: unreadable settings")
            }
        }
    }
    let n = out.len();
    calls.set_trunks(out);
    Ok(n)
}

fn trunk_from_row(
    row: &trunks::TrunkRow,
    sealer: &Sealer,
) -> Result<Trunk, omnivox_store::StoreError> {
    Ok(Trunk {
        id: row.id,
        tenant_id: TenantId(row.tenant_id),
        name: row.name.clone(),
        host: row.host.clone(),
        port: u16::try_from(row.port).unwrap_or(5060),
        transport: match row.transport()? {
            Transport::Udp => SipTransport::Udp,
            Transport::Tcp => SipTransport::Tcp,
        },
        username: row.username.clone(),
        password: sealer
            .open_opt(Field::TrunkPassword, row.password.as_ref())?
            .map(Secret),
        from_user: row.from_user.clone(),
        from_domain: row.from_domain.clone(),
        caller_id: row.caller_id_mode()?,
        number_format: row.number_format()?,
        tech_prefix: row.tech_prefix.clone(),
        max_channels: u32::try_from(row.max_channels).unwrap_or(1),
        max_cps: u32::try_from(row.max_cps).unwrap_or(1),
        priority: row.priority,
        allowed_sources: row
            .allowed_sources()?
            .into_iter()
            .map(TrunkSource::from)
            .collect(),
        inbound: row
            .inbound_credentials()
            .map(|c| -> Result<_, omnivox_store::StoreError> {
                Ok(TrunkCredentials {
                    username: c.username,
                    ha1_md5: sealer.open(Field::TrunkInboundHa1Md5, &c.ha1_md5)?,
                    ha1_sha256: sealer.open(Field::TrunkInboundHa1Sha256, &c.ha1_sha256)?,
                })
            })
            .transpose()?,
    })
}

/// Closes the calls a crash left live (before the SIP endpoint starts).
pub async fn close_orphans(store: &Store) -> Result<u64, omnivox_store::StoreError> {
    let n = cdrs::close_orphans(store.writer(), chrono::Utc::now()).await?;
    if n > 0 {
        tracing::warn!(
            calls = n,
            "calls left live by the last run closed as system_shutdown"
        );
    }
    Ok(n)
}

enum CdrWrite {
    Start(cdrs::CallStart),
    /// A call that ended, with the media quality of its legs.
    End(Box<(cdrs::CallEnd, Vec<cdrs::LegQuality>)>),
    /// A finished recording's row.
    Recording(Box<(TenantId, recordings::NewRecording)>),
}

/// Queues call records for the writer task (never blocks a call).
pub struct StoreRecorder {
    tx: mpsc::UnboundedSender<CdrWrite>,
}

impl StoreRecorder {
    /// The recorder and its writer task. The task runs until `done` fires,
    /// then writes what is still queued and ends.
    pub fn new(
        store: Store,
        done: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, write_cdrs(store, rx, done))
    }
}

fn start_of(c: &CallSnapshot) -> cdrs::CallStart {
    cdrs::CallStart {
        id: CallId(c.id),
        tenant: c.tenant_id,
        direction: match c.direction {
            omnivox_sip::CallDirection::Inbound => omnivox_domain::call::Direction::Inbound,
            omnivox_sip::CallDirection::Outbound => omnivox_domain::call::Direction::Outbound,
        },
        from_number: c.from.clone(),
        to_number: c.to.clone(),
        trunk_id: c.trunk_id.map(TrunkId),
        did: c.did.clone(),
        agent_id: c.agent_id,
        started_at: c.started_at,
    }
}

impl CallRecorder for StoreRecorder {
    fn started(&self, call: &CallSnapshot) {
        let _ = self.tx.send(CdrWrite::Start(start_of(call)));
    }

    fn ended(&self, r: CallRecord) {
        let s = start_of(&r.call);
        let quality: Vec<cdrs::LegQuality> = r
            .legs
            .iter()
            .filter_map(|l| {
                let q = l.quality.as_ref()?;
                record_quality_metrics(q);
                Some(cdrs::LegQuality {
                    tenant: s.tenant,
                    call: s.id,
                    seq: l.seq,
                    mos: q.mos,
                    r_factor: q.r_factor,
                    jitter_ms: q.jitter_ms,
                    loss_percent: q.loss_percent,
                    rtt_ms: q.rtt_ms,
                })
            })
            .collect();
        let end = cdrs::CallEnd {
            id: s.id,
            tenant: s.tenant,
            direction: s.direction,
            from_number: s.from_number,
            to_number: s.to_number,
            trunk_id: s.trunk_id,
            did: s.did,
            agent_id: s.agent_id,
            started_at: s.started_at,
            ringing_at: r.ringing_at,
            answered_at: r.call.answered_at,
            ended_at: r.ended_at,
            cause: r.hangup.cause,
            sip_code: r.hangup.sip_code,
            transfer_chain: r.transfer_chain,
            legs: r
                .legs
                .into_iter()
                .map(|l| cdrs::LegRecord {
                    leg: l.leg,
                    seq: l.seq,
                    direction: l.direction,
                    peer: l.party,
                    trunk_id: l.trunk_id.map(TrunkId),
                    agent_id: l.agent_id,
                    started_at: l.started_at,
                    ringing_at: l.ringing_at,
                    answered_at: l.answered_at,
                    ended_at: Some(l.ended_at),
                    cause: Some(l.hangup.cause),
                    sip_code: l.hangup.sip_code,
                })
                .collect(),
        };
        let _ = self.tx.send(CdrWrite::End(Box::new((end, quality))));
    }

    fn recording_finished(&self, r: FinishedRecording) {
        let row = crate::recordings::new_row(&r);
        let _ = self
            .tx
            .send(CdrWrite::Recording(Box::new((r.tenant_id, row))));
    }
}

/// Exports a leg's media quality: histograms of MOS, jitter, loss and
/// round trip over every leg that carried RTP.
fn record_quality_metrics(q: &omnivox_sip::LegQuality) {
    metrics::histogram!("call_leg_mos").record(q.mos);
    metrics::histogram!("call_leg_r_factor").record(q.r_factor);
    metrics::histogram!("call_leg_jitter_ms").record(q.jitter_ms);
    metrics::histogram!("call_leg_loss_percent").record(q.loss_percent);
    if let Some(rtt) = q.rtt_ms {
        metrics::histogram!("call_leg_rtt_ms").record(rtt);
    }
}

/// Most records per transaction.
const CDR_BATCH: usize = 512;
/// How long the writer waits after the first record of a batch for more:
/// the most a crash can lose of calls that just started (they are then
/// simply not listed; nothing is left `live`).
const CDR_GATHER: std::time::Duration = std::time::Duration::from_millis(100);

async fn write_cdrs(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<CdrWrite>,
    done: CancellationToken,
) {
    let mut batch = Vec::with_capacity(CDR_BATCH);
    loop {
        let last = tokio::select! {
            n = rx.recv_many(&mut batch, CDR_BATCH) => {
                if n == 0 {
                    return;
                }
                // Let a busy node gather more records into this commit.
                tokio::select! {
                    _ = tokio::time::sleep(CDR_GATHER) => {}
                    _ = done.cancelled() => {}
                }
                while batch.len() < CDR_BATCH
                    && let Ok(w) = rx.try_recv()
                {
                    batch.push(w);
                }
                false
            }
            _ = done.cancelled() => {
                while let Ok(w) = rx.try_recv() {
                    batch.push(w);
                }
                true
            }
        };
        let batch_out = split_batch(batch.drain(..));
        // Retry a failed batch a few times (database restarting); the
        // records stay in memory meanwhile.
        for attempt in 1..=5u32 {
            match write_batch(&store, &batch_out).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "writing call records failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
                Err(e) => {
                    tracing::error!(error = %e, lost = batch_out.starts.len() + batch_out.ends.len(),
                        recordings = batch_out.recordings.len(), "call records not written");
                }
            }
        }
        if last {
            return;
        }
    }
}

/// One batch of the writer: starts, ends, leg quality and recordings.
#[derive(Default)]
struct Batch {
    starts: Vec<cdrs::CallStart>,
    ends: Vec<cdrs::CallEnd>,
    quality: Vec<cdrs::LegQuality>,
    recordings: Vec<(TenantId, recordings::NewRecording)>,
}

/// Sorts a batch; a call that started and ended within the batch is
/// written once, closed (closing writes the whole row).
fn split_batch(batch: impl Iterator<Item = CdrWrite>) -> Batch {
    let mut out = Batch::default();
    for w in batch {
        match w {
            CdrWrite::Start(s) => out.starts.push(s),
            CdrWrite::End(e) => {
                let (end, q) = *e;
                out.ends.push(end);
                out.quality.extend(q);
            }
            CdrWrite::Recording(r) => out.recordings.push(*r),
        }
    }
    if !out.ends.is_empty() {
        let ended: std::collections::HashSet<CallId> = out.ends.iter().map(|e| e.id).collect();
        out.starts.retain(|s| !ended.contains(&s.id));
    }
    out
}

async fn write_batch(store: &Store, b: &Batch) -> Result<(), omnivox_store::StoreError> {
    let tx = store.begin().await?;
    if !b.starts.is_empty() {
        cdrs::open_calls(&tx, &b.starts).await?;
    }
    if !b.ends.is_empty() {
        cdrs::close_calls(&tx, &b.ends).await?;
    }
    if !b.quality.is_empty() {
        cdrs::set_leg_quality(&tx, &b.quality).await?;
    }
    for (tenant, rec) in &b.recordings {
        Scoped::new(&tx, *tenant)
            .create_recording(rec.clone())
            .await?;
    }
    omnivox_store::commit(tx).await
}

/// Publishes call notices on the event bus until `stop`.
pub async fn forward_notices(calls: CallService, bus: EventBus, stop: CancellationToken) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = calls.subscribe();
    loop {
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            n = rx.recv() => n,
        };
        match notice {
            Ok(n) => publish(&bus, n),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "call events dropped before the event bus");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn publish(bus: &EventBus, notice: CallNotice) {
    let tenant = notice.tenant_id();
    let (kind, subject) = match &notice {
        CallNotice::Update(u) => (
            if u.to.is_ended() {
                "call.ended"
            } else if u.from == u.to {
                "call.leg"
            } else {
                "call.state"
            },
            u.call.id.to_string(),
        ),
        CallNotice::Dtmf { call_id, .. } => ("call.dtmf", call_id.to_string()),
        CallNotice::Amd { call_id, .. } => ("call.amd", call_id.to_string()),
        CallNotice::Answered { call_id, .. } => ("call.answered", call_id.to_string()),
        CallNotice::OfferEnded { call_id, .. } => ("call.offer", call_id.to_string()),
        CallNotice::PromptEnded { call_id, .. } => ("call.prompt", call_id.to_string()),
        CallNotice::MessageRecorded { call_id, .. } => ("call.message", call_id.to_string()),
        CallNotice::TrunkHealth { trunk_id, .. } => ("trunk.health", trunk_id.to_string()),
    };
    // Serialized once, straight to the event's text.
    let subject = Some(subject);
    match &notice {
        CallNotice::Update(u) => bus.publish(tenant, kind, subject, u.as_ref()),
        _ => bus.publish(tenant, kind, subject, &notice),
    };
}
