//! In-band DTMF detection on generated audio: every digit at several levels
//! and twists, noise, speech-like signals, digits in a row and digits that
//! straddle frame boundaries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_media::goertzel::{
    COL_FREQS, DtmfDetector, KEYPAD, ROW_FREQS, dbm0_to_amplitude, digit_position,
};
use omnivox_media::{Detection, FRAME_SAMPLES, Frame, FrameAnalyzer, SAMPLE_RATE};
use std::f64::consts::PI;

const FS: f64 = SAMPLE_RATE as f64;

fn ms(n: u32) -> usize {
    n as usize * SAMPLE_RATE as usize / 1000
}

/// Appends a DTMF tone with each tone's level in dBm0.
fn tone(out: &mut Vec<f64>, digit: char, dur_ms: u32, low_dbm0: f32, high_dbm0: f32) {
    let (r, c) = digit_position(digit).unwrap();
    let (fl, fh) = (f64::from(ROW_FREQS[r]), f64::from(COL_FREQS[c]));
    let (al, ah) = (
        f64::from(dbm0_to_amplitude(low_dbm0)),
        f64::from(dbm0_to_amplitude(high_dbm0)),
    );
    for i in 0..ms(dur_ms) {
        let t = i as f64 / FS;
        out.push(al * (2.0 * PI * fl * t).sin() + ah * (2.0 * PI * fh * t + 0.7).sin());
    }
}

fn silence(out: &mut Vec<f64>, dur_ms: u32) {
    out.extend(std::iter::repeat_n(0.0, ms(dur_ms)));
}

/// A small deterministic PRNG (xorshift) for noise: uniform in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    /// Approximately Gaussian, unit variance (sum of 12 uniforms).
    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| self.next() / 2.0).sum::<f64>()
    }
}

