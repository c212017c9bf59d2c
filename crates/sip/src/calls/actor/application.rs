//! Calls Omnivox answers itself for an application (a DID routed to a
//! queue or a flow): the caller hears music while the application offers
//! the call to agents, one ringing offer at a time, or the prompts a flow
//! plays.
//!
//! An offer rings B; the caller's music goes on until B answers and is
//! bridged. A failed, timed-out or withdrawn offer ends B only and the
//! caller waits for the next. A new offer while one still rings withdraws
//! it first and is dialled once B's leg is gone. Every offer's end is
//! published as [`CallNotice::OfferEnded`].

use super::*;
use crate::calls::model::{APPLICATION_LIMIT, Application};
use omnivox_domain::call::LegChange;
use omnivox_media::prompt::{Player, Prompt};
use omnivox_media::relay::{PlayEnd, PlayOptions};

impl Actor {
    /// Answers leg A (an inbound call) for `application`: 200 OK with our
    /// description, hold music, and [`CallNotice::Answered`].
    pub(super) async fn answer_for(
        &mut self,
        application: Application,
        caller: String,
        did: Option<String>,
    ) {
        self.application = Some(application);
        self.perform(CallAction::Answer { leg: LegId::A }).await;
        self.feed_leg(LegId::A, LegEvent::Answer).await;
        if !self
            .call
            .leg(LegId::A)
            .is_some_and(|l| l.state().is_answered())
        {
            return;
        }
        if matches!(application, Application::Queue { .. }) {
            self.play_tone(LegId::A, Tone::Hold).await;
        }
        self.park_deadline = Some(Instant::now() + APPLICATION_LIMIT);
        self.publish_notice(CallNotice::Answered {
            tenant_id: self.tenant,
            call_id: self.id,
            application,
            caller,
            did,
        });
    }

    /// Offers, prompts and music (`what`) go to a caller answered for an
    /// application and not yet connected to anyone.
    pub(super) fn require_waiting(&self, what: &str) -> Result<MediaLegId, CallError> {
        if self.application.is_none() {
            return Err(CallError::Conflict(format!(
                "only calls answered for a queue or a flow take {what}"
            )));
        }
        self.require_answered(LegId::A)?;
        if self
            .call
            .leg(LegId::B)
            .is_some_and(|l| l.state().is_answered())
        {
            return Err(CallError::Conflict("the call is already connected".into()));
        }
        self.slot(LegId::A)
            .map(|io| io.media.id())
            .ok_or_else(|| CallError::Conflict("the caller has no media".into()))
    }

    /// `CallCommand::Play`.
    pub(super) async fn play_prompt(
        &mut self,
        prompt: Prompt,
        tag: u64,
        barge_in: bool,
    ) -> Result<(), CallError> {
        if tag == 0 {
            return Err(CallError::Invalid("a prompt's tag must not be 0".into()));
        }
        if prompt.is_empty() {
            return Err(CallError::Invalid("the prompt has no audio".into()));
        }
        let id = self.require_waiting("prompts")?;
        // The music's end is untagged and goes unreported.
        if let Some(io) = self.slot_mut(LegId::A) {
            io.tone = None;
        }
        let options = PlayOptions {
            stop_on_dtmf: barge_in,
            tag,
        };
        self.media
            .play(id, Box::new(Player::once(prompt)), options)
            .await
            .map_err(|e| CallError::Conflict(format!("prompt not played: {e}")))
    }

    /// `CallCommand::StopPlay`: a prompt (not music) stops.
    pub(super) async fn stop_prompt(&mut self) -> Result<(), CallError> {
        let id = self.require_waiting("prompts")?;
        if self.slot(LegId::A).is_some_and(|io| io.tone.is_some()) {
            return Ok(());
        }
        self.media
            .stop_play(id)
            .await
            .map_err(|e| CallError::Conflict(format!("prompt not stopped: {e}")))
    }

