//! Voicemail on a live call (see `docs/voicemail.md`): the box's greeting,
//! a beep, the caller's message until a digit, the box's limit or the
//! hangup; then the message is stored, published and notified.
//!
//! A caller gets here from a flow's `voicemail` node or from a queue's
//! overflow to voicemail; either way the call's flow task runs it, so the
//! prompts, digits and the caller's hangup arrive as they do for a flow.
//! A flow's `record` node takes its message the same way
//! ([`Runner::take_message`]), into the box it names or the flow's own, and
//! its flow goes on afterwards.
//! The message's end (`CallNotice::MessageRecorded`) can come after the
//! call has ended (the usual case: the caller hangs up), so the task
//! listens for it on the call notices directly.
//!
//! A message without speech (a caller who hung up at the beep) is
//! discarded with its file. The notification to the box's URL is pending on
//! the message's row from the moment it is stored; [`notify_task`] sends it,
//! signed like a flow webhook, and retries it for a day on a transport
//! error or a 5xx, across restarts. It never holds the caller.

use super::flow::{FlowInput, Next, Runner};
use crate::state::AppState;
use omnivox_domain::TenantId;
use omnivox_flows::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use omnivox_media::prompt::Prompt;
use omnivox_media::record::{RecordingKey, RecordingStore};
use omnivox_sip::{CallCommand, CallNotice, RecordedMessage};
use omnivox_store::Scoped;
use omnivox_store::seal::Field;
use omnivox_store::voicemail::{
    self, DueNotification, NewVoicemailMessage, NotifyOutcome, VoicemailBoxRow, VoicemailMessageRow,
};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Spoken when neither the node nor the box names a greeting.
const DEFAULT_GREETING: &str =
    "Please leave a message after the tone. Press the pound key when you are done.";
/// Spoken to a caller who finished with a key.
const GOODBYE: &str = "Thank you. Goodbye.";
/// How long the message's end may take after the stop or the hangup.
const MESSAGE_SETTLE: Duration = Duration::from_secs(10);
/// How often the notifier looks for notifications due.
const NOTIFY_POLL: Duration = Duration::from_secs(1);
/// Notifications sent per pass (at once).
const NOTIFY_BATCH: u64 = 32;
/// Longest a notification request may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// A notification being sent is not due again before this (another node,
/// or this one after a crash mid-attempt, takes it up after it).
const NOTIFY_LEASE: Duration = Duration::from_secs(60);
/// Retries are at most this far apart ...
const NOTIFY_MAX_WAIT: Duration = Duration::from_secs(3600);
/// ... and end this long after the message was left.
const NOTIFY_GIVE_UP: Duration = Duration::from_secs(24 * 3600);

/// The beep before the message: 400 ms of 1 kHz.
fn beep() -> Prompt {
    let samples: Vec<i16> = (0..3_200)
        .map(|i| {
            ((f64::from(i) * 1_000.0 * std::f64::consts::TAU / 8_000.0).sin() * 8_000.0) as i16
        })
        .collect();
    Prompt::from_samples(samples)
}

