//! The state machine on synthetic lines: pseudo-noise for silence, harmonic
//! bursts (speech-like: energy spread over many harmonics, so never a beep)
//! for words, pure tones for beeps.

use super::*;
use crate::FRAME_SAMPLES;

/// Builds a line 20 ms at a time.
struct Line {
    frames: Vec<Frame>,
    seed: u32,
    noise_rms: f64,
    sample: usize,
}

impl Line {
    fn new(noise_rms: f64) -> Self {
        Self {
            frames: Vec::new(),
            seed: 12_345,
            noise_rms,
            sample: 0,
        }
    }

    fn push(&mut self, ms: u32, mut signal: impl FnMut(f64) -> f64) -> &mut Self {
        for _ in 0..ms / FRAME_MS {
            let mut f = [0i16; FRAME_SAMPLES];
            for s in f.iter_mut() {
                self.seed = self
                    .seed
                    .wrapping_mul(1_664_525)
                    .wrapping_add(1_013_904_223);
                let u = f64::from(self.seed >> 8) / f64::from(1u32 << 24) - 0.5;
                let t = self.sample as f64 / 8000.0;
                let x = signal(t) + u * self.noise_rms * 12f64.sqrt();
                *s = x.clamp(-32768.0, 32767.0) as i16;
                self.sample += 1;
            }
            self.frames.push(f);
        }
        self
    }

    fn silence(&mut self, ms: u32) -> &mut Self {
        self.push(ms, |_| 0.0)
    }

    /// A "word": 140 Hz and its first eight harmonics, syllable-modulated.
    fn word(&mut self, ms: u32, amp: f64) -> &mut Self {
        self.push(ms, move |t| {
            let tau = 2.0 * std::f64::consts::PI;
            let env = 0.75 + 0.25 * (tau * 4.0 * t).sin();
            (1..=8)
                .map(|k| (tau * 140.0 * f64::from(k) * t).sin())
                .sum::<f64>()
                * amp
                * env
                / 4.0
        })
    }

    fn tone(&mut self, ms: u32, hz: f64, amp: f64) -> &mut Self {
        self.push(ms, move |t| {
            amp * (2.0 * std::f64::consts::PI * hz * t).sin()
        })
    }

    /// Run a detector over the line; every detection with its frame's end.
    fn run(&self, config: AmdConfig) -> Vec<Verdict> {
        let mut det = match AmdDetector::new(config) {
            Ok(d) => d,
            Err(e) => panic!("config: {e}"),
        };
        self.frames
            .iter()
            .filter_map(|f| match det.analyze(f) {
                Some(Detection::Answer(v)) => Some(v),
                Some(other) => panic!("unexpected {other:?}"),
                None => None,
            })
            .collect()
    }
}

fn verdict(outcome: Outcome, reason: Reason, decision_ms: u32) -> Verdict {
    Verdict {
        outcome,
        reason,
        decision_ms,
        beep_ms: None,
    }
}

#[test]
fn silence_only_is_a_machine_at_the_initial_silence_limit() {
    let mut line = Line::new(30.0);
    line.silence(8_000);
    let got = line.run(AmdConfig::default());
    assert_eq!(
        got,
        vec![verdict(Outcome::Machine, Reason::InitialSilence, 3_000)]
    );
}

#[test]
fn hello_then_silence_is_human_after_the_after_greeting_silence() {
    let mut line = Line::new(30.0);
    line.silence(300).word(400, 4_000.0).silence(3_000);
    // A 400 ms greeting is short: 360 ms of silence after it suffice.
    assert_eq!(
        line.run(AmdConfig::default()),
        vec![verdict(
            Outcome::Human,
            Reason::HumanShortGreetingThenSilence,
            300 + 400 + 360
        )]
    );
    // Without the short tier it is a medium greeting (500 ms of silence),
    // without both it takes the full 700 ms.
    let config = AmdConfig {
        short_greeting_ms: 0,
        ..AmdConfig::default()
    };
    assert_eq!(
        line.run(config),
        vec![verdict(
            Outcome::Human,
            Reason::HumanShortGreetingThenSilence,
            300 + 400 + 500
        )]
    );
    let config = AmdConfig {
        short_greeting_ms: 0,
        medium_greeting_ms: 0,
        ..AmdConfig::default()
    };
    assert_eq!(
        line.run(config),
        vec![verdict(
            Outcome::Human,
            Reason::HumanShortGreetingThenSilence,
            300 + 400 + 700
        )]
    );
}

#[test]
fn the_same_answer_is_human_on_a_quiet_line_and_a_loud_noisy_one() {
    for (noise, amp) in [(3.0, 300.0), (30.0, 4_000.0), (600.0, 12_000.0)] {
        let mut line = Line::new(noise);
        line.silence(400)
            .word(300, amp)
            .silence(120)
            .word(300, amp)
            .silence(2_000);
        let got = line.run(AmdConfig::default());
        assert_eq!(got.len(), 1, "noise {noise}: {got:?}");
        assert_eq!(got[0].outcome, Outcome::Human, "noise {noise}: {got:?}");
        // 600 ms of voice is a medium greeting: 500 ms of silence.
        assert_eq!(got[0].decision_ms, 400 + 720 + 500, "noise {noise}");
    }
}

