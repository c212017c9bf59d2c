//! Mixing decoded audio for conferences, 3-way calls and supervisors.
//!
//! Every participant has a [`Role`]; the roles define who hears whom:
//!
//! | speaker \ heard by | customer, agent, party | listen, whisper supervisors |
//! |---|---|---|
//! | customer, agent, party, barge | yes (not themselves) | yes |
//! | whisper | agents only | no |
//! | listen | no | no |
//!
//! So a conference is everyone as [`Role::Party`] (or customer/agent), a
//! supervisor's *listen* hears the call and is heard by nobody, *whisper*
//! is heard by the agent only, *barge* joins the call. Roles can change at
//! any tick ([`Mixer::set_role`]).
//!
//! Each tick, [`Mixer::mix`] takes every participant's latest frame and
//! fills each requested output with the saturating sum of what that
//! participant hears. Because everyone hears the "open" speakers
//! (customer, agent, parties, barge), their sum is computed once and each
//! output subtracts its own voice, so a tick costs O(N) frame additions,
//! not O(N²). Sums are taken in i32 and clamped once. After setup, mixing
//! allocates nothing.

use crate::{FRAME_SAMPLES, Frame};

/// Most participants in one mixer.
pub const MAX_PARTICIPANTS: usize = 16;

/// A participant's id, chosen by the caller (a leg id).
pub type ParticipantId = u64;

/// What a participant is in the call, which decides who hears whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The called or calling party.
    Customer,
    /// An agent: also hears whispers.
    Agent,
    /// Any other conference member (third party of a 3-way call).
    Party,
    /// Supervisor listening: hears the call, heard by nobody.
    Listen,
    /// Supervisor coaching: hears the call, heard by agents only.
    Whisper,
    /// Supervisor joining the call: hears it and is heard by everyone.
    Barge,
}

impl Role {
    /// Heard by everyone else.
    fn is_open(self) -> bool {
        matches!(
            self,
            Role::Customer | Role::Agent | Role::Party | Role::Barge
        )
    }
}

/// Whether `listener` hears `speaker` (two different participants).
pub fn hears(listener: Role, speaker: Role) -> bool {
    match speaker {
        Role::Customer | Role::Agent | Role::Party | Role::Barge => true,
        Role::Whisper => listener == Role::Agent,
        Role::Listen => false,
    }
}

/// Errors of mixer setup and mixing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("the mixer is full ({MAX_PARTICIPANTS} participants)")]
    Full,
    #[error("participant {0} is already in the mixer")]
    Duplicate(ParticipantId),
    #[error("participant {0} is not in the mixer")]
    Unknown(ParticipantId),
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: ParticipantId,
    role: Role,
}

/// Mixes up to [`MAX_PARTICIPANTS`] participants.
#[derive(Clone, Debug)]
pub struct Mixer {
    slots: [Option<Slot>; MAX_PARTICIPANTS],
    /// Per listener slot, bit `s` set when it hears slot `s`.
    hears: [u16; MAX_PARTICIPANTS],
    /// Slots of open speakers (heard by every other participant).
    open: u16,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Self {
        Self {
            slots: [None; MAX_PARTICIPANTS],
            hears: [0; MAX_PARTICIPANTS],
            open: 0,
        }
    }

    fn slot_of(&self, id: ParticipantId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.is_some_and(|s| s.id == id))
    }

    /// Recomputes the hearing matrix from the roles.
    fn rebuild(&mut self) {
        self.open = 0;
        for (l, listener) in self.slots.iter().enumerate() {
            let mut mask = 0u16;
            if let Some(listener) = listener {
                if listener.role.is_open() {
                    self.open |= 1 << l;
                }
                for (s, speaker) in self.slots.iter().enumerate() {
                    if let Some(speaker) = speaker
                        && s != l
                        && hears(listener.role, speaker.role)
                    {
                        mask |= 1 << s;
                    }
                }
            }
            self.hears[l] = mask;
        }
    }

    /// Adds a participant.
    pub fn add(&mut self, id: ParticipantId, role: Role) -> Result<(), MixError> {
        if self.slot_of(id).is_some() {
            return Err(MixError::Duplicate(id));
        }
        let free = self
            .slots
            .iter()
            .position(Option::is_none)
            .ok_or(MixError::Full)?;
        self.slots[free] = Some(Slot { id, role });
        self.rebuild();
        Ok(())
    }

    /// Changes a participant's role (listen -> whisper -> barge) between ticks.
    pub fn set_role(&mut self, id: ParticipantId, role: Role) -> Result<(), MixError> {
        let s = self.slot_of(id).ok_or(MixError::Unknown(id))?;
        self.slots[s] = Some(Slot { id, role });
        self.rebuild();
        Ok(())
    }

    /// Removes a participant, returning its role.
    pub fn remove(&mut self, id: ParticipantId) -> Result<Role, MixError> {
        let s = self.slot_of(id).ok_or(MixError::Unknown(id))?;
        let role = self.slots[s].map(|s| s.role).ok_or(MixError::Unknown(id))?;
        self.slots[s] = None;
        self.rebuild();
        Ok(role)
    }

    /// A participant's role.
    pub fn role(&self, id: ParticipantId) -> Option<Role> {
        self.slot_of(id).and_then(|s| self.slots[s].map(|s| s.role))
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether the mixer has no participants.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Whether participant `listener` currently hears `speaker`.
    pub fn is_heard_by(&self, speaker: ParticipantId, listener: ParticipantId) -> bool {
        match (self.slot_of(speaker), self.slot_of(listener)) {
            (Some(s), Some(l)) => self.hears[l] & (1 << s) != 0,
            _ => false,
        }
    }

    /// One tick. `inputs` holds each participant's frame (`None`, or no
    /// entry at all, for one with nothing to say this tick); each entry of
    /// `outputs` names a participant and receives what it hears.
    pub fn mix(
        &mut self,
        inputs: &[(ParticipantId, Option<&Frame>)],
        outputs: &mut [(ParticipantId, Frame)],
    ) -> Result<(), MixError> {
        let mut frames: [Option<&Frame>; MAX_PARTICIPANTS] = [None; MAX_PARTICIPANTS];
        let mut present = 0u16;
        for (id, frame) in inputs {
            let s = self.slot_of(*id).ok_or(MixError::Unknown(*id))?;
            frames[s] = *frame;
            if frame.is_some() {
                present |= 1 << s;
            } else {
                present &= !(1 << s);
            }
        }
        // The open speakers' sum, shared by every output.
        let open = self.open & present;
        let mut total = [0i32; FRAME_SAMPLES];
        for s in bits(open) {
            if let Some(f) = frames[s] {
                add(&mut total, f);
            }
        }
        for (id, out) in outputs.iter_mut() {
            let l = self.slot_of(*id).ok_or(MixError::Unknown(*id))?;
            let heard = self.hears[l] & present;
            let me = 1u16 << l;
            let mut acc = [0i32; FRAME_SAMPLES];
            let rest = if heard & open == open & !me {
                // Everything open but our own voice, plus extras (whispers).
                acc = total;
                if open & me != 0
                    && let Some(f) = frames[l]
                {
                    sub(&mut acc, f);
                }
                heard & !open
            } else {
                heard
            };
            for s in bits(rest) {
                if let Some(f) = frames[s] {
                    add(&mut acc, f);
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        Ok(())
    }
}

/// Indices of the set bits of `mask`.
fn bits(mut mask: u16) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let i = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(i)
    })
}