impl Runner {
    /// Takes a message for `mailbox` (a box's name or id); `greeting`, a
    /// prompt name, replaces the box's own.
    pub(super) async fn voicemail(&mut self, mailbox: &str, greeting: Option<&str>) -> Next {
        let s = Scoped::new(self.state.store.reader(), self.call.tenant);
        let mailbox_row = match s.find_voicemail_box(mailbox).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::warn!(call_id = %self.call.call, mailbox, "no such voicemail box: hanging up");
                return Next::Hangup;
            }
            Err(e) => {
                tracing::error!(call_id = %self.call.call, mailbox, error = %e,
                    "voicemail box not read: hanging up");
                return Next::Hangup;
            }
        };
        self.leave_message(&mailbox_row, greeting).await
    }

    /// Greeting, beep, message, goodbye.
    pub(super) async fn leave_message(
        &mut self,
        mailbox: &VoicemailBoxRow,
        greeting: Option<&str>,
    ) -> Next {
        let named = greeting.or(mailbox.greeting_prompt.as_deref());
        let prompt = match named {
            Some(name) => self.prompt(name).await,
            None => None,
        };
        let prompt = match prompt {
            Some(p) => Some(p),
            None => self.tts.synthesize(DEFAULT_GREETING, None).await.ok(),
        };
        // A key skips the greeting.
        let mut skipped = String::new();
        if let Some(p) = prompt
            && !self.play(p, Some(&mut skipped)).await
        {
            return Next::Done;
        }
        let limit = Duration::from_secs(u64::try_from(mailbox.max_message_seconds).unwrap_or(0));
        if let Taken::NotStarted = self.take_message(mailbox, limit, true).await {
            return if self.ended { Next::Done } else { Next::Hangup };
        }
        if self.ended {
            return Next::Done;
        }
        if let Ok(p) = self.tts.synthesize(GOODBYE, None).await {
            self.play(p, None).await;
        }
        Next::Hangup
    }

    /// The beep (with `beep_first`), then the caller's message for `mailbox`
    /// until a key (not kept), `limit` or the hangup; a message with speech
    /// is stored, published and notified ([`deliver`]). Voicemail and a
    /// flow's `record` node both take their messages here.
    pub(super) async fn take_message(
        &mut self,
        mailbox: &VoicemailBoxRow,
        limit: Duration,
        beep_first: bool,
    ) -> Taken {
        if beep_first && !self.play(beep(), None).await {
            return Taken::NotStarted;
        }
        let Some(sip) = self.state.sip.clone() else {
            return Taken::NotStarted;
        };
        // Listening before the recording starts: its end cannot be missed.
        let mut notices = sip.calls().subscribe();
        self.tags += 1;
        let tag = self.tags;
        if !self.command(CallCommand::RecordMessage { tag }).await {
            return Taken::NotStarted;
        }
        let deadline = Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                // The limit, the hangup, or a key: the message ends.
                Err(_) | Ok(None) | Ok(Some(FlowInput::Digit(_))) => break,
                Ok(Some(_)) => {}
            }
        }
        if !self.ended {
            self.command(CallCommand::StopMessage).await;
        }
        match recorded(&mut notices, self.call.call, tag).await {
            Some(message) => {
                let from = MessageFrom {
                    call: self.call.call,
                    caller: self.call.caller.clone(),
                    called: self.call.called.clone(),
                };
                match deliver(&self.state, self.call.tenant, mailbox, from, message).await {
                    Some(row) => Taken::Kept {
                        id: row.id,
                        duration_ms: row.duration_ms,
                    },
                    None => Taken::Discarded,
                }
            }
            None => {
                tracing::error!(call_id = %self.call.call, tag, "the message's end never came");
                Taken::Discarded
            }
        }
    }
}

/// How [`Runner::take_message`] went.
pub(super) enum Taken {
    /// Nothing was recorded: the caller left before the recording began,
    /// or it could not begin (no SIP engine, the command failed).
    NotStarted,
    /// A recording was made and none kept: no speech in it, not stored,
    /// or its end never came.
    Discarded,
    /// The message was stored (and published, notified) with this id.
    Kept { id: Uuid, duration_ms: i64 },
}

