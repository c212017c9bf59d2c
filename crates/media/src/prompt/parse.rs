//! A strict parser and decoder for uploaded WAV files.
//!
//! Written here rather than with hound because uploads need precise,
//! user-facing errors (hound reports a truncated data chunk only when the
//! samples run out, and as an I/O error) and because hound does not decode
//! the G.711 (mu-law, A-law) WAVs that telephony tools produce.

use audio_codec::Decoder;
use audio_codec::pcma::PcmaDecoder;
use audio_codec::pcmu::PcmuDecoder;

use super::PromptError;

/// Lowest and highest input sample rates accepted.
pub const MIN_RATE: u32 = 4_000;
pub const MAX_RATE: u32 = 384_000;
/// Most channels accepted.
pub const MAX_CHANNELS: u16 = 8;

const TAG_PCM: u16 = 0x0001;
const TAG_FLOAT: u16 = 0x0003;
const TAG_ALAW: u16 = 0x0006;
const TAG_MULAW: u16 = 0x0007;
const TAG_EXTENSIBLE: u16 = 0xFFFE;
/// The tail shared by the KSDATAFORMAT_SUBTYPE_* GUIDs of the basic tags.
const SUBTYPE_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// How samples are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Integer PCM (8-bit unsigned, 16/24/32-bit signed).
    Pcm,
    /// IEEE float (32 or 64 bits).
    Float,
    ALaw,
    MuLaw,
}

/// The `fmt ` chunk, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub encoding: Encoding,
    pub channels: u16,
    pub sample_rate: u32,
    /// Bits per sample as stored (the container size).
    pub bits: u16,
    pub block_align: u16,
}

/// A parsed file: its format and its audio bytes.
#[derive(Debug)]
pub struct Wav<'a> {
    pub format: Format,
    pub data: &'a [u8],
}

impl Wav<'_> {
    /// Whole sample frames (one sample per channel) in the data.
    pub fn frames(&self) -> usize {
        self.data.len() / usize::from(self.format.block_align)
    }
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_format(f: &[u8]) -> Result<Format, PromptError> {
    if f.len() < 16 {
        return Err(PromptError::Corrupt("fmt chunk shorter than 16 bytes"));
    }
    let mut tag = le_u16(f, 0);
    let channels = le_u16(f, 2);
    let sample_rate = le_u32(f, 4);
    let block_align = le_u16(f, 12);
    let bits = le_u16(f, 14);
    if tag == TAG_EXTENSIBLE {
        if f.len() < 40 || le_u16(f, 16) < 22 {
            return Err(PromptError::Corrupt("extensible fmt chunk too short"));
        }
        if f[26..40] != SUBTYPE_TAIL {
            return Err(PromptError::UnsupportedEncoding(TAG_EXTENSIBLE));
        }
        tag = le_u16(f, 24);
    }
    let encoding = match tag {
        TAG_PCM => Encoding::Pcm,
        TAG_FLOAT => Encoding::Float,
        TAG_ALAW => Encoding::ALaw,
        TAG_MULAW => Encoding::MuLaw,
        other => return Err(PromptError::UnsupportedEncoding(other)),
    };
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(PromptError::UnsupportedChannels(channels));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&sample_rate) {
        return Err(PromptError::UnsupportedSampleRate(sample_rate));
    }
    let bits_ok = match encoding {
        Encoding::Pcm => matches!(bits, 8 | 16 | 24 | 32),
        Encoding::Float => matches!(bits, 32 | 64),
        Encoding::ALaw | Encoding::MuLaw => bits == 8,
    };
    if !bits_ok {
        return Err(PromptError::UnsupportedBits {
            bits,
            encoding: encoding.name(),
        });
    }
    if u32::from(block_align) != u32::from(channels) * u32::from(bits / 8) {
        return Err(PromptError::Corrupt(
            "block alignment does not match channels and sample size",
        ));
    }
    Ok(Format {
        encoding,
        channels,
        sample_rate,
        bits,
        block_align,
    })
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Pcm => "integer PCM",
            Encoding::Float => "float",
            Encoding::ALaw => "A-law",
            Encoding::MuLaw => "mu-law",
        }
    }
}