fn to_i16(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Runs a detector over `samples` in 20 ms frames (the tail padded with
/// silence, then 200 ms of silence so a final digit ends), returning digits.
fn detect(samples: &[i16]) -> Vec<(char, u32)> {
    let mut det = DtmfDetector::default();
    let mut all = samples.to_vec();
    all.extend(std::iter::repeat_n(0, ms(200)));
    let mut out = Vec::new();
    for chunk in all.chunks(FRAME_SAMPLES) {
        let mut frame: Frame = [0; FRAME_SAMPLES];
        frame[..chunk.len()].copy_from_slice(chunk);
        if let Some(Detection::Digit { digit, duration_ms }) = det.analyze(&frame) {
            out.push((digit, duration_ms));
        }
    }
    assert_eq!(det.finish(), None, "nothing left after 200 ms of silence");
    out
}

fn digits(found: &[(char, u32)]) -> String {
    found.iter().map(|(d, _)| *d).collect()
}

#[test]
fn every_digit_at_several_levels() {
    for level in [-3.0f32, -10.0, -20.0, -26.0] {
        for row in KEYPAD {
            for d in row {
                let mut x = Vec::new();
                silence(&mut x, 60);
                tone(&mut x, d, 60, level, level);
                silence(&mut x, 60);
                let found = detect(&to_i16(&x));
                assert_eq!(digits(&found), d.to_string(), "digit {d} at {level} dBm0");
            }
        }
    }
}

#[test]
fn tones_below_the_minimum_level_are_ignored() {
    for d in ['1', '5', '9', '#', 'D'] {
        let mut x = Vec::new();
        tone(&mut x, d, 100, -40.0, -40.0);
        assert!(detect(&to_i16(&x)).is_empty(), "{d} at -40 dBm0");
    }
}

#[test]
fn twist_within_limits_is_accepted_and_beyond_is_rejected() {
    for row in KEYPAD {
        for d in row {
            // Normal twist: the high group louder.
            for (low, high, ok) in [
                (-16.0f32, -10.0f32, true), // 6 dB normal
                (-10.0, -13.0, true),       // 3 dB reverse
                (-21.0, -10.0, false),      // 11 dB normal
                (-10.0, -17.0, false),      // 7 dB reverse
            ] {
                let mut x = Vec::new();
                silence(&mut x, 20);
                tone(&mut x, d, 80, low, high);
                let found = detect(&to_i16(&x));
                let expected = if ok { d.to_string() } else { String::new() };
                assert_eq!(digits(&found), expected, "{d} low {low} high {high}");
            }
        }
    }
}

#[test]
fn noise_alone_is_not_a_digit() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for rms in [100.0, 1000.0, 5000.0, 12000.0] {
        let x: Vec<f64> = (0..ms(3000)).map(|_| rng.gauss() * rms).collect();
        assert!(detect(&to_i16(&x)).is_empty(), "noise rms {rms}");
    }
}

#[test]
fn digits_in_moderate_noise_are_detected() {
    let mut rng = Rng(42);
    let mut x = Vec::new();
    for d in ['1', '6', '8', '0'] {
        silence(&mut x, 80);
        tone(&mut x, d, 70, -10.0, -10.0);
    }
    silence(&mut x, 80);
    // Each tone at -10 dBm0 has rms 22300·0.316/√2 ≈ 4990; white noise of
    // rms 2200 is 10 dB below the pair (the limit is near 7 dB).
    let noisy: Vec<f64> = x.iter().map(|v| v + rng.gauss() * 2200.0).collect();
    assert_eq!(digits(&detect(&to_i16(&noisy))), "1680");
}

/// A voiced, speech-like signal: a gliding fundamental with 25 harmonics
/// shaped by two formants.
fn voiced(dur_ms: u32, f0_from: f64, f0_to: f64, f1: f64, f2: f64, amp: f64) -> Vec<f64> {
    let n = ms(dur_ms);
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let f0 = f0_from + (f0_to - f0_from) * i as f64 / n as f64;
            phase += 2.0 * PI * f0 / FS;
            (1..=25)
                .map(|h| {
                    let f = f0 * h as f64;
                    if f > 3800.0 {
                        return 0.0;
                    }
                    let g1 = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2));
                    let g2 = 0.6 / (1.0 + ((f - f2) / 150.0).powi(2));
                    (g1 + g2 + 0.05) * (phase * h as f64).sin()
                })
                .sum::<f64>()
                * amp
        })
        .collect()
}

#[test]
fn speech_like_harmonics_are_not_digits() {
    // Vowel-like formant pairs close to DTMF pairs are the hard case:
    // (700, 1200) sits on digit 1's frequencies.
    let formants = [
        (700.0, 1200.0),
        (770.0, 1340.0),
        (300.0, 2300.0),
        (500.0, 1500.0),
    ];
    for (f1, f2) in formants {
        for (a, b) in [
            (90.0, 140.0),
            (120.0, 120.0),
            (180.0, 240.0),
            (232.3, 232.3),
            (300.0, 200.0),
        ] {
            let x = voiced(1500, a, b, f1, f2, 3000.0);
            let found = detect(&to_i16(&x));
            assert!(
                found.is_empty(),
                "formants {f1}/{f2}, f0 {a}->{b}: {found:?}"
            );
        }
    }
}

#[test]
fn chirps_are_not_digits() {
    let mut x = Vec::new();
    for (from, to, dur) in [
        (300.0, 3400.0, 200u32),
        (3400.0, 300.0, 300),
        (600.0, 1800.0, 150),
    ] {
        let n = ms(dur);
        let mut ph1 = 0.0f64;
        let mut ph2 = 0.0f64;
        for i in 0..n {
            let f = from + (to - from) * i as f64 / n as f64;
            ph1 += 2.0 * PI * f / FS;
            // A second sweep at ~1.73x, the ratio of a DTMF column to a row.
            ph2 += 2.0 * PI * f * 1.73 / FS;
            x.push(8000.0 * ph1.sin() + 8000.0 * ph2.sin());
        }
    }
    assert!(detect(&to_i16(&x)).is_empty());
}

