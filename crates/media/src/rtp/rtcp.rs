//! RTCP (RFC 3550 §6): parse compound packets (SR, RR; other types are
//! passed over as raw bodies) and build SR/RR with report blocks plus the
//! SDES CNAME every compound packet must carry.
//!
//! Report blocks are read lazily from the datagram ([`ReportBlocks`]), so
//! parsing allocates nothing.

use thiserror::Error;

/// RTCP packet types used here.
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

const REPORT_BLOCK_LEN: usize = 24;
const MAX_REPORT_BLOCKS: usize = 31;

/// Why a datagram is not a usable RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    #[error("shorter than an RTCP header")]
    TruncatedHeader,
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    #[error("packet length runs past the end of the datagram")]
    TruncatedPacket,
    #[error("report count {0} does not fit the packet length")]
    BadReportCount(u8),
    #[error("more than 31 report blocks")]
    TooManyReports,
    #[error("output buffer too small ({needed} bytes needed)")]
    BufferTooSmall { needed: usize },
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from `ssrc`.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        let be = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        // Sign-extend the 24-bit cumulative loss.
        let raw = (u32::from(b[5]) << 16) | (u32::from(b[6]) << 8) | u32::from(b[7]);
        let cumulative_lost = ((raw << 8) as i32) >> 8;
        Self {
            ssrc: be(0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: be(8),
            jitter: be(12),
            last_sr: be(16),
            delay_since_last_sr: be(20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32;
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..4]);
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The report blocks of an SR or RR, read on demand.
#[derive(Debug, Clone, Copy)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    pub fn len(&self) -> usize {
        self.0.len() / REPORT_BLOCK_LEN
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.0.chunks_exact(REPORT_BLOCK_LEN).map(ReportBlock::read)
    }
}

/// The sender-info part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp of the report.
    pub ntp: u64,
    /// The same instant in the stream's RTP clock.
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy)]
pub enum RtcpPacket<'a> {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        reports: ReportBlocks<'a>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: ReportBlocks<'a>,
    },
    /// SDES, BYE, APP, feedback...: type and body after the 4-byte header.
    Other { packet_type: u8, body: &'a [u8] },
}

/// Iterator over the packets of a compound RTCP datagram; stops after the
/// first error.
pub struct Compound<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walk a compound RTCP datagram.
pub fn parse_compound(buf: &[u8]) -> Compound<'_> {
    Compound {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = parse_one(self.rest);
        match r {
            Ok((packet, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(packet))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < 4 {
        return Err(RtcpError::TruncatedHeader);
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = buf[0] & 0x1f;
    let packet_type = buf[1];
    let total = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
    if buf.len() < total {
        return Err(RtcpError::TruncatedPacket);
    }
    let mut end = total;
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[total - 1]);
        if pad == 0 || pad > total - 4 {
            return Err(RtcpError::TruncatedPacket);
        }
        end -= pad;
    }
    let be = |o: usize| u32::from_be_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let blocks = |start: usize| -> Result<ReportBlocks<'_>, RtcpError> {
        let stop = start + usize::from(count) * REPORT_BLOCK_LEN;
        if stop > end {
            return Err(RtcpError::BadReportCount(count));
        }
        Ok(ReportBlocks(&buf[start..stop]))
    };
    let packet = match packet_type {
        PT_SR => {
            if end < 28 {
                return Err(RtcpError::TruncatedPacket);
            }
            RtcpPacket::SenderReport {
                ssrc: be(4),
                info: SenderInfo {
                    ntp: (u64::from(be(8)) << 32) | u64::from(be(12)),
                    rtp_timestamp: be(16),
                    packet_count: be(20),
                    octet_count: be(24),
                },
                reports: blocks(28)?,
            }
        }
        PT_RR => {
            if end < 8 {
                return Err(RtcpError::TruncatedPacket);
            }
            RtcpPacket::ReceiverReport {
                ssrc: be(4),
                reports: blocks(8)?,
            }
        }
        _ => RtcpPacket::Other {
            packet_type,
            body: &buf[4..end],
        },
    };
    Ok((packet, total))
}

fn check(out: &[u8], needed: usize, blocks: usize) -> Result<(), RtcpError> {
    if blocks > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooManyReports);
    }
    if out.len() < needed {
        return Err(RtcpError::BufferTooSmall { needed });
    }
    Ok(())
}

