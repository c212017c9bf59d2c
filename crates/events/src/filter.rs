//! What a subscriber wants to see.

use crate::EventId;
use omnivox_domain::TenantId;

/// Which events a [`Subscription`](crate::Subscription) delivers.
///
/// The tenant is required: a subscription is attached to that tenant's stream
/// only, so it cannot see another tenant's events whatever the other fields say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    /// The only tenant whose events are delivered.
    pub tenant: TenantId,
    /// Kind patterns; empty means every kind. A pattern ending in `.` is a
    /// prefix (`call.` matches `call.answered` and `call.leg.bridged`, not
    /// `callback.due`); any other pattern must equal the kind exactly.
    pub kinds: Vec<String>,
    /// Resume cursor: replay the retained events published after this id,
    /// then continue live. `None` starts live, with no replay.
    pub after: Option<EventId>,
}

impl EventFilter {
    /// Every kind of `tenant`'s events, live from now.
    pub fn tenant(tenant: TenantId) -> Self {
        Self {
            tenant,
            kinds: Vec::new(),
            after: None,
        }
    }

    /// Only kinds matching one of these patterns (see [`EventFilter::kinds`]).
    pub fn kinds<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Resume after `cursor` (the id of the last event the client saw).
    pub fn after(mut self, cursor: impl Into<Option<EventId>>) -> Self {
        self.after = cursor.into();
        self
    }

    /// Whether an event of `kind` passes the kind patterns.
    pub fn matches_kind(&self, kind: &str) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|p| {
                if p.ends_with('.') {
                    kind.starts_with(p.as_str())
                } else {
                    kind == p
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_exact_patterns() {
        let f = EventFilter::tenant(TenantId::new()).kinds(["call.", "registration.added"]);
        assert!(f.matches_kind("call.answered"));
        assert!(f.matches_kind("call.leg.bridged"));
        assert!(!f.matches_kind("callback.due"));
        assert!(!f.matches_kind("call"));
        assert!(f.matches_kind("registration.added"));
        assert!(!f.matches_kind("registration.added.extra"));
        assert!(!f.matches_kind("registration.removed"));
        assert!(EventFilter::tenant(TenantId::new()).matches_kind("anything"));
    }
}
