//! A subscriber's view of one tenant's stream.

use crate::bus::{Attachment, TenantStream};
use crate::{Event, EventFilter, EventId};
use omnivox_domain::TenantId;
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::{self, error::RecvError};

/// Events a subscription could not deliver, said out loud rather than skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Lagged {
    /// The subscriber fell behind the live channel and `missed` events of its
    /// tenant's stream (counted before kind filtering) were dropped for it.
    /// The subscription goes on with the oldest event still queued; call
    /// [`Subscription::resync`] (or subscribe again with `after:
    /// resume_after`) to get the skipped ones from the replay buffer instead.
    #[error("subscriber fell behind: {missed} events skipped after {resume_after}")]
    Behind { missed: u64, resume_after: EventId },
    /// The resume cursor is older than the replay buffer (or than this
    /// process), so events after it may be lost. The subscription goes on
    /// with every retained event, then live; the client should reload state.
    #[error("events after {after} are no longer retained")]
    Gap {
        after: EventId,
        oldest_retained: Option<EventId>,
    },
}

/// A live, resumable stream of one tenant's events. Not `Clone`; drop it to
/// unsubscribe (publishers are not affected).
#[derive(Debug)]
pub struct Subscription {
    filter: EventFilter,
    stream: Weak<TenantStream>,
    receiver: broadcast::Receiver<Arc<Event>>,
    replay: VecDeque<Arc<Event>>,
    gap: Option<Lagged>,
    /// Id of the last event of the tenant's stream consumed (delivered or
    /// filtered out); live events at or below it are duplicates.
    cursor: EventId,
}

impl Subscription {
    pub(crate) fn new(
        filter: EventFilter,
        stream: Weak<TenantStream>,
        attachment: Attachment,
    ) -> Self {
        Self {
            filter,
            stream,
            receiver: attachment.receiver,
            replay: attachment.replay,
            gap: attachment.gap,
            cursor: attachment.cursor,
        }
    }

    /// The next matching event, in publish order, or an explicit [`Lagged`];
    /// `None` once the bus is gone. Cancel-safe (usable in `select!`).
    pub async fn next(&mut self) -> Option<Result<Arc<Event>, Lagged>> {
        if let Some(gap) = self.gap.take() {
            return Some(Err(gap));
        }
        while let Some(event) = self.replay.pop_front() {
            self.cursor = event.id;
            if self.filter.matches_kind(&event.kind) {
                return Some(Ok(event));
            }
        }
        loop {
            match self.receiver.recv().await {
                Ok(event) => {
                    if event.id <= self.cursor {
                        continue;
                    }
                    self.cursor = event.id;
                    if event.tenant != self.filter.tenant {
                        // Unreachable by construction (one channel per tenant);
                        // checked anyway because isolation is not negotiable.
                        tracing::error!(tenant_id = %self.filter.tenant, "event of another tenant on a tenant stream");
                        continue;
                    }
                    if self.filter.matches_kind(&event.kind) {
                        return Some(Ok(event));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(tenant_id = %self.filter.tenant, missed, "subscriber lagged");
                    return Some(Err(Lagged::Behind {
                        missed,
                        resume_after: self.cursor,
                    }));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Start again from [`Subscription::cursor`]: drop what is queued live and
    /// replay from the buffer what came after the cursor, then continue live.
    /// The usual answer to [`Lagged::Behind`]; if the cursor has meanwhile left
    /// the buffer, the next item is [`Lagged::Gap`]. Does nothing once the bus
    /// is gone.
    pub fn resync(&mut self) {
        if let Some(stream) = self.stream.upgrade() {
            let attachment = stream.attach(Some(self.cursor));
            self.receiver = attachment.receiver;
            self.replay = attachment.replay;
            self.gap = attachment.gap;
            self.cursor = attachment.cursor;
        }
    }

    /// The id of the last event of this tenant's stream that the subscription
    /// has consumed (delivered or filtered out): where [`Subscription::resync`]
    /// resumes.
    pub fn cursor(&self) -> EventId {
        self.cursor
    }

    pub fn tenant(&self) -> TenantId {
        self.filter.tenant
    }

    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }
}