/// The end of the message `tag` of `call`, if it comes in time.
async fn recorded(
    notices: &mut broadcast::Receiver<CallNotice>,
    call: Uuid,
    tag: u64,
) -> Option<RecordedMessage> {
    let wait = async {
        loop {
            match notices.recv().await {
                Ok(CallNotice::MessageRecorded {
                    call_id,
                    tag: t,
                    message,
                    ..
                }) if call_id == call && t == tag => return Some(message),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(call_id = %call, missed = n, "voicemail missed call notices");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(MESSAGE_SETTLE, wait)
        .await
        .ok()
        .flatten()
}

/// Who left a message.
struct MessageFrom {
    call: Uuid,
    caller: String,
    called: String,
}

/// Stores the message (or discards a silent one), publishes it and
/// notifies the box's URL; the stored message.
async fn deliver(
    state: &AppState,
    tenant: TenantId,
    mailbox: &VoicemailBoxRow,
    from: MessageFrom,
    m: RecordedMessage,
) -> Option<VoicemailMessageRow> {
    if m.voiced_ms == 0 {
        tracing::info!(call_id = %from.call, mailbox_id = %mailbox.id,
            "a message without speech discarded");
        if let Ok(key) = RecordingKey::from_storage_key(&m.storage_key)
            && let Err(e) = state.voicemail.delete(&key)
        {
            tracing::warn!(call_id = %from.call, error = %e, "silent message's file not removed");
        }
        return None;
    }
    let new = NewVoicemailMessage {
        id: m.id,
        box_id: mailbox.id,
        call_id: from.call,
        caller: from.caller,
        called: from.called,
        duration_ms: i64::try_from(m.duration_ms).unwrap_or(i64::MAX),
        size_bytes: i64::try_from(m.size_bytes).unwrap_or(i64::MAX),
        sha256: m.sha256,
        storage_key: m.storage_key,
    };
    let row = match Scoped::new(state.store.writer(), tenant)
        .add_voicemail_message(new)
        .await
    {
        Ok(row) => row,
        Err(e) => {
            // The file stays until the next start, whose repair pass audits
            // and removes it (routes::voicemail::repair).
            tracing::error!(call_id = %from.call, mailbox_id = %mailbox.id, error = %e,
                "voicemail message not stored");
            return None;
        }
    };
    tracing::info!(call_id = %row.call_id, mailbox_id = %mailbox.id, message_id = %row.id,
        duration_ms = row.duration_ms, "voicemail message left");
    let body = notification(tenant, mailbox, &row);
    state.events.publish(
        tenant,
        "voicemail.message",
        Some(mailbox.id.to_string()),
        body,
    );
    Some(row)
}

/// What the event and the notification carry.
fn notification(
    tenant: TenantId,
    mailbox: &VoicemailBoxRow,
    m: &VoicemailMessageRow,
) -> serde_json::Value {
    serde_json::json!({
        "event": "voicemail.message",
        "tenant_id": tenant.0,
        "box": {
            "id": mailbox.id,
            "name": mailbox.name,
            "owner": { "kind": mailbox.owner_kind, "id": mailbox.owner_id },
        },
        "message": {
            "id": m.id,
            "call_id": m.call_id,
            "caller": m.caller,
            "called": m.called,
            "duration_ms": m.duration_ms,
            "created_at": m.created_at,
            "audio": format!(
                "/api/v1/tenants/{}/voicemail/messages/{}/audio", tenant.0, m.id
            ),
        },
    })
}

/// Sends the pending voicemail notifications (kept on the message rows, so
/// a restart resumes them) until `stop`. Each is POSTed to the box's URL as
/// it is at the time, signed with its secret; a transport error or a 5xx is
/// tried again after `inbound.voicemail_notify_retry_secs`, doubled each
/// time up to an hour, until a day after the message; another answer ends
/// it (`delivered` for a 2xx, `failed` otherwise).
pub async fn notify_task(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(NOTIFY_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let due = match voicemail::due_notifications(
            state.store.reader(),
            omnivox_store::now(),
            NOTIFY_BATCH,
        )
        .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "voicemail notifications not read");
                continue;
            }
        };
        let mut sending = tokio::task::JoinSet::new();
        for d in due {
            let state = state.clone();
            sending.spawn(async move { notify_one(&state, d).await });
        }
        while sending.join_next().await.is_some() {}
    }
}

/// One attempt at one notification, if no one else took it first.
async fn notify_one(state: &AppState, d: DueNotification) {
    let scoped = Scoped::new(state.store.writer(), d.tenant);
    let lease = omnivox_store::now() + NOTIFY_LEASE;
    match scoped
        .claim_voicemail_notification(d.message, d.due, lease)
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(message_id = %d.message, error = %e, "voicemail notification not claimed");
            return;
        }
    }
    let outcome = attempt(state, d).await;
    match &outcome {
        NotifyOutcome::Delivered => {
            tracing::info!(message_id = %d.message, "voicemail notification delivered");
        }
        NotifyOutcome::Retry { at, error } => {
            tracing::warn!(message_id = %d.message, %error, retry_at = %at,
                "voicemail notification failed; will retry");
        }
        NotifyOutcome::Failed { error } => {
            tracing::warn!(message_id = %d.message, %error, "voicemail notification given up");
        }
        NotifyOutcome::Dropped => {
            tracing::info!(message_id = %d.message, "voicemail box no longer notifies");
        }
    }
    if let Err(e) = scoped
        .record_voicemail_notification(d.message, outcome)
        .await
    {
        // Still pending under the lease: tried again when it runs out.
        tracing::warn!(message_id = %d.message, error = %e, "voicemail notification outcome not kept");
    }
}

