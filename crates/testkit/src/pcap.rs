//! RTP captures for sipp's `play_pcap_audio`: audio a sipp callee sends
//! after it answers, so answering-machine detection has something to judge.

use omnivox_media::codec::Codec;

/// Samples per 20 ms packet at 8 kHz.
const PACKET: usize = 160;

/// The file name [`write_captures`] gives the live answer.
pub const LIVE_ANSWER: &str = "live_answer.pcap";

/// A person picking up: 300 ms of line noise, half a second of speech-like
/// sound ("Hello?"), then 4 s of waiting in silence. Deterministic.
pub fn live_answer() -> Vec<i16> {
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 16) as i16 as f32 / 32_768.0
    };
    let mut out = Vec::new();
    let floor = 30.0;
    for _ in 0..2_400 {
        out.push((noise() * floor) as i16);
    }
    // Voice: noise shaped by a syllable envelope (not a pure tone, which
    // the detector would take for a beep).
    for i in 0..4_000 {
        let t = i as f32 / 8_000.0;
        let env = (std::f32::consts::PI * t / 0.5).sin().max(0.0).sqrt();
        let voiced = 0.6 * noise() + 0.4 * (2.0 * std::f32::consts::PI * 180.0 * t).sin();
        out.push((voiced * env * 9_000.0) as i16);
    }
    for _ in 0..32_000 {
        out.push((noise() * floor) as i16);
    }
    out
}

/// A pcap of `samples` as PCMA RTP in 20 ms packets over UDP/IPv4 on
/// Ethernet (what sipp replays; addresses and ports are rewritten by it).
pub fn rtp_pcap(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: microsecond timestamps, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut payload = [0u8; PACKET];
    for (n, chunk) in samples.chunks(PACKET).enumerate() {
        let mut frame = [0i16; PACKET];
        frame[..chunk.len()].copy_from_slice(chunk);
        Codec::Pcma.encode(&frame, &mut payload);
        let udp_len = 8 + 12 + PACKET;
        let ip_len = 20 + udp_len;
        let mut pkt = Vec::with_capacity(14 + ip_len);
        pkt.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&(n as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&6_000u16.to_be_bytes());
        pkt.extend_from_slice(&6_002u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]);
        pkt.push(0x80);
        pkt.push(if n == 0 { 0x80 | 8 } else { 8 });
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&((n * PACKET) as u32).to_be_bytes());
        pkt.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
        pkt.extend_from_slice(&payload);
        let usec = n as u64 * 20_000;
        out.extend_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&pkt);
    }
    out
}

/// Writes the captures the SIP tests' scenarios play into `dir` (sipp's
/// working directory): [`LIVE_ANSWER`].
pub fn write_captures(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(dir.join(LIVE_ANSWER), rtp_pcap(&live_answer()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnivox_media::FrameAnalyzer;
    use omnivox_media::amd::{AmdConfig, AmdDetector, Outcome};

    /// The capture's audio is what the detector calls a person.
    #[test]
    fn the_live_answer_is_judged_human() {
        let audio = live_answer();
        let mut amd = AmdDetector::new(AmdConfig::default()).unwrap();
        let mut verdict = None;
        for chunk in audio.chunks(PACKET) {
            let mut frame = [0i16; PACKET];
            frame[..chunk.len()].copy_from_slice(chunk);
            if let Some(omnivox_media::Detection::Answer(v)) = amd.analyze(&frame) {
                verdict = Some(v);
                break;
            }
        }
        let v = verdict.expect("a verdict");
        assert_eq!(v.outcome, Outcome::Human, "{v:?}");
        let pcap = rtp_pcap(&audio);
        // 24-byte header, then 16 + 14 + 20 + 8 + 12 + 160 per packet.
        assert_eq!(pcap.len(), 24 + audio.len().div_ceil(PACKET) * 230);
    }
}
