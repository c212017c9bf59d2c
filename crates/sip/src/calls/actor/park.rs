//! The dialer's side of an originated call once leg A (the customer)
//! answers: answering-machine detection, parking the answered call until
//! the dialer names an agent (`Connect`), and messages played before the
//! call ends (`Announce`: the safe-harbor message, a voice broadcast, a
//! message left after a recorder's beep).
//!
//! A parked call hears silence. It stays parked until `Connect`,
//! `Announce`, a hangup, or [`PARK_LIMIT`]. With AMD, a pending second
//! party is dialled only after a human or unsure verdict; a machine keeps
//! the call parked for the dialer's decision. A line that sends no audio
//! gives the detector nothing to judge: without a verdict by the end of its
//! analysis time (plus a margin) the answer counts as unsure.

use super::*;
use crate::calls::model::{AmdOutcome, PARK_LIMIT};
use omnivox_media::Detection;
use omnivox_media::amd::{AmdConfig, AmdDetector, Outcome, Verdict};
use omnivox_media::prompt::{Player, Prompt};
use omnivox_media::relay::{PlayEnd, PlayOptions};

/// Time past the detector's own limit after which a silent line (no RTP,
/// so no frames to judge) counts as unsure.
const AMD_MARGIN: Duration = Duration::from_millis(1_000);

/// Answering-machine detection on leg A.
#[derive(Default)]
pub(super) enum Amd {
    /// Not asked for.
    #[default]
    Off,
    /// To start when leg A answers.
    Armed(AmdConfig),
    /// Listening; judged unsure at `deadline` without a verdict; after a
    /// machine verdict the beep is awaited for `beep_wait`.
    Listening {
        deadline: Instant,
        beep_wait: Duration,
    },
    /// Judged; after a machine verdict the beep is awaited until
    /// `beep_until`.
    Decided {
        beep_until: Option<Instant>,
        beep_heard: bool,
    },
}

/// A message for leg A, then the end of the call.
pub(super) struct Announcement {
    prompt: Prompt,
    /// Waiting for the beep (or for the detector to stop listening).
    waiting: bool,
}

