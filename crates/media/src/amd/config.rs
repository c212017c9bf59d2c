//! Per-campaign thresholds of the answering-machine detector.
//!
//! The fields mirror Asterisk's `amd.conf` (so operators moving from
//! VICIdial recognise them) plus the adaptive VAD's margins and the beep
//! detector. The API layer maps a campaign's settings onto this struct; it
//! stays free of serde like the rest of the crate.

use thiserror::Error;

use super::beep::BeepParams;
use super::vad::VadParams;

/// Thresholds of one detector. All durations are milliseconds of audio
/// from the answer; they are rounded up to whole 20 ms frames.
///
/// The defaults are biased toward calling a doubtful answer human or
/// unsure rather than machine: a person classified as a machine is hung up
/// on, which the law counts as an abandoned call, while a machine classified
/// as a person only costs an agent a few seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct AmdConfig {
    /// Silence from the answer to the first word longer than this is a
    /// machine (`initial_silence`): people say something when they pick up,
    /// some voicemail systems wait before playing. Longer than the slowest
    /// human pick-up in our corpus (2 s).
    pub initial_silence_ms: u32,
    /// Voice (summed over words, pauses excluded) longer than this before a
    /// decisive pause is a machine (`long_greeting`): "Hello?" or "Hi, this
    /// is Sam" is well under a second of voice, a recorded greeting goes on.
    pub greeting_ms: u32,
    /// Silence after at least one word that makes the answer human
    /// (`human_short_greeting_then_silence`): a person says hello and waits
    /// for the caller; a greeting pauses only briefly between sentences.
    pub after_greeting_silence_ms: u32,
    /// A greeting with at most this much voice is short ("Hello?",
    /// "Yeah?"): it needs only `after_short_greeting_silence_ms` of silence
    /// to be human. 0 turns the fast path off.
    pub short_greeting_ms: u32,
    /// Silence after a short greeting that makes the answer human. People
    /// who say one word wait for the caller; a recorder that opens with one
    /// word rarely pauses this long before going on.
    pub after_short_greeting_silence_ms: u32,
    /// A greeting longer than `short_greeting_ms` but with at most this much
    /// voice ("Hello, who is this?") needs only
    /// `after_medium_greeting_silence_ms` of silence to be human. The wait
    /// grows with the greeting because the longer the voice so far, the
    /// likelier it is a recorder pausing between two sentences. 0 (or a
    /// value not above `short_greeting_ms`) turns this tier off.
    pub medium_greeting_ms: u32,
    /// Silence after a medium greeting that makes the answer human.
    pub after_medium_greeting_silence_ms: u32,
    /// Time from the start of the first word to a voiced frame that, without
    /// a pause long enough to call the answer human in between, makes it a
    /// machine (`greeting_span`). Unlike `greeting_ms` it counts the short
    /// gaps between words and sentences too, so a recorder reading on is
    /// caught on the clock rather than once enough voiced frames added up,
    /// which in noise (where the quieter syllables drop out of the voice
    /// count) can take much longer. Above the longest first sentence of a
    /// person in the corpus (about 1.7 s).
    pub greeting_span_ms: u32,
    /// Give up and answer unsure (`max_analysis_time`) after this long.
    pub max_analysis_ms: u32,
    /// Voice shorter than this is a click or breath, not a word. With
    /// `between_words_silence_ms` at one frame a "word" is closer to a
    /// syllable: a voiced stretch of at least 60 ms between two dips.
    pub min_word_ms: u32,
    /// Silence that separates two words (one 20 ms frame by default, so
    /// every dip of the energy between syllables counts).
    pub between_words_silence_ms: u32,
    /// This many words before a decisive pause is a machine (`max_words`).
    /// A person's first sentence ("Hello, this is Maria.") has at most four
    /// voiced stretches of 60 ms or more in the corpus; a recorder reading
    /// on fluently ("Thank you for calling ...") reaches five within about
    /// a second, well before `greeting_span_ms`.
    pub max_words: u32,
    /// A single uninterrupted word longer than this is a machine
    /// (`max_word_length`): music, a tone, a fax.
    pub max_word_ms: u32,
    /// A quiet frame is voice when it is this far above the tracked noise
    /// floor (dB).
    pub voice_on_margin_db: f32,
    /// A voice frame stays voice while this far above the floor (dB).
    pub voice_off_margin_db: f32,
    /// Nothing quieter than this is voice (dBFS), so a near-silent line's
    /// hiss is never speech however low its floor.
    pub min_voice_dbfs: f32,
    /// How fast the noise floor may climb while frames are voice (dB/s):
    /// high enough to absorb a line that gets noisier, low enough that a
    /// long word does not swallow itself.
    pub noise_rise_db_per_s: f32,
    /// After a machine verdict keep listening for the beep and report it
    /// as a second verdict with `beep_ms` set.
    pub detect_beep: bool,
    /// Two pure tones at different pitches back to back (the three
    /// special-information tones before "the number you have dialed is not
    /// in service", a jingle) are a machine (`tone_sequence`): no person
    /// answers with them. Decided 100 ms into the second tone.
    pub detect_tone_sequence: bool,
    /// Lowest beep frequency (Hz).
    pub beep_min_hz: f32,
    /// Highest beep frequency (Hz).
    pub beep_max_hz: f32,
    /// A tone must last this long to be a beep (ms).
    pub beep_min_ms: u32,
    /// Share of a frame's energy in its strongest 25 Hz bin for the frame to
    /// count as tone (0-1).
    pub beep_min_purity: f32,
    /// Stop listening for a beep this long after the machine verdict.
    pub beep_wait_ms: u32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        Self {
            initial_silence_ms: 3_000,
            greeting_ms: 1_500,
            after_greeting_silence_ms: 700,
            short_greeting_ms: 500,
            after_short_greeting_silence_ms: 360,
            medium_greeting_ms: 900,
            after_medium_greeting_silence_ms: 500,
            greeting_span_ms: 1_700,
            max_analysis_ms: 5_000,
            min_word_ms: 60,
            between_words_silence_ms: 20,
            max_words: 5,
            max_word_ms: 5_000,
            voice_on_margin_db: 6.0,
            voice_off_margin_db: 3.0,
            min_voice_dbfs: -55.0,
            noise_rise_db_per_s: 6.0,
            detect_beep: true,
            detect_tone_sequence: true,
            beep_min_hz: 400.0,
            beep_max_hz: 2_000.0,
            beep_min_ms: 160,
            beep_min_purity: 0.6,
            beep_wait_ms: 30_000,
        }
    }
}