#[test]
fn a_long_greeting_is_a_machine_once_its_voice_exceeds_the_limit() {
    let mut line = Line::new(30.0);
    line.silence(200);
    for _ in 0..6 {
        line.word(400, 4_000.0).silence(200);
    }
    line.silence(2_000);
    let config = AmdConfig {
        detect_beep: false,
        greeting_span_ms: 4_000,
        ..AmdConfig::default()
    };
    let got = line.run(config);
    // 1500 ms of voice: three words and 300 ms of the fourth, with three
    // 200 ms gaps and the 200 ms lead.
    assert_eq!(
        got,
        vec![verdict(
            Outcome::Machine,
            Reason::LongGreeting,
            200 + 3 * 600 + 300
        )]
    );
}

#[test]
fn a_recorder_reading_on_with_short_pauses_is_a_machine_on_the_clock() {
    let mut line = Line::new(30.0);
    line.silence(200);
    // 240 ms words, 260 ms pauses: each pause shorter than the silence any
    // tier needs to call it human, and the voice stays under greeting_ms.
    for _ in 0..8 {
        line.word(240, 4_000.0).silence(260);
    }
    line.silence(2_000);
    let config = AmdConfig {
        detect_beep: false,
        ..AmdConfig::default()
    };
    assert_eq!(
        line.run(config),
        vec![verdict(Outcome::Machine, Reason::GreetingSpan, 200 + 1_700)]
    );
}

#[test]
fn special_information_tones_are_a_machine_in_the_second_tone() {
    let mut line = Line::new(30.0);
    line.silence(300)
        .tone(280, 913.8, 5_000.0)
        .tone(280, 1_370.6, 5_000.0)
        .tone(380, 1_776.7, 5_000.0)
        .silence(200)
        .word(400, 4_000.0)
        .silence(3_000);
    // Five frames into the second tone.
    assert_eq!(
        line.run(AmdConfig::default()),
        vec![verdict(
            Outcome::Machine,
            Reason::ToneSequence,
            300 + 280 + 100
        )]
    );
    let config = AmdConfig {
        detect_tone_sequence: false,
        ..AmdConfig::default()
    };
    let got = line.run(config);
    assert!(
        got.iter().all(|v| v.reason != Reason::ToneSequence),
        "{got:?}"
    );
}

#[test]
fn special_information_tones_from_the_answer_on_are_found_too() {
    // The tones start in the first frame, which seeds the noise floor.
    let mut line = Line::new(30.0);
    line.tone(280, 913.8, 5_000.0)
        .tone(280, 1_370.6, 5_000.0)
        .tone(380, 1_776.7, 5_000.0)
        .silence(3_000);
    assert_eq!(
        line.run(AmdConfig::default()),
        vec![verdict(Outcome::Machine, Reason::ToneSequence, 280 + 100)]
    );
}

#[test]
fn many_short_words_hit_max_words() {
    let mut line = Line::new(30.0);
    line.silence(200);
    for _ in 0..6 {
        line.word(160, 4_000.0).silence(100);
    }
    line.silence(2_000);
    let config = AmdConfig {
        max_words: 3,
        detect_beep: false,
        ..AmdConfig::default()
    };
    let got = line.run(config);
    // The third word counts once it reaches min_word_ms (60 ms).
    assert_eq!(
        got,
        vec![verdict(
            Outcome::Machine,
            Reason::MaxWords,
            200 + 2 * 260 + 60
        )]
    );
}

/// Syllables of fluent reading: 120 ms of voice, 40 ms dips.
fn fluent(line: &mut Line, syllables: u32) {
    for _ in 0..syllables {
        line.word(120, 4_000.0).silence(40);
    }
}

#[test]
fn fluent_reading_is_a_machine_at_the_fifth_syllable_before_the_span() {
    let mut line = Line::new(30.0);
    line.silence(300);
    fluent(&mut line, 12);
    line.silence(2_000);
    let config = AmdConfig {
        detect_beep: false,
        ..AmdConfig::default()
    };
    // The fifth voiced stretch counts 60 ms into it, 940 ms after the first
    // one began: long before greeting_span_ms (1700 ms) or greeting_ms.
    assert_eq!(
        line.run(config.clone()),
        vec![verdict(
            Outcome::Machine,
            Reason::MaxWords,
            300 + 4 * 160 + 60
        )]
    );
    // With the former word definition (100 ms, 50 ms of silence between
    // words) the dips do not separate words: one long word, caught only
    // by the span.
    let config = AmdConfig {
        min_word_ms: 100,
        between_words_silence_ms: 50,
        ..config
    };
    assert_eq!(
        line.run(config),
        vec![verdict(Outcome::Machine, Reason::GreetingSpan, 300 + 1_700)]
    );
}