#[test]
fn two_digits_in_a_row() {
    let mut x = Vec::new();
    silence(&mut x, 30);
    tone(&mut x, '1', 50, -8.0, -6.0);
    silence(&mut x, 50);
    tone(&mut x, '2', 50, -8.0, -6.0);
    // The same digit twice needs the pause to be seen as two presses.
    silence(&mut x, 50);
    tone(&mut x, '2', 50, -8.0, -6.0);
    silence(&mut x, 45);
    tone(&mut x, '#', 45, -8.0, -6.0);
    assert_eq!(digits(&detect(&to_i16(&x))), "122#");
}

#[test]
fn a_short_drop_out_is_bridged() {
    let mut x = Vec::new();
    tone(&mut x, '7', 60, -10.0, -10.0);
    silence(&mut x, 8);
    tone(&mut x, '7', 60, -10.0, -10.0);
    let found = detect(&to_i16(&x));
    assert_eq!(digits(&found), "7", "{found:?}");
}

#[test]
fn digits_split_across_frames_at_any_offset() {
    for offset in (0..FRAME_SAMPLES).step_by(13) {
        let mut x = vec![0.0; offset];
        tone(&mut x, '9', 40, -12.0, -10.0);
        silence(&mut x, 40);
        tone(&mut x, 'C', 42, -12.0, -10.0);
        assert_eq!(digits(&detect(&to_i16(&x))), "9C", "offset {offset}");
    }
}

#[test]
fn too_short_tones_are_ignored() {
    for offset in (0..FRAME_SAMPLES).step_by(20) {
        let mut x = vec![0.0; offset];
        tone(&mut x, '3', 18, -6.0, -6.0);
        assert!(detect(&to_i16(&x)).is_empty(), "offset {offset}");
    }
}

#[test]
fn reported_duration_tracks_the_tone() {
    for (dur, offset) in [(60u32, 0usize), (100, 37), (250, 111), (500, 5)] {
        let mut x = vec![0.0; offset];
        tone(&mut x, '4', dur, -10.0, -10.0);
        let found = detect(&to_i16(&x));
        assert_eq!(found.len(), 1);
        let got = found[0].1;
        assert!(got.abs_diff(dur) <= 15, "{dur} ms reported as {got} ms");
    }
}

#[test]
fn finish_reports_a_digit_still_sounding() {
    let mut x = Vec::new();
    tone(&mut x, '0', 200, -10.0, -10.0);
    let samples = to_i16(&x);
    let mut det = DtmfDetector::default();
    for chunk in samples.chunks_exact(FRAME_SAMPLES) {
        let frame: Frame = chunk.try_into().unwrap();
        assert_eq!(det.analyze(&frame), None);
    }
    match det.finish() {
        Some(Detection::Digit {
            digit: '0',
            duration_ms,
        }) => {
            assert!(duration_ms.abs_diff(200) <= 20, "{duration_ms}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(det.finish(), None);
}

/// The adversarial case: vowels whose two formants sit exactly on a DTMF
/// pair while the pitch glides, so that for a moment two harmonics carry
/// most of the energy right on the pair. A detector without the energy
/// ratio check fires on most of these; ours on at most 1 in 40.
#[test]
fn vowels_with_formants_on_dtmf_pairs_rarely_talk_off() {
    let mut hits = Vec::new();
    let mut total = 0;
    for r in ROW_FREQS {
        for c in COL_FREQS {
            for (a, b) in [
                (80.0, 140.0),
                (100.0, 180.0),
                (140.0, 260.0),
                (200.0, 320.0),
                (250.0, 400.0),
            ] {
                let x = voiced(1500, a, b, f64::from(r), f64::from(c), 3000.0);
                total += 1;
                if !detect(&to_i16(&x)).is_empty() {
                    hits.push((r, c, a, b));
                }
            }
        }
    }
    assert!(
        hits.len() * 40 <= total,
        "{} of {total} talked off: {hits:?}",
        hits.len()
    );
}