/// A configuration the detector refuses.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AmdConfigError {
    /// A duration that must be positive is zero.
    #[error("amd: {0} must be greater than zero")]
    Zero(&'static str),
    /// The analysis window ends before a decision could be reached.
    #[error("amd: max_analysis_ms ({max}) must exceed {field} ({value})")]
    WindowTooShort {
        field: &'static str,
        value: u32,
        max: u32,
    },
    /// A margin or level is not a finite number in its range.
    #[error("amd: {field} = {value} is out of range")]
    OutOfRange { field: &'static str, value: f32 },
    /// A shorter greeting would need a longer silence than a longer one.
    #[error("amd: {shorter} ({shorter_ms} ms) must not exceed {longer} ({longer_ms} ms)")]
    SilenceOrder {
        shorter: &'static str,
        shorter_ms: u32,
        longer: &'static str,
        longer_ms: u32,
    },
    /// The beep band is empty or outside 100-3500 Hz (the telephone band).
    #[error("amd: beep band {min}-{max} Hz is invalid")]
    BeepBand { min: f32, max: f32 },
}

impl AmdConfig {
    /// Check the thresholds make sense together.
    pub fn validate(&self) -> Result<(), AmdConfigError> {
        for (field, value) in [
            ("greeting_ms", self.greeting_ms),
            ("after_greeting_silence_ms", self.after_greeting_silence_ms),
            (
                "after_short_greeting_silence_ms",
                self.after_short_greeting_silence_ms,
            ),
            (
                "after_medium_greeting_silence_ms",
                self.after_medium_greeting_silence_ms,
            ),
            ("greeting_span_ms", self.greeting_span_ms),
            ("max_analysis_ms", self.max_analysis_ms),
            ("min_word_ms", self.min_word_ms),
            ("between_words_silence_ms", self.between_words_silence_ms),
            ("max_words", self.max_words),
            ("max_word_ms", self.max_word_ms),
            ("beep_min_ms", self.beep_min_ms),
        ] {
            if value == 0 {
                return Err(AmdConfigError::Zero(field));
            }
        }
        for (field, value) in [
            ("after_greeting_silence_ms", self.after_greeting_silence_ms),
            ("min_word_ms", self.min_word_ms),
        ] {
            if value >= self.max_analysis_ms {
                return Err(AmdConfigError::WindowTooShort {
                    field,
                    value,
                    max: self.max_analysis_ms,
                });
            }
        }
        for (shorter, shorter_ms, longer, longer_ms) in [
            (
                "after_short_greeting_silence_ms",
                self.after_short_greeting_silence_ms,
                "after_medium_greeting_silence_ms",
                self.after_medium_greeting_silence_ms,
            ),
            (
                "after_medium_greeting_silence_ms",
                self.after_medium_greeting_silence_ms,
                "after_greeting_silence_ms",
                self.after_greeting_silence_ms,
            ),
        ] {
            if shorter_ms > longer_ms {
                return Err(AmdConfigError::SilenceOrder {
                    shorter,
                    shorter_ms,
                    longer,
                    longer_ms,
                });
            }
        }
        let in_range = |field, value: f32, lo: f32, hi: f32| {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(AmdConfigError::OutOfRange { field, value })
            }
        };
        in_range("voice_on_margin_db", self.voice_on_margin_db, 1.0, 40.0)?;
        in_range(
            "voice_off_margin_db",
            self.voice_off_margin_db,
            0.0,
            self.voice_on_margin_db,
        )?;
        in_range("min_voice_dbfs", self.min_voice_dbfs, -96.0, 0.0)?;
        in_range("noise_rise_db_per_s", self.noise_rise_db_per_s, 0.0, 100.0)?;
        in_range("beep_min_purity", self.beep_min_purity, 0.1, 1.0)?;
        let (min, max) = (self.beep_min_hz, self.beep_max_hz);
        if !(min.is_finite() && max.is_finite() && 100.0 <= min && min < max && max <= 3_500.0) {
            return Err(AmdConfigError::BeepBand { min, max });
        }
        Ok(())
    }

    pub(super) fn vad_params(&self) -> VadParams {
        VadParams {
            on_margin_db: self.voice_on_margin_db,
            off_margin_db: self.voice_off_margin_db,
            min_voice_dbfs: self.min_voice_dbfs,
            rise_under_voice_db_per_s: self.noise_rise_db_per_s,
        }
    }

    pub(super) fn beep_params(&self) -> BeepParams {
        BeepParams {
            min_hz: self.beep_min_hz,
            max_hz: self.beep_max_hz,
            min_ms: self.beep_min_ms,
            min_purity: self.beep_min_purity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(AmdConfig::default().validate(), Ok(()));
    }

    #[test]
    fn nonsense_is_refused_with_the_field_named() {
        let c = AmdConfig {
            greeting_ms: 0,
            ..AmdConfig::default()
        };
        assert_eq!(c.validate(), Err(AmdConfigError::Zero("greeting_ms")));
        let c = AmdConfig {
            max_analysis_ms: 500,
            ..AmdConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(AmdConfigError::WindowTooShort {
                field: "after_greeting_silence_ms",
                ..
            })
        ));
        let c = AmdConfig {
            voice_off_margin_db: 12.0,
            ..AmdConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(AmdConfigError::OutOfRange {
                field: "voice_off_margin_db",
                ..
            })
        ));
        let c = AmdConfig {
            after_medium_greeting_silence_ms: 800,
            ..AmdConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(AmdConfigError::SilenceOrder {
                longer: "after_greeting_silence_ms",
                ..
            })
        ));
        let c = AmdConfig {
            beep_min_hz: 2_500.0,
            ..AmdConfig::default()
        };
        assert!(matches!(c.validate(), Err(AmdConfigError::BeepBand { .. })));
        let c = AmdConfig {
            min_voice_dbfs: f32::NAN,
            ..AmdConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
