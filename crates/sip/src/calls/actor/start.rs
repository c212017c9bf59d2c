//! Beginning calls: an originated call, or an inbound one whose server
//! dialog exists.

use super::*;
use crate::calls::model::Application;

/// Checks that `to` can be dialled by `tenant` (dial policy for numbers).
pub(crate) async fn check_endpoint(
    inner: &CallsInner,
    tenant: TenantId,
    to: &Endpoint,
) -> Result<(), CallError> {
    match to {
        Endpoint::Number { number } => {
            if normalize_number(number).as_deref() != Some(number.as_str()) {
                return Err(CallError::Invalid(format!(
                    "`{number}` is not an E.164 number"
                )));
            }
            match inner.directory.check_dial(tenant, number).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(refusal)) => Err(CallError::Forbidden(refusal)),
                Err(e) => Err(CallError::Unavailable(e.to_string())),
            }
        }
        Endpoint::Agent { agent_id } => match inner.directory.agent_user(tenant, *agent_id).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(CallError::Invalid(
                "the agent has no SIP account in this tenant".into(),
            )),
            Err(e) => Err(CallError::Unavailable(e.to_string())),
        },
    }
}

fn refuse_when_full(inner: &CallsInner) -> Result<(), CallError> {
    if inner.draining.load(Ordering::Acquire) {
        return Err(CallError::Unavailable("the node is shutting down".into()));
    }
    if inner.lock_live().len() >= inner.config.max_calls {
        return Err(CallError::Unavailable("too many calls".into()));
    }
    Ok(())
}

/// Starts an originated call (API, dialer).
pub(crate) async fn originate(
    inner: Arc<CallsInner>,
    req: Originate,
) -> Result<CallSnapshot, CallError> {
    refuse_when_full(&inner)?;
    check_endpoint(&inner, req.tenant_id, &req.first).await?;
    if let Some(second) = &req.second {
        check_endpoint(&inner, req.tenant_id, second).await?;
    }
    if let Some(c) = &req.caller_id
        && normalize_number(c).as_deref() != Some(c.as_str())
    {
        return Err(CallError::Invalid("caller_id must be E.164".into()));
    }
    let ring = req
        .ring_timeout_secs
        .unwrap_or(inner.config.ring_timeout_secs)
        .clamp(5, 300);
    let mut actor = Actor::new(
        inner.clone(),
        req.tenant_id,
        CallDirection::Outbound,
        Call::outbound(),
        Duration::from_secs(u64::from(ring)),
    )?;
    actor.caller_id = req.caller_id.clone();
    actor.only_trunk = req.trunk_id;
    actor.recording_policy = req.recording;
    {
        let mut snap = actor.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.from = endpoint_label(&req.first);
        snap.to = req.second.as_ref().map(endpoint_label).unwrap_or_default();
    }
    actor.pending[slot_index(LegId::B)] = req.second.clone();
    if let Some(config) = req.amd.clone() {
        actor.amd = park::Amd::Armed(config);
    }
    actor.register();
    inner.recorder.started(&actor.refresh_snapshot());
    // The first leg gets a normal offer: until the second answers it hears
    // ringback from the engine.
    let dialled = actor.dial(LegId::A, req.first, Codec::Pcmu).await;
    actor.feed_leg(LegId::A, LegEvent::Invite).await;
    if let Err(code) = dialled {
        actor
            .feed_leg(LegId::A, LegEvent::Failure { sip_code: code })
            .await;
    }
    let snapshot = actor.refresh_snapshot();
    Counters::inc(&inner.counters.calls_started);
    tokio::spawn(actor.run());
    Ok(snapshot)
}

/// What an inbound INVITE was routed to.
pub(crate) struct InboundCall {
    pub tenant: TenantId,
    pub from: String,
    pub to: String,
    pub did: Option<String>,
    pub target: InboundTarget,
    pub caller_id: Option<String>,
    pub trunk_id: Option<Uuid>,
    pub caller_agent: Option<UserId>,
    pub max_forwards: u8,
}

/// What an inbound call does.
pub(crate) enum InboundTarget {
    /// Dial this party as leg B.
    Dial(Endpoint),
    /// Omnivox answers the caller for an application (queue, flow).
    Answer(Application),
}

/// Refuses an inbound INVITE whose call cannot start (no media).
fn refuse(inner: &CallsInner, dialog: InviteDialog) {
    let _ = dialog.reject(Some(StatusCode::ServiceUnavailable), None);
    let dialogs = inner.dialogs.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REJECTED_DIALOG_LINGER).await;
        dialogs.remove_dialog(&dialog.id());
    });
}

/// Starts the actor of an inbound call whose server dialog exists; `offer`
/// is the caller's description and what it negotiated (none: late offer).
pub(crate) async fn start_inbound(
    inner: Arc<CallsInner>,
    route: InboundCall,
    dialog: InviteDialog,
    offer: Option<(RemoteSdp, Negotiated)>,
) {
    let ring = inner.config.ring_timeout_secs;
    let Ok(mut actor) = Actor::new(
        inner.clone(),
        route.tenant,
        CallDirection::Inbound,
        Call::inbound(),
        Duration::from_secs(u64::from(ring)),
    ) else {
        refuse(&inner, dialog);
        return;
    };
    actor.caller_id = route.caller_id.clone();
    actor.max_forwards = route.max_forwards;
    {
        let mut snap = actor.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.from = route.from.clone();
        snap.to = route.to.clone();
        snap.did = route.did.clone();
    }
    let Ok(mut a) = actor
        .new_leg(
            Direction::Inbound,
            Party::Caller,
            route.from.clone(),
            LegOptions::default(),
        )
        .await
    else {
        refuse(&inner, dialog);
        return;
    };
    a._route = Some(actor.route_dialog(&dialog, a.seq));
    a.dialog = Some(dialog);
    a.trunk_id = route.trunk_id;
    a.agent_id = route.caller_agent;
    actor.slots[0] = Some(Box::new(a));
    let codec = offer.as_ref().map_or(Codec::Pcmu, |(_, n)| n.codec);
    if let Some((sdp, negotiated)) = offer {
        actor.set_remote(LegId::A, sdp, negotiated).await;
    }
    actor.register();
    inner.recorder.started(&actor.refresh_snapshot());
    actor.feed_leg(LegId::A, LegEvent::Invite).await;
    let target = match route.target {
        InboundTarget::Dial(target) => target,
        InboundTarget::Answer(application) => {
            actor.answer_for(application, route.from, route.did).await;
            Counters::inc(&inner.counters.calls_started);
            tokio::spawn(actor.run());
            return;
        }
    };
    let dialled = actor.dial(LegId::B, target, codec).await;
    actor.feed_leg(LegId::B, LegEvent::Invite).await;
    if let Err(code) = dialled {
        actor
            .feed_leg(LegId::B, LegEvent::Failure { sip_code: code })
            .await;
    }
    Counters::inc(&inner.counters.calls_started);
    tokio::spawn(actor.run());
}
