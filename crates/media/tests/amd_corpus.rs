//! Answering-machine detection measured on the generated corpus
//! (scripts/amd-corpus): espeak-ng live answers and voicemail greetings,
//! telephone band, noise, beeps, G.711. The defaults were tuned on the
//! training half (see the ignored grid below); both halves must meet the
//! accuracy goals: human-as-machine < 2 %, machine-as-human < 10 % (unsure
//! counted as human, since the dialer connects those).
//!
//! Decision time. The goal, a median under 1.5 s from the answer,
//! is NOT met (1.72 s on both halves) and is not asserted: on this corpus
//! no detector that works from the line's timing and energy can meet it
//! with the error budgets above. Half of a half (97 of 192 training clips,
//! 105 of 208 held-out) would have to be decided before 1.5 s. A person can
//! only be told from a recorder once their first sentence is over ("Hello,
//! this is Maria." opens both a live answer and a greeting): even at 100 ms
//! after its end that is 54 (held out: 57) people by 1.5 s. The tone-only
//! machines (special-information tones, a lone beep) add 12 (11). The rest,
//! 31 (37), would have to be talking machines called about 1 s into their
//! greeting, while 29 of 99 (28 of 101) people are still in their first
//! sentence then. An upper bound for rules on voiced time and syllable
//! counts: take, at each moment after the first sound, the most any
//! training person had of either (an envelope fitted to those very people,
//! no margin), and call a machine the moment it leaves that envelope: 21 of
//! 78 (held out: 18 of 91) talking machines are out by 1.5 s, so at most 87
//! of 97 (86 of 105) clips. Energy features beyond timing do not separate the classes here
//! either: both get the same noise beds, levels and voices from the
//! generator. Industry defaults sit well above this too (Asterisk waits 800
//! ms of silence after a greeting, Twilio 1200 ms; ours waits 360-700 ms by
//! greeting length).
//!
//! What is asserted instead: the median from the answer stays under 1.8 s
//! (a regression bound; 1.72 s on both halves today, 1.98 s / 2.04 s before
//! words were counted as 60 ms voiced stretches between one-frame dips and
//! the medium tier was widened, 2.16 s / 2.22 s before the greeting-span
//! rule, the tiered silence and the tone-sequence rule), a person is
//! recognised within 450 ms of the end of their first sentence (median;
//! ~390 ms today), which is what the 2-second abandonment rule counts from,
//! and most special-information-tone intercepts are decided by their tones.
//! p50/p90 per class are printed.
//!
//! Skipped, with a message, when espeak-ng or sox is missing; a failure
//! instead with OMNIVOX_REQUIRE_AUDIO_TOOLS set (scripts/test.sh installs
//! them and sets it).

mod amd_common;

use amd_common::{Clip, Score, Unavailable};
use omnivox_media::amd::AmdConfig;

fn corpus() -> Option<Vec<Clip>> {
    match amd_common::ensure_corpus() {
        Ok(dir) => {
            amd_common::check_labels_match_committed(&dir);
            Some(amd_common::load(&dir))
        }
        Err(Unavailable::Missing(why)) => {
            eprintln!("SKIPPED amd corpus test: {why}");
            None
        }
    }
}

fn check(name: &str, s: &Score) {
    println!("{}", s.table(name));
    for e in &s.errors {
        println!("  wrong: {e}");
    }
    assert!(
        s.humans() >= 50 && s.machines() >= 50,
        "{name}: half too small"
    );
    assert!(
        s.human_as_machine() < 0.02,
        "{name}: human-as-machine {:.2} %",
        100.0 * s.human_as_machine()
    );
    assert!(
        s.machine_as_human() < 0.10,
        "{name}: machine-as-human {:.2} %",
        100.0 * s.machine_as_human()
    );
    println!(
        "  {name}: issue goal median decision < 1500 ms from the answer: {} ({} ms; \
         not reachable on this corpus, see the module comment)",
        if s.median_decision_ms() < 1_500 {
            "met"
        } else {
            "NOT met"
        },
        s.median_decision_ms()
    );
    assert!(
        s.median_decision_ms() < 1_800,
        "{name}: median decision {} ms",
        s.median_decision_ms()
    );
    assert!(
        s.sit_by_tones * 10 >= s.sit_clips * 9,
        "{name}: special-information tones decided by the tones {}/{}",
        s.sit_by_tones,
        s.sit_clips
    );
    assert!(
        s.median_human_after_speech_ms() < 450,
        "{name}: humans recognised a median {} ms after their first sentence",
        s.median_human_after_speech_ms()
    );
    assert!(
        s.beep_recall() >= 0.9,
        "{name}: beeps found {}/{}",
        s.beeps_found,
        s.beeps
    );
    assert!(
        s.false_beeps * 20 <= s.machines(),
        "{name}: {} false beeps",
        s.false_beeps
    );
}

#[test]
fn amd_meets_its_goals_on_the_training_and_held_out_halves() {
    let Some(clips) = corpus() else { return };
    let config = AmdConfig::default();
    let train = amd_common::score(&config, &clips, |c| c.train);
    let test = amd_common::score(&config, &clips, |c| !c.train);
    check("training half", &train);
    check("held-out half", &test);
}

/// Grid search over the main timing thresholds on the training half only;
/// prints one line per setting. Run with
/// `cargo test -p omnivox-media --test amd_corpus -- --ignored --nocapture`.
#[test]
#[ignore = "tuning aid, prints a grid; not a check"]
fn amd_tuning_grid_on_the_training_half() {
    let Some(clips) = corpus() else { return };
    for (min_word_ms, between_words_silence_ms) in [(60, 20), (100, 50)] {
        for max_words in [5, 6] {
            for greeting_span_ms in [1_500, 1_700] {
                for after_short_greeting_silence_ms in [300, 360] {
                    for (medium_greeting_ms, after_medium_greeting_silence_ms) in
                        [(700, 600), (900, 500)]
                    {
                        let config = AmdConfig {
                            min_word_ms,
                            between_words_silence_ms,
                            max_words,
                            greeting_span_ms,
                            after_short_greeting_silence_ms,
                            medium_greeting_ms,
                            after_medium_greeting_silence_ms,
                            ..AmdConfig::default()
                        };
                        let s = amd_common::score(&config, &clips, |c| c.train);
                        println!(
                            "word {min_word_ms}/{between_words_silence_ms} \
                             max_words {max_words} span {greeting_span_ms} \
                             short {after_short_greeting_silence_ms} \
                             medium {medium_greeting_ms}/{after_medium_greeting_silence_ms}: \
                             h->m {:.1} % m->h {:.1} % median {} ms",
                            100.0 * s.human_as_machine(),
                            100.0 * s.machine_as_human(),
                            s.median_decision_ms()
                        );
                    }
                }
            }
        }
    }
}