fn add(acc: &mut [i32; FRAME_SAMPLES], f: &Frame) {
    for (a, &x) in acc.iter_mut().zip(f) {
        *a += i32::from(x);
    }
}

fn sub(acc: &mut [i32; FRAME_SAMPLES], f: &Frame) {
    for (a, &x) in acc.iter_mut().zip(f) {
        *a -= i32::from(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hearing_rules() {
        use Role::*;
        let all = [Customer, Agent, Party, Listen, Whisper, Barge];
        for l in all {
            for s in [Customer, Agent, Party, Barge] {
                assert!(hears(l, s), "{l:?} hears {s:?}");
            }
            assert!(!hears(l, Listen));
            assert_eq!(hears(l, Whisper), l == Agent);
        }
    }

    #[test]
    fn setup_errors() {
        let mut m = Mixer::new();
        m.add(1, Role::Customer).unwrap();
        assert_eq!(m.add(1, Role::Agent), Err(MixError::Duplicate(1)));
        for id in 2..=MAX_PARTICIPANTS as u64 {
            m.add(id, Role::Party).unwrap();
        }
        assert_eq!(m.add(99, Role::Party), Err(MixError::Full));
        assert_eq!(m.set_role(99, Role::Barge), Err(MixError::Unknown(99)));
        assert_eq!(m.remove(3), Ok(Role::Party));
        m.add(99, Role::Listen).unwrap();
        assert_eq!(m.len(), MAX_PARTICIPANTS);
        let f = [0i16; FRAME_SAMPLES];
        let mut out = [(1234u64, f)];
        assert_eq!(
            m.mix(&[(1, Some(&f))], &mut out),
            Err(MixError::Unknown(1234))
        );
        assert_eq!(
            m.mix(&[(77, Some(&f))], &mut []),
            Err(MixError::Unknown(77))
        );
    }

    #[test]
    fn sums_saturate() {
        let mut m = Mixer::new();
        for id in 1..=3 {
            m.add(id, Role::Party).unwrap();
        }
        let hi = [30_000i16; FRAME_SAMPLES];
        let lo = [-30_000i16; FRAME_SAMPLES];
        let mut out = [(1, [0; FRAME_SAMPLES]), (3, [0; FRAME_SAMPLES])];
        m.mix(&[(1, Some(&hi)), (2, Some(&hi)), (3, Some(&lo))], &mut out)
            .unwrap();
        // 1 hears 30000 - 30000 = 0; 3 hears 60000 -> clamped.
        assert!(out[0].1.iter().all(|&s| s == 0));
        assert!(out[1].1.iter().all(|&s| s == i16::MAX));
        m.mix(&[(1, Some(&lo)), (2, Some(&lo))], &mut out).unwrap();
        assert!(out[1].1.iter().all(|&s| s == i16::MIN));
    }

    #[test]
    fn matrix_follows_role_changes() {
        let mut m = Mixer::new();
        m.add(1, Role::Customer).unwrap();
        m.add(2, Role::Agent).unwrap();
        m.add(3, Role::Listen).unwrap();
        assert!(m.is_heard_by(1, 3) && m.is_heard_by(2, 3));
        assert!(!m.is_heard_by(3, 1) && !m.is_heard_by(3, 2));
        m.set_role(3, Role::Whisper).unwrap();
        assert!(m.is_heard_by(3, 2) && !m.is_heard_by(3, 1));
        m.set_role(3, Role::Barge).unwrap();
        assert!(m.is_heard_by(3, 2) && m.is_heard_by(3, 1));
        assert!(!m.is_heard_by(1, 1));
    }
}
