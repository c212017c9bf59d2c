//! The call's media session: the peers' descriptions into the engine, our
//! descriptions out, bridging, tones, hold, and the engine's events.

use super::*;
use omnivox_media::goertzel::{DtmfConfig, DtmfDetector};
use omnivox_media::prompt::{Player, Prompt};
use omnivox_media::relay::{DtmfVia, PlayOptions};

/// Longest wait for the session's last events when the call ends.
const MEDIA_DRAIN: Duration = Duration::from_secs(2);

/// Length of a digit we send as RFC 4733 events.
pub(super) const DTMF_DURATION: Duration = Duration::from_millis(160);

impl Actor {
    /// The slot whose media leg is `id`.
    fn slot_of_media(&self, id: MediaLegId) -> Option<LegId> {
        SLOTS
            .into_iter()
            .find(|l| self.slot(*l).is_some_and(|io| io.media.id() == id))
    }

    /// The codec `leg` negotiated (PCMU until it has): what offers to the
    /// party it will talk to list first, so no transcoding is needed when
    /// that party takes it.
    pub(super) fn codec_of(&self, leg: LegId) -> Codec {
        self.slot(leg)
            .and_then(|io| io.negotiated)
            .map_or(Codec::Pcmu, |n| n.codec)
    }

    /// Takes the peer's description of `leg` (an offer it made or the
    /// answer to ours) into the engine. An empty body changes nothing.
    pub(super) async fn take_remote(
        &mut self,
        leg: LegId,
        body: &[u8],
    ) -> Result<(), super::super::sdp::SdpError> {
        if body.is_empty() {
            return Ok(());
        }
        let sdp = RemoteSdp::parse(body)?;
        let negotiated = negotiate(&sdp)?;
        self.set_remote(leg, sdp, negotiated).await;
        Ok(())
    }

    /// Gives the engine `leg`'s peer address, codec and direction, and
    /// watches the leg's audio for in-band DTMF when it has no
    /// telephone-event.
    pub(super) async fn set_remote(&mut self, leg: LegId, sdp: RemoteSdp, negotiated: Negotiated) {
        let Some(io) = self.slot_mut(leg) else { return };
        let id = io.media.id();
        let remote = sdp.remote_media(negotiated);
        let in_band = negotiated.telephone_event.is_none() && !io.in_band;
        io.remote = Some(sdp);
        io.negotiated = Some(negotiated);
        if let Err(e) = self.media.set_remote(id, remote).await {
            tracing::warn!(call = %self.id, ?leg, error = %e, "media remote not set");
            return;
        }
        if in_band {
            let detector = DtmfDetector::new(&DtmfConfig::default());
            match self.media.analyze(id, Box::new(detector)).await {
                Ok(()) => {
                    if let Some(io) = self.slot_mut(leg) {
                        io.in_band = true;
                    }
                }
                Err(e) => tracing::debug!(call = %self.id, error = %e, "no in-band DTMF"),
            }
        }
    }

    /// Our answer to the offer `leg` made, in the direction that answers
    /// its own (sendonly while we hold the leg). The same description
    /// (183, then 200) keeps its version.
    pub(super) fn answer_body(&mut self, leg: LegId) -> Option<Vec<u8>> {
        let io = self.slot_mut(leg)?;
        let negotiated = io.negotiated?;
        let theirs = io.remote.as_ref().map(|r| r.direction).unwrap_or_default();
        let mut dir = theirs.answer();
        if io.sent_dir == SdpDirection::SendOnly {
            dir = match dir {
                SdpDirection::SendRecv => SdpDirection::SendOnly,
                SdpDirection::RecvOnly => SdpDirection::Inactive,
                d => d,
            };
        }
        let body = io
            .origin
            .describe(&LocalMedia::answer(io.media.local_rtp(), negotiated, dir));
        io.shown_body = Some(body.clone());
        Some(body)
    }

    /// Our offer to `leg` (a re-INVITE) in `dir`, its current codec first.
    fn offer_body(&mut self, leg: LegId, dir: SdpDirection) -> Option<Vec<u8>> {
        let codec = self.codec_of(leg);
        let io = self.slot_mut(leg)?;
        let body = io
            .origin
            .describe(&LocalMedia::offer(io.media.local_rtp(), codec, dir));
        io.sent_dir = dir;
        io.shown_body = Some(body.clone());
        Some(body)
    }

    /// Our offer in a 2xx to `leg` (an INVITE or re-INVITE without one),
    /// the codec of `talks_to` first; the answer comes with the ACK.
    pub(super) fn offer_in_answer(&mut self, leg: LegId, talks_to: LegId) -> Option<Vec<u8>> {
        let codec = self.codec_of(talks_to);
        let io = self.slot_mut(leg)?;
        let dir = io.sent_dir;
        let body = io
            .origin
            .describe(&LocalMedia::offer(io.media.local_rtp(), codec, dir));
        io.shown_body = Some(body.clone());
        io.ack_answer = true;
        Some(body)
    }

