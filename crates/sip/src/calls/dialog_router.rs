//! One channel for the states of every call leg's dialog, routed to the
//! call actor that owns the dialog.
//!
//! rsipstack reports a dialog's states on the Tokio unbounded channel given
//! when the dialog is created. A channel per leg allocates its first block
//! up front (32 slots of `DialogState`, about 9.7 kB) and needs a task to
//! forward into the actor: a quarter of a held call's memory. Here every
//! dialog shares one channel and one task, and each leg costs a table entry.
//!
//! Dialogs are keyed by Call-ID and our own tag, which stay fixed for the
//! dialog's life (the peer's tag arrives later). An outbound leg learns its
//! key only once rsipstack has created the dialog, and rsipstack may already
//! have reported a state by then (the INVITE goes out from a task it
//! spawns): a state for a key nobody registered is parked, handed over in
//! order when the key is registered, and dropped after [`PARK_TTL`] (the
//! late states of a leg whose actor has already let it go end there too).
//! An in-dialog request for a dialog nobody routes is answered 481 at once:
//! none can come before registration (the peer needs our tag, which only
//! our responses after it carry).

use super::actor::Msg;
use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, DialogStateSender, TransactionHandle};
use rsipstack::sip::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a state waits for its dialog to be registered.
const PARK_TTL: Duration = Duration::from_secs(10);
/// At most this many unregistered dialogs have parked states at once.
const MAX_PARKED: usize = 4096;
/// Expired parked states are looked for at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Call-ID and our tag.
type Key = (String, String);

fn key_of(id: &DialogId) -> Key {
    (id.call_id.clone(), id.local_tag.clone())
}

fn dialog_id(state: &DialogState) -> &DialogId {
    match state {
        DialogState::Calling(id)
        | DialogState::Trying(id)
        | DialogState::Early(id, _)
        | DialogState::WaitAck(id, _)
        | DialogState::Confirmed(id, _)
        | DialogState::Updated(id, ..)
        | DialogState::Publish(id, ..)
        | DialogState::Notify(id, ..)
        | DialogState::Refer(id, ..)
        | DialogState::Message(id, ..)
        | DialogState::Info(id, ..)
        | DialogState::Options(id, ..)
        | DialogState::Terminated(id, _) => id,
    }
}

/// The transaction of an in-dialog request: it waits for our answer.
fn request(state: &DialogState) -> Option<&TransactionHandle> {
    match state {
        DialogState::Updated(_, _, h)
        | DialogState::Info(_, _, h)
        | DialogState::Refer(_, _, h)
        | DialogState::Notify(_, _, h)
        | DialogState::Message(_, _, h)
        | DialogState::Options(_, _, h)
        | DialogState::Publish(_, _, h) => Some(h),
        _ => None,
    }
}

/// Answers an in-dialog request of a leg that has left its call.
pub(crate) async fn respond_stale(state: DialogState) {
    if let Some(h) = request(&state) {
        let _ = h.reply(StatusCode::CallTransactionDoesNotExist).await;
    }
}

/// Where a dialog's states go: the actor, tagged with the leg's number.
struct Route {
    actor: mpsc::UnboundedSender<Msg>,
    seq: u32,
}

impl Route {
    fn deliver(&self, state: DialogState) {
        // A closed actor drops the state, as its own channel would.
        let _ = self.actor.send(Msg::Dialog {
            seq: self.seq,
            state: Box::new(state),
        });
    }
}

struct Parked {
    since: Instant,
    states: Vec<DialogState>,
}

#[derive(Default)]
struct Table {
    routes: HashMap<Key, Route>,
    parked: HashMap<Key, Parked>,
    last_sweep: Option<Instant>,
}

impl Table {
    /// Routes or parks `state`; returns it when it is a request that
    /// nobody will answer.
    fn dispatch(&mut self, state: DialogState) -> Option<DialogState> {
        let key = key_of(dialog_id(&state));
        if let Some(route) = self.routes.get(&key) {
            route.deliver(state);
            return None;
        }
        if request(&state).is_some() {
            return Some(state);
        }
        let now = Instant::now();
        self.sweep(now);
        if let Some(parked) = self.parked.get_mut(&key) {
            parked.states.push(state);
        } else if self.parked.len() < MAX_PARKED {
            self.parked.insert(
                key,
                Parked {
                    since: now,
                    states: vec![state],
                },
            );
        } else {
            tracing::debug!(call_id = %key.0, "dialog state for an unknown dialog dropped");
        }
        None
    }

