//! Beep detection: a sustained single tone between 400 and 2000 Hz.
//!
//! A voicemail beep is the one sound in a greeting that holds nearly all of
//! its energy at one frequency, frame after frame. Each loud frame gets a
//! zero-crossing estimate of its dominant frequency (nearly free), then a
//! small Goertzel bank on a 25 Hz grid around that estimate measures how much
//! of the frame's energy sits in the strongest bin ("purity"; ~1 for a clean
//! tone, well under 0.5 for speech, whose energy is spread over harmonics and
//! formants). A beep is a run of pure frames at a steady frequency lasting at
//! least `min_ms`; it is reported when the tone stops, which is the moment
//! the dialer can start speaking.

use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

/// Grid spacing of the Goertzel bank (Hz). With 160-sample frames a bin is
/// 50 Hz wide, so a 25 Hz grid keeps any tone within 12.5 Hz of a bin
/// centre and loses at most ~1 dB to the offset.
const GRID_HZ: f32 = 25.0;
/// Bins below the zero-crossing estimate where the coarse pass starts.
/// Noise adds crossings, so the estimate can run ~15 % high at 10 dB SNR;
/// the coarse pass covers -175..+175 Hz around it.
const SPAN_BINS: i32 = 7;
/// Coarse-pass bins, every other grid bin.
const COARSE_BINS: usize = 8;
/// How far a frame's frequency may sit from the run's mean (Hz): one grid
/// step, since a tone between two bins may land in either.
const FREQ_TOL_HZ: f32 = 25.0;
/// How far a frame's level may sit from the run's mean (dB): a beep is
/// steady, a sung vowel is not.
const LEVEL_TOL_DB: f32 = 4.0;
/// A beep survives this many impure frames in a row (a noise burst, a
/// codec glitch) and goes on.
const MAX_GAP_FRAMES: u32 = 1;
/// A tone run at least this long (frames) followed within
/// `SEQUENCE_GAP_FRAMES` by a tone at another frequency makes the pair a
/// sequence (the three special-information tones before "the number you
/// have dialed...", a melody), and no part of a sequence is a beep.
const SEQUENCE_FRAMES: u32 = 5;
const SEQUENCE_GAP_FRAMES: u32 = 2;

/// Settings of the [`BeepDetector`]; copied out of `AmdConfig`.
#[derive(Clone, Copy, Debug)]
pub struct BeepParams {
    pub min_hz: f32,
    pub max_hz: f32,
    pub min_ms: u32,
    pub min_purity: f32,
}

/// A finished beep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beep {
    /// Its frequency, averaged over the run (Hz).
    pub hz: f32,
    /// How long it lasted (ms).
    pub duration_ms: u32,
    /// When it ended, counted from the detector's first frame (ms).
    pub end_ms: u32,
}

/// One run of tone frames.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Frames from the first tone frame to the last, gaps included.
    frames: u32,
    /// Impure frames since the last tone frame.
    gap: u32,
    hz_sum: f32,
    tone_frames: u32,
    /// Levels after the first frame, which may hold only part of the tone.
    db_sum: f32,
    db_frames: u32,
    in_sequence: bool,
}

impl Run {
    fn new(hz: f32, in_sequence: bool) -> Self {
        Self {
            frames: 1,
            gap: 0,
            hz_sum: hz,
            tone_frames: 1,
            db_sum: 0.0,
            db_frames: 0,
            in_sequence,
        }
    }

    fn mean_hz(&self) -> f32 {
        self.hz_sum / self.tone_frames as f32
    }

    fn matches(&self, hz: f32, db: f32) -> bool {
        (hz - self.mean_hz()).abs() <= FREQ_TOL_HZ
            && (self.db_frames == 0
                || (db - self.db_sum / self.db_frames as f32).abs() <= LEVEL_TOL_DB)
    }

    fn extend(&mut self, hz: f32, db: f32) {
        self.frames += self.gap + 1;
        self.gap = 0;
        self.hz_sum += hz;
        self.tone_frames += 1;
        self.db_sum += db;
        self.db_frames += 1;
    }
}