    /// `CallCommand::Music`: the application's own music, or hold music.
    pub(super) async fn music(&mut self, music: Option<Prompt>) -> Result<(), CallError> {
        if music.as_ref().is_some_and(Prompt::is_empty) {
            return Err(CallError::Invalid("the music has no audio".into()));
        }
        self.require_waiting("music")?;
        match music {
            Some(music) => self.loop_on(LegId::A, Tone::Music, music).await,
            None => self.play_tone(LegId::A, Tone::Hold).await,
        }
        Ok(())
    }

    /// A tagged playback (a prompt) on leg A ended.
    pub(super) fn on_prompt_ended(&self, leg: MediaLegId, reason: PlayEnd, tag: u64) {
        if self.slot(LegId::A).is_some_and(|io| io.media.id() == leg) {
            self.publish_notice(CallNotice::PromptEnded {
                tenant_id: self.tenant,
                call_id: self.id,
                tag,
                reason: reason.into(),
            });
        }
    }

    /// `CallCommand::Offer`.
    pub(super) async fn offer(&mut self, to: Endpoint, ring: Duration) -> Result<(), CallError> {
        self.require_waiting("offers")?;
        if self.announcement.is_some() {
            return Err(CallError::Conflict("a message is being played".into()));
        }
        self.check_endpoint(&to).await?;
        if self.slot(LegId::B).is_some() {
            // The previous offer is still on its way out.
            self.next_offer = Some((to, ring));
            if self.call.offering() {
                let _ = self.apply(CallEvent::CancelOffer).await;
            }
            return Ok(());
        }
        self.start_offer(to, ring).await
    }

    async fn start_offer(&mut self, to: Endpoint, ring: Duration) -> Result<(), CallError> {
        self.pending[slot_index(LegId::B)] = Some(to.clone());
        self.offered = Some(to);
        if let Err(e) = self.apply(CallEvent::Offer).await {
            self.pending[slot_index(LegId::B)] = None;
            self.offered = None;
            return Err(e);
        }
        if let Some(io) = self.slot_mut(LegId::B)
            && io.ring_deadline.is_some()
        {
            io.ring_deadline = Some(Instant::now() + ring);
        }
        Ok(())
    }

    /// `CallCommand::CancelOffer`: withdraws the ringing offer, if any.
    pub(super) async fn cancel_offer(&mut self) -> Result<(), CallError> {
        self.next_offer = None;
        let ringing = self
            .call
            .leg(LegId::B)
            .is_some_and(|l| l.state().is_pending());
        if self.call.offering() && ringing {
            self.apply(CallEvent::CancelOffer).await?;
        }
        Ok(())
    }

    /// After each machine step: an offer whose leg answered or ended is
    /// over.
    pub(super) fn note_offer(&mut self, legs: &[LegChange]) {
        if self.offered.is_none() {
            return;
        }
        let Some(change) = legs.iter().rev().find(|c| c.leg == LegId::B) else {
            return;
        };
        let (answered, cause) = match change.to {
            LegState::Answered => (true, None),
            LegState::Ended(h) => (false, Some(h.cause)),
            _ => return,
        };
        if let Some(to) = self.offered.take() {
            self.publish_offer_end(to, answered, cause);
        }
    }

    fn publish_offer_end(&self, to: Endpoint, answered: bool, cause: Option<HangupCause>) {
        self.publish_notice(CallNotice::OfferEnded {
            tenant_id: self.tenant,
            call_id: self.id,
            to,
            answered,
            cause,
        });
    }

    /// The offer that waited for the previous one's leg to go.
    pub(super) async fn start_next_offer(&mut self) {
        if self.slot(LegId::B).is_some() || self.call.state().is_ended() {
            return;
        }
        if let Some((to, ring)) = self.next_offer.take()
            && let Err(e) = self.start_offer(to.clone(), ring).await
        {
            tracing::info!(call = %self.id, error = %e, "offer not made");
            self.publish_offer_end(to, false, Some(HangupCause::Unavailable));
        }
    }
}
