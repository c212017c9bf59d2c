//! New INVITEs: who is calling (a trunk by its source address, or an agent's
//! phone by digest), where the call goes, and the start of its actor.
//!
//! - From a trunk's allowed source: the Request-URI user is a DID. A DID
//!   that no tenant owns, or that belongs to a tenant other than the trunk's,
//!   is answered 404 (the same answer, so numbers of other tenants cannot be
//!   probed) and counted.
//! - From anywhere else: the caller must authenticate as an agent of the
//!   tenant named by the From domain (407 with digest challenges). The
//!   Request-URI user is another agent of the tenant (by SIP user name) or a
//!   number, which the tenant's dial policy must allow (the toll-fraud
//!   guard), dialled through the tenant's trunks.

use super::actor::InboundTarget;
use super::actor::{InboundCall, start_inbound};
use super::model::{Application, DidTarget, Endpoint};
use super::sdp::{RemoteSdp, negotiate};
use super::util::normalize_number;
use crate::auth::{self, Challenger};
use crate::directory::AccountOwner;
use crate::registrar::register::realm_of;
use crate::router::{ReplySpec, Shared, respond, warning};
use crate::stats::Counters;
use omnivox_domain::{TenantId, UserId};
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{Header, HeadersExt, RetryAfter, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where an accepted INVITE goes, or the response refusing it.
type Routed = Result<InboundCall, ReplySpec>;

/// Handles a new INVITE (no To tag) from `source`.
pub(crate) async fn handle(shared: Arc<Shared>, mut tx: Transaction, source: SocketAddr) {
    let routed = route(&shared, &tx, source).await;
    let route = match routed {
        Ok(r) => r,
        Err(spec) => {
            respond(&shared, &mut tx, spec).await;
            crate::router::linger_invite(tx, shared.stop.clone()).await;
            return;
        }
    };
    // An offer must be one we can answer: G.711 over RTP/AVP (488 else).
    // Without one (late offer) our 200 carries the offer and the ACK the
    // answer.
    let parsed = (!tx.original.body.is_empty()).then(|| {
        RemoteSdp::parse(&tx.original.body).and_then(|sdp| negotiate(&sdp).map(|n| (sdp, n)))
    });
    let offer = match parsed.transpose() {
        Ok(offer) => offer,
        Err(e) => {
            tracing::info!(error = %e, "INVITE offer refused");
            respond(
                &shared,
                &mut tx,
                ReplySpec::new(StatusCode::NotAcceptableHere).with(warning(&e.to_string())),
            )
            .await;
            crate::router::linger_invite(tx, shared.stop.clone()).await;
            return;
        }
    };
    let calls = shared.calls.inner.clone();
    let contact =
        rsipstack::sip::Uri::try_from(format!("sip:omnivox@{}", calls.local).as_str()).ok();
    let dialog = match calls.dialogs.get_or_create_server_invite(
        &tx,
        calls.dialog_states.sender(),
        None,
        contact,
    ) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(error = %e, "no dialog for INVITE");
            respond(
                &shared,
                &mut tx,
                ReplySpec::bad_request("cannot create a dialog"),
            )
            .await;
            return;
        }
    };
    let mut server_dialog = dialog.clone();
    // The INVITE server transaction: 100 Trying, then ACK or CANCEL.
    tokio::spawn(async move {
        if let Err(e) = server_dialog.handle(&mut tx).await {
            tracing::debug!(error = %e, "INVITE transaction ended with an error");
        }
    });
    start_inbound(calls, route, dialog, offer).await;
}

fn max_forwards(tx: &Transaction) -> u8 {
    tx.original
        .headers
        .iter()
        .find_map(|h| match h {
            Header::MaxForwards(m) => m.value().trim().parse::<u8>().ok(),
            _ => None,
        })
        .unwrap_or(70)
}

async fn route(shared: &Shared, tx: &Transaction, source: SocketAddr) -> Routed {
    let calls = &shared.calls.inner;
    if shared.local_addrs.contains(&source) {
        Counters::inc(&shared.guard.counters.loops_detected);
        return Err(ReplySpec::new(StatusCode::LoopDetected));
    }
    if calls.lock_live().len() >= calls.config.max_calls {
        Counters::inc(&shared.guard.counters.call_limit_rejections);
        return Err(ReplySpec::new(StatusCode::ServiceUnavailable)
            .with(Header::RetryAfter(RetryAfter::new("5")))
            .with(warning("too many calls")));
    }
    let req = &tx.original;
    let dialled = req.uri.user().unwrap_or_default().to_string();
    let from = req
        .from_header()
        .ok()
        .and_then(|f| f.typed().ok())
        .ok_or_else(|| ReplySpec::bad_request("malformed From"))?;
    let from_user = from.uri.user().unwrap_or_default().to_string();
    let mf = max_forwards(tx);

    let trunks = calls.trunks.by_source(source);
    if !trunks.is_empty() {
        return from_trunk(shared, &trunks, &dialled, &from_user, mf).await;
    }
    // The realm names the tenant: the Request-URI's domain when it has one
    // (`sip:+1555...@acme.omnivox`, carriers with credentials), else the
    // From domain (phones dialling the server's address).
    let realm = match &req.uri.host_with_port.host {
        rsipstack::sip::Host::Domain(_) => realm_of(&req.uri.host_with_port.host),
        rsipstack::sip::Host::IpAddr(_) => None,
    }
    .or_else(|| realm_of(&from.uri.host_with_port.host))
    .ok_or_else(|| ReplySpec::bad_request("invalid domain in From"))?;
    // The digest user name is the identity (a phone's or a trunk's).
    let account = auth::check(
        shared,
        &tx.original,
        Challenger::Proxy,
        &realm,
        None,
        source,
    )
    .await?;
    match account.owner {
        AccountOwner::Agent(agent) => {
            from_phone(
                shared,
                account.tenant_id,
                agent,
                &dialled,
                &account.user,
                mf,
            )
            .await
        }
        AccountOwner::Trunk(id) => {
            // A carrier authenticated with its trunk's inbound credentials.
            let trunk = calls
                .trunks
                .get(id)
                .filter(|t| t.trunk.tenant_id == account.tenant_id)
                .ok_or_else(|| ReplySpec::new(StatusCode::Forbidden))?;
            from_trunk(shared, &[trunk], &dialled, &from_user, mf).await
        }
    }
}

