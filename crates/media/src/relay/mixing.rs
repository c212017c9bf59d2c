//! Mixed mode: who hears whom (conference, supervisor listen / whisper /
//! barge) and the summing step.
//!
//! Who hears whom follows the roles of [`crate::mix`]; the relay sums each
//! listener's sources through the small [`FrameMixer`] trait, a saturating
//! sum ([`SumMixer`]) by default; a better mixer (gain, AGC) plugs in
//! through [`super::Session::mix_with`]. (`mix::Mixer` computes all outputs
//! of a tick at once for callers outside the relay.)

use super::LegId;
use crate::mix::{Role, hears};
use crate::{FRAME_SAMPLES, Frame};

/// Combines the frames one listener hears into one frame.
pub trait FrameMixer: Send {
    /// `inputs` are the current frames of the listener's sources that have
    /// audio this tick (silent or absent sources are skipped).
    fn mix(&mut self, inputs: &mut dyn Iterator<Item = &Frame>, out: &mut Frame);
}

/// Saturating sum of the inputs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SumMixer;

impl FrameMixer for SumMixer {
    fn mix(&mut self, inputs: &mut dyn Iterator<Item = &Frame>, out: &mut Frame) {
        let mut acc = [0i32; FRAME_SAMPLES];
        for f in inputs {
            for (a, s) in acc.iter_mut().zip(f.iter()) {
                *a += i32::from(*s);
            }
        }
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o = (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

/// Who hears whom: for each listener, the legs it hears. A leg that is
/// only a source (never a listener) hears nothing from the mix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MixMatrix {
    pub listeners: Vec<(LegId, Vec<LegId>)>,
}

impl MixMatrix {
    pub fn new() -> Self {
        Self::default()
    }

    /// `listener` hears `sources`.
    pub fn hear(mut self, listener: LegId, sources: &[LegId]) -> Self {
        self.listeners.push((listener, sources.to_vec()));
        self
    }

    /// Who hears whom among legs with these roles: the rules of
    /// [`crate::mix::hears`] (one place for them).
    pub fn from_roles(legs: &[(LegId, Role)]) -> Self {
        let mut m = Self::new();
        for &(listener, role) in legs {
            let sources: Vec<LegId> = legs
                .iter()
                .filter(|&&(l, r)| l != listener && hears(role, r))
                .map(|&(l, _)| l)
                .collect();
            m = m.hear(listener, &sources);
        }
        m
    }

    /// Everyone hears everyone else.
    pub fn conference(legs: &[LegId]) -> Self {
        let parties: Vec<(LegId, Role)> = legs.iter().map(|&l| (l, Role::Party)).collect();
        Self::from_roles(&parties)
    }

    /// Supervisor listens: hears both, heard by nobody.
    pub fn listen(customer: LegId, agent: LegId, supervisor: LegId) -> Self {
        Self::supervised(customer, agent, supervisor, Role::Listen)
    }

    /// Supervisor whispers: heard by the agent only.
    pub fn whisper(customer: LegId, agent: LegId, supervisor: LegId) -> Self {
        Self::supervised(customer, agent, supervisor, Role::Whisper)
    }

    /// Supervisor barges: a three-way conference.
    pub fn barge(customer: LegId, agent: LegId, supervisor: LegId) -> Self {
        Self::supervised(customer, agent, supervisor, Role::Barge)
    }

    fn supervised(customer: LegId, agent: LegId, supervisor: LegId, role: Role) -> Self {
        Self::from_roles(&[
            (customer, Role::Customer),
            (agent, Role::Agent),
            (supervisor, role),
        ])
    }

    /// Whether `listener` hears `source`.
    pub fn hears(&self, listener: LegId, source: LegId) -> bool {
        self.listeners
            .iter()
            .any(|(l, sources)| *l == listener && sources.contains(&source))
    }

    /// Every leg named, listeners and sources.
    pub fn legs(&self) -> impl Iterator<Item = LegId> + '_ {
        self.listeners
            .iter()
            .flat_map(|(l, s)| std::iter::once(*l).chain(s.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_saturates() {
        let a = [20_000i16; FRAME_SAMPLES];
        let b = [20_000i16; FRAME_SAMPLES];
        let c = [-100i16; FRAME_SAMPLES];
        let mut out = [0; FRAME_SAMPLES];
        SumMixer.mix(&mut [&a, &b].into_iter(), &mut out);
        assert_eq!(out[0], i16::MAX);
        SumMixer.mix(&mut [&a, &c].into_iter(), &mut out);
        assert_eq!(out[5], 19_900);
        SumMixer.mix(&mut std::iter::empty(), &mut out);
        assert_eq!(out, [0; FRAME_SAMPLES]);
    }

    #[test]
    fn supervisor_matrices() {
        let (c, a, s) = (LegId(1), LegId(2), LegId(3));
        let hears = |m: &MixMatrix, l: LegId| {
            m.listeners
                .iter()
                .find(|(x, _)| *x == l)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let w = MixMatrix::whisper(c, a, s);
        assert_eq!(hears(&w, c), vec![a]);
        assert_eq!(hears(&w, a), vec![c, s]);
        let l = MixMatrix::listen(c, a, s);
        assert!(!hears(&l, c).contains(&s) && !hears(&l, a).contains(&s));
        let b = MixMatrix::barge(c, a, s);
        assert_eq!(hears(&b, c), vec![a, s]);
        assert_eq!(b.legs().count(), 9);
    }
}
