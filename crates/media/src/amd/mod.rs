//! Answering-machine detection (AMD) on an answered outbound leg.
//!
//! The dialer must know within a second or two of the answer whether a
//! person or a recorder picked up: a person goes to an agent (within 2 s of
//! their greeting, or the call counts as abandoned), a machine gets a
//! message after its beep or a hang-up. [`AmdDetector`] watches the leg's
//! decoded 20 ms frames and answers once, the way Asterisk's `AMD()` does,
//! from the timing of voice and silence:
//!
//! * a person says something short ("Hello?") and then waits in silence
//!   ([`Reason::HumanShortGreetingThenSilence`]; the shorter the greeting,
//!   the shorter the wait needed, in three tiers);
//! * a recorder talks on: too much voice before a pause
//!   ([`Reason::LongGreeting`]), talk going on for longer than a person's
//!   first sentence without a pause a person would leave
//!   ([`Reason::GreetingSpan`]), too many words ([`Reason::MaxWords`]), one
//!   endless sound ([`Reason::MaxWordLength`]), or it says nothing for
//!   seconds ([`Reason::InitialSilence`]), or it beeps ([`Reason::Beep`]),
//!   or it opens with special-information tones ([`Reason::ToneSequence`]);
//! * nothing conclusive before [`AmdConfig::max_analysis_ms`] is
//!   [`Outcome::Unsure`], which the dialer treats like a person.
//!
//! Voice and silence come from an energy detector with an adaptive noise
//! floor ([`vad`]); after a machine verdict the detector keeps listening for
//! the beep ([`beep`]) and reports it as a second verdict with
//! [`Verdict::beep_ms`] set, so a message can start right after it.

mod beep;
mod config;
mod vad;

use std::fmt;

pub use config::{AmdConfig, AmdConfigError};
pub use vad::frame_dbfs;

use crate::{Detection, Frame, FrameAnalyzer};
use beep::BeepDetector;
use vad::Vad;

/// Milliseconds in one frame.
const FRAME_MS: u32 = 20;
/// How far above the noise floor a frame must be to be examined for a
/// beep (dB).
const BEEP_MARGIN_DB: f32 = 3.0;
/// Audio from the answer during which a frame is examined for tone even if
/// it is not above the noise floor (which it seeded).
const SEED_MS: u32 = 2 * FRAME_MS;

/// Who answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Human,
    Machine,
    /// No rule fired in time; dialers connect these like humans.
    Unsure,
}

/// Which rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Human: a greeting followed by enough silence: `after_short_`,
    /// `after_medium_` or `after_greeting_silence_ms` by its length.
    HumanShortGreetingThenSilence,
    /// Machine: no word within `initial_silence_ms` of the answer.
    InitialSilence,
    /// Machine: more than `greeting_ms` of voice before a decisive pause.
    LongGreeting,
    /// Machine: talk going on `greeting_span_ms` after the first word
    /// began, with no pause long enough to call it human in between.
    GreetingSpan,
    /// Machine: `max_words` words before a decisive pause.
    MaxWords,
    /// Machine: one uninterrupted sound longer than `max_word_ms`.
    MaxWordLength,
    /// Machine: a beep (during analysis, or after an earlier machine
    /// verdict when [`Verdict::beep_ms`] is the second report).
    Beep,
    /// Machine: pure tones at two pitches in a row, such as the
    /// special-information tones of an intercept ("the number you have
    /// dialed is not in service").
    ToneSequence,
    /// Unsure: `max_analysis_ms` passed without a decision.
    MaxAnalysisTime,
}