/// Tracks tone runs over consecutive frames.
#[derive(Clone, Debug)]
pub struct BeepDetector {
    params: BeepParams,
    /// Frames seen, the current one included.
    frame_no: u32,
    run: Option<Run>,
    /// Where the last long run ended (first frame after it) and its pitch.
    last_long: Option<(u32, f32)>,
    /// A finished beep held for `SEQUENCE_GAP_FRAMES` in case another tone
    /// follows and makes it part of a sequence.
    pending: Option<Beep>,
    /// Goertzel coefficients per grid bin (see [`coefficients`]).
    coeffs: Vec<f32>,
    /// When the first tone sequence was confirmed (ms from the first frame).
    sequence_ms: Option<u32>,
}

impl BeepDetector {
    pub fn new(params: BeepParams) -> Self {
        Self {
            params,
            frame_no: 0,
            run: None,
            last_long: None,
            pending: None,
            coeffs: coefficients(&params),
            sequence_ms: None,
        }
    }

    /// When a tone sequence was first heard, counted from the first frame
    /// (ms): a run of tone at one pitch, then within
    /// `SEQUENCE_GAP_FRAMES` another at a different pitch that lasted
    /// `SEQUENCE_FRAMES` itself, e.g. the special-information tones of an
    /// intercept message. A voice never holds two pure pitches in turn.
    pub fn sequence_ms(&self) -> Option<u32> {
        self.sequence_ms
    }

    /// Feed one frame; `audible` says whether it stands above the noise
    /// floor (a quiet frame never starts a tone). Returns a beep once it is over
    /// and confirmed, two or three frames after its end.
    pub fn update(&mut self, frame: &Frame, audible: bool) -> Option<Beep> {
        self.frame_no += 1;
        // Loudness only gates the start of a run: under a long beep the
        // noise-floor estimate creeps up, and purity is the real test.
        let tone = if audible || self.run.is_some() {
            self.tone_in(frame)
        } else {
            None
        };
        if let Some(run) = self.run.as_mut() {
            match tone {
                Some((hz, db)) if run.matches(hz, db) => {
                    run.extend(hz, db);
                    if run.in_sequence
                        && run.frames >= SEQUENCE_FRAMES
                        && self.sequence_ms.is_none()
                    {
                        self.sequence_ms = Some(self.frame_no * 20);
                    }
                    return self.release();
                }
                None if run.gap < MAX_GAP_FRAMES && run.tone_frames >= 3 => {
                    run.gap += 1;
                    return self.release();
                }
                _ => {}
            }
        }
        // The run is over; it ended where its gap began.
        if let Some(run) = self.run.take() {
            let end_no = self.frame_no - run.gap;
            if run.frames >= SEQUENCE_FRAMES {
                self.last_long = Some((end_no, run.mean_hz()));
            }
            if run.frames * 20 >= self.params.min_ms && !run.in_sequence {
                self.pending = Some(Beep {
                    hz: run.mean_hz(),
                    duration_ms: run.frames * 20,
                    end_ms: (end_no - 1) * 20,
                });
            }
        }
        if let Some((hz, _)) = tone {
            let in_sequence = matches!(self.last_long, Some((end, prev))
                if self.frame_no - end <= SEQUENCE_GAP_FRAMES && (hz - prev).abs() > FREQ_TOL_HZ);
            if in_sequence {
                self.pending = None;
            }
            self.run = Some(Run::new(hz, in_sequence));
        }
        self.release()
    }

    /// Hand out the pending beep once no other tone followed it in time.
    fn release(&mut self) -> Option<Beep> {
        let beep = self.pending?;
        let end_no = beep.end_ms / 20 + 1;
        if self.frame_no - end_no >= SEQUENCE_GAP_FRAMES {
            self.pending = None;
            return Some(beep);
        }
        None
    }

