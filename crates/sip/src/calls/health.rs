//! OPTIONS health checks of trunks: every `calls.trunk_check_secs`, each
//! trunk gets an OPTIONS; any response means up, no response (or a transport
//! error) means down. A down trunk takes no new calls (failover skips it)
//! until a check succeeds again. Changes are published as notices.

use super::trunks::TrunkEntry;
use super::util::sip_uri;
use super::{CallNotice, CallsInner};
use crate::registrar::SipTransport;
use rsipstack::sip::{Method, Transport, typed};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for an OPTIONS response.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the checks until the server stops.
pub(crate) async fn run(inner: Arc<CallsInner>) {
    let secs = inner.config.trunk_check_secs;
    if secs == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = inner.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut checks = tokio::task::JoinSet::new();
        for entry in inner.trunks.all().iter() {
            checks.spawn(check(inner.clone(), entry.clone()));
        }
        while checks.join_next().await.is_some() {}
    }
}

async fn check(inner: Arc<CallsInner>, entry: Arc<TrunkEntry>) {
    let up = matches!(
        tokio::time::timeout(CHECK_TIMEOUT, ping(&inner, &entry)).await,
        Ok(Some(_))
    );
    if entry.set_up(up) {
        tracing::warn!(trunk = %entry.trunk.name, up, "trunk health changed");
        let _ = inner.notices.send(CallNotice::TrunkHealth {
            tenant_id: entry.trunk.tenant_id,
            trunk_id: entry.trunk.id,
            up,
        });
    }
}

/// Sends one OPTIONS; the response code, or `None` without a response.
async fn ping(inner: &CallsInner, entry: &TrunkEntry) -> Option<u16> {
    let t = &entry.trunk;
    let hostport = format!("{}:{}", t.host, t.port);
    let uri = rsipstack::sip::Uri::try_from(format!("sip:{hostport}").as_str()).ok()?;
    let endpoint = inner.dialogs.endpoint.clone();
    let via = endpoint.get_via(None, None).ok()?;
    let from_host = t
        .from_domain
        .clone()
        .unwrap_or_else(|| inner.local.to_string());
    let from = typed::From {
        display_name: None,
        uri: sip_uri("omnivox", &from_host).ok()?,
        params: vec![],
    }
    .with_tag(make_tag());
    let to = typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let call_id = rsipstack::sip::headers::CallId::from(rsipstack::transaction::make_uuid_v4());
    let req = endpoint.make_request(Method::Options, uri, via, from, to, 1, Some(call_id));
    let key = TransactionKey::from_request(&req, TransactionRole::Client).ok()?;
    let mut tx = Transaction::new_client(key, req, endpoint, None);
    tx.destination = Some(SipAddr {
        r#type: Some(match t.transport {
            SipTransport::Udp => Transport::Udp,
            SipTransport::Tcp => Transport::Tcp,
        }),
        addr: rsipstack::sip::HostWithPort::try_from(hostport.as_str()).ok()?,
    });
    tx.send().await.ok()?;
    while let Some(msg) = tx.receive().await {
        if let rsipstack::sip::SipMessage::Response(r) = msg
            && r.status_code.code() >= 200
        {
            return Some(r.status_code.code());
        }
    }
    None
}
