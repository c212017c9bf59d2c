//! In-band DTMF detection with the Goertzel algorithm.
//!
//! A fallback for peers that send digits as audio instead of RFC 4733
//! events. The detector slides a 102-sample window (12.75 ms) in 51-sample
//! hops over the leg's audio and, for each window, measures the power at the
//! eight DTMF frequencies. A window "shows" a digit when it passes the
//! ITU-T Q.24-style checks:
//!
//! * both tones above a minimum level (default -30 dBm0 per tone);
//! * twist within limits: the high-group tone may be up to 8 dB louder than
//!   the low-group one ("normal" twist, the usual effect of line loss) and up
//!   to 4 dB weaker ("reverse" twist);
//! * each tone clearly the strongest of its group (relative peak);
//! * the two tones carry most of the window's energy, which is what rejects
//!   speech and music: a voice spreads its energy over many harmonics.
//!
//! A digit is accepted once it has been seen for ~40 ms and reported when it
//! ends, after a pause of ~40 ms; shorter drop-outs inside a digit are bridged.
//!
//! Why 102 samples: the main-lobe nulls of a 102-sample rectangular window
//! are 78 Hz apart, which puts the neighbouring row frequencies (73-89 Hz
//! apart) near nulls (-18 to -27 dB) while keeping the time resolution
//! fine enough for 40 ms digits. The half-window hop makes the duration and
//! pause decisions independent of where a digit starts relative to the
//! 20 ms frames.

use crate::{Detection, FRAME_SAMPLES, Frame, FrameAnalyzer, SAMPLE_RATE};

/// Goertzel window length in samples.
pub const WINDOW: usize = 102;
/// Hop between successive windows in samples (half a window).
pub const HOP: usize = WINDOW / 2;

/// Low-group (row) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, indexed `[row][column]`.
pub const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Peak amplitude (16-bit linear) of a sine at 0 dBm0: G.711 mu-law's full
/// scale (32124) is +3.17 dBm0, so 0 dBm0 is 32124 / 10^(3.17/20).
pub const DBM0_PEAK_AMPLITUDE: f32 = 22_300.0;

/// Peak amplitude of a sine at `dbm0`.
pub fn dbm0_to_amplitude(dbm0: f32) -> f32 {
    DBM0_PEAK_AMPLITUDE * 10f32.powf(dbm0 / 20.0)
}

/// Mean-square level of a sine at `dbm0` (A²/2).
fn dbm0_to_power(dbm0: f32) -> f32 {
    let a = dbm0_to_amplitude(dbm0);
    a * a / 2.0
}

/// The `(row, column)` of a keypad digit, if it is one.
pub fn digit_position(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    KEYPAD
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == d).map(|c| (r, c)))
}

/// Goertzel coefficient `2·cos(2πf/fs)` for frequency `freq` at 8 kHz.
fn coefficient(freq: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * freq / SAMPLE_RATE as f32).cos()
}

/// Raw Goertzel powers |X(f)|² of `x` at eight frequencies at once, and
/// the window's energy. The eight filters run side by side so their
/// recurrences (each a serial dependency chain) overlap and vectorise.
fn raw_powers(x: &[f32], coeffs: &[f32; 8]) -> ([f32; 8], f32) {
    let mut s1 = [0.0f32; 8];
    let mut s2 = [0.0f32; 8];
    let mut energy = 0.0f32;
    for &v in x {
        energy += v * v;
        for i in 0..8 {
            let s0 = v + coeffs[i] * s1[i] - s2[i];
            s2[i] = s1[i];
            s1[i] = s0;
        }
    }
    let mut p = [0.0f32; 8];
    for i in 0..8 {
        p[i] = s1[i] * s1[i] + s2[i] * s2[i] - coeffs[i] * s1[i] * s2[i];
    }
    (p, energy)
}

/// Power of the component at `freq` (Hz, at 8 kHz) in `samples`, scaled as
/// the mean-square level of a sine (A²/2), so it compares directly with the
/// mean square of the whole signal. Used by the detector and by tests and
/// tools that need to measure a tone (mixing, recording, prompts).
pub fn tone_power(samples: &[i16], freq: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = coefficient(freq);
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let c = f64::from(coeff);
    for &v in samples {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let raw = s1 * s1 + s2 * s2 - c * s1 * s2;
    let n = samples.len() as f64;
    (2.0 * raw / (n * n)) as f32
}

/// Mean square of `samples` (0 for an empty slice).
pub fn mean_square(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    (sum / samples.len() as f64) as f32
}

/// Acceptance limits of the detector. The defaults follow ITU-T Q.24's
/// ranges as commonly applied to telephony switches.
#[derive(Clone, Debug, PartialEq)]
pub struct DtmfConfig {
    /// Minimum level of each tone, in dBm0.
    pub min_level_dbm0: f32,
    /// How much louder the high-group tone may be than the low-group one.
    pub normal_twist_db: f32,
    /// How much louder the low-group tone may be than the high-group one.
    pub reverse_twist_db: f32,
    /// How far the strongest tone of a group must stand above the second.
    pub relative_peak_db: f32,
    /// Share of the window's energy the two tones must carry (0..1).
    pub min_pair_ratio: f32,
    /// Shortest digit accepted, in ms.
    pub min_duration_ms: u32,
    /// Shortest pause that ends a digit, in ms; shorter drop-outs are bridged.
    pub min_pause_ms: u32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            min_level_dbm0: -30.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 6.0,
            min_pair_ratio: 0.8,
            min_duration_ms: 40,
            min_pause_ms: 40,
        }
    }
}

