//! Bindings of one address of record and the REGISTER rules of RFC 3261
//! §10.3 (pure logic, no IO, no rsipstack types).

use super::{RegistrationEventKind, SipTransport};
use crate::config::RegistrarConfig;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

/// One registered contact of an agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Binding {
    /// The Contact URI as the phone registered it; use it as the
    /// Request-URI when calling this contact.
    pub contact: String,
    /// Where requests for this contact must be sent: the contact's own
    /// address, or the address the REGISTER came from when the contact is
    /// not reachable as given (NAT) or the phone registered over TCP.
    pub target: SocketAddr,
    /// Transport to use towards `target` (the one the REGISTER came over).
    pub transport: SipTransport,
    /// Source address of the REGISTER (the `received`/`rport` view).
    pub source: SocketAddr,
    /// True when the contact's host is not the source address (private
    /// address, unroutable, or a host name): `target` is then the source.
    pub nat: bool,
    /// When the binding expires unless refreshed.
    pub expires_at: SystemTime,
    /// When the binding was first created.
    pub registered_at: SystemTime,
    /// Preference from the `q` parameter (0.0 to 1.0), if given.
    pub q: Option<f32>,
    /// Call-ID of the REGISTER that last touched the binding.
    pub call_id: String,
    /// CSeq of the REGISTER that last touched the binding.
    pub cseq: u32,
    /// User-Agent of the phone.
    pub user_agent: Option<String>,
    /// `+sip.instance` (RFC 5626) when the phone sent one.
    pub instance_id: Option<String>,
}

impl Binding {
    /// Time left before expiry (zero when past).
    pub fn expires_in(&self) -> Duration {
        self.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }
}

/// A binding with its bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct StoredBinding {
    pub binding: Binding,
    pub key: String,
    pub reg_id: Option<u32>,
    pub deadline: Instant,
}

/// One Contact of a REGISTER, already parsed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ContactEntry {
    /// The URI as text.
    pub uri: String,
    /// Comparison key (scheme, user, host, port, transport).
    pub key: String,
    /// The host when it is an IP address.
    pub host_ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub expires: Option<u32>,
    pub q: Option<f32>,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
}

/// The Contact header(s) of a REGISTER.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ContactSpec {
    /// No Contact: a query for the current bindings.
    Query,
    /// `Contact: *`: remove all bindings (needs `Expires: 0`).
    Wildcard,
    List(Vec<ContactEntry>),
}

/// The parts of a REGISTER the registrar acts on.
#[derive(Clone, Debug)]
pub(crate) struct RegisterRequest {
    pub contacts: ContactSpec,
    pub expires_header: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub source: SocketAddr,
    pub transport: SipTransport,
    pub user_agent: Option<String>,
}

/// Why a REGISTER is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// 423 with this Min-Expires.
    IntervalTooBrief(u32),
    /// 400 with this reason.
    BadRequest(&'static str),
    /// 500: an older or repeated CSeq for the same Call-ID (RFC 3261 §10.3
    /// step 7).
    OutOfOrder,
}

/// A change to report as an event.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub kind: RegistrationEventKind,
    pub binding: Binding,
}

/// The bindings of one address of record.
#[derive(Clone, Debug, Default)]
pub(crate) struct AorBindings {
    pub bindings: Vec<StoredBinding>,
}

/// Where to reach a contact and whether NAT was detected.
pub(crate) fn reachable(
    entry: &ContactEntry,
    source: SocketAddr,
    transport: SipTransport,
) -> (SocketAddr, bool) {
    let contact = entry
        .host_ip
        .map(|ip| SocketAddr::new(ip, entry.port.unwrap_or(5060)));
    let nat = contact.is_none_or(|c| c.ip() != source.ip());
    let target = match (transport, contact) {
        (SipTransport::Udp, Some(c)) if !nat => c,
        _ => source,
    };
    (target, nat)
}

impl AorBindings {
    /// Removes and returns bindings past their deadline.
    pub(crate) fn sweep(&mut self, now: Instant) -> Vec<Binding> {
        let mut gone = Vec::new();
        self.bindings.retain(|b| {
            if b.deadline <= now {
                gone.push(b.binding.clone());
                false
            } else {
                true
            }
        });
        gone
    }

    /// The live bindings with the seconds each has left.
    pub(crate) fn current(&self, now: Instant) -> Vec<(Binding, u32)> {
        self.bindings
            .iter()
            .filter(|b| b.deadline > now)
            .map(|b| {
                let left = b.deadline.saturating_duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                (b.binding.clone(), u32::try_from(secs).unwrap_or(u32::MAX))
            })
            .collect()
    }

    fn find(&self, e: &ContactEntry) -> Option<usize> {
        self.bindings
            .iter()
            .position(|b| b.key == e.key)
            .or_else(|| {
                e.instance.as_ref().and_then(|inst| {
                    self.bindings.iter().position(|b| {
                        b.binding.instance_id.as_ref() == Some(inst) && b.reg_id == e.reg_id
                    })
                })
            })
    }

