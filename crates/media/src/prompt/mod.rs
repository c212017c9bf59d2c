//! Prompts: uploaded audio converted to the engine's format, and playback.
//!
//! An upload (a WAV of any common sample rate, 1-8 channels, 8/16/24/32-bit
//! integer, 32/64-bit float, or G.711 mu-law/A-law) is checked, downmixed
//! to mono, resampled to 8 kHz through a proper anti-aliasing low-pass
//! ([`resample`]) and kept as 16-bit samples in a [`Prompt`]. Anything
//! that is not such a file is refused with a [`PromptError`] whose message
//! can be shown to the uploader as is (the API maps it to a 4xx; `code()`
//! gives a stable identifier).
//!
//! Converted prompts are stored as 8 kHz mono 16-bit WAV
//! ([`Prompt::to_wav`], [`Prompt::from_stored_wav`]). A [`Player`] plays a
//! prompt to a leg, once or looped (hold music); many players share one
//! prompt's samples.

pub mod parse;
pub mod resample;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::record::wav;
use crate::{FRAME_SAMPLES, Frame, FrameSource, SAMPLE_RATE};

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    #[error("not a WAV file")]
    NotWav,
    #[error("the WAV file is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("the WAV file is truncated: {declared} bytes of audio declared, {available} present")]
    Truncated { declared: u64, available: u64 },
    #[error("unsupported WAV encoding (format tag {0:#06x}); use PCM, float, mu-law or A-law")]
    UnsupportedEncoding(u16),
    #[error("unsupported sample size: {bits}-bit {encoding}")]
    UnsupportedBits { bits: u16, encoding: &'static str },
    #[error("unsupported channel count {0}; 1 to 8 channels are accepted")]
    UnsupportedChannels(u16),
    #[error("unsupported sample rate {0} Hz; 4000 to 384000 Hz are accepted")]
    UnsupportedSampleRate(u32),
    #[error("the audio is empty")]
    Empty,
    #[error("the audio lasts {seconds:.1} s; the limit is {max_seconds} s")]
    TooLong { seconds: f64, max_seconds: u32 },
    #[error("the audio contains invalid samples (NaN or infinity)")]
    InvalidSamples,
    /// A stored prompt that is not in the engine's own format.
    #[error("not a stored prompt: expected 8 kHz mono 16-bit PCM")]
    NotStoredFormat,
}

impl PromptError {
    /// A stable snake_case code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            PromptError::NotWav => "not_wav",
            PromptError::Corrupt(_) => "corrupt_wav",
            PromptError::Truncated { .. } => "truncated_wav",
            PromptError::UnsupportedEncoding(_) => "unsupported_encoding",
            PromptError::UnsupportedBits { .. } => "unsupported_sample_size",
            PromptError::UnsupportedChannels(_) => "unsupported_channels",
            PromptError::UnsupportedSampleRate(_) => "unsupported_sample_rate",
            PromptError::Empty => "empty_audio",
            PromptError::TooLong { .. } => "audio_too_long",
            PromptError::InvalidSamples => "invalid_samples",
            PromptError::NotStoredFormat => "not_stored_prompt",
        }
    }
}

/// Limits applied when converting an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Longest audio accepted, in seconds (checked from the header, before
    /// any decoding).
    pub max_seconds: u32,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        // Ten minutes: long enough for a hold-music loop.
        Self { max_seconds: 600 }
    }
}

/// Audio ready to play: 8 kHz mono 16-bit samples, shared by every player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    samples: Arc<[i16]>,
}

impl Prompt {
    /// A prompt from samples already at 8 kHz (generated tones, TTS).
    pub fn from_samples(samples: impl Into<Arc<[i16]>>) -> Self {
        Self {
            samples: samples.into(),
        }
    }

    /// `parts` one after the other, with `gap` of silence between them (an
    /// announcement put together from phrases).
    pub fn concat(parts: &[Prompt], gap: Duration) -> Self {
        let gap = (gap.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as usize;
        let total: usize =
            parts.iter().map(Prompt::len).sum::<usize>() + gap * parts.len().saturating_sub(1);
        let mut samples = Vec::with_capacity(total);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                samples.resize(samples.len() + gap, 0);
            }
            samples.extend_from_slice(part.samples());
        }
        Self::from_samples(samples)
    }

    /// Converts an uploaded WAV file.
    pub fn convert(wav_bytes: &[u8], options: &ConvertOptions) -> Result<Self, PromptError> {
        let wav = parse::parse(wav_bytes)?;
        let frames = wav.frames();
        if frames == 0 {
            return Err(PromptError::Empty);
        }
        let rate = wav.format.sample_rate;
        let seconds = frames as f64 / f64::from(rate);
        if seconds > f64::from(options.max_seconds) {
            return Err(PromptError::TooLong {
                seconds,
                max_seconds: options.max_seconds,
            });
        }
        let mono = parse::decode_mono(&wav)?;
        let resampled = resample::resample(&mono, rate, SAMPLE_RATE);
        let samples: Vec<i16> = resampled
            .iter()
            .map(|v| (v * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
            .collect();
        Ok(Self::from_samples(samples))
    }

    /// Reads a prompt stored by [`Prompt::to_wav`] (8 kHz mono 16-bit).
    pub fn from_stored_wav(bytes: &[u8]) -> Result<Self, PromptError> {
        let wav = parse::parse(bytes)?;
        let f = wav.format;
        if f.encoding != parse::Encoding::Pcm
            || f.bits != 16
            || f.channels != 1
            || f.sample_rate != SAMPLE_RATE
        {
            return Err(PromptError::NotStoredFormat);
        }
        let samples: Vec<i16> = wav
            .data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        Ok(Self::from_samples(samples))
    }

    /// Writes the prompt as an 8 kHz mono 16-bit WAV file.
    pub fn write_wav(&self, w: &mut impl Write) -> io::Result<()> {
        let data_len = u32::try_from(self.samples.len() * 2)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "prompt over 4 GiB"))?;
        w.write_all(&wav::header(1, SAMPLE_RATE, data_len))?;
        let mut buf = Vec::with_capacity(self.samples.len() * 2);
        for s in self.samples.iter() {
            buf.extend_from_slice(&s.to_le_bytes());
        }
        w.write_all(&buf)
    }

    /// The prompt as an 8 kHz mono 16-bit WAV file.
    pub fn to_wav(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(wav::HEADER_LEN as usize + self.samples.len() * 2);
        // Writing to a Vec cannot fail short of the 4 GiB limit, which a
        // converted prompt (max_seconds) never reaches.
        if self.write_wav(&mut out).is_err() {
            out.clear();
        }
        out
    }

    /// The samples (8 kHz mono).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the prompt has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// How long the prompt plays (once).
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(SAMPLE_RATE))
    }
}

