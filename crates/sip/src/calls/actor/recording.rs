//! Recording a call: start, stop, pause and resume on the actor, and the
//! writer thread that owns the [`Recorder`].
//!
//! # Why a writer thread
//!
//! The relay hands each recorded leg's decoded frames to a [`RecordSink`]
//! on the session's packet task, which must never block. The recorder
//! itself buffers and writes once a second (a 32 kB write, a header patch
//! and a flush): cheap on a local disk, but a stalled disk or a network
//! file system would stall every packet of the call. So the sink only
//! `try_send`s the frame on a bounded channel ([`FRAME_QUEUE`] frames, 2.5
//! s of stereo audio) to a thread that owns the recorder; when the thread
//! falls that far behind, frames are dropped (counted, logged at the end)
//! and the recorder pads the gap with silence, keeping the two channels in
//! step. Pause, resume and finish go through the same channel, so they
//! apply exactly between the frames around them. One OS thread per
//! recording (not the tokio blocking pool, which is shared and bounded).
//!
//! # Messages
//!
//! A caller's message (voicemail, [`CallCommand::RecordMessage`]) uses the
//! same machinery with one difference in purpose: leg A alone, a mono
//! file, the message store, and its end published as
//! [`CallNotice::MessageRecorded`] instead of going to the call recorder.
//! A call has one recording at a time: a message is refused while the call
//! is recorded and the call recording while a message is.

use super::*;
use omnivox_media::record::{RecordError, Recorder, RecorderConfig, RecordingKey, RecordingStore};
use omnivox_media::relay::RecordSink;
use omnivox_media::{Channel, Frame};
use std::sync::atomic::AtomicU64;

use super::super::model::{
    FinishedRecording, RecordedChannel, RecordedLeg, RecordedMessage, RecordingPolicy,
    recording_key,
};

/// Frames the sink may queue for the writer thread (250 = 2.5 s of both
/// channels).
const FRAME_QUEUE: usize = 250;

/// What the writer thread is told.
enum ToWriter {
    Frame(Channel, Box<Frame>),
    Pause,
    Resume,
    Finish(oneshot::Sender<Result<omnivox_media::record::RecordingMeta, RecordError>>),
}

/// Mean absolute amplitude from which a 20 ms frame counts as speech
/// (about -47 dBFS: above a line's hiss, below the quiet start of a
/// word).
const SPEECH_MEAN_ABS: u32 = 150;

/// The relay's side: frames to the writer thread, never blocking.
struct ChannelSink {
    tx: mpsc::Sender<ToWriter>,
    dropped: Arc<AtomicU64>,
    /// Frames with speech, for a message.
    voiced: Option<Arc<AtomicU64>>,
}

fn is_speech(frame: &Frame) -> bool {
    let sum: u32 = frame.iter().map(|s| u32::from(s.unsigned_abs())).sum();
    sum / frame.len() as u32 >= SPEECH_MEAN_ABS
}

impl RecordSink for ChannelSink {
    fn push(&mut self, ch: Channel, frame: &Frame) {
        if let Some(voiced) = &self.voiced
            && ch == Channel::Customer
            && is_speech(frame)
        {
            voiced.fetch_add(1, Ordering::Relaxed);
        }
        if self
            .tx
            .try_send(ToWriter::Frame(ch, Box::new(*frame)))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a recording is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// The call's recording: stereo, both parties, to the call recorder.
    Call,
    /// A caller's message: mono, leg A, published with its tag.
    Message { tag: u64 },
}

/// A recording in progress on the call.
pub(super) struct ActiveRecording {
    purpose: Purpose,
    id: Uuid,
    key: RecordingKey,
    started_at: DateTime<Utc>,
    tx: mpsc::Sender<ToWriter>,
    dropped: Arc<AtomicU64>,
    /// Frames with speech (messages only).
    voiced: Option<Arc<AtomicU64>>,
    paused: bool,
    /// Every leg recorded so far (a transfer adds the new party).
    legs: Vec<RecordedLeg>,
    /// The media legs currently fed to the recorder.
    feeding: Vec<(MediaLegId, Channel)>,
}

fn writer_thread(mut recorder: Recorder, mut rx: mpsc::Receiver<ToWriter>) {
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            ToWriter::Frame(ch, frame) => {
                if let Err(e) = recorder.push(ch, &frame) {
                    // Out of space or over the WAV limit: keep what is
                    // written (dropping the recorder completes the file).
                    tracing::warn!(recording = recorder.key().recording(), error = %e,
                        "recording write failed; recording ended");
                    return;
                }
            }
            ToWriter::Pause => recorder.pause(),
            ToWriter::Resume => recorder.resume(),
            ToWriter::Finish(reply) => {
                let _ = reply.send(recorder.finish());
                return;
            }
        }
    }
    // Every sender dropped without a finish (the call task failed): the
    // recorder's drop flushes and leaves a valid file.
}