/// Parses the RIFF structure: the `fmt ` chunk and the `data` chunk, which
/// must be complete (a data size of 0xFFFFFFFF, written by streaming
/// encoders, means "to the end of the file").
pub fn parse(bytes: &[u8]) -> Result<Wav<'_>, PromptError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(PromptError::NotWav);
    }
    let mut pos = 12usize;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = le_u32(bytes, pos + 4);
        let body = pos + 8;
        let available = bytes.len() - body;
        match id {
            b"fmt " => {
                let size = declared as usize;
                if size > available {
                    return Err(PromptError::Corrupt("fmt chunk cut short"));
                }
                format = Some(parse_format(&bytes[body..body + size])?);
            }
            b"data" => {
                let format = format.ok_or(PromptError::Corrupt("no fmt chunk before the data"))?;
                let size = if declared == u32::MAX {
                    available
                } else if declared as usize > available {
                    return Err(PromptError::Truncated {
                        declared: u64::from(declared),
                        available: available as u64,
                    });
                } else {
                    declared as usize
                };
                return Ok(Wav {
                    format,
                    data: &bytes[body..body + size],
                });
            }
            _ => {}
        }
        let size = declared as usize;
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    if format.is_some() {
        Err(PromptError::Corrupt("no data chunk"))
    } else {
        Err(PromptError::Corrupt("no fmt chunk"))
    }
}

/// Decodes and downmixes to mono (the mean of the channels), full scale ±1.
pub fn decode_mono(wav: &Wav<'_>) -> Result<Vec<f32>, PromptError> {
    let f = wav.format;
    let ch = usize::from(f.channels);
    let width = usize::from(f.bits / 8);
    let frames = wav.frames();
    let mut out = Vec::with_capacity(frames);
    let scale = 1.0 / ch as f32;
    let g711: Option<[i16; 256]> = match f.encoding {
        Encoding::ALaw => Some(g711_table(&mut PcmaDecoder::new())),
        Encoding::MuLaw => Some(g711_table(&mut PcmuDecoder::new())),
        _ => None,
    };
    for frame in wav.data.chunks_exact(usize::from(f.block_align)) {
        let mut sum = 0.0f32;
        for s in frame.chunks_exact(width) {
            let v = match (f.encoding, width) {
                (Encoding::Pcm, 1) => (f32::from(s[0]) - 128.0) / 128.0,
                (Encoding::Pcm, 2) => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0,
                (Encoding::Pcm, 3) => {
                    i32::from_le_bytes([0, s[0], s[1], s[2]]) as f32 / 2_147_483_648.0
                }
                (Encoding::Pcm, _) => {
                    i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0
                }
                (Encoding::Float, 4) => f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                (Encoding::Float, _) => {
                    f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) as f32
                }
                (Encoding::ALaw | Encoding::MuLaw, _) => match &g711 {
                    Some(t) => f32::from(t[usize::from(s[0])]) / 32_768.0,
                    None => 0.0,
                },
            };
            if !v.is_finite() {
                return Err(PromptError::InvalidSamples);
            }
            sum += v;
        }
        out.push(sum * scale);
    }
    Ok(out)
}

/// The 256 decoded values of a G.711 decoder.
fn g711_table(dec: &mut dyn Decoder) -> [i16; 256] {
    let codes: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut table = [0i16; 256];
    // Cannot fail: the output holds one sample per input byte.
    let _ = dec.decode_into(&codes, &mut table);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_tables_decode_known_codes() {
        let mu = g711_table(&mut PcmuDecoder::new());
        assert_eq!(mu[0xFF], 0);
        assert_eq!(mu[0x80], 32_124);
        assert_eq!(mu[0x00], -32_124);
        let a = g711_table(&mut PcmaDecoder::new());
        assert!(a[0xD5].abs() < 16, "A-law 0xD5 is near zero: {}", a[0xD5]);
    }

    #[test]
    fn extensible_pcm_is_read_as_its_subformat() {
        let mut f = vec![0u8; 40];
        f[0..2].copy_from_slice(&TAG_EXTENSIBLE.to_le_bytes());
        f[2..4].copy_from_slice(&2u16.to_le_bytes());
        f[4..8].copy_from_slice(&48_000u32.to_le_bytes());
        f[12..14].copy_from_slice(&6u16.to_le_bytes());
        f[14..16].copy_from_slice(&24u16.to_le_bytes());
        f[16..18].copy_from_slice(&22u16.to_le_bytes());
        f[24..26].copy_from_slice(&TAG_PCM.to_le_bytes());
        f[26..40].copy_from_slice(&SUBTYPE_TAIL);
        let fmt = parse_format(&f).unwrap();
        assert_eq!(fmt.encoding, Encoding::Pcm);
        assert_eq!((fmt.channels, fmt.bits, fmt.sample_rate), (2, 24, 48_000));
        f[30] = 0x99;
        assert!(matches!(
            parse_format(&f),
            Err(PromptError::UnsupportedEncoding(TAG_EXTENSIBLE))
        ));
    }
}
