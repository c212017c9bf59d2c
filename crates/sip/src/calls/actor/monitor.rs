//! A supervisor on the call: the monitor leg mixed in with the role of its
//! mode (listen, whisper, barge), and the plain bridge back when it leaves.
//!
//! While a supervisor is connected the call's media runs in the engine's
//! mixed mode ([`MixMatrix::from_roles`], the rules of
//! [`omnivox_media::mix::hears`]): the customer and the agent hear each
//! other, the supervisor hears both, and the supervisor is heard by nobody
//! (listen), by the agent only (whisper) or by both (barge). A mode change
//! only replaces the matrix; no party is re-INVITEd.

use super::*;
use omnivox_media::mix::Role;
use omnivox_media::relay::MixMatrix;

/// The mixing role of a supervisor in `mode`.
pub(super) fn role_of(mode: MonitorMode) -> Role {
    match mode {
        MonitorMode::Listen => Role::Listen,
        MonitorMode::Whisper => Role::Whisper,
        MonitorMode::Barge => Role::Barge,
    }
}

impl Actor {
    /// The call's agent leg among A and B (the one a whisper reaches): B
    /// when an agent answers it (inbound calls, agent-to-agent calls,
    /// calls of two numbers), else A when an agent is on it (click-to-call,
    /// a phone calling out).
    pub(super) fn agent_leg(&self) -> LegId {
        let is_agent = |l: LegId| self.slot(l).is_some_and(|io| io.agent_id.is_some());
        if !is_agent(LegId::B) && is_agent(LegId::A) {
            LegId::A
        } else {
            LegId::B
        }
    }

    /// Puts the call's media in mixed mode with the supervisor as `mode`
    /// says (replacing the previous matrix).
    pub(super) async fn mix_monitor(&mut self, mode: MonitorMode) {
        let agent = self.agent_leg();
        let customer = other_leg(agent);
        let media = |l: LegId| self.slot(l).map(|io| io.media.id());
        let (Some(c), Some(a), Some(s)) = (media(customer), media(agent), media(LegId::Monitor))
        else {
            tracing::warn!(call = %self.id, "monitor mix without its three legs");
            return;
        };
        let matrix =
            MixMatrix::from_roles(&[(c, Role::Customer), (a, Role::Agent), (s, role_of(mode))]);
        match self.media.mix(matrix).await {
            Ok(()) => tracing::debug!(call = %self.id, mode = mode.as_str(), "supervisor mixed in"),
            Err(e) => tracing::warn!(call = %self.id, error = %e, "supervisor not mixed in"),
        }
    }

    /// The supervisor left: A and B are bridged directly again (tones on
    /// either, such as hold music, keep playing).
    pub(super) async fn unmix_monitor(&mut self) {
        if let Err(e) = self.media.unmix().await {
            tracing::debug!(call = %self.id, error = %e, "no mix to leave");
        }
        let media = |l: LegId| self.slot(l).map(|io| io.media.id());
        if let (Some(a), Some(b)) = (media(LegId::A), media(LegId::B))
            && let Err(e) = self.media.bridge(a, b).await
        {
            tracing::warn!(call = %self.id, error = %e, "parties not bridged back");
        }
    }
}
