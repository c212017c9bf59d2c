//! Energy voice-activity detection with an adaptive noise floor.
//!
//! Asterisk's AMD compares each frame against one fixed amplitude threshold,
//! which fails both ways on real lines: a quiet mobile leg never crosses it
//! and a noisy one never drops below it. Here a frame is voice when its
//! energy stands a margin above the line's own noise floor, and the floor
//! follows the line: it drops at once to any quieter frame (speech always
//! has gaps, so the floor finds the noise within a word or two), climbs back
//! quickly while the line is quiet (the noise got louder) and only slowly
//! while a frame is voice (so a long greeting does not lift the floor into
//! itself).

use crate::{FRAME_SAMPLES, Frame};

/// Energy reported for an all-zero frame: the floor of 16-bit audio.
pub const DIGITAL_SILENCE_DBFS: f32 = -96.0;

/// Mean energy of one frame in dB relative to a full-scale square wave.
pub fn frame_dbfs(frame: &Frame) -> f32 {
    let sum: i64 = frame.iter().map(|&s| i64::from(s) * i64::from(s)).sum();
    if sum == 0 {
        return DIGITAL_SILENCE_DBFS;
    }
    let mean = sum as f64 / FRAME_SAMPLES as f64;
    let db = 10.0 * (mean / (32768.0 * 32768.0)).log10();
    (db as f32).max(DIGITAL_SILENCE_DBFS)
}

/// Thresholds of the [`Vad`]; copied out of `AmdConfig`.
#[derive(Clone, Copy, Debug)]
pub struct VadParams {
    /// A quiet frame becomes voice this far above the floor (dB).
    pub on_margin_db: f32,
    /// A voice frame stays voice while this far above the floor (dB);
    /// lower than `on_margin_db` so word endings are not chopped.
    pub off_margin_db: f32,
    /// Nothing quieter than this is voice, whatever the floor (dBFS).
    pub min_voice_dbfs: f32,
    /// How fast the floor may climb under voice (dB per second).
    pub rise_under_voice_db_per_s: f32,
}

/// Fraction of the gap to a quiet frame's energy that the floor closes per
/// frame: about 5 frames (100 ms) to follow a louder noise bed halfway.
const QUIET_TRACKING: f32 = 0.12;
/// Cap on the floor's climb per quiet frame (dB), so a soft word onset just
/// under the threshold does not drag the floor up with it.
const QUIET_MAX_RISE_DB: f32 = 0.5;

/// Per-frame voice/silence decision against a tracked noise floor.
#[derive(Clone, Debug)]
pub struct Vad {
    params: VadParams,
    floor_db: f32,
    voiced: bool,
    started: bool,
}

impl Vad {
    pub fn new(params: VadParams) -> Self {
        Self {
            params,
            floor_db: DIGITAL_SILENCE_DBFS,
            voiced: false,
            started: false,
        }
    }

    /// The current noise-floor estimate (dBFS).
    pub fn floor_db(&self) -> f32 {
        self.floor_db
    }

    /// Classify a frame of energy `db` (from [`frame_dbfs`]) and update the
    /// floor; `true` for voice.
    pub fn update(&mut self, db: f32) -> bool {
        if !self.started {
            // The first frame after answer is almost always line noise:
            // nobody speaks within 20 ms of picking up.
            self.started = true;
            self.floor_db = db;
            self.voiced = false;
            return false;
        }
        let margin = if self.voiced {
            self.params.off_margin_db
        } else {
            self.params.on_margin_db
        };
        let voiced = db >= self.params.min_voice_dbfs && db >= self.floor_db + margin;
        if db < self.floor_db {
            self.floor_db = db;
        } else if voiced {
            let step = self.params.rise_under_voice_db_per_s * 0.02;
            self.floor_db = (self.floor_db + step).min(db);
        } else {
            let step = ((db - self.floor_db) * QUIET_TRACKING).min(QUIET_MAX_RISE_DB);
            self.floor_db += step;
        }
        self.voiced = voiced;
        voiced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> VadParams {
        VadParams {
            on_margin_db: 9.0,
            off_margin_db: 6.0,
            min_voice_dbfs: -55.0,
            rise_under_voice_db_per_s: 6.0,
        }
    }

    fn tone(amp: f64, hz: f64) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            *s = (amp * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16;
        }
        f
    }

    /// Deterministic pseudo-noise of roughly the given RMS.
    fn noise(seed: &mut u32, rms: f64) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES];
        for s in f.iter_mut() {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = f64::from(*seed >> 8) / f64::from(1u32 << 24) - 0.5;
            *s = (u * rms * 12f64.sqrt()) as i16;
        }
        f
    }

    #[test]
    fn dbfs_of_known_signals() {
        assert_eq!(frame_dbfs(&[0; FRAME_SAMPLES]), DIGITAL_SILENCE_DBFS);
        // A full-scale sine has mean power 1/2 of full scale: -3 dBFS.
        let db = frame_dbfs(&tone(32767.0, 1000.0));
        assert!((db + 3.0).abs() < 0.1, "{db}");
        let db = frame_dbfs(&tone(327.67, 1000.0));
        assert!((db + 43.0).abs() < 0.2, "{db}");
    }

    #[test]
    fn tone_bursts_over_noise_are_voice_and_gaps_are_not() {
        let mut vad = Vad::new(params());
        let mut seed = 7;
        for _ in 0..25 {
            assert!(!vad.update(frame_dbfs(&noise(&mut seed, 100.0))));
        }
        let floor = vad.floor_db();
        assert!((-52.0..-48.0).contains(&floor), "floor {floor}");
        for burst in 0..3 {
            for _ in 0..10 {
                let mut f = tone(3000.0, 500.0);
                for (s, n) in f.iter_mut().zip(noise(&mut seed, 100.0)) {
                    *s += n;
                }
                assert!(vad.update(frame_dbfs(&f)), "burst {burst}");
            }
            for _ in 0..10 {
                assert!(!vad.update(frame_dbfs(&noise(&mut seed, 100.0))));
            }
        }
    }

    #[test]
    fn floor_follows_a_louder_noise_bed() {
        let mut vad = Vad::new(params());
        let mut seed = 3;
        for _ in 0..25 {
            vad.update(frame_dbfs(&noise(&mut seed, 30.0)));
        }
        // The line gets 15 dB noisier (say, a TV comes on) and stays so:
        // within two seconds it is noise again, not an endless word.
        let mut voiced_late = 0;
        for i in 0..200 {
            if vad.update(frame_dbfs(&noise(&mut seed, 170.0))) && i >= 100 {
                voiced_late += 1;
            }
        }
        assert!(vad.floor_db() > -50.0, "floor {}", vad.floor_db());
        assert_eq!(voiced_late, 0);
    }

    #[test]
    fn quiet_hiss_below_the_absolute_minimum_is_never_voice() {
        let mut vad = Vad::new(params());
        vad.update(DIGITAL_SILENCE_DBFS);
        let mut seed = 11;
        for _ in 0..50 {
            // -70 dBFS hiss bursts on digital silence: 26 dB over the floor,
            // still below `min_voice_dbfs`.
            assert!(!vad.update(frame_dbfs(&noise(&mut seed, 10.0))));
            vad.update(DIGITAL_SILENCE_DBFS);
        }
    }
}
