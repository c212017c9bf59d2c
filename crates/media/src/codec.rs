//! Codecs and payload types: PCMU (0) and PCMA (8) audio, telephone-event
//! (RFC 4733, dynamic payload type, 8000 Hz).
//!
//! G.711 encoding and decoding is audio-codec's; this module adds what the
//! relay needs on its hot path: slice-in/slice-out calls that never allocate
//! and mu-law <-> A-law transcoding through two 256-byte tables, so a
//! PCMU leg bridged to a PCMA leg costs one table lookup per byte and no
//! decode to linear PCM.

use std::sync::OnceLock;

use audio_codec::{Decoder, Encoder};
use thiserror::Error;

/// Static payload type of PCMU.
pub const PT_PCMU: u8 = 0;
/// Static payload type of PCMA.
pub const PT_PCMA: u8 = 8;
/// Clock rate of G.711 and telephone-event.
pub const CLOCK_RATE: u32 = 8_000;

/// Problems with a negotiated payload mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("payload type {0} out of range (0-127)")]
    PayloadTypeRange(u8),
    #[error("telephone-event payload type {0} must be dynamic (96-127)")]
    EventPayloadType(u8),
    #[error("audio and telephone-event share payload type {0}")]
    SamePayloadType(u8),
}

/// The audio codecs a leg can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// The static payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => PT_PCMU,
            Codec::Pcma => PT_PCMA,
        }
    }

    /// The codec of a static payload type.
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match pt {
            PT_PCMU => Some(Codec::Pcmu),
            PT_PCMA => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The codec of an SDP `a=rtpmap` encoding name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Decode G.711 bytes into `out` (one sample per byte); returns the
    /// number of samples written, at most `out.len()`.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        let n = payload.len().min(out.len());
        let (src, dst) = (&payload[..n], &mut out[..n]);
        // Both decoders only fail when `out` is too small, excluded above.
        let r = match self {
            Codec::Pcmu => audio_codec::pcmu::PcmuDecoder::new().decode_into(src, dst),
            Codec::Pcma => audio_codec::pcma::PcmaDecoder::new().decode_into(src, dst),
        };
        r.unwrap_or(0)
    }

    /// Encode samples into G.711 bytes in `out`; returns the bytes written,
    /// at most `out.len()`.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        let n = samples.len().min(out.len());
        let (src, dst) = (&samples[..n], &mut out[..n]);
        let r = match self {
            Codec::Pcmu => audio_codec::pcmu::PcmuEncoder::new().encode_into(src, dst),
            Codec::Pcma => audio_codec::pcma::PcmaEncoder::new().encode_into(src, dst),
        };
        r.unwrap_or(0)
    }

    /// The byte that decodes to (near) zero, for silence.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xff,
            Codec::Pcma => 0xd5,
        }
    }
}

/// What the SDP offer/answer settled for one leg: the audio codec with the
/// payload type the peer uses for it and, if offered, the telephone-event
/// payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
}

impl Negotiated {
    /// The usual mapping: the codec's static payload type, telephone-event
    /// on `te` (101 in most offers).
    pub fn new(codec: Codec, telephone_event: Option<u8>) -> Self {
        Self {
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event,
        }
    }

    /// Refuse payload types a peer cannot legitimately have negotiated.
    pub fn validate(&self) -> Result<(), CodecError> {
        if self.payload_type > 127 {
            return Err(CodecError::PayloadTypeRange(self.payload_type));
        }
        if let Some(te) = self.telephone_event {
            if !(96..=127).contains(&te) {
                return Err(CodecError::EventPayloadType(te));
            }
            if te == self.payload_type {
                return Err(CodecError::SamePayloadType(te));
            }
        }
        Ok(())
    }
}

struct Tables {
    ulaw_to_alaw: [u8; 256],
    alaw_to_ulaw: [u8; 256],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        ulaw_to_alaw: nearest_codes(Codec::Pcmu, Codec::Pcma),
        alaw_to_ulaw: nearest_codes(Codec::Pcma, Codec::Pcmu),
    })
}

/// For each code of `from`, the code of `to` whose decoded value is
/// nearest (G.711's conversion tables are built the same way, which keeps
/// an A -> mu -> A round trip transparent). Built once, at first use.
fn nearest_codes(from: Codec, to: Codec) -> [u8; 256] {
    let codes: [u8; 256] = std::array::from_fn(|i| i as u8);
    let (mut src, mut dst) = ([0i16; 256], [0i16; 256]);
    from.decode(&codes, &mut src);
    to.decode(&codes, &mut dst);
    std::array::from_fn(|i| {
        let v = i32::from(src[i]);
        let mut best = 0usize;
        for (j, d) in dst.iter().enumerate() {
            let (dj, db) = ((i32::from(*d) - v).abs(), (i32::from(dst[best]) - v).abs());
            // Ties go to the same sign as the source value.
            if dj < db
                || (dj == db
                    && (i32::from(*d) >= 0) == (v >= 0)
                    && (i32::from(dst[best]) >= 0) != (v >= 0))
            {
                best = j;
            }
        }
        best as u8
    })
}