async fn from_trunk(
    shared: &Shared,
    trunks: &[Arc<super::trunks::TrunkEntry>],
    dialled: &str,
    from_user: &str,
    max_forwards: u8,
) -> Routed {
    let calls = &shared.calls.inner;
    let not_found = || {
        Counters::inc(&shared.guard.counters.unknown_did);
        ReplySpec::new(StatusCode::NotFound).with(warning("unknown number"))
    };
    let did = normalize_number(dialled).ok_or_else(not_found)?;
    let route = match calls.directory.did_route(&did).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "DID lookup failed");
            return Err(ReplySpec::new(StatusCode::ServiceUnavailable)
                .with(Header::RetryAfter(RetryAfter::new("5"))));
        }
    };
    // The DID must belong to the tenant of a trunk the call came in on.
    let Some(trunk) = trunks.iter().find(|t| t.trunk.tenant_id == route.tenant_id) else {
        tracing::info!(did = %did, "INVITE for a DID of another tenant's trunk");
        return Err(not_found());
    };
    let caller = normalize_number(from_user);
    let target = match route.target {
        DidTarget::Agent { agent_id } => InboundTarget::Dial(Endpoint::Agent { agent_id }),
        DidTarget::Number { number } => {
            // A forwarded DID dials out too: the tenant's dial policy applies.
            check_policy(shared, route.tenant_id, &number).await?;
            InboundTarget::Dial(Endpoint::Number { number })
        }
        DidTarget::Queue { queue_id } => InboundTarget::Answer(Application::Queue { queue_id }),
        DidTarget::Flow { flow_id } => InboundTarget::Answer(Application::Flow { flow_id }),
    };
    Ok(InboundCall {
        tenant: route.tenant_id,
        from: caller.clone().unwrap_or_else(|| from_user.to_string()),
        to: did.clone(),
        did: Some(did),
        target,
        caller_id: caller,
        trunk_id: Some(trunk.trunk.id),
        caller_agent: None,
        max_forwards,
    })
}

async fn from_phone(
    shared: &Shared,
    tenant: TenantId,
    caller_agent: UserId,
    dialled: &str,
    from_user: &str,
    max_forwards: u8,
) -> Routed {
    let calls = &shared.calls.inner;
    let target = if let Some(agent_id) = calls.registrar.agent_of(tenant, dialled) {
        Endpoint::Agent { agent_id }
    } else if let Some(number) = normalize_number(dialled) {
        check_policy(shared, tenant, &number).await?;
        Endpoint::Number { number }
    } else {
        return Err(ReplySpec::new(StatusCode::NotFound).with(warning("unknown destination")));
    };
    Ok(InboundCall {
        tenant,
        from: format!("agent:{from_user}"),
        to: match &target {
            Endpoint::Number { number } => number.clone(),
            Endpoint::Agent { agent_id } => format!("agent:{agent_id}"),
        },
        did: None,
        target: InboundTarget::Dial(target),
        caller_id: None,
        trunk_id: None,
        caller_agent: Some(caller_agent),
        max_forwards,
    })
}

/// The tenant's dial policy for `number`: 403 with the reason, or 503 when
/// it cannot be read.
async fn check_policy(shared: &Shared, tenant: TenantId, number: &str) -> Result<(), ReplySpec> {
    match shared
        .calls
        .inner
        .directory
        .check_dial(tenant, number)
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => {
            Counters::inc(&shared.guard.counters.dial_policy_refusals);
            tracing::info!(code = %refusal.code, "call refused by the dial policy");
            Err(ReplySpec::new(StatusCode::Forbidden).with(warning(&refusal.message)))
        }
        Err(e) => {
            tracing::error!(error = %e, "dial policy lookup failed");
            Err(ReplySpec::new(StatusCode::ServiceUnavailable)
                .with(Header::RetryAfter(RetryAfter::new("5"))))
        }
    }
}