    fn sweep(&mut self, now: Instant) {
        if self.parked.is_empty()
            || self
                .last_sweep
                .is_some_and(|at| now.duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        self.parked
            .retain(|_, p| now.duration_since(p.since) < PARK_TTL);
    }
}

/// The shared channel and the table of routes (cheap to clone).
#[derive(Clone)]
pub(crate) struct DialogRouter {
    sender: DialogStateSender,
    table: Arc<Mutex<Table>>,
}

impl DialogRouter {
    /// Starts the routing task (it ends when every sender is gone).
    pub(crate) fn start() -> Self {
        let (sender, mut states) = mpsc::unbounded_channel();
        let table = Arc::new(Mutex::new(Table::default()));
        let routing = table.clone();
        tokio::spawn(async move {
            while let Some(state) = states.recv().await {
                let unanswered = lock(&routing).dispatch(state);
                if let Some(request) = unanswered {
                    tokio::spawn(respond_stale(request));
                }
            }
        });
        Self { sender, table }
    }

    /// The sender to give rsipstack when a dialog is created.
    pub(crate) fn sender(&self) -> DialogStateSender {
        self.sender.clone()
    }

    /// Sends the states of dialog `id` to `actor` as leg `seq`'s, those
    /// that came before first, until the returned guard is dropped.
    pub(crate) fn register(
        &self,
        id: &DialogId,
        actor: mpsc::UnboundedSender<Msg>,
        seq: u32,
    ) -> RouteGuard {
        let key = key_of(id);
        let route = Route { actor, seq };
        let mut table = lock(&self.table);
        if let Some(parked) = table.parked.remove(&key) {
            for state in parked.states {
                route.deliver(state);
            }
        }
        table.routes.insert(key.clone(), route);
        RouteGuard {
            table: self.table.clone(),
            key,
        }
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps a dialog's route; dropping it stops the routing.
pub(crate) struct RouteGuard {
    table: Arc<Mutex<Table>>,
    key: Key,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        lock(&self.table).routes.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rsipstack::dialog::dialog::TerminatedReason;

    fn id(call: &str, tag: &str, remote: &str) -> DialogId {
        DialogId {
            call_id: call.into(),
            local_tag: tag.into(),
            remote_tag: remote.into(),
        }
    }

    fn received(rx: &mut mpsc::UnboundedReceiver<Msg>) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Dialog { seq, state } = msg {
                let what = match *state {
                    DialogState::Calling(_) => "calling",
                    DialogState::Trying(_) => "trying",
                    DialogState::Terminated(..) => "terminated",
                    _ => "other",
                };
                out.push((seq, what.to_string()));
            }
        }
        out
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn states_reach_the_leg_that_owns_the_dialog() {
        let router = DialogRouter::start();
        let (a_tx, mut a_rx) = mpsc::unbounded_channel();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel();
        let _a = router.register(&id("c1", "t1", ""), a_tx, 1);
        let _b = router.register(&id("c1", "t2", ""), b_tx, 2);
        let tx = router.sender();
        // The peer's tag arrived: still the same dialog.
        tx.send(DialogState::Trying(id("c1", "t1", "peer")))
            .unwrap();
        tx.send(DialogState::Terminated(
            id("c1", "t2", "x"),
            TerminatedReason::UasBye,
        ))
        .unwrap();
        settle().await;
        assert_eq!(received(&mut a_rx), vec![(1, "trying".to_string())]);
        assert_eq!(received(&mut b_rx), vec![(2, "terminated".to_string())]);
    }

    #[tokio::test]
    async fn early_states_wait_for_registration_in_order() {
        let router = DialogRouter::start();
        let tx = router.sender();
        tx.send(DialogState::Calling(id("c2", "t", ""))).unwrap();
        tx.send(DialogState::Trying(id("c2", "t", ""))).unwrap();
        settle().await;
        let (a_tx, mut a_rx) = mpsc::unbounded_channel();
        let guard = router.register(&id("c2", "t", ""), a_tx, 7);
        tx.send(DialogState::Terminated(
            id("c2", "t", "r"),
            TerminatedReason::UacBye,
        ))
        .unwrap();
        settle().await;
        assert_eq!(
            received(&mut a_rx),
            vec![
                (7, "calling".to_string()),
                (7, "trying".to_string()),
                (7, "terminated".to_string())
            ]
        );
        // Once the guard is gone the route is too.
        drop(guard);
        assert!(lock(&router.table).routes.is_empty());
        assert!(lock(&router.table).parked.is_empty());
    }

    #[test]
    fn parked_states_expire_and_are_bounded() {
        let mut table = Table::default();
        for i in 0..MAX_PARKED + 10 {
            table.dispatch(DialogState::Calling(id(&format!("c{i}"), "t", "")));
        }
        assert_eq!(table.parked.len(), MAX_PARKED);
        let later = Instant::now() + PARK_TTL + SWEEP_EVERY;
        table.sweep(later);
        assert!(table.parked.is_empty());
    }
}