/// How a [`Player`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayMode {
    /// Play once; the last frame is padded with silence.
    Once,
    /// Loop seamlessly until stopped (hold music).
    Loop,
}

/// Plays a prompt to a leg, 20 ms at a time.
#[derive(Clone, Debug)]
pub struct Player {
    prompt: Prompt,
    mode: PlayMode,
    pos: usize,
    /// Frames produced so far.
    frames: u64,
}

impl Player {
    /// A player at the start of `prompt`.
    pub fn new(prompt: Prompt, mode: PlayMode) -> Self {
        Self {
            prompt,
            mode,
            pos: 0,
            frames: 0,
        }
    }

    /// Plays `prompt` once.
    pub fn once(prompt: Prompt) -> Self {
        Self::new(prompt, PlayMode::Once)
    }

    /// Plays `prompt` in a loop.
    pub fn looping(prompt: Prompt) -> Self {
        Self::new(prompt, PlayMode::Loop)
    }

    /// Whether a `Once` player has played everything (never for a loop of a
    /// non-empty prompt).
    pub fn is_finished(&self) -> bool {
        match self.mode {
            PlayMode::Once => self.pos >= self.prompt.len(),
            PlayMode::Loop => self.prompt.is_empty(),
        }
    }

    /// How long the player has been playing.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.frames * 20)
    }

    /// Starts over.
    pub fn rewind(&mut self) {
        self.pos = 0;
    }
}

impl FrameSource for Player {
    fn next_frame(&mut self, out: &mut Frame) -> bool {
        if self.is_finished() {
            return false;
        }
        let samples = self.prompt.samples();
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            if self.pos >= samples.len() {
                match self.mode {
                    PlayMode::Once => {
                        out[filled..].fill(0);
                        break;
                    }
                    PlayMode::Loop => self.pos = 0,
                }
            }
            let n = (FRAME_SAMPLES - filled).min(samples.len() - self.pos);
            out[filled..filled + n].copy_from_slice(&samples[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        self.frames += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Prompt {
        Prompt::from_samples((0..n).map(|i| i as i16 + 1).collect::<Vec<_>>())
    }

    #[test]
    fn concat_puts_silence_between_the_parts_only() {
        let joined = Prompt::concat(&[ramp(3), ramp(2)], Duration::from_millis(1));
        // 1 ms at 8 kHz: 8 samples of silence between, none around.
        assert_eq!(joined.samples(), &[1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(Prompt::concat(&[ramp(2)], Duration::from_secs(1)).len(), 2);
        assert!(Prompt::concat(&[], Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn once_pads_the_last_frame_and_then_ends() {
        let mut p = Player::once(ramp(200));
        let mut f = [7i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut f));
        assert_eq!(f[0], 1);
        assert_eq!(f[159], 160);
        assert!(p.next_frame(&mut f));
        assert_eq!(f[39], 200);
        assert!(f[40..].iter().all(|&s| s == 0));
        let before = f;
        assert!(!p.next_frame(&mut f));
        assert_eq!(f, before, "an ended source leaves the frame alone");
        assert!(p.is_finished());
        assert_eq!(p.elapsed(), Duration::from_millis(40));
    }

    #[test]
    fn loop_wraps_without_a_gap() {
        let mut p = Player::looping(ramp(100));
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut f));
        assert_eq!(f[99], 100);
        assert_eq!(f[100], 1);
        assert_eq!(f[159], 60);
        for _ in 0..1000 {
            assert!(p.next_frame(&mut f));
        }
        assert!(!p.is_finished());
    }

    #[test]
    fn an_empty_prompt_plays_nothing_even_looped() {
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(!Player::looping(ramp(0)).next_frame(&mut f));
        assert!(!Player::once(ramp(0)).next_frame(&mut f));
    }

    #[test]
    fn stored_wav_round_trips() {
        let p = ramp(333);
        let bytes = p.to_wav();
        assert_eq!(bytes.len(), 44 + 666);
        assert_eq!(Prompt::from_stored_wav(&bytes).unwrap(), p);
    }
}
