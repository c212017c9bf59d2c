//! What the media engine plays to a leg on its own: ringback while the
//! other party rings, and music to a held party.
//!
//! Hold music is a configured WAV file (`media.hold_music`, any rate,
//! converted once at start) or, when none is configured, a generated soft
//! chime: three rising notes (C5, E5, G5, 400 ms each) and 2.8 s of
//! silence, looping every 4 s. It is quiet (about -20 dBFS) and plainly not
//! a ringing tone, so a held caller knows the call is still up. A tenant's
//! own hold-music prompt will replace it per call later.

use crate::error::SipError;
use omnivox_media::prompt::{ConvertOptions, Prompt};
use omnivox_media::{FRAME_SAMPLES, SAMPLE_RATE};
use std::f32::consts::TAU;
use std::path::Path;

/// The prompts every call shares.
#[derive(Clone, Debug)]
pub(crate) struct Tones {
    pub ringback: Prompt,
    pub hold: Prompt,
}

impl Tones {
    /// Ringback and hold music (`hold_music` when given).
    pub(crate) fn load(hold_music: Option<&Path>) -> Result<Self, SipError> {
        let hold = match hold_music {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    SipError::Config(format!("media.hold_music {}: {e}", path.display()))
                })?;
                Prompt::convert(&bytes, &ConvertOptions::default()).map_err(|e| {
                    SipError::Config(format!("media.hold_music {}: {e}", path.display()))
                })?
            }
            None => chime(),
        };
        Ok(Self {
            ringback: ringback(),
            hold,
        })
    }
}

const RATE: f32 = SAMPLE_RATE as f32;

fn ms(n: u32) -> usize {
    (SAMPLE_RATE * n / 1000) as usize
}

/// North American ringback (440 + 480 Hz, 2 s on, 4 s off).
pub(crate) fn ringback() -> Prompt {
    let on = ms(2000);
    let mut samples = vec![0i16; ms(6000)];
    for (i, s) in samples.iter_mut().take(on).enumerate() {
        let t = i as f32 / RATE;
        let v = 2_500.0 * ((TAU * 440.0 * t).sin() + (TAU * 480.0 * t).sin());
        *s = v as i16;
    }
    Prompt::from_samples(samples)
}

/// The generated hold chime (see the module docs).
pub(crate) fn chime() -> Prompt {
    let note = ms(400);
    let fade = ms(20);
    let mut samples = Vec::with_capacity(ms(4000));
    for freq in [523.25f32, 659.25, 783.99] {
        for i in 0..note {
            let t = i as f32 / RATE;
            let edge = i.min(note - 1 - i);
            let gain = if edge < fade {
                edge as f32 / fade as f32
            } else {
                1.0
            };
            samples.push((3_300.0 * gain * (TAU * freq * t).sin()) as i16);
        }
    }
    samples.resize(ms(4000), 0);
    debug_assert_eq!(samples.len() % FRAME_SAMPLES, 0);
    Prompt::from_samples(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnivox_media::goertzel::tone_power;

    #[test]
    fn ringback_is_two_seconds_of_440_and_480_hz_in_six() {
        let r = ringback();
        assert_eq!(r.len(), 6 * 8000);
        let on = &r.samples()[..1600];
        assert!(tone_power(on, 440.0) > 100.0 * tone_power(on, 1000.0));
        assert!(r.samples()[16_000..].iter().all(|s| *s == 0));
    }

    #[test]
    fn chime_loops_every_four_seconds_with_three_notes() {
        let c = chime();
        assert_eq!(c.len(), 4 * 8000);
        let s = c.samples();
        for (k, f) in [523.25f32, 659.25, 783.99].into_iter().enumerate() {
            let mid = &s[k * 3200 + 800..k * 3200 + 2400];
            assert!(
                tone_power(mid, f) > 10.0 * tone_power(mid, 440.0),
                "note {k}"
            );
        }
        let peak = s.iter().map(|v| v.unsigned_abs()).max().unwrap();
        assert!(peak < 4_000, "quiet: {peak}");
    }

    #[test]
    fn a_configured_file_is_loaded_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold.wav");
        std::fs::write(&path, Prompt::from_samples(vec![100i16; 16_000]).to_wav()).unwrap();
        let t = Tones::load(Some(&path)).unwrap();
        assert_eq!(t.hold.len(), 16_000);
        std::fs::write(&path, b"not a wav").unwrap();
        assert!(matches!(Tones::load(Some(&path)), Err(SipError::Config(_))));
        assert!(Tones::load(Some(&dir.path().join("missing.wav"))).is_err());
        assert_eq!(Tones::load(None).unwrap().hold, chime());
    }
}
