//! API commands on a live call.

use super::*;

impl Actor {
    pub(super) async fn run_command(&mut self, command: CallCommand) -> Result<(), CallError> {
        match command {
            CallCommand::Hangup => {
                self.apply(CallEvent::Hangup {
                    cause: HangupCause::Normal,
                })
                .await
            }
            CallCommand::Hold { leg } => {
                not_monitor(leg)?;
                self.require_state(leg, LegState::Answered)?;
                self.hold_leg(leg).await;
                self.apply(CallEvent::Leg {
                    leg,
                    event: LegEvent::Hold,
                })
                .await
            }
            CallCommand::Resume { leg } => {
                not_monitor(leg)?;
                self.require_state(leg, LegState::Held)?;
                self.resume_leg(leg).await;
                self.apply(CallEvent::Leg {
                    leg,
                    event: LegEvent::Resume,
                })
                .await
            }
            CallCommand::BlindTransfer { leaving, to } => {
                self.check_endpoint(&to).await?;
                self.pending[slot_index(leaving)] = Some(to);
                let r = self.apply(CallEvent::BlindTransfer { leaving }).await;
                if r.is_err() {
                    self.pending[slot_index(leaving)] = None;
                }
                r
            }
            CallCommand::ConsultStart { transferor, to } => {
                self.check_endpoint(&to).await?;
                self.pending[slot_index(LegId::Consult)] = Some(to);
                let r = self.apply(CallEvent::ConsultStart { transferor }).await;
                if r.is_err() {
                    self.pending[slot_index(LegId::Consult)] = None;
                }
                r
            }
            CallCommand::ConsultComplete => self.apply(CallEvent::ConsultComplete).await,
            CallCommand::ConsultCancel => self.apply(CallEvent::ConsultCancel).await,
            CallCommand::Dtmf { leg, digits } => {
                let valid = !digits.is_empty()
                    && digits.len() <= 32
                    && digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'));
                if !valid {
                    return Err(CallError::Invalid(
                        "digits must be 1-32 of 0-9 * # A-D".into(),
                    ));
                }
                self.require_answered(leg)?;
                self.send_digits(leg, &digits).await
            }
            CallCommand::StartRecording => self.start_recording().await,
            CallCommand::StopRecording => self.stop_recording().await,
            CallCommand::PauseRecording => self.pause_recording(true).await,
            CallCommand::ResumeRecording => self.pause_recording(false).await,
            CallCommand::RecordingPolicy { policy } => {
                self.set_recording_policy(policy).await;
                Ok(())
            }
            CallCommand::Monitor { to, mode } => {
                self.check_endpoint(&to).await?;
                let slot = slot_index(LegId::Monitor);
                self.pending[slot] = Some(to);
                let r = self.apply(CallEvent::MonitorStart { mode }).await;
                if r.is_err() {
                    self.pending[slot] = None;
                }
                r
            }
            CallCommand::Connect { to } => self.connect(to).await,
            CallCommand::Offer {
                to,
                ring_timeout_secs,
            } => {
                let ring = Duration::from_secs(u64::from(ring_timeout_secs.clamp(5, 300)));
                self.offer(to, ring).await
            }
            CallCommand::CancelOffer => self.cancel_offer().await,
            CallCommand::Play {
                prompt,
                tag,
                barge_in,
            } => self.play_prompt(prompt, tag, barge_in).await,
            CallCommand::StopPlay => self.stop_prompt().await,
            CallCommand::Music { music } => self.music(music).await,
            CallCommand::RecordMessage { tag } => self.record_message(tag).await,
            CallCommand::StopMessage => self.stop_message().await,
            CallCommand::Announce { prompt, after_beep } => self.announce(prompt, after_beep).await,
            CallCommand::MonitorMode { mode } => self.apply(CallEvent::MonitorMode { mode }).await,
            CallCommand::MonitorStop => self.apply(CallEvent::MonitorStop).await,
        }
    }

    pub(super) fn require_state(&self, leg: LegId, want: LegState) -> Result<(), CallError> {
        match self.call.leg(leg).map(|l| l.state()) {
            Some(s) if s == want => Ok(()),
            Some(s) => Err(CallError::Conflict(format!(
                "leg {leg:?} is {s}, not {want}"
            ))),
            None => Err(CallError::Conflict(format!("no leg {leg:?}"))),
        }
    }

    pub(super) fn require_answered(&self, leg: LegId) -> Result<(), CallError> {
        match self.call.leg(leg).map(|l| l.state()) {
            Some(s) if s.is_answered() => Ok(()),
            _ => Err(CallError::Conflict(format!("leg {leg:?} is not answered"))),
        }
    }

    pub(super) async fn check_endpoint(&self, to: &Endpoint) -> Result<(), CallError> {
        check_endpoint(&self.inner, self.tenant, to).await
    }
}

/// The supervisor's leg is controlled through the monitor commands only.
fn not_monitor(leg: LegId) -> Result<(), CallError> {
    if leg == LegId::Monitor {
        return Err(CallError::Invalid(
            "the monitor leg is controlled with the monitor commands".into(),
        ));
    }
    Ok(())
}