async fn attempt(state: &AppState, d: DueNotification) -> NotifyOutcome {
    let reader = Scoped::new(state.store.reader(), d.tenant);
    let found = async {
        let message = reader.get_voicemail_message(d.message).await?;
        let mailbox = reader.get_voicemail_box(message.box_id).await?;
        Ok::<_, omnivox_store::StoreError>((message, mailbox))
    }
    .await;
    let (message, mailbox) = match found {
        Ok(found) => found,
        // Deleted meanwhile (with its box, or on its own): nothing to say.
        Err(omnivox_store::StoreError::NotFound) => return NotifyOutcome::Dropped,
        Err(e) => return retry_or_give_up(state, d, None, format!("store: {e}")),
    };
    let (Some(url), Some(secret)) = (&mailbox.notify_url, &mailbox.notify_secret) else {
        return NotifyOutcome::Dropped;
    };
    let secret = match state.sealer.open(Field::NotifySecret, secret) {
        Ok(s) => s,
        Err(e) => {
            return NotifyOutcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let body = notification(d.tenant, &mailbox, &message).to_string();
    let private = state.config.inbound.private_webhooks;
    match post_signed(url, &secret, body, private).await {
        Posted::Delivered => NotifyOutcome::Delivered,
        Posted::Refused(error) => NotifyOutcome::Failed { error },
        Posted::Failed(error) => retry_or_give_up(state, d, Some(&message), error),
    }
}

/// The next attempt's time, or the end when it would fall more than a day
/// after the message.
fn retry_or_give_up(
    state: &AppState,
    d: DueNotification,
    message: Option<&VoicemailMessageRow>,
    error: String,
) -> NotifyOutcome {
    let attempts = message.map_or(1, |m| m.notify_attempts.saturating_add(1));
    let base = Duration::from_secs(state.config.inbound.voicemail_notify_retry_secs);
    let wait = base
        .saturating_mul(1u32 << attempts.clamp(1, 20).saturating_sub(1))
        .min(NOTIFY_MAX_WAIT);
    let at = omnivox_store::now() + wait;
    let left_at = message.map_or(d.due, |m| m.created_at);
    if at <= left_at + NOTIFY_GIVE_UP {
        NotifyOutcome::Retry { at, error }
    } else {
        NotifyOutcome::Failed {
            error: format!("{error} (given up after {attempts} attempts)"),
        }
    }
}

enum Posted {
    Delivered,
    /// Worth another try: a transport error or a 5xx.
    Failed(String),
    /// Not worth another: a bad or refused URL, another answer.
    Refused(String),
}

/// POSTs `body` to `url`, signed with `secret` (never logged).
async fn post_signed(url: &str, secret: &str, body: String, private: bool) -> Posted {
    let client = match super::webhook::client_for(url, private) {
        Ok(c) => c,
        Err(e) => return Posted::Refused(e),
    };
    let ts = omnivox_store::now().timestamp();
    let signature = match sign(secret.as_bytes(), ts, &body) {
        Ok(s) => s,
        Err(e) => return Posted::Refused(format!("not signed: {e}")),
    };
    let sent = client
        .post(url)
        .timeout(NOTIFY_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Posted::Delivered,
        Ok(r) if r.status().is_server_error() => {
            Posted::Failed(format!("HTTP {}", r.status().as_u16()))
        }
        Ok(r) => Posted::Refused(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Posted::Failed(super::webhook::describe(e)),
    }
}