    /// The frame's tone frequency and level (dB, relative) if it is a pure
    /// tone in the band.
    fn tone_in(&self, frame: &Frame) -> Option<(f32, f32)> {
        let crossings = frame
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        // Two crossings per cycle over a 20 ms frame.
        let estimate = crossings as f32 * SAMPLE_RATE as f32 / (2.0 * FRAME_SAMPLES as f32);
        let p = &self.params;
        let slack = GRID_HZ * SPAN_BINS as f32;
        if estimate < p.min_hz - slack || estimate > p.max_hz + slack {
            return None;
        }
        let mut x = [0f32; FRAME_SAMPLES];
        let mut energy = 0f32;
        for (d, &s) in x.iter_mut().zip(frame) {
            *d = f32::from(s);
            energy += *d * *d;
        }
        if energy <= 0.0 {
            return None;
        }
        // Coarse pass on every other grid bin (50 Hz apart: a tone between
        // two of them still peaks at one), then the two bins beside the peak.
        let centre = (estimate / GRID_HZ).round() as i32;
        let coeff = |k: i32| -> f32 {
            usize::try_from(k)
                .ok()
                .and_then(|i| self.coeffs.get(i))
                .copied()
                .filter(|c| c.is_finite())
                .unwrap_or(f32::NAN)
        };
        let coarse: [i32; COARSE_BINS] = std::array::from_fn(|j| centre - SPAN_BINS + 2 * j as i32);
        let powers = goertzel_bank(&x, coarse.map(coeff));
        let mut best = (0f32, 0i32);
        for (&k, &power) in coarse.iter().zip(&powers) {
            if power > best.0 {
                best = (power, k);
            }
        }
        let fine = [best.1 - 1, best.1 + 1];
        let powers = goertzel_bank(&x, fine.map(coeff));
        for (&k, &power) in fine.iter().zip(&powers) {
            if power > best.0 {
                best = (power, k);
            }
        }
        // |X|^2 of a sine of amplitude A is (A N / 2)^2 and its energy is
        // A^2 N / 2, so 2 |X|^2 / (N * energy) is 1 for a pure tone.
        let purity = 2.0 * best.0 / (FRAME_SAMPLES as f32 * energy);
        let db = 10.0 * energy.log10();
        (purity >= p.min_purity).then_some((best.1 as f32 * GRID_HZ, db))
    }
}

/// Goertzel coefficients `2 cos(2 pi f / fs)` of the grid bins from 0 Hz to
/// the top of the band; NaN for bins below the band, so they are skipped.
fn coefficients(params: &BeepParams) -> Vec<f32> {
    let top = (params.max_hz / GRID_HZ).floor() as usize;
    (0..=top)
        .map(|k| {
            let hz = k as f32 * GRID_HZ;
            if hz < params.min_hz {
                f32::NAN
            } else {
                let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(SAMPLE_RATE);
                (2.0 * w.cos()) as f32
            }
        })
        .collect()
}