impl Actor {
    /// Leg A of an originated call answered: start AMD, dial the second
    /// party, or park.
    pub(super) async fn on_first_answer(&mut self) {
        // Only the first answer: a transfer's new leg A is not a customer
        // picking up.
        if self.call.leg(LegId::B).map(|l| l.state()) != Some(LegState::Idle) {
            return;
        }
        if let Amd::Armed(config) = std::mem::take(&mut self.amd) {
            let max_analysis = Duration::from_millis(u64::from(config.max_analysis_ms));
            let beep_wait = Duration::from_millis(u64::from(config.beep_wait_ms));
            let started = match (AmdDetector::new(config), self.slot(LegId::A)) {
                (Ok(detector), Some(io)) => {
                    let id = io.media.id();
                    match self.media.analyze(id, Box::new(detector)).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(call = %self.id, error = %e, "AMD not started");
                            false
                        }
                    }
                }
                (Err(e), _) => {
                    tracing::warn!(call = %self.id, error = %e, "AMD settings refused");
                    false
                }
                (Ok(_), None) => false,
            };
            if started {
                self.amd = Amd::Listening {
                    deadline: Instant::now() + max_analysis + AMD_MARGIN,
                    beep_wait,
                };
                self.park();
                return;
            }
            // No detector: the answer is treated as unsure.
            self.amd_decided(AmdOutcome::Unsure, "not_started", 0, None, None)
                .await;
            return;
        }
        self.connect_or_park().await;
    }

    /// Dial the pending second party, or park when there is none.
    async fn connect_or_park(&mut self) {
        if self.pending[slot_index(LegId::B)].is_some() {
            self.park_deadline = None;
            self.dial_second().await;
        } else {
            self.park();
        }
    }

    fn park(&mut self) {
        if self.park_deadline.is_none() {
            self.park_deadline = Some(Instant::now() + PARK_LIMIT);
        }
    }

    /// The engine's AMD verdict on leg A.
    pub(super) async fn on_amd(&mut self, verdict: Verdict) {
        let outcome = match verdict.outcome {
            Outcome::Human => AmdOutcome::Human,
            Outcome::Machine => AmdOutcome::Machine,
            Outcome::Unsure => AmdOutcome::Unsure,
        };
        if let Amd::Decided {
            beep_heard,
            beep_until,
            ..
        } = &mut self.amd
        {
            // The second report: the beep after a machine verdict.
            if verdict.beep_ms.is_some() && !*beep_heard {
                *beep_heard = true;
                *beep_until = None;
                self.publish_amd(
                    outcome,
                    verdict.reason.as_str(),
                    verdict.decision_ms,
                    verdict.beep_ms,
                );
                self.start_waiting_announcement().await;
            }
            return;
        }
        let Amd::Listening { beep_wait, .. } = self.amd else {
            return;
        };
        let beep_until = (outcome == AmdOutcome::Machine && verdict.beep_ms.is_none())
            .then(|| Instant::now() + beep_wait);
        self.amd_decided(
            outcome,
            verdict.reason.as_str(),
            verdict.decision_ms,
            verdict.beep_ms,
            beep_until,
        )
        .await;
    }

    async fn amd_decided(
        &mut self,
        outcome: AmdOutcome,
        reason: &'static str,
        decision_ms: u32,
        beep_ms: Option<u32>,
        beep_until: Option<Instant>,
    ) {
        self.amd = Amd::Decided {
            beep_until,
            beep_heard: beep_ms.is_some(),
        };
        tracing::debug!(call = %self.id, ?outcome, reason, decision_ms, "AMD verdict");
        self.publish_amd(outcome, reason, decision_ms, beep_ms);
        if self.announcement.is_some() {
            return;
        }
        if outcome == AmdOutcome::Machine {
            // The dialer decides: hang up, or a message after the beep.
            self.park();
        } else {
            self.connect_or_park().await;
        }
    }

    fn publish_amd(
        &self,
        outcome: AmdOutcome,
        reason: &'static str,
        decision_ms: u32,
        beep_ms: Option<u32>,
    ) {
        self.publish_notice(CallNotice::Amd {
            tenant_id: self.tenant,
            call_id: self.id,
            outcome,
            reason,
            decision_ms,
            beep_ms,
        });
    }

    /// Leg A answered and nobody else was dialled: the call is parked.
    fn require_parked(&self) -> Result<(), CallError> {
        self.require_answered(LegId::A)?;
        if self.call.leg(LegId::B).map(|l| l.state()) != Some(LegState::Idle)
            || self.pending[slot_index(LegId::B)].is_some()
        {
            return Err(CallError::Conflict(
                "the call is not parked: its second party is already dialled".into(),
            ));
        }
        if self.announcement.is_some() {
            return Err(CallError::Conflict("a message is being played".into()));
        }
        Ok(())
    }

    /// `CallCommand::Connect`.
    pub(super) async fn connect(&mut self, to: Endpoint) -> Result<(), CallError> {
        self.require_parked()?;
        self.check_endpoint(&to).await?;
        self.pending[slot_index(LegId::B)] = Some(to);
        self.park_deadline = None;
        self.dial_second().await;
        Ok(())
    }

    /// `CallCommand::Announce`.
    pub(super) async fn announce(
        &mut self,
        prompt: Prompt,
        after_beep: bool,
    ) -> Result<(), CallError> {
        self.require_parked()?;
        if prompt.is_empty() {
            return Err(CallError::Invalid("the message has no audio".into()));
        }
        let waiting = after_beep
            && match &self.amd {
                Amd::Decided {
                    beep_until,
                    beep_heard,
                    ..
                } => !beep_heard && beep_until.is_some(),
                Amd::Listening { .. } => true,
                Amd::Off | Amd::Armed(_) => {
                    return Err(CallError::Conflict(
                        "waiting for a beep needs answering-machine detection on the call".into(),
                    ));
                }
            };
        self.park_deadline = None;
        self.announcement = Some(Announcement { prompt, waiting });
        if !waiting {
            self.play_announcement().await;
        }
        Ok(())
    }

    fn announcement_waits(&self) -> bool {
        self.announcement.as_ref().is_some_and(|a| a.waiting)
    }

    /// A message held back for the beep starts now.
    async fn start_waiting_announcement(&mut self) {
        if self.announcement_waits() {
            self.play_announcement().await;
        }
    }

    async fn play_announcement(&mut self) {
        let Some(a) = self.announcement.as_mut() else {
            return;
        };
        a.waiting = false;
        let player = Box::new(Player::once(a.prompt.clone()));
        self.stop_tone(LegId::A).await;
        let Some(id) = self.slot(LegId::A).map(|io| io.media.id()) else {
            return;
        };
        if let Err(e) = self.media.play(id, player, PlayOptions::default()).await {
            tracing::warn!(call = %self.id, error = %e, "message not played");
            self.end_parked().await;
        }
    }

    /// A playback on leg A ended: after a message, the call ends.
    pub(super) async fn on_play_ended(&mut self, leg: MediaLegId, reason: PlayEnd) {
        let is_a = self.slot(LegId::A).is_some_and(|io| io.media.id() == leg);
        let playing = self.announcement.as_ref().is_some_and(|a| !a.waiting);
        if is_a && playing && reason != PlayEnd::Stopped {
            self.end_parked().await;
        }
    }

    async fn end_parked(&mut self) {
        self.announcement = None;
        self.park_deadline = None;
        let _ = self
            .apply(CallEvent::Hangup {
                cause: HangupCause::Normal,
            })
            .await;
    }

    /// The earliest of the dialer timers: park limit, AMD deadline, the end
    /// of the beep wait.
    pub(super) fn park_timer(&self) -> Option<Instant> {
        let amd = match &self.amd {
            Amd::Listening { deadline, .. } => Some(*deadline),
            Amd::Decided { beep_until, .. } if self.announcement_waits() => *beep_until,
            _ => None,
        };
        [self.park_deadline, amd].into_iter().flatten().min()
    }

    pub(super) async fn on_park_timer(&mut self, now: Instant) {
        match &self.amd {
            Amd::Listening { deadline, .. } if *deadline <= now => {
                // No verdict: a silent line.
                self.amd_decided(AmdOutcome::Unsure, "no_audio", 0, None, None)
                    .await;
            }
            Amd::Decided {
                beep_until: Some(until),
                ..
            } if *until <= now && self.announcement_waits() => {
                if let Amd::Decided { beep_until, .. } = &mut self.amd {
                    *beep_until = None;
                }
                // No beep came: the message starts anyway.
                self.play_announcement().await;
            }
            _ => {}
        }
        if self.park_deadline.is_some_and(|d| d <= now) {
            tracing::info!(call = %self.id, "parked too long: hanging up");
            self.end_parked().await;
        }
    }

    /// AMD's verdict or a playback end from the engine.
    pub(super) async fn on_detection(&mut self, leg: MediaLegId, detection: Detection) {
        let is_a = self.slot(LegId::A).is_some_and(|io| io.media.id() == leg);
        if let (true, Detection::Answer(verdict)) = (is_a, detection) {
            self.on_amd(verdict).await;
        }
    }
}
