//! The session's outgoing event queue: `try_send` on the caller's bounded
//! channel, with a small overflow queue flushed on housekeeping, so the
//! packet path never waits for the call actor.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::MediaEvent;

/// Overflow beyond which events are dropped (and counted).
const MAX_PENDING: usize = 1024;

pub(crate) struct EventQueue {
    tx: mpsc::Sender<MediaEvent>,
    pending: VecDeque<MediaEvent>,
    pub dropped: u64,
}

impl EventQueue {
    pub fn new(tx: mpsc::Sender<MediaEvent>) -> Self {
        Self {
            tx,
            pending: VecDeque::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, ev: MediaEvent) {
        if self.pending.is_empty() {
            match self.tx.try_send(ev) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(ev)) => self.pending.push_back(ev),
            }
        } else if self.pending.len() < MAX_PENDING {
            self.pending.push_back(ev);
        } else {
            self.dropped += 1;
        }
    }

    /// Move queued events into the channel while it has room.
    pub fn flush(&mut self) {
        while let Some(ev) = self.pending.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => {
                    self.pending.push_front(ev);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// At the end of the session: deliver everything, waiting up to
    /// `grace` for a slow receiver.
    pub async fn drain(&mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while let Some(ev) = self.pending.pop_front() {
            match tokio::time::timeout_at(deadline, self.tx.send(ev)).await {
                Ok(Ok(())) => {}
                _ => {
                    self.dropped += self.pending.len() as u64 + 1;
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// Queue without trying the channel (final events, sent by `drain`).
    pub fn push_final(&mut self, ev: MediaEvent) {
        self.pending.push_back(ev);
    }
}