    /// Applies a REGISTER; all or nothing (nothing changes on `Err`).
    pub(crate) fn apply(
        &mut self,
        req: &RegisterRequest,
        rules: &RegistrarConfig,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Vec<Change>, RegisterError> {
        let entries = match &req.contacts {
            ContactSpec::Query => return Ok(self.expired_changes(now)),
            ContactSpec::Wildcard => {
                if req.expires_header != Some(0) {
                    return Err(RegisterError::BadRequest("Contact: * needs Expires: 0"));
                }
                self.check_order(self.bindings.iter(), req)?;
                let mut changes = self.expired_changes(now);
                changes.extend(self.bindings.drain(..).map(|b| Change {
                    kind: RegistrationEventKind::Unregistered,
                    binding: b.binding,
                }));
                return Ok(changes);
            }
            ContactSpec::List(entries) => entries,
        };
        let mut plan: Vec<(&ContactEntry, u32)> = Vec::with_capacity(entries.len());
        for e in entries {
            let asked = e
                .expires
                .or(req.expires_header)
                .unwrap_or(rules.default_expires_secs);
            let exp = match asked {
                0 => 0,
                a if a < rules.min_expires_secs => {
                    return Err(RegisterError::IntervalTooBrief(rules.min_expires_secs));
                }
                a => a.min(rules.max_expires_secs),
            };
            plan.retain(|(p, _)| p.key != e.key);
            plan.push((e, exp));
        }
        let touched = plan
            .iter()
            .filter_map(|(e, _)| self.find(e))
            .map(|i| &self.bindings[i]);
        self.check_order(touched, req)?;

        let mut changes = self.expired_changes(now);
        for (e, exp) in plan {
            let idx = self.find(e);
            if exp == 0 {
                if let Some(i) = idx {
                    let old = self.bindings.remove(i);
                    changes.push(Change {
                        kind: RegistrationEventKind::Unregistered,
                        binding: old.binding,
                    });
                }
                continue;
            }
            let (target, nat) = reachable(e, req.source, req.transport);
            let registered_at = idx
                .filter(|&i| self.bindings[i].key == e.key)
                .map(|i| self.bindings[i].binding.registered_at)
                .unwrap_or(wall);
            let stored = StoredBinding {
                binding: Binding {
                    contact: e.uri.clone(),
                    target,
                    transport: req.transport,
                    source: req.source,
                    nat,
                    expires_at: wall + Duration::from_secs(u64::from(exp)),
                    registered_at,
                    q: e.q,
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    user_agent: req.user_agent.clone(),
                    instance_id: e.instance.clone(),
                },
                key: e.key.clone(),
                reg_id: e.reg_id,
                deadline: now + Duration::from_secs(u64::from(exp)),
            };
            let binding = stored.binding.clone();
            match idx {
                Some(i) if self.bindings[i].key == e.key => {
                    self.bindings[i] = stored;
                    changes.push(Change {
                        kind: RegistrationEventKind::Refreshed,
                        binding,
                    });
                }
                Some(i) => {
                    // Same device instance, new contact (e.g. a new NAT port).
                    let old = std::mem::replace(&mut self.bindings[i], stored);
                    changes.push(Change {
                        kind: RegistrationEventKind::Unregistered,
                        binding: old.binding,
                    });
                    changes.push(Change {
                        kind: RegistrationEventKind::Registered,
                        binding,
                    });
                }
                None => {
                    self.bindings.push(stored);
                    changes.push(Change {
                        kind: RegistrationEventKind::Registered,
                        binding,
                    });
                    if self.bindings.len() > rules.max_contacts_per_aor {
                        let newest = self.bindings.len() - 1;
                        let oldest = self.bindings[..newest]
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, b)| b.binding.registered_at)
                            .map(|(i, _)| i);
                        if let Some(i) = oldest {
                            let evicted = self.bindings.remove(i);
                            changes.push(Change {
                                kind: RegistrationEventKind::Unregistered,
                                binding: evicted.binding,
                            });
                        }
                    }
                }
            }
        }
        Ok(changes)
    }

    fn expired_changes(&mut self, now: Instant) -> Vec<Change> {
        self.sweep(now)
            .into_iter()
            .map(|binding| Change {
                kind: RegistrationEventKind::Expired,
                binding,
            })
            .collect()
    }

    fn check_order<'a>(
        &self,
        mut existing: impl Iterator<Item = &'a StoredBinding>,
        req: &RegisterRequest,
    ) -> Result<(), RegisterError> {
        if existing.any(|b| b.binding.call_id == req.call_id && req.cseq <= b.binding.cseq) {
            Err(RegisterError::OutOfOrder)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "bindings_tests.rs"]
mod tests;
