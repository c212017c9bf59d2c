//! Small value types shared by agents and queues.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Wall-clock instant passed in by the caller; the ACD never reads a clock
/// itself, so every decision is reproducible in tests and after a rebuild.
pub type Time = DateTime<Utc>;

/// A tenant-defined skill name ("spanish", "billing", ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Skill(pub String);

impl Skill {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

/// A skill level, always within 1..=10 (checked at construction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    pub const MIN: Level = Level(1);
    pub const MAX: Level = Level(10);

    pub fn new(level: u8) -> Result<Self, LevelError> {
        if (1..=10).contains(&level) {
            Ok(Self(level))
        } else {
            Err(LevelError(level))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Level {
    type Error = LevelError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

/// A skill level outside 1..=10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("skill level {0} is outside 1..=10")]
pub struct LevelError(pub u8);

/// The skills an agent has, with their levels.
pub type SkillSet = BTreeMap<Skill, Level>;

/// A tenant-defined not-ready reason ("break", "lunch", "training", ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReasonCode(pub String);

impl ReasonCode {
    /// The reason the ACD itself uses after too many missed offers in a row.
    pub const MISSED_OFFERS: &'static str = "missed_offers";

    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    pub fn missed_offers() -> Self {
        Self(Self::MISSED_OFFERS.to_owned())
    }
}

/// An outbound campaign the agent is logged in to. Opaque here: the ACD only
/// needs to know whether the agent takes outbound work at all (blending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignRef(pub Uuid);

/// A queue's skill requirement: the agent needs `skill` at `min_level` or
/// above. `weight` scales the level in the skill-weighted strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRequirement {
    pub skill: Skill,
    pub min_level: Level,
    pub weight: u16,
}

impl SkillRequirement {
    pub fn new(skill: impl Into<String>, min_level: Level) -> Self {
        Self {
            skill: Skill::new(skill),
            min_level,
            weight: 1,
        }
    }
}

/// Whether `skills` meet every requirement.
pub fn meets(skills: &SkillSet, required: &[SkillRequirement]) -> bool {
    required
        .iter()
        .all(|r| skills.get(&r.skill).is_some_and(|l| *l >= r.min_level))
}

/// The skill-weighted score: sum of level x weight over the required skills.
pub fn skill_score(skills: &SkillSet, required: &[SkillRequirement]) -> u32 {
    required
        .iter()
        .filter_map(|r| {
            skills
                .get(&r.skill)
                .map(|l| u32::from(l.get()) * u32::from(r.weight))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, u8)]) -> SkillSet {
        pairs
            .iter()
            .map(|(s, l)| (Skill::new(*s), Level::new(*l).unwrap()))
            .collect()
    }

    #[test]
    fn level_is_bounded() {
        assert!(Level::new(0).is_err());
        assert!(Level::new(11).is_err());
        assert_eq!(Level::new(10).unwrap().get(), 10);
        assert!(serde_json::from_str::<Level>("12").is_err());
        assert_eq!(serde_json::from_str::<Level>("3").unwrap().get(), 3);
    }

    #[test]
    fn requirements_check_skill_and_level() {
        let req = vec![
            SkillRequirement::new("es", Level::new(5).unwrap()),
            SkillRequirement::new("billing", Level::new(1).unwrap()),
        ];
        assert!(meets(&set(&[("es", 5), ("billing", 1)]), &req));
        assert!(!meets(&set(&[("es", 4), ("billing", 9)]), &req));
        assert!(!meets(&set(&[("es", 9)]), &req));
        assert!(meets(&set(&[]), &[]));
        assert_eq!(skill_score(&set(&[("es", 7), ("billing", 2)]), &req), 9);
    }
}