/// Squared magnitudes of several DFT components over the frame, given
/// their Goertzel coefficients (NaN ones come out as 0). The bins run side
/// by side so their recurrences overlap instead of waiting on each other.
fn goertzel_bank<const N: usize>(x: &[f32; FRAME_SAMPLES], coeffs: [f32; N]) -> [f32; N] {
    let c = coeffs.map(|c| if c.is_finite() { c } else { 0.0 });
    let (mut s1, mut s2) = ([0f32; N], [0f32; N]);
    for &v in x {
        for j in 0..N {
            let s0 = v + c[j] * s1[j] - s2[j];
            s2[j] = s1[j];
            s1[j] = s0;
        }
    }
    std::array::from_fn(|j| {
        if coeffs[j].is_finite() {
            (s1[j] * s1[j] + s2[j] * s2[j] - c[j] * s1[j] * s2[j]).max(0.0)
        } else {
            0.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BeepParams {
        BeepParams {
            min_hz: 400.0,
            max_hz: 2000.0,
            min_ms: 160,
            min_purity: 0.6,
        }
    }

    fn tone(amp: f64, hz: f64, start: usize) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            let t = (start + i) as f64 / 8000.0;
            *s = (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
        }
        f
    }

    fn run(det: &mut BeepDetector, frames: impl Iterator<Item = Frame>) -> Vec<(usize, Beep)> {
        frames
            .enumerate()
            .filter_map(|(i, f)| {
                let loud = f.iter().any(|&s| s.unsigned_abs() > 100);
                det.update(&f, loud).map(|b| (i, b))
            })
            .collect()
    }

    #[test]
    fn goertzel_purity_of_a_clean_tone_is_near_one() {
        let f = tone(8000.0, 1000.0, 0);
        let x: [f32; FRAME_SAMPLES] = std::array::from_fn(|i| f32::from(f[i]));
        let energy: f32 = x.iter().map(|v| v * v).sum();
        let coeff = coefficients(&params())[40];
        let [power] = goertzel_bank(&x, [coeff]);
        let purity = 2.0 * power / (160.0 * energy);
        assert!((purity - 1.0).abs() < 0.02, "{purity}");
    }

    #[test]
    fn beeps_across_the_band_are_found_when_they_end() {
        for hz in [420.0, 850.0, 1000.0, 1337.0, 1980.0] {
            let mut det = BeepDetector::new(params());
            // 200 ms silence, 500 ms tone, 200 ms silence.
            let frames = (0..45).map(|i| {
                if (10..35).contains(&i) {
                    tone(6000.0, hz, i * 160)
                } else {
                    [0; FRAME_SAMPLES]
                }
            });
            let found = run(&mut det, frames);
            assert_eq!(found.len(), 1, "{hz} Hz: {found:?}");
            let (at, beep) = found[0];
            // Ends at frame 35 (700 ms); confirmed two frames later.
            assert_eq!(at, 37, "{hz} Hz");
            assert_eq!(beep.end_ms, 700, "{hz} Hz");
            assert_eq!(beep.duration_ms, 500);
            assert!(
                (beep.hz - hz as f32).abs() <= 13.0,
                "{hz} Hz vs {}",
                beep.hz
            );
        }
    }

    #[test]
    fn special_information_tones_are_a_sequence_not_a_beep() {
        let mut det = BeepDetector::new(params());
        // 914, 1371, 1777 Hz back to back (about 280/280/380 ms), silence,
        // then a real beep.
        let frames = (0..80).map(|i| match i {
            0..5 => [0; FRAME_SAMPLES],
            5..19 => tone(6000.0, 913.8, i * 160),
            19..33 => tone(6000.0, 1370.6, i * 160),
            33..52 => tone(6000.0, 1776.7, i * 160),
            60..75 => tone(6000.0, 1000.0, i * 160),
            _ => [0; FRAME_SAMPLES],
        });
        let found = run(&mut det, frames);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1.end_ms, 1_500);
        // The sequence is known five frames into the second tone.
        assert_eq!(det.sequence_ms(), Some(24 * 20));
    }

    #[test]
    fn short_blips_out_of_band_tones_and_chords_are_not_beeps() {
        let mut det = BeepDetector::new(params());
        // 100 ms blip: shorter than min_ms.
        let blip = (0..20).map(|i| {
            if (5..10).contains(&i) {
                tone(6000.0, 1000.0, i * 160)
            } else {
                [0; FRAME_SAMPLES]
            }
        });
        assert!(run(&mut det, blip).is_empty());
        // 300 Hz hum and a 2800 Hz whistle: outside 400-2000 Hz.
        for hz in [300.0, 2800.0] {
            let frames = (0..45).map(|i| {
                if i < 40 {
                    tone(6000.0, hz, i * 160)
                } else {
                    [0; FRAME_SAMPLES]
                }
            });
            assert!(run(&mut det, frames).is_empty(), "{hz} Hz");
        }
        // A busy-tone-like 480 + 620 Hz pair and a 697 + 1209 Hz DTMF
        // pair: two equal tones give purity ~0.5 at best.
        for (a, b) in [(480.0, 620.0), (697.0, 1209.0)] {
            let frames = (0..45).map(|i| {
                if i >= 40 {
                    return [0; FRAME_SAMPLES];
                }
                let (x, y) = (tone(5000.0, a, i * 160), tone(5000.0, b, i * 160));
                let mut f = [0i16; FRAME_SAMPLES];
                for k in 0..FRAME_SAMPLES {
                    f[k] = x[k] + y[k];
                }
                f
            });
            assert!(run(&mut det, frames).is_empty(), "{a}+{b} Hz");
        }
    }
}