/// Windows fully inside any span of `ms`, whatever its alignment.
fn windows_within(ms: u32) -> u32 {
    let samples = ms as usize * SAMPLE_RATE as usize / 1000;
    (samples.saturating_sub(WINDOW) / HOP).max(2) as u32
}

fn db_to_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Thresholds derived once from a [`DtmfConfig`].
#[derive(Clone, Debug)]
struct Limits {
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    min_pair_ratio: f32,
    min_on: u32,
    min_off: u32,
}

impl From<&DtmfConfig> for Limits {
    fn from(c: &DtmfConfig) -> Self {
        Self {
            min_power: dbm0_to_power(c.min_level_dbm0),
            normal_twist: db_to_ratio(c.normal_twist_db),
            reverse_twist: db_to_ratio(c.reverse_twist_db),
            relative_peak: db_to_ratio(c.relative_peak_db),
            min_pair_ratio: c.min_pair_ratio,
            min_on: windows_within(c.min_duration_ms),
            min_off: windows_within(c.min_pause_ms),
        }
    }
}

/// Index and power of the strongest of four powers, plus the runner-up's.
fn strongest(p: &[f32; 4]) -> (usize, f32, f32) {
    let mut best = 0;
    for i in 1..4 {
        if p[i] > p[best] {
            best = i;
        }
    }
    let second = (0..4)
        .filter(|&i| i != best)
        .map(|i| p[i])
        .fold(0.0f32, f32::max);
    (best, p[best], second)
}

/// The in-band DTMF detector of one leg. Implements [`FrameAnalyzer`]:
/// feed it every 20 ms frame; it returns [`Detection::Digit`] in the frame
/// where a digit's end is confirmed, with the digit's measured duration.
#[derive(Clone, Debug)]
pub struct DtmfDetector {
    limits: Limits,
    /// Goertzel coefficients: the four rows, then the four columns.
    coeffs: [f32; 8],
    /// Samples not yet consumed by a window (at most WINDOW + a frame).
    buf: Vec<f32>,
    /// The digit currently accepted (seen for at least `min_on` windows).
    active: Option<char>,
    /// Windows counted into the active digit (including bridged drop-outs).
    active_windows: u32,
    /// Consecutive windows since the active digit was last seen.
    gap: u32,
    /// The current run of identical window results.
    run: Option<char>,
    run_len: u32,
    /// A second detection completed in the same frame, reported next frame.
    pending: Option<Detection>,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new(&DtmfConfig::default())
    }
}

impl DtmfDetector {
    /// A detector with the given limits.
    pub fn new(config: &DtmfConfig) -> Self {
        Self {
            limits: Limits::from(config),
            coeffs: std::array::from_fn(|i| {
                coefficient(if i < 4 {
                    ROW_FREQS[i]
                } else {
                    COL_FREQS[i - 4]
                })
            }),
            buf: Vec::with_capacity(WINDOW + FRAME_SAMPLES),
            active: None,
            active_windows: 0,
            gap: 0,
            run: None,
            run_len: 0,
            pending: None,
        }
    }

    /// Reports the digit still sounding when the audio stops (end of call),
    /// if it has lasted long enough; resets the detector.
    pub fn finish(&mut self) -> Option<Detection> {
        let out = self.pending.take().or_else(|| {
            self.active
                .map(|digit| Self::detection(digit, self.active_windows))
        });
        self.buf.clear();
        self.active = None;
        self.active_windows = 0;
        self.gap = 0;
        self.run = None;
        self.run_len = 0;
        out
    }

    fn detection(digit: char, windows: u32) -> Detection {
        // n overlapping windows span (n-1) hops plus one window; half a hop
        // more is the expected extra of a random alignment.
        let samples = (windows.saturating_sub(1) as usize) * HOP + WINDOW + HOP / 2;
        Detection::Digit {
            digit,
            duration_ms: (samples * 1000 / SAMPLE_RATE as usize) as u32,
        }
    }