    /// The ACK of a 2xx that carried our offer: its answer goes into the
    /// engine. An unusable answer ends the call (RFC 3261 §13.2.2.4: the
    /// session cannot go on).
    pub(super) async fn on_ack(&mut self, leg: LegId) {
        let Some(io) = self.slot_mut(leg) else { return };
        if !std::mem::take(&mut io.ack_answer) {
            return;
        }
        let ack = io.dialog.as_ref().and_then(|d| d.last_remote_ack());
        let body = ack.map(|a| a.body).unwrap_or_default();
        let r = if body.is_empty() {
            Err(super::super::sdp::SdpError::NoAudio)
        } else {
            self.take_remote(leg, &body).await
        };
        if let Err(e) = r {
            tracing::info!(call = %self.id, ?leg, error = %e, "no usable answer in the ACK");
            if self.slot(leg).is_some_and(|io| io.negotiated.is_none()) {
                let _ = self
                    .apply(CallEvent::Hangup {
                        cause: HangupCause::Unavailable,
                    })
                    .await;
            }
        }
    }

    /// The leg whose early media `leg` (an unanswered inbound leg) gets.
    pub(super) fn early_peer(&self, leg: LegId) -> Option<LegId> {
        let peer = other_leg(leg);
        self.slot(peer)?.remote.as_ref()?;
        Some(peer)
    }

    /// `a` and `b` hear each other (tones on either stop, and a prompt to a
    /// caller answered for an application: a queue's announcement gives
    /// way to the agent).
    pub(super) async fn bridge_media(&mut self, a: LegId, b: LegId) {
        self.stop_tone(a).await;
        self.stop_tone(b).await;
        if self.application.is_some()
            && (a == LegId::A || b == LegId::A)
            && let Some(id) = self.slot(LegId::A).map(|io| io.media.id())
            && let Err(e) = self.media.stop_play(id).await
        {
            tracing::debug!(call = %self.id, error = %e, "prompt not stopped");
        }
        let (Some(ma), Some(mb)) = (
            self.slot(a).map(|io| io.media.id()),
            self.slot(b).map(|io| io.media.id()),
        ) else {
            return;
        };
        if let Err(e) = self.media.bridge(ma, mb).await {
            tracing::warn!(call = %self.id, ?a, ?b, error = %e, "media not bridged");
        }
    }

    /// Plays `tone` to `leg` in a loop (nothing when it already plays it).
    pub(super) async fn play_tone(&mut self, leg: LegId, tone: Tone) {
        let prompt = match tone {
            Tone::Ringback => self.inner.tones.ringback.clone(),
            Tone::Hold => self.inner.tones.hold.clone(),
            // Comes with its own audio: `loop_on`.
            Tone::Music => return,
        };
        if self.slot(leg).is_some_and(|io| io.tone == Some(tone)) {
            return;
        }
        self.loop_on(leg, tone, prompt).await;
    }

    /// Loops `prompt` on `leg` as its `tone`, in place of whatever plays.
    pub(super) async fn loop_on(&mut self, leg: LegId, tone: Tone, prompt: Prompt) {
        let Some(io) = self.slot_mut(leg) else { return };
        io.tone = Some(tone);
        let id = io.media.id();
        let player = Box::new(Player::looping(prompt));
        if let Err(e) = self.media.play(id, player, PlayOptions::default()).await {
            tracing::debug!(call = %self.id, ?leg, error = %e, "tone not played");
        }
    }

    pub(super) async fn stop_tone(&mut self, leg: LegId) {
        let Some(io) = self.slot_mut(leg) else { return };
        if io.tone.take().is_none() {
            return;
        }
        let id = io.media.id();
        if let Err(e) = self.media.stop_play(id).await {
            tracing::debug!(call = %self.id, ?leg, error = %e, "tone not stopped");
        }
    }

    /// Holds `leg`: a `sendonly` re-INVITE with our description, and hold
    /// music to it (only to it: its party hears nothing from it).
    pub(super) async fn hold_leg(&mut self, leg: LegId) {
        if let Some(body) = self.offer_body(leg, SdpDirection::SendOnly) {
            self.reinvite(leg, body).await;
        }
        self.play_tone(leg, Tone::Hold).await;
    }

    /// Takes `leg` off hold: music off, a `sendrecv` re-INVITE.
    pub(super) async fn resume_leg(&mut self, leg: LegId) {
        self.stop_tone(leg).await;
        if let Some(body) = self.offer_body(leg, SdpDirection::SendRecv) {
            self.reinvite(leg, body).await;
        }
    }