/// One mu-law byte as A-law.
pub fn ulaw_to_alaw(b: u8) -> u8 {
    tables().ulaw_to_alaw[usize::from(b)]
}

/// One A-law byte as mu-law.
pub fn alaw_to_ulaw(b: u8) -> u8 {
    tables().alaw_to_ulaw[usize::from(b)]
}

/// Copy `src` (in codec `from`) into `dst` as codec `to`; a plain copy when
/// they are the same. Returns the bytes written (the shorter length).
pub fn transcode(from: Codec, to: Codec, src: &[u8], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let table = match (from, to) {
        (Codec::Pcmu, Codec::Pcma) => &tables().ulaw_to_alaw,
        (Codec::Pcma, Codec::Pcmu) => &tables().alaw_to_ulaw,
        _ => {
            dst.copy_from_slice(src);
            return n;
        }
    };
    for (d, s) in dst.iter_mut().zip(src) {
        *d = table[usize::from(*s)];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 12000.0) as i16
            })
            .collect()
    }

    #[test]
    fn g711_encode_decode_round_trip() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let pcm = tone(160);
            let mut bytes = [0u8; 160];
            assert_eq!(codec.encode(&pcm, &mut bytes), 160);
            let mut back = [0i16; 160];
            assert_eq!(codec.decode(&bytes, &mut back), 160);
            for (a, b) in pcm.iter().zip(back.iter()) {
                // G.711 quantization error stays within ~3% of the amplitude.
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= 400,
                    "{codec:?} {a} {b}"
                );
            }
        }
        let mut out = [0u8; 4];
        assert_eq!(Codec::Pcmu.encode(&[0; 10], &mut out), 4);
    }

    #[test]
    fn silence_bytes_decode_near_zero() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut s = [0i16; 1];
            codec.decode(&[codec.silence_byte()], &mut s);
            assert!(s[0].abs() <= 8, "{codec:?} {}", s[0]);
        }
    }

    #[test]
    fn transcoding_preserves_the_signal() {
        let pcm = tone(800);
        let mut ulaw = vec![0u8; 800];
        Codec::Pcmu.encode(&pcm, &mut ulaw);
        let mut alaw = vec![0u8; 800];
        assert_eq!(transcode(Codec::Pcmu, Codec::Pcma, &ulaw, &mut alaw), 800);
        let mut back = vec![0u8; 800];
        transcode(Codec::Pcma, Codec::Pcmu, &alaw, &mut back);
        let (mut via_a, mut orig) = (vec![0i16; 800], vec![0i16; 800]);
        Codec::Pcma.decode(&alaw, &mut via_a);
        Codec::Pcmu.decode(&ulaw, &mut orig);
        for i in 0..800 {
            let step = (i32::from(orig[i]).abs() / 16).max(16);
            assert!(
                (i32::from(orig[i]) - i32::from(via_a[i])).abs() <= step,
                "{i}"
            );
        }
        // A u -> A -> u round trip lands on the same or an adjacent code.
        let mut changed = 0;
        for (a, b) in ulaw.iter().zip(back.iter()) {
            assert!((i16::from(*a) - i16::from(*b)).abs() <= 1);
            changed += usize::from(a != b);
        }
        assert!(changed < 800 / 4, "{changed}");
    }

    #[test]
    fn alaw_round_trip_through_ulaw_is_near_transparent() {
        // Most A-law codes survive A -> mu -> A exactly; where the two
        // laws' steps are offset the code moves by at most one step.
        let mut exact = 0;
        for b in 0..=255u8 {
            let back = ulaw_to_alaw(alaw_to_ulaw(b));
            if back == b {
                exact += 1;
            } else {
                let (mut x, mut y) = ([0i16; 1], [0i16; 1]);
                Codec::Pcma.decode(&[b], &mut x);
                Codec::Pcma.decode(&[back], &mut y);
                let step = (i32::from(x[0]).abs() / 16).max(16);
                let diff = (i32::from(x[0]) - i32::from(y[0])).abs();
                assert!(diff <= step, "{b:#x}: {} -> {}", x[0], y[0]);
            }
        }
        assert!(exact >= 240, "{exact}");
    }

    #[test]
    fn same_codec_transcode_is_a_copy() {
        let src = [1u8, 2, 3];
        let mut dst = [0u8; 3];
        transcode(Codec::Pcma, Codec::Pcma, &src, &mut dst);
        assert_eq!(src, dst);
    }

    #[test]
    fn names_and_payload_types() {
        assert_eq!(Codec::from_name("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("G722"), None);
        assert_eq!(Codec::from_static_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_static_payload_type(9), None);
        assert_eq!(Codec::Pcma.static_payload_type(), 8);
    }

    #[test]
    fn negotiated_validation() {
        assert!(Negotiated::new(Codec::Pcmu, Some(101)).validate().is_ok());
        assert_eq!(
            Negotiated::new(Codec::Pcmu, Some(13)).validate(),
            Err(CodecError::EventPayloadType(13))
        );
        let n = Negotiated {
            codec: Codec::Pcma,
            payload_type: 101,
            telephone_event: Some(101),
        };
        assert_eq!(n.validate(), Err(CodecError::SamePayloadType(101)));
    }
}