    /// The digit one window shows, if it passes every check.
    fn classify(&self, x: &[f32]) -> Option<char> {
        let n = x.len() as f32;
        let scale = 2.0 / (n * n);
        let (raw, energy) = raw_powers(x, &self.coeffs);
        let rows: [f32; 4] = std::array::from_fn(|i| raw[i] * scale);
        let cols: [f32; 4] = std::array::from_fn(|i| raw[i + 4] * scale);
        let (r, row_p, row_second) = strongest(&rows);
        let (c, col_p, col_second) = strongest(&cols);
        let l = &self.limits;
        if row_p < l.min_power || col_p < l.min_power {
            return None;
        }
        // Normal twist: high group (columns) louder; reverse: low group louder.
        if col_p > row_p * l.normal_twist || row_p > col_p * l.reverse_twist {
            return None;
        }
        if row_p < row_second * l.relative_peak || col_p < col_second * l.relative_peak {
            return None;
        }
        let total = energy / n;
        if row_p + col_p < total * l.min_pair_ratio {
            return None;
        }
        Some(KEYPAD[r][c])
    }

    /// Advances the digit state machine by one window result.
    fn on_window(&mut self, seen: Option<char>) -> Option<Detection> {
        if seen == self.run {
            self.run_len = self.run_len.saturating_add(1);
        } else {
            self.run = seen;
            self.run_len = 1;
        }
        let mut out = None;
        match self.active {
            Some(digit) if seen == Some(digit) => {
                // A bridged drop-out counts into the digit's duration.
                self.active_windows += self.gap + 1;
                self.gap = 0;
            }
            Some(digit) => {
                self.gap += 1;
                if self.gap >= self.limits.min_off {
                    out = Some(Self::detection(digit, self.active_windows));
                    self.active = None;
                    self.gap = 0;
                }
            }
            None => {}
        }
        if self.active.is_none()
            && let Some(d) = self.run
            && self.run_len >= self.limits.min_on
        {
            self.active = Some(d);
            self.active_windows = self.run_len;
            self.gap = 0;
        }
        out
    }
}

impl FrameAnalyzer for DtmfDetector {
    fn analyze(&mut self, frame: &Frame) -> Option<Detection> {
        self.buf.extend(frame.iter().map(|&s| f32::from(s)));
        let mut out = self.pending.take();
        let mut start = 0;
        while self.buf.len() - start >= WINDOW {
            let seen = self.classify(&self.buf[start..start + WINDOW]);
            start += HOP;
            if let Some(d) = self.on_window(seen) {
                if out.is_none() {
                    out = Some(d);
                } else {
                    self.pending = Some(d);
                }
            }
        }
        self.buf.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, amp: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                (amp * (2.0 * std::f32::consts::PI * freq * t).sin()).round() as i16
            })
            .collect()
    }

    #[test]
    fn tone_power_measures_a_sine_as_its_mean_square() {
        let x = sine(1000.0, 10_000.0, 800);
        let p = tone_power(&x, 1000.0);
        let expected = 10_000.0f32 * 10_000.0 / 2.0;
        assert!((p / expected - 1.0).abs() < 0.02, "{p} vs {expected}");
        assert!((mean_square(&x) / expected - 1.0).abs() < 0.02);
        // A different frequency leaks little.
        assert!(tone_power(&x, 1500.0) < expected * 1e-3);
    }

    #[test]
    fn keypad_positions_round_trip() {
        for (r, row) in KEYPAD.iter().enumerate() {
            for (c, &d) in row.iter().enumerate() {
                assert_eq!(digit_position(d), Some((r, c)));
            }
        }
        assert_eq!(digit_position('x'), None);
        assert_eq!(digit_position('a'), Some((0, 3)));
    }

    #[test]
    fn window_counts_follow_the_configured_durations() {
        let l = Limits::from(&DtmfConfig::default());
        // 40 ms = 320 samples holds at least floor((320-102)/51) = 4 windows.
        assert_eq!(l.min_on, 4);
        assert_eq!(l.min_off, 4);
        assert_eq!(windows_within(5), 2);
    }

    #[test]
    fn classify_checks_twist_and_level() {
        let det = DtmfDetector::default();
        let mk = |lo_db: f32, hi_db: f32| -> Vec<f32> {
            let lo = sine(770.0, dbm0_to_amplitude(lo_db), WINDOW);
            let hi = sine(1336.0, dbm0_to_amplitude(hi_db), WINDOW);
            lo.iter()
                .zip(&hi)
                .map(|(a, b)| f32::from(*a) + f32::from(*b))
                .collect()
        };
        assert_eq!(det.classify(&mk(-10.0, -10.0)), Some('5'));
        assert_eq!(det.classify(&mk(-16.0, -10.0)), Some('5'));
        assert_eq!(det.classify(&mk(-20.0, -10.0)), None);
        assert_eq!(det.classify(&mk(-10.0, -13.0)), Some('5'));
        assert_eq!(det.classify(&mk(-10.0, -16.0)), None);
        assert_eq!(det.classify(&mk(-40.0, -40.0)), None);
    }
}