fn write_header(out: &mut [u8], count: usize, packet_type: u8, len: usize) {
    out[0] = 0x80 | (count as u8 & 0x1f);
    out[1] = packet_type;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

/// Build a sender report into `out`; returns its length.
pub fn write_sender_report(
    out: &mut [u8],
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    let len = 28 + REPORT_BLOCK_LEN * reports.len();
    check(out, len, reports.len())?;
    write_header(out, reports.len(), PT_SR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let o = 28 + i * REPORT_BLOCK_LEN;
        r.write(&mut out[o..o + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Build a receiver report into `out`; returns its length.
pub fn write_receiver_report(
    out: &mut [u8],
    ssrc: u32,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    let len = 8 + REPORT_BLOCK_LEN * reports.len();
    check(out, len, reports.len())?;
    write_header(out, reports.len(), PT_RR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let o = 8 + i * REPORT_BLOCK_LEN;
        r.write(&mut out[o..o + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Build an SDES packet with one chunk carrying the CNAME (at most 255
/// bytes); returns its length. RFC 3550 §6.1 requires it in every compound.
pub fn write_sdes_cname(out: &mut [u8], ssrc: u32, cname: &[u8]) -> Result<usize, RtcpError> {
    let cname = &cname[..cname.len().min(255)];
    // ssrc + type + len + text + at least one null, padded to 32 bits.
    let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let len = 4 + chunk;
    check(out, len, 0)?;
    write_header(out, 1, PT_SDES, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = 1; // CNAME
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    out[10 + cname.len()..len].fill(0);
    Ok(len)
}

/// The middle 32 bits of a 64-bit NTP timestamp, as used in LSR.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Wall-clock time as a 64-bit NTP timestamp (seconds since 1900, 32.32).
pub fn ntp_now() -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() + UNIX_TO_NTP;
    let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 0x0001_0010,
            jitter: 80,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn sr_rr_sdes_compound_round_trip() {
        let mut buf = [0u8; 256];
        let info = SenderInfo {
            ntp: 0x0102_0304_0506_0708,
            rtp_timestamp: 160,
            packet_count: 50,
            octet_count: 8000,
        };
        let mut n = write_sender_report(&mut buf, 7, &info, &[block(9), block(10)]).unwrap();
        n += write_sdes_cname(&mut buf[n..], 7, b"omnivox").unwrap();
        n += write_receiver_report(&mut buf[n..], 8, &[block(11)]).unwrap();
        let packets: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 3);
        match packets[0] {
            RtcpPacket::SenderReport {
                ssrc,
                info: i,
                reports,
            } => {
                assert_eq!(ssrc, 7);
                assert_eq!(i, info);
                let blocks: Vec<_> = reports.iter().collect();
                assert_eq!(blocks, vec![block(9), block(10)]);
            }
            other => panic!("{other:?}"),
        }
        match packets[1] {
            RtcpPacket::Other { packet_type, body } => {
                assert_eq!(packet_type, PT_SDES);
                assert_eq!(&body[4..6], &[1, 7]);
                assert_eq!(&body[6..13], b"omnivox");
            }
            other => panic!("{other:?}"),
        }
        match packets[2] {
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                assert_eq!(ssrc, 8);
                assert_eq!(reports.len(), 1);
                assert_eq!(reports.iter().next(), Some(block(11)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed() {
        let mut buf = [0u8; 64];
        let n = write_receiver_report(&mut buf, 1, &[block(2)]).unwrap();
        // Truncated datagram.
        let mut it = parse_compound(&buf[..n - 4]);
        assert!(matches!(it.next(), Some(Err(RtcpError::TruncatedPacket))));
        assert!(it.next().is_none());
        // Wrong version.
        let mut bad = buf;
        bad[0] = 0x41;
        assert!(matches!(
            parse_compound(&bad[..n]).next(),
            Some(Err(RtcpError::BadVersion(1)))
        ));
        // Report count larger than the packet.
        let mut bad = buf;
        bad[0] = 0x82;
        assert!(matches!(
            parse_compound(&bad[..n]).next(),
            Some(Err(RtcpError::BadReportCount(2)))
        ));
        assert!(matches!(
            parse_compound(&[0x80, 201]).next(),
            Some(Err(RtcpError::TruncatedHeader))
        ));
        // Too many blocks and too small buffers are refused by the builders.
        assert_eq!(
            write_receiver_report(&mut [0u8; 2048], 1, &[block(1); 32]),
            Err(RtcpError::TooManyReports)
        );
        assert_eq!(
            write_receiver_report(&mut [0u8; 16], 1, &[block(1)]),
            Err(RtcpError::BufferTooSmall { needed: 32 })
        );
    }

    #[test]
    fn ntp_middle_bits() {
        assert_eq!(ntp_middle(0x1122_3344_5566_7788), 0x3344_5566);
        assert!(ntp_now() >> 32 > 3_900_000_000);
    }
}