impl Reason {
    /// Stable snake_case name for events, CDRs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HumanShortGreetingThenSilence => "human_short_greeting_then_silence",
            Self::InitialSilence => "initial_silence",
            Self::LongGreeting => "long_greeting",
            Self::GreetingSpan => "greeting_span",
            Self::MaxWords => "max_words",
            Self::MaxWordLength => "max_word_length",
            Self::Beep => "beep",
            Self::ToneSequence => "tone_sequence",
            Self::MaxAnalysisTime => "max_analysis_time",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The detector's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The rule that decided.
    pub reason: Reason,
    /// Audio analysed from the answer to the decision (ms).
    pub decision_ms: u32,
    /// When the beep ended, counted from the answer (ms). `None` in the
    /// first report unless the beep itself decided; the second report
    /// after a machine verdict carries it.
    pub beep_ms: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Analyzing,
    /// Machine verdict given; listening for the beep until `deadline_ms`.
    AwaitingBeep {
        deadline_ms: u32,
    },
    Done,
}

/// Per-leg answering-machine detector; feed it the customer leg's frames
/// from the answer on.
#[derive(Clone, Debug)]
pub struct AmdDetector {
    config: AmdConfig,
    vad: Vad,
    beep: BeepDetector,
    phase: Phase,
    elapsed_ms: u32,
    words: u32,
    in_word: bool,
    /// Voice since the last between-word silence.
    run_voice_ms: u32,
    /// Voice inside words since the first word.
    greeting_voice_ms: u32,
    /// When the first word began (ms from the answer).
    first_word_ms: Option<u32>,
    silence_ms: u32,
    verdict: Option<Verdict>,
}

impl AmdDetector {
    /// A detector with `config`, refused if the thresholds are inconsistent.
    pub fn new(config: AmdConfig) -> Result<Self, AmdConfigError> {
        config.validate()?;
        Ok(Self {
            vad: Vad::new(config.vad_params()),
            beep: BeepDetector::new(config.beep_params()),
            config,
            phase: Phase::Analyzing,
            elapsed_ms: 0,
            words: 0,
            in_word: false,
            run_voice_ms: 0,
            greeting_voice_ms: 0,
            first_word_ms: None,
            silence_ms: 0,
            verdict: None,
        })
    }

    /// The latest verdict, if any.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Audio analysed so far (ms).
    pub fn elapsed_ms(&self) -> u32 {
        self.elapsed_ms
    }

    /// True once nothing more will be reported.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Words counted so far (for logs and tuning).
    pub fn words(&self) -> u32 {
        self.words
    }

    fn decide(&mut self, outcome: Outcome, reason: Reason, beep_ms: Option<u32>) -> Detection {
        let verdict = Verdict {
            outcome,
            reason,
            decision_ms: self.elapsed_ms,
            beep_ms,
        };
        self.phase = if outcome == Outcome::Machine && beep_ms.is_none() && self.config.detect_beep
        {
            Phase::AwaitingBeep {
                deadline_ms: self.elapsed_ms.saturating_add(self.config.beep_wait_ms),
            }
        } else {
            Phase::Done
        };
        self.verdict = Some(verdict);
        Detection::Answer(verdict)
    }