fn channel_name(ch: Channel) -> RecordedChannel {
    match ch {
        Channel::Customer => RecordedChannel::Customer,
        Channel::Agent => RecordedChannel::Agent,
    }
}

impl Actor {
    /// Which side each of the call's parties (A and B, not a consult leg)
    /// goes to: a leg with an agent is the agent; when both or neither
    /// have one, A is the customer and B the agent.
    fn record_channels(&self) -> Vec<(LegId, MediaLegId, Channel)> {
        if matches!(
            self.recording.as_ref().map(|r| r.purpose),
            Some(Purpose::Message { .. })
        ) {
            return self
                .slot(LegId::A)
                .map(|io| vec![(LegId::A, io.media.id(), Channel::Customer)])
                .unwrap_or_default();
        }
        let legs: Vec<(LegId, MediaLegId, bool)> = [LegId::A, LegId::B]
            .into_iter()
            .filter_map(|l| {
                let io = self.slot(l)?;
                Some((l, io.media.id(), io.agent_id.is_some()))
            })
            .collect();
        let agents = legs.iter().filter(|l| l.2).count();
        legs.into_iter()
            .map(|(l, m, agent)| {
                let ch = if agents == 1 {
                    if agent {
                        Channel::Agent
                    } else {
                        Channel::Customer
                    }
                } else if l == LegId::A {
                    Channel::Customer
                } else {
                    Channel::Agent
                };
                (l, m, ch)
            })
            .collect()
    }