    /// Sends `digits` to `leg`: RFC 4733 events when it negotiated
    /// telephone-event, SIP INFO otherwise.
    pub(super) async fn send_digits(&mut self, leg: LegId, digits: &str) -> Result<(), CallError> {
        let Some(io) = self.slot(leg) else {
            return Err(CallError::Conflict("no such leg".into()));
        };
        let rfc4733 = io.negotiated.is_some_and(|n| n.telephone_event.is_some());
        if rfc4733 {
            let id = io.media.id();
            for c in digits.chars() {
                self.media
                    .send_dtmf(id, c, DTMF_DURATION)
                    .await
                    .map_err(|e| CallError::Conflict(e.to_string()))?;
            }
            return Ok(());
        }
        let Some(d) = io.dialog.clone() else {
            return Err(CallError::Conflict("the leg has no dialog".into()));
        };
        super::events::send_dtmf(d, digits.to_string()).await;
        Ok(())
    }

    /// What the media engine reports.
    pub(super) async fn on_media(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Dtmf {
                leg, digit, via, ..
            } => {
                let Some(from) = self.slot_of_media(leg) else {
                    return;
                };
                self.publish_notice(CallNotice::Dtmf {
                    tenant_id: self.tenant,
                    call_id: self.id,
                    leg: from,
                    digit,
                });
                // The engine passes RFC 4733 events on to a party that
                // negotiated telephone-event; one that did not gets INFO.
                // In-band digits reach the party with the audio.
                let peer = other_leg(from);
                let relay = from != LegId::Monitor
                    && via == DtmfVia::Rfc4733
                    && self.slot(peer).is_some_and(|io| {
                        io.answered.is_some()
                            && io.negotiated.is_some_and(|n| n.telephone_event.is_none())
                    });
                if relay && let Some(d) = self.slot(peer).and_then(|io| io.dialog.clone()) {
                    tokio::spawn(super::events::send_dtmf(d, digit.to_string()));
                }
            }
            MediaEvent::Timeout { leg } => {
                let Some(slot) = self.slot_of_media(leg) else {
                    return;
                };
                // Only an answered, unheld leg can time out; the engine
                // fires for early media that never came too.
                if self.call.leg(slot).map(|l| l.state()) == Some(LegState::Answered) {
                    tracing::info!(call = %self.id, leg = ?slot, "no RTP: media timeout");
                    self.feed_leg(
                        slot,
                        LegEvent::Timeout {
                            kind: TimeoutKind::Media,
                        },
                    )
                    .await;
                    // The machine ended the leg (and the call); the BYE to
                    // the silent leg is ours to send.
                    if let Some(LegState::Ended(h)) = self.call.leg(slot).map(|l| l.state()) {
                        self.end_leg(slot, h, EndMethod::Bye);
                    }
                }
            }
            MediaEvent::Quality { leg, report, .. } => {
                self.quality.insert(leg, *report);
            }
            MediaEvent::Detection { leg, detection } => self.on_detection(leg, detection).await,
            MediaEvent::PlayEnded { leg, reason, tag } if tag != 0 => {
                self.on_prompt_ended(leg, reason, tag);
            }
            MediaEvent::PlayEnded { leg, reason, .. } => self.on_play_ended(leg, reason).await,
            MediaEvent::Latched { .. } | MediaEvent::DtmfSent { .. } => {}
        }
    }

    pub(super) async fn media_stats(&self) -> Vec<LegMediaStats> {
        let mut out = Vec::new();
        for leg in SLOTS {
            let Some(io) = self.slot(leg) else { continue };
            if let Ok(stats) = self.media.stats(io.media.id()).await {
                out.push(LegMediaStats {
                    leg,
                    local_rtp: io.media.local_rtp(),
                    codec: io.negotiated.map(|n| n.codec),
                    stats,
                });
            }
        }
        out
    }

    /// Closes `id`'s media leg (its ports go back to the pool).
    pub(super) fn close_media_leg(&self, id: MediaLegId) {
        let media = self.media.clone();
        tokio::spawn(async move {
            let _ = media.close_leg(id).await;
        });
    }

    /// Ends the media session (every port is released) and takes the
    /// final quality of each leg from its last events.
    pub(super) async fn close_media(&mut self) {
        if let Err(e) = self.media.close().await {
            tracing::debug!(call = %self.id, error = %e, "media session already closed");
        }
        // The session flushes its final events, then drops the sender.
        let deadline = tokio::time::Instant::now() + MEDIA_DRAIN;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.media_rx.recv()).await {
            if let MediaEvent::Quality { leg, report, .. } = event {
                self.quality.insert(leg, *report);
            }
        }
    }
}