    /// One frame of the analysis phase: the Asterisk-style state machine.
    fn analyze_timing(&mut self, voiced: bool) -> Option<(Outcome, Reason)> {
        let c = &self.config;
        if voiced {
            self.silence_ms = 0;
            self.run_voice_ms += FRAME_MS;
            if self.in_word {
                self.greeting_voice_ms += FRAME_MS;
            } else if self.run_voice_ms >= c.min_word_ms {
                self.in_word = true;
                self.words += 1;
                self.greeting_voice_ms += self.run_voice_ms;
                if self.first_word_ms.is_none() {
                    self.first_word_ms = Some(self.elapsed_ms - self.run_voice_ms);
                }
            }
            if self.run_voice_ms >= c.max_word_ms {
                return Some((Outcome::Machine, Reason::MaxWordLength));
            }
            if self.greeting_voice_ms >= c.greeting_ms {
                return Some((Outcome::Machine, Reason::LongGreeting));
            }
            if self.words >= c.max_words {
                return Some((Outcome::Machine, Reason::MaxWords));
            }
            // Every silence since the first word was shorter than the wait
            // that would have called the answer human, or we would not be
            // here: the talk has gone on longer than a person's first
            // sentence.
            if self
                .first_word_ms
                .is_some_and(|start| self.elapsed_ms - start >= c.greeting_span_ms)
            {
                return Some((Outcome::Machine, Reason::GreetingSpan));
            }
        } else {
            self.silence_ms += FRAME_MS;
            if self.silence_ms >= c.between_words_silence_ms {
                self.in_word = false;
                self.run_voice_ms = 0;
            }
            // The shorter the greeting, the less silence a person needs to
            // be told from a recorder pausing between its sentences.
            let needed = if self.greeting_voice_ms <= c.short_greeting_ms {
                c.after_short_greeting_silence_ms
            } else if self.greeting_voice_ms <= c.medium_greeting_ms {
                c.after_medium_greeting_silence_ms
            } else {
                c.after_greeting_silence_ms
            };
            if self.words > 0 && self.silence_ms >= needed {
                return Some((Outcome::Human, Reason::HumanShortGreetingThenSilence));
            }
        }
        if self.words == 0 && self.elapsed_ms >= c.initial_silence_ms {
            return Some((Outcome::Machine, Reason::InitialSilence));
        }
        if self.elapsed_ms >= c.max_analysis_ms {
            return Some((Outcome::Unsure, Reason::MaxAnalysisTime));
        }
        None
    }
}

impl FrameAnalyzer for AmdDetector {
    fn analyze(&mut self, frame: &Frame) -> Option<Detection> {
        if self.phase == Phase::Done {
            return None;
        }
        self.elapsed_ms = self.elapsed_ms.saturating_add(FRAME_MS);
        let db = frame_dbfs(frame);
        // Beeps are gated more loosely than voice: purity is the real test,
        // and a beep recorded a little quieter than the noise bed's
        // fluctuations plus the voice margin must still count.
        // The noise floor is seeded from the first frame, so a tone that is
        // already playing at the answer (an intercept's special-information
        // tones often are) would sit on its own floor; the first frames are
        // examined whatever their level, the purity test decides.
        let audible = db >= self.config.min_voice_dbfs
            && (db >= self.vad.floor_db() + BEEP_MARGIN_DB || self.elapsed_ms <= SEED_MS);
        let voiced = self.vad.update(db);
        // The beep detector runs in both phases: a greeting-less recorder
        // that only beeps is a machine too. It reports a beep a few frames
        // after its end, with the time of the end.
        let beep = if self.config.detect_beep || self.config.detect_tone_sequence {
            self.beep.update(frame, audible)
        } else {
            None
        }
        .filter(|_| self.config.detect_beep);
        match self.phase {
            Phase::Analyzing => {
                if let Some(b) = beep {
                    return Some(self.decide(Outcome::Machine, Reason::Beep, Some(b.end_ms)));
                }
                if self.config.detect_tone_sequence && self.beep.sequence_ms().is_some() {
                    return Some(self.decide(Outcome::Machine, Reason::ToneSequence, None));
                }
                let (outcome, reason) = self.analyze_timing(voiced)?;
                Some(self.decide(outcome, reason, None))
            }
            Phase::AwaitingBeep { deadline_ms } => {
                if let Some(b) = beep {
                    let decided_ms = self.verdict.map_or(self.elapsed_ms, |v| v.decision_ms);
                    self.phase = Phase::Done;
                    let verdict = Verdict {
                        outcome: Outcome::Machine,
                        reason: Reason::Beep,
                        decision_ms: decided_ms,
                        beep_ms: Some(b.end_ms),
                    };
                    self.verdict = Some(verdict);
                    return Some(Detection::Answer(verdict));
                }
                if self.elapsed_ms >= deadline_ms {
                    self.phase = Phase::Done;
                }
                None
            }
            Phase::Done => None,
        }
    }
}

#[cfg(test)]
mod tests;