    /// Starts recording the call's parties.
    pub(super) async fn start_recording(&mut self) -> Result<(), CallError> {
        match self.recording.as_ref().map(|r| r.purpose) {
            Some(Purpose::Call) => {
                return Err(CallError::Conflict("the call is already recorded".into()));
            }
            Some(Purpose::Message { .. }) => {
                return Err(CallError::Conflict(
                    "the caller is leaving a message".into(),
                ));
            }
            None => {}
        }
        if self.call.state().is_ended() {
            return Err(CallError::Conflict("the call has ended".into()));
        }
        let Some(store) = self.inner.recordings.clone() else {
            return Err(CallError::Unavailable("recording is not configured".into()));
        };
        match self.recording_policy().await {
            Ok(RecordingPolicy::None) => {
                return Err(CallError::Conflict(
                    "the organization does not record calls".into(),
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(CallError::Unavailable(e.to_string())),
        }
        self.begin_recording(store, Purpose::Call).await
    }

    /// `CallCommand::RecordMessage`.
    pub(super) async fn record_message(&mut self, tag: u64) -> Result<(), CallError> {
        if tag == 0 {
            return Err(CallError::Invalid("a message's tag must not be 0".into()));
        }
        self.require_waiting("messages")?;
        if self.recording.is_some() {
            return Err(CallError::Conflict(
                "the call is recorded or a message is being recorded".into(),
            ));
        }
        let Some(store) = self.inner.messages.clone() else {
            return Err(CallError::Unavailable("messages are not configured".into()));
        };
        self.begin_recording(store, Purpose::Message { tag }).await
    }

    /// `CallCommand::StopMessage`.
    pub(super) async fn stop_message(&mut self) -> Result<(), CallError> {
        if matches!(
            self.recording.as_ref().map(|r| r.purpose),
            Some(Purpose::Message { .. })
        ) {
            self.finish_recording().await;
        }
        Ok(())
    }

    /// The call's recording (not a message), for stop, pause and resume.
    fn call_recording(&mut self) -> Result<&mut ActiveRecording, CallError> {
        self.recording
            .as_mut()
            .filter(|r| r.purpose == Purpose::Call)
            .ok_or_else(|| CallError::Conflict("the call is not recorded".into()))
    }

    async fn begin_recording(
        &mut self,
        store: Arc<dyn RecordingStore>,
        purpose: Purpose,
    ) -> Result<(), CallError> {
        let id = Uuid::now_v7();
        let key = recording_key(self.tenant, self.id, id)
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        let message = matches!(purpose, Purpose::Message { .. });
        let config = RecorderConfig {
            mono: message,
            ..RecorderConfig::default()
        };
        let recorder = {
            let (store, key) = (store.clone(), key.clone());
            tokio::task::spawn_blocking(move || Recorder::start(store, key, config))
                .await
                .map_err(|e| CallError::Unavailable(e.to_string()))?
                .map_err(|e| {
                    tracing::warn!(call = %self.id, error = %e, "recording not started");
                    CallError::Unavailable(format!("recording not started: {e}"))
                })?
        };
        let (tx, rx) = mpsc::channel(FRAME_QUEUE);
        std::thread::Builder::new()
            .name(format!("rec-{}", &self.id.simple().to_string()[..8]))
            .spawn(move || writer_thread(recorder, rx))
            .map_err(|e| CallError::Unavailable(format!("no recording thread: {e}")))?;
        self.recording = Some(ActiveRecording {
            purpose,
            id,
            key,
            started_at: Utc::now(),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            voiced: message.then(|| Arc::new(AtomicU64::new(0))),
            paused: false,
            legs: Vec::new(),
            feeding: Vec::new(),
        });
        self.feed_recorder().await;
        tracing::info!(call = %self.id, recording = %id, message, "recording started");
        Ok(())
    }

    /// Points the recorder at the call's current parties (at start and
    /// after a bridge changed them: transfers).
    pub(super) async fn feed_recorder(&mut self) {
        let channels = self.record_channels();
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let feeding: Vec<(MediaLegId, Channel)> =
            channels.iter().map(|(_, m, c)| (*m, *c)).collect();
        if feeding == rec.feeding {
            return;
        }
        for (leg, _, ch) in &channels {
            let recorded = RecordedLeg {
                leg: *leg,
                channel: channel_name(*ch),
            };
            if !rec.legs.contains(&recorded) {
                rec.legs.push(recorded);
            }
        }
        rec.feeding = feeding.clone();
        let sink = Box::new(ChannelSink {
            tx: rec.tx.clone(),
            dropped: rec.dropped.clone(),
            voiced: rec.voiced.clone(),
        });
        if let Err(e) = self.media.record(sink, feeding).await {
            tracing::warn!(call = %self.id, error = %e, "recorder not fed");
        }
    }

    /// Pauses or resumes the recording.
    pub(super) async fn pause_recording(&mut self, pause: bool) -> Result<(), CallError> {
        let rec = self.call_recording()?;
        if rec.paused == pause {
            let what = if pause { "paused" } else { "running" };
            return Err(CallError::Conflict(format!(
                "the recording is already {what}"
            )));
        }
        let msg = if pause {
            ToWriter::Pause
        } else {
            ToWriter::Resume
        };
        rec.tx
            .send(msg)
            .await
            .map_err(|_| CallError::Unavailable("the recording failed".into()))?;
        rec.paused = pause;
        Ok(())
    }

    /// Stops the recording on request.
    pub(super) async fn stop_recording(&mut self) -> Result<(), CallError> {
        self.call_recording()?;
        self.finish_recording().await;
        Ok(())
    }

    /// Finishes the recording, if any: no more frames, the file completed,
    /// its metadata to the call recorder (a message's to the notices).
    pub(super) async fn finish_recording(&mut self) {
        let Some(rec) = self.recording.take() else {
            return;
        };
        // The sink comes back; dropping it closes its side of the channel.
        if let Err(e) = self.media.stop_record().await {
            tracing::debug!(call = %self.id, error = %e, "media session already closed");
        }
        let (reply, done) = oneshot::channel();
        if rec.tx.send(ToWriter::Finish(reply)).await.is_err() {
            tracing::warn!(call = %self.id, recording = %rec.id, "recording writer gone");
            return;
        }
        let meta = match done.await {
            Ok(Ok(meta)) => meta,
            Ok(Err(e)) => {
                tracing::warn!(call = %self.id, recording = %rec.id, error = %e,
                    "recording not finished");
                return;
            }
            Err(_) => {
                tracing::warn!(call = %self.id, recording = %rec.id, "recording writer gone");
                return;
            }
        };
        let dropped = rec.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(call = %self.id, recording = %rec.id, dropped,
                "recording writer fell behind; frames written as silence");
        }
        tracing::info!(call = %self.id, recording = %rec.id,
            duration_ms = meta.duration.as_millis() as u64, "recording finished");
        debug_assert_eq!(meta.key, rec.key);
        if let Purpose::Message { tag } = rec.purpose {
            let frames = rec.voiced.map_or(0, |v| v.load(Ordering::Relaxed));
            let message = RecordedMessage {
                id: rec.id,
                storage_key: meta.key.storage_key(),
                duration_ms: u64::try_from(meta.duration.as_millis()).unwrap_or(u64::MAX),
                voiced_ms: frames * 20,
                size_bytes: meta.size_bytes,
                sha256: meta.sha256_hex(),
            };
            self.publish_notice(CallNotice::MessageRecorded {
                tenant_id: self.tenant,
                call_id: self.id,
                tag,
                message,
            });
            return;
        }
        self.inner.recorder.recording_finished(FinishedRecording {
            id: rec.id,
            call_id: self.id,
            tenant_id: self.tenant,
            started_at: rec.started_at,
            legs: rec.legs,
            meta,
        });
    }

    /// The policy for this call: its campaign's or queue's, else the
    /// tenant's.
    async fn recording_policy(&self) -> Result<RecordingPolicy, crate::DirectoryError> {
        match self.recording_policy {
            Some(p) => Ok(p),
            None => self.inner.directory.recording_policy(self.tenant).await,
        }
    }

    /// `CallCommand::RecordingPolicy`: from now on `policy` rules this
    /// call; a bridged call that must record all starts now.
    pub(super) async fn set_recording_policy(&mut self, policy: RecordingPolicy) {
        self.recording_policy = Some(policy);
        if self.policy_checked && self.recording.is_none() {
            // Applied again at the next bridge, or now on this one.
            self.policy_checked = false;
            if self.call.state() == CallState::Bridged {
                self.on_bridged().await;
            }
        }
    }

    /// At bridge: records the call when the tenant records every call;
    /// otherwise keeps an ongoing recording fed with the new parties.
    pub(super) async fn on_bridged(&mut self) {
        if matches!(
            self.recording.as_ref().map(|r| r.purpose),
            Some(Purpose::Message { .. })
        ) {
            // The caller was connected after all: the message ends here.
            self.finish_recording().await;
        }
        if self.recording.is_some() {
            self.feed_recorder().await;
            return;
        }
        if self.policy_checked {
            return;
        }
        self.policy_checked = true;
        let Some(store) = self.inner.recordings.clone() else {
            return;
        };
        match self.recording_policy().await {
            Ok(RecordingPolicy::All) => {
                if let Err(e) = self.begin_recording(store, Purpose::Call).await {
                    tracing::warn!(call = %self.id, error = %e, "policy recording not started");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(call = %self.id, error = %e, "recording policy unknown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::model::parse_recording_key;
    use super::*;

    #[test]
    fn keys_carry_the_call_and_parse_back() {
        let (t, c, r) = (TenantId::new(), Uuid::now_v7(), Uuid::now_v7());
        let key = recording_key(t, c, r).unwrap();
        assert_eq!(parse_recording_key(&key), Some((t, c, r)));
        let other = RecordingKey::new(t.0.to_string(), "not-a-call").unwrap();
        assert_eq!(parse_recording_key(&other), None);
    }
}