#[test]
fn a_four_syllable_greeting_then_silence_is_human() {
    // "Hello, this is Maria.": four voiced stretches with dips and a comma
    // pause, then the person waits.
    let mut line = Line::new(30.0);
    line.silence(400);
    fluent(&mut line, 2);
    line.silence(200);
    fluent(&mut line, 2);
    line.silence(3_000);
    let got = line.run(AmdConfig::default());
    // 480 ms of voice is a short greeting: 360 ms of silence after the
    // last stretch (its 40 ms dip included) make it human.
    let end = 400 + 2 * 160 + 200 + 2 * 160 - 40;
    assert_eq!(
        got,
        vec![verdict(
            Outcome::Human,
            Reason::HumanShortGreetingThenSilence,
            end + 360
        )]
    );
}

#[test]
fn sparse_short_sounds_are_unsure_at_the_analysis_limit() {
    let mut line = Line::new(30.0);
    line.silence(200);
    for _ in 0..10 {
        line.word(120, 4_000.0).silence(600);
    }
    let config = AmdConfig {
        max_words: 100,
        short_greeting_ms: 0,
        medium_greeting_ms: 0,
        greeting_span_ms: 5_000,
        ..AmdConfig::default()
    };
    let got = line.run(config);
    assert_eq!(
        got,
        vec![verdict(Outcome::Unsure, Reason::MaxAnalysisTime, 5_000)]
    );
}

#[test]
fn an_endless_sound_is_a_machine_by_word_length() {
    let mut line = Line::new(30.0);
    line.silence(200).word(4_000, 6_000.0);
    let config = AmdConfig {
        greeting_ms: 10_000,
        greeting_span_ms: 10_000,
        max_word_ms: 2_000,
        ..AmdConfig::default()
    };
    let got = line.run(config);
    assert_eq!(
        got,
        vec![verdict(Outcome::Machine, Reason::MaxWordLength, 2_200)]
    );
}

#[test]
fn clicks_shorter_than_a_word_do_not_end_the_initial_silence() {
    let mut line = Line::new(30.0);
    for _ in 0..10 {
        line.silence(460).word(40, 8_000.0);
    }
    let got = line.run(AmdConfig::default());
    assert_eq!(
        got,
        vec![verdict(Outcome::Machine, Reason::InitialSilence, 3_000)]
    );
}

#[test]
fn after_a_machine_verdict_the_beep_is_reported_when_it_ends() {
    let mut line = Line::new(30.0);
    line.silence(200);
    for _ in 0..5 {
        line.word(500, 4_000.0).silence(160);
    }
    line.silence(300).tone(600, 1_000.0, 5_000.0).silence(1_000);
    let got = line.run(AmdConfig::default());
    let beep_end = 200 + 5 * 660 + 300 + 600;
    // Talk still going 1700 ms after the first word began (in the third
    // word, 1520-2020 ms).
    let first = verdict(Outcome::Machine, Reason::GreetingSpan, 200 + 1_700);
    assert_eq!(
        got,
        vec![
            first,
            Verdict {
                reason: Reason::Beep,
                beep_ms: Some(beep_end),
                ..first
            }
        ]
    );
}

#[test]
fn a_recorder_that_only_beeps_is_a_machine() {
    let mut line = Line::new(30.0);
    line.silence(400).tone(500, 1_400.0, 5_000.0).silence(2_000);
    let got = line.run(AmdConfig::default());
    assert_eq!(
        got,
        vec![Verdict {
            outcome: Outcome::Machine,
            reason: Reason::Beep,
            decision_ms: 960,
            beep_ms: Some(900),
        }]
    );
}

#[test]
fn no_beep_means_one_report_and_the_detector_stops_after_the_wait() {
    let mut line = Line::new(30.0);
    line.silence(200).word(2_000, 4_000.0).silence(3_000);
    let config = AmdConfig {
        beep_wait_ms: 1_000,
        ..AmdConfig::default()
    };
    let mut det = match AmdDetector::new(config) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let mut reports = 0;
    for f in &line.frames {
        if det.analyze(f).is_some() {
            reports += 1;
        }
    }
    assert_eq!(reports, 1);
    assert!(det.is_done());
    assert_eq!(
        det.verdict().map(|v| (v.outcome, v.reason)),
        Some((Outcome::Machine, Reason::LongGreeting))
    );
    assert_eq!(det.analyze(&[0; FRAME_SAMPLES]), None);
}

#[test]
fn an_invalid_config_is_refused() {
    let config = AmdConfig {
        min_word_ms: 0,
        ..AmdConfig::default()
    };
    assert!(matches!(
        AmdDetector::new(config),
        Err(AmdConfigError::Zero("min_word_ms"))
    ));
}

#[test]
fn reasons_have_stable_names() {
    assert_eq!(
        Reason::HumanShortGreetingThenSilence.to_string(),
        "human_short_greeting_then_silence"
    );
    assert_eq!(Reason::LongGreeting.as_str(), "long_greeting");
    assert_eq!(Reason::InitialSilence.as_str(), "initial_silence");
    assert_eq!(Reason::GreetingSpan.as_str(), "greeting_span");
    assert_eq!(Reason::ToneSequence.as_str(), "tone_sequence");
}
