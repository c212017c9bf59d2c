//! RTP packets (RFC 3550 §5): a zero-copy header view for the receive path and
//! a writer that builds a packet into a caller-provided buffer for the send
//! path. RTCP lives in [`rtcp`].
//!
//! The relay parses every packet it receives, so [`RtpPacket::parse`] never
//! allocates and never copies: it validates the lengths once and the
//! accessors read straight from the datagram.

pub mod rtcp;

use thiserror::Error;

/// Length of the fixed RTP header.
pub const RTP_HEADER_LEN: usize = 12;
/// The only RTP version in use (RFC 3550).
pub const RTP_VERSION: u8 = 2;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("shorter than the 12-byte RTP header ({0} bytes)")]
    TruncatedHeader(usize),
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("CSRC list runs past the end of the packet")]
    TruncatedCsrc,
    #[error("header extension runs past the end of the packet")]
    TruncatedExtension,
    #[error("padding count {0} larger than the payload")]
    BadPadding(u8),
    #[error("output buffer too small ({needed} bytes needed)")]
    BufferTooSmall { needed: usize },
}

/// A validated view of one RTP packet inside a received datagram.
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Validate `buf` as an RTP packet: version 2, CSRC list, extension and
    /// padding all inside the datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TruncatedHeader(buf.len()));
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if buf.len() < start {
            return Err(RtpError::TruncatedCsrc);
        }
        if buf[0] & 0x10 != 0 {
            // Extension header: 16-bit profile, 16-bit length in 32-bit words.
            if buf.len() < start + 4 {
                return Err(RtpError::TruncatedExtension);
            }
            let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
            start += 4 + 4 * words;
            if buf.len() < start {
                return Err(RtpError::TruncatedExtension);
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            // The last octet counts the padding octets, itself included.
            let pad = buf[end - 1];
            if pad == 0 || usize::from(pad) > end - start {
                return Err(RtpError::BadPadding(pad));
            }
            end -= usize::from(pad);
        }
        Ok(Self {
            buf,
            payload_start: start,
            payload_end: end,
        })
    }

    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }
    pub fn padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }
    /// The `i`-th contributing source, if present.
    pub fn csrc(&self, i: usize) -> Option<u32> {
        if i >= usize::from(self.csrc_count()) {
            return None;
        }
        let o = RTP_HEADER_LEN + 4 * i;
        Some(u32::from_be_bytes([
            self.buf[o],
            self.buf[o + 1],
            self.buf[o + 2],
            self.buf[o + 3],
        ]))
    }
    /// The header extension as (profile-defined id, data), if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if !self.has_extension() {
            return None;
        }
        let o = RTP_HEADER_LEN + 4 * usize::from(self.csrc_count());
        let profile = u16::from_be_bytes([self.buf[o], self.buf[o + 1]]);
        Some((profile, &self.buf[o + 4..self.payload_start]))
    }
    /// The payload without header, CSRCs, extension and padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }
    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// The fields of an outgoing packet's fixed header. The relay always writes
/// a plain 12-byte header (no CSRC, extension or padding): what a leg
/// receives comes from Omnivox, not from the other party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Write the 12-byte header at the start of `out`; the payload goes at
    /// `out[RTP_HEADER_LEN..]`.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        if out.len() < RTP_HEADER_LEN {
            return Err(RtpError::BufferTooSmall {
                needed: RTP_HEADER_LEN,
            });
        }
        out[0] = RTP_VERSION << 6;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(RTP_HEADER_LEN)
    }

    /// Write a whole packet (header + `payload`) into `out`; returns its length.
    pub fn write_packet(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let needed = RTP_HEADER_LEN + payload.len();
        if out.len() < needed {
            return Err(RtpError::BufferTooSmall { needed });
        }
        self.write(out)?;
        out[RTP_HEADER_LEN..needed].copy_from_slice(payload);
        Ok(needed)
    }
}

/// RTP and RTCP share the port pair only when muxed (RFC 5761); for the
/// classic pair this tells an RTCP packet on the RTP port apart anyway
/// (payload types 64-95 after masking are reserved for RTCP).
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (200..=206).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, extra: &[u8]) -> Vec<u8> {
        let mut v = vec![
            first,
            0x80 | 8,
            0x12,
            0x34,
            0,
            0,
            0x03,
            0x20,
            0xde,
            0xad,
            0xbe,
            0xef,
        ];
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn parses_plain_packet() {
        let buf = packet(0x80, &[1, 2, 3]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 800);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.payload(), &[1, 2, 3]);
        assert!(p.extension().is_none());
        assert_eq!(p.csrc(0), None);
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        // CC=2, X=1, P=1
        let mut extra = vec![0, 0, 0, 1, 0, 0, 0, 2];
        extra.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
        extra.extend_from_slice(&[7, 7, 0, 0, 3]);
        let buf = packet(0x80 | 0x20 | 0x10 | 2, &extra);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.csrc(1), Some(2));
        assert_eq!(p.extension(), Some((0xbede, &[9u8, 9, 9, 9][..])));
        assert_eq!(p.payload(), &[7, 7]);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 5]).unwrap_err(),
            RtpError::TruncatedHeader(5)
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x40, &[])).unwrap_err(),
            RtpError::BadVersion(1)
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x83, &[0, 0, 0, 1])).unwrap_err(),
            RtpError::TruncatedCsrc
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x90, &[0xbe, 0xde])).unwrap_err(),
            RtpError::TruncatedExtension
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x90, &[0xbe, 0xde, 0, 2, 1, 2, 3, 4])).unwrap_err(),
            RtpError::TruncatedExtension
        );
        assert_eq!(
            RtpPacket::parse(&packet(0xa0, &[1, 9])).unwrap_err(),
            RtpError::BadPadding(9)
        );
        assert_eq!(
            RtpPacket::parse(&packet(0xa0, &[1, 0])).unwrap_err(),
            RtpError::BadPadding(0)
        );
    }

    #[test]
    fn writer_round_trips() {
        let h = RtpHeader {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: u32::MAX,
            ssrc: 42,
        };
        let mut out = [0u8; 32];
        let n = h.write_packet(&[5, 6, 7], &mut out).unwrap();
        assert_eq!(n, 15);
        let p = RtpPacket::parse(&out[..n]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.sequence(), 65535);
        assert_eq!(p.timestamp(), u32::MAX);
        assert_eq!(p.ssrc(), 42);
        assert_eq!(p.payload(), &[5, 6, 7]);
        let mut small = [0u8; 14];
        assert_eq!(
            h.write_packet(&[5, 6, 7], &mut small),
            Err(RtpError::BufferTooSmall { needed: 15 })
        );
    }

    #[test]
    fn rtcp_heuristic() {
        assert!(looks_like_rtcp(&[0x80, 200]));
        assert!(!looks_like_rtcp(&[0x80, 0]));
    }
}
