//! Answering-machine detection benchmark: throughput of the detector in
//! call-seconds analysed per CPU second, against a baseline that only
//! computes each frame's energy over the same frames, plus the detector's
//! accuracy and decision times on the generated corpus (both halves): the
//! confusion rates, the median decision time against the 1.5 s goal
//! (not met on this corpus; tests/amd_corpus.rs explains why) and p50/p90
//! per class. Prints one JSON object.
//!
//! `cargo bench -p omnivox-media --bench amd`

#[path = "../tests/amd_common/mod.rs"]
mod amd_common;

use std::hint::black_box;
use std::time::Instant;

use amd_common::{Clip, Score, Unavailable};
use omnivox_media::FrameAnalyzer;
use omnivox_media::amd::{AmdConfig, AmdDetector, frame_dbfs};

const ROUNDS: usize = 5;

/// Frames each clip is analysed for: from the answer until the detector
/// has nothing more to report (verdict, then the beep or the beep wait).
fn active_frames(config: &AmdConfig, clip: &Clip) -> usize {
    let Ok(mut det) = AmdDetector::new(config.clone()) else {
        return 0;
    };
    let mut n = 0;
    for f in &clip.frames {
        if det.is_done() {
            break;
        }
        det.analyze(f);
        n += 1;
    }
    n
}

/// Seconds to run the detector over every clip's active frames.
fn time_detector(config: &AmdConfig, clips: &[Clip], active: &[usize]) -> f64 {
    let start = Instant::now();
    for (clip, &n) in clips.iter().zip(active) {
        let Ok(mut det) = AmdDetector::new(config.clone()) else {
            continue;
        };
        for f in &clip.frames[..n] {
            black_box(det.analyze(black_box(f)));
        }
    }
    start.elapsed().as_secs_f64()
}

/// Seconds to compute only each frame's energy over the same frames.
fn time_energy(clips: &[Clip], active: &[usize]) -> f64 {
    let start = Instant::now();
    for (clip, &n) in clips.iter().zip(active) {
        for f in &clip.frames[..n] {
            black_box(frame_dbfs(black_box(f)));
        }
    }
    start.elapsed().as_secs_f64()
}

fn best(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.first().copied().unwrap_or(f64::NAN)
}

fn score_json(s: &Score) -> String {
    format!(
        "{{\"humans\": {}, \"machines\": {}, \"human_as_machine_pct\": {:.2}, \
         \"machine_as_human_pct\": {:.2}, \"unsure\": {}, \"median_decision_ms\": {}, \
         \"median_decision_after_first_sound_ms\": {}, \
         \"median_human_decision_after_greeting_ms\": {}, \
         \"goal_median_decision_under_1500_ms\": {}, \
         \"human_decision_ms\": {{\"p50\": {}, \"p90\": {}}}, \
         \"machine_decision_ms\": {{\"p50\": {}, \"p90\": {}}}, \
         \"sit_decided_by_tones\": {}, \"sit_clips\": {}, \
         \"beeps\": {}, \"beeps_found\": {}, \"false_beeps\": {}}}",
        s.humans(),
        s.machines(),
        100.0 * s.human_as_machine(),
        100.0 * s.machine_as_human(),
        s.matrix[0][2] + s.matrix[1][2],
        s.median_decision_ms(),
        s.median_after_onset_ms(),
        s.median_human_after_speech_ms(),
        s.median_decision_ms() < 1_500,
        s.human_p50_p90().0,
        s.human_p50_p90().1,
        s.machine_p50_p90().0,
        s.machine_p50_p90().1,
        s.sit_by_tones,
        s.sit_clips,
        s.beeps,
        s.beeps_found,
        s.false_beeps,
    )
}

fn main() {
    let dir = match amd_common::ensure_corpus() {
        Ok(dir) => dir,
        Err(Unavailable::Missing(why)) => {
            eprintln!("amd bench skipped: {why}");
            return;
        }
    };
    let clips = amd_common::load(&dir);
    let config = AmdConfig::default();
    let active: Vec<usize> = clips.iter().map(|c| active_frames(&config, c)).collect();
    let frames: usize = active.iter().sum();
    let call_seconds = frames as f64 * 0.02;
    let mut det_s = Vec::new();
    let mut base_s = Vec::new();
    for _ in 0..ROUNDS {
        det_s.push(time_detector(&config, &clips, &active));
        base_s.push(time_energy(&clips, &active));
    }
    let (det, base) = (best(det_s), best(base_s));
    let train = amd_common::score(&config, &clips, |c| c.train);
    let test = amd_common::score(&config, &clips, |c| !c.train);
    println!(
        "{{\"bench\": \"amd\", \"clips\": {}, \"frames\": {frames}, \"call_seconds\": {call_seconds:.1}, \
         \"rounds\": {ROUNDS}, \
         \"detector\": {{\"cpu_s\": {det:.6}, \"call_seconds_per_cpu_second\": {:.0}, \
         \"ns_per_frame\": {:.0}}}, \
         \"baseline_energy_only\": {{\"cpu_s\": {base:.6}, \"call_seconds_per_cpu_second\": {:.0}, \
         \"ns_per_frame\": {:.0}}}, \
         \"detector_cost_vs_baseline\": {:.1}, \
         \"accuracy\": {{\"train\": {}, \"held_out\": {}}}}}",
        clips.len(),
        call_seconds / det,
        det * 1e9 / frames as f64,
        call_seconds / base,
        base * 1e9 / frames as f64,
        det / base,
        score_json(&train),
        score_json(&test),
    );
}
