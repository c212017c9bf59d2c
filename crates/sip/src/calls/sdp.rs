//! Session descriptions: reading the peers' SDP and writing our own.
//!
//! Omnivox anchors every call's RTP in its media engine, so each leg sees
//! only Omnivox's description: our media address and port for that leg,
//! our origin line, the codecs we speak (PCMU, PCMA and telephone-event)
//! and the direction. Nothing of the other leg's description (addresses,
//! host names, codec lists) reaches a peer: the topology is hidden.
//!
//! Parsing is deliberately small and total: it reads the connection
//! address, the first audio stream (port, payload types, `rtpmap`,
//! `a=rtcp`) and the direction. Anything malformed is an [`SdpError`],
//! never a panic; the caller answers 488.
//!
//! Negotiation ([`negotiate`]) picks the first payload type of the offer
//! (or answer) that is G.711, and the telephone-event payload type if one is
//! offered.

use omnivox_media::codec::{Codec, Negotiated};
use omnivox_media::relay::{Direction as MediaDirection, RemoteMedia};
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Payload type we offer for telephone-event (RFC 4733).
pub(crate) const TELEPHONE_EVENT_PT: u8 = 101;

/// Why a peer's description cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum SdpError {
    #[error("the description is not UTF-8 text")]
    NotText,
    #[error("no audio stream (or it was refused with port 0)")]
    NoAudio,
    #[error("no usable connection address")]
    NoConnection,
    #[error("malformed media line")]
    BadMedia,
    #[error("no codec in common (we speak PCMU and PCMA over RTP/AVP)")]
    NoCommonCodec,
}

/// Media direction attributes (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "a=sendrecv",
            Direction::SendOnly => "a=sendonly",
            Direction::RecvOnly => "a=recvonly",
            Direction::Inactive => "a=inactive",
        }
    }

    fn parse(line: &str) -> Option<Self> {
        match line.trim_end() {
            "a=sendrecv" => Some(Direction::SendRecv),
            "a=sendonly" => Some(Direction::SendOnly),
            "a=recvonly" => Some(Direction::RecvOnly),
            "a=inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction an answer takes towards an offer in this direction
    /// (RFC 3264 §6.1): sendonly is answered recvonly and vice versa.
    pub(crate) fn answer(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The peer put us on hold: it will not receive.
    pub(crate) fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }

    pub(crate) fn to_media(self) -> MediaDirection {
        match self {
            Direction::SendRecv => MediaDirection::SendRecv,
            Direction::SendOnly => MediaDirection::SendOnly,
            Direction::RecvOnly => MediaDirection::RecvOnly,
            Direction::Inactive => MediaDirection::Inactive,
        }
    }
}

/// What a peer's description says about its audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteSdp {
    /// Where the peer receives RTP.
    pub rtp: SocketAddr,
    /// `a=rtcp`, when given (else RTP port + 1).
    pub rtcp: Option<SocketAddr>,
    /// Payload types of the `m=audio` line, in the peer's order.
    pub payloads: Vec<u8>,
    /// `a=rtpmap` entries: payload type, encoding name, clock rate.
    pub rtpmap: Vec<(u8, String, u32)>,
    /// The peer's direction (`c=0.0.0.0`, RFC 2543 hold, reads as sendonly).
    pub direction: Direction,
}

impl RemoteSdp {
    /// Reads `body`; the first `m=audio` stream is the one used.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
        let mut session_addr: Option<IpAddr> = None;
        let mut session_dir: Option<Direction> = None;
        let mut media_addr: Option<IpAddr> = None;
        let mut media_dir: Option<Direction> = None;
        let mut audio: Option<(u16, Vec<u8>)> = None;
        let mut rtpmap = Vec::new();
        let mut rtcp: Option<(u16, Option<IpAddr>)> = None;
        let mut null_addr = false;
        // 0: session level, 1: in the audio section, 2: in another section.
        let mut section = 0u8;
        for raw in text.lines() {
            let line = raw.trim_end();
            if let Some(m) = line.strip_prefix("m=") {
                if section == 1 || audio.is_some() {
                    section = 2;
                    continue;
                }
                let mut parts = m.split_ascii_whitespace();
                if parts.next() != Some("audio") {
                    section = 2;
                    continue;
                }
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or(SdpError::BadMedia)?;
                let proto = parts.next().ok_or(SdpError::BadMedia)?;
                if port == 0 {
                    return Err(SdpError::NoAudio);
                }
                if !proto.eq_ignore_ascii_case("RTP/AVP") {
                    return Err(SdpError::NoCommonCodec);
                }
                let payloads = parts
                    .map(|p| p.parse::<u8>().ok().filter(|v| *v <= 127))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or(SdpError::BadMedia)?;
                audio = Some((port, payloads));
                section = 1;
                continue;
            }
            if section == 2 {
                continue;
            }
            if let Some(c) = line.strip_prefix("c=") {
                let addr = parse_connection(c).ok_or(SdpError::NoConnection)?;
                if addr.is_unspecified() {
                    null_addr = true;
                }
                if section == 0 {
                    session_addr = Some(addr);
                } else {
                    media_addr = Some(addr);
                }
            } else if let Some(d) = Direction::parse(line) {
                if section == 0 {
                    session_dir = Some(d);
                } else {
                    media_dir = Some(d);
                }
            } else if section == 1 {
                if let Some(map) = line.strip_prefix("a=rtpmap:") {
                    if let Some(entry) = parse_rtpmap(map) {
                        rtpmap.push(entry);
                    }
                } else if let Some(r) = line.strip_prefix("a=rtcp:") {
                    let mut parts = r.split_ascii_whitespace();
                    let port = parts.next().and_then(|p| p.parse::<u16>().ok());
                    let addr = parse_connection(&parts.collect::<Vec<_>>().join(" "));
                    if let Some(port) = port.filter(|p| *p != 0) {
                        rtcp = Some((port, addr));
                    }
                }
            }
        }
        let (port, payloads) = audio.ok_or(SdpError::NoAudio)?;
        let addr = media_addr.or(session_addr).ok_or(SdpError::NoConnection)?;
        let mut direction = media_dir.or(session_dir).unwrap_or_default();
        if null_addr && direction == Direction::SendRecv {
            direction = Direction::SendOnly;
        }
        Ok(Self {
            rtp: SocketAddr::new(addr, port),
            rtcp: rtcp.map(|(p, a)| SocketAddr::new(a.unwrap_or(addr), p)),
            payloads,
            rtpmap,
            direction,
        })
    }

    fn mapping(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmap
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, n, r)| (n.as_str(), *r))
    }

    /// The peer's description as the relay needs it.
    pub(crate) fn remote_media(&self, negotiated: Negotiated) -> RemoteMedia {
        RemoteMedia {
            rtp: self.rtp,
            rtcp: self.rtcp,
            negotiated,
            direction: self.direction.to_media(),
        }
    }
}

/// `IN IP4 1.2.3.4` (or IP6); a TTL or count suffix is ignored.
fn parse_connection(c: &str) -> Option<IpAddr> {
    let mut parts = c.split_ascii_whitespace();
    if parts.next()? != "IN" {
        return None;
    }
    let family = parts.next()?;
    let addr = parts.next()?.split('/').next()?;
    let ip: IpAddr = addr.parse().ok()?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

/// `0 PCMU/8000` or `101 telephone-event/8000/1`.
fn parse_rtpmap(map: &str) -> Option<(u8, String, u32)> {
    let (pt, rest) = map.trim().split_once(' ')?;
    let pt = pt.parse::<u8>().ok().filter(|p| *p <= 127)?;
    let mut enc = rest.trim().split('/');
    let name = enc.next()?.to_ascii_lowercase();
    let rate = enc.next()?.parse::<u32>().ok()?;
    Some((pt, name, rate))
}

/// The codec and telephone-event payload type to use with a peer: the
/// first G.711 payload type of its list, and its telephone-event (8 kHz)
/// payload type if it has one.
pub(crate) fn negotiate(sdp: &RemoteSdp) -> Result<Negotiated, SdpError> {
    let (payload_type, codec) = sdp
        .payloads
        .iter()
        .find_map(|&pt| {
            let codec = match sdp.mapping(pt) {
                Some((name, 8000)) => Codec::from_name(name),
                Some(_) => None,
                None => Codec::from_static_payload_type(pt),
            }?;
            Some((pt, codec))
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = sdp.payloads.iter().copied().find(|&pt| {
        pt != payload_type
            && (96..=127).contains(&pt)
            && sdp.mapping(pt) == Some(("telephone-event", 8000))
    });
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
    })
}

/// What we tell one leg about our side of its media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalMedia {
    /// Our RTP address for the leg (the media engine's leg).
    pub rtp: SocketAddr,
    /// Payload types and codecs, preferred first.
    pub codecs: Vec<(u8, Codec)>,
    /// telephone-event payload type, if offered / accepted.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

impl LocalMedia {
    /// Our offer: `preferred` first, then the other G.711 law, and
    /// telephone-event on 101.
    pub(crate) fn offer(rtp: SocketAddr, preferred: Codec, direction: Direction) -> Self {
        let other = match preferred {
            Codec::Pcmu => Codec::Pcma,
            Codec::Pcma => Codec::Pcmu,
        };
        Self {
            rtp,
            codecs: [preferred, other]
                .into_iter()
                .map(|c| (c.static_payload_type(), c))
                .collect(),
            telephone_event: Some(TELEPHONE_EVENT_PT),
            direction,
        }
    }

    /// Our answer to an offer that negotiated `n`: that codec alone, on the
    /// offer's payload types.
    pub(crate) fn answer(rtp: SocketAddr, n: Negotiated, direction: Direction) -> Self {
        Self {
            rtp,
            codecs: vec![(n.payload_type, n.codec)],
            telephone_event: n.telephone_event,
            direction,
        }
    }
}

/// Omnivox's origin towards one leg: a session id fixed for the leg's life
/// and a version that goes up each time the description changes (RFC 3264
/// §8: an unchanged description keeps its version).
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    session: u64,
    version: u64,
    addr: IpAddr,
    /// The last description sent, without its `o=` line.
    last: Option<String>,
}

impl Origin {
    pub(crate) fn new(session: u64, addr: IpAddr) -> Self {
        Self {
            session,
            version: 0,
            addr,
            last: None,
        }
    }

    /// Our description of `media`.
    pub(crate) fn describe(&mut self, media: &LocalMedia) -> Vec<u8> {
        let family = |ip: IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        let ip = media.rtp.ip();
        let mut pts: Vec<String> = media.codecs.iter().map(|(pt, _)| pt.to_string()).collect();
        let mut attrs = String::new();
        for (pt, codec) in &media.codecs {
            attrs.push_str(&format!("a=rtpmap:{pt} {}/8000\r\n", codec.name()));
        }
        if let Some(te) = media.telephone_event {
            pts.push(te.to_string());
            attrs.push_str(&format!(
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
            ));
        }
        let rest = format!(
            "s=omnivox\r\nc=IN {} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n{attrs}a=ptime:20\r\n{}\r\n",
            family(ip),
            media.rtp.port(),
            pts.join(" "),
            media.direction.attr(),
        );
        if self.last.as_deref() != Some(rest.as_str()) {
            self.version += 1;
            self.last = Some(rest.clone());
        }
        format!(
            "v=0\r\no=omnivox {} {} IN {} {}\r\n{rest}",
            self.session,
            self.version,
            family(self.addr),
            self.addr
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=bob 2890844527 2890844527 IN IP4 10.0.0.7\r\ns=-\r\n\
        c=IN IP4 10.0.0.7\r\nt=0 0\r\nm=audio 49172 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    fn origin() -> Origin {
        Origin::new(42, "127.0.0.1".parse().unwrap())
    }

    #[test]
    fn parses_address_payloads_and_events() {
        let sdp = RemoteSdp::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.rtp, "10.0.0.7:49172".parse().unwrap());
        assert_eq!(sdp.rtcp, None);
        assert_eq!(sdp.payloads, [8, 0, 101]);
        assert_eq!(sdp.direction, Direction::SendRecv);
        let n = negotiate(&sdp).unwrap();
        assert_eq!(n, Negotiated::new(Codec::Pcma, Some(101)));
        let remote = sdp.remote_media(n);
        assert_eq!(remote.direction, MediaDirection::SendRecv);
    }

    #[test]
    fn media_level_connection_rtcp_and_direction_win() {
        let body = "v=0\r\no=x 1 1 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\na=sendrecv\r\nt=0 0\r\n\
            m=audio 4000 RTP/AVP 0\r\nc=IN IP4 2.2.2.2/127\r\na=rtcp:4005 IN IP4 3.3.3.3\r\n\
            a=sendonly\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 9.9.9.9\r\na=inactive\r\n";
        let sdp = RemoteSdp::parse(body.as_bytes()).unwrap();
        assert_eq!(sdp.rtp, "2.2.2.2:4000".parse().unwrap());
        assert_eq!(sdp.rtcp, Some("3.3.3.3:4005".parse().unwrap()));
        assert_eq!(sdp.direction, Direction::SendOnly);
        // Static PT without rtpmap; no telephone-event.
        assert_eq!(negotiate(&sdp).unwrap(), Negotiated::new(Codec::Pcmu, None));
        let rtcp_port_only = body.replace("a=rtcp:4005 IN IP4 3.3.3.3", "a=rtcp:4005");
        let sdp = RemoteSdp::parse(rtcp_port_only.as_bytes()).unwrap();
        assert_eq!(sdp.rtcp, Some("2.2.2.2:4005".parse().unwrap()));
    }

    #[test]
    fn old_style_hold_and_inactive() {
        let held = OFFER.replace("c=IN IP4 10.0.0.7", "c=IN IP4 0.0.0.0");
        let sdp = RemoteSdp::parse(held.as_bytes()).unwrap();
        assert!(sdp.direction.is_hold());
        let inactive = format!("{OFFER}a=inactive\r\n");
        let sdp = RemoteSdp::parse(inactive.as_bytes()).unwrap();
        assert_eq!(sdp.direction, Direction::Inactive);
        assert_eq!(sdp.direction.answer(), Direction::Inactive);
        assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
        assert!(!Direction::RecvOnly.is_hold());
    }

    #[test]
    fn negotiation_follows_the_offer_order_and_refuses_other_codecs() {
        let g729 = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 18 0\r\n";
        let sdp = RemoteSdp::parse(g729.as_bytes()).unwrap();
        assert_eq!(negotiate(&sdp).unwrap().codec, Codec::Pcmu);
        let only = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 18 9\r\n";
        let sdp = RemoteSdp::parse(only.as_bytes()).unwrap();
        assert_eq!(negotiate(&sdp), Err(SdpError::NoCommonCodec));
        // A dynamic payload type named PCMU is PCMU.
        let dynamic = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 97 100\r\n\
            a=rtpmap:97 PCMU/8000\r\na=rtpmap:100 telephone-event/8000\r\n";
        let n = negotiate(&RemoteSdp::parse(dynamic.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcmu, 97, Some(100))
        );
        // PCMU at 16 kHz is not ours; telephone-event at 48 kHz neither.
        let wide = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 97 8 100\r\n\
            a=rtpmap:97 PCMU/16000\r\na=rtpmap:100 telephone-event/48000\r\n";
        let n = negotiate(&RemoteSdp::parse(wide.as_bytes()).unwrap()).unwrap();
        assert_eq!(n, Negotiated::new(Codec::Pcma, None));
        // SRTP only: nothing in common.
        let srtp = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/SAVP 0\r\n";
        assert_eq!(
            RemoteSdp::parse(srtp.as_bytes()),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn malformed_descriptions_are_errors_not_panics() {
        let cases: &[(&[u8], SdpError)] = &[
            (b"\xff\xfe", SdpError::NotText),
            (b"", SdpError::NoAudio),
            (b"v=0\r\nc=IN IP4 1.1.1.1\r\n", SdpError::NoAudio),
            (b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n", SdpError::NoConnection),
            (
                b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 0 RTP/AVP 0\r\n",
                SdpError::NoAudio,
            ),
            (
                b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio x RTP/AVP 0\r\n",
                SdpError::BadMedia,
            ),
            (
                b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 70000 RTP/AVP 0\r\n",
                SdpError::BadMedia,
            ),
            (
                b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000\r\n",
                SdpError::BadMedia,
            ),
            (
                b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 300\r\n",
                SdpError::BadMedia,
            ),
            (
                b"v=0\r\nc=IN IP4 nope\r\nm=audio 4000 RTP/AVP 0\r\n",
                SdpError::NoConnection,
            ),
            (
                b"v=0\r\nc=IN IP6 1.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\n",
                SdpError::NoConnection,
            ),
            (
                b"v=0\r\nc=\r\nm=audio 4000 RTP/AVP 0\r\n",
                SdpError::NoConnection,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                RemoteSdp::parse(body),
                Err(*want),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Garbage attributes are ignored, not fatal.
        let odd = "v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:\r\n\
            a=rtpmap:x y\r\na=rtcp:\r\na=rtcp:0\r\n";
        let sdp = RemoteSdp::parse(odd.as_bytes()).unwrap();
        assert_eq!((sdp.rtcp, sdp.rtpmap.len()), (None, 0));
        // Every prefix of a valid offer parses or fails cleanly.
        for n in 0..OFFER.len() {
            let _ = RemoteSdp::parse(&OFFER.as_bytes()[..n]);
        }
    }

    #[test]
    fn our_offer_lists_the_preferred_codec_first_and_hides_the_other_leg() {
        let mut o = origin();
        let rtp: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let body = o.describe(&LocalMedia::offer(rtp, Codec::Pcma, Direction::SendRecv));
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.starts_with("v=0\r\no=omnivox 42 1 IN IP4 127.0.0.1\r\n"),
            "{text}"
        );
        assert!(text.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(text.contains("m=audio 20000 RTP/AVP 8 0 101\r\n"), "{text}");
        assert!(text.contains("a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"));
        // Reading our own description back gives what we meant.
        let back = RemoteSdp::parse(&body).unwrap();
        assert_eq!(back.rtp, rtp);
        assert_eq!(
            negotiate(&back).unwrap(),
            Negotiated::new(Codec::Pcma, Some(101))
        );
    }

    #[test]
    fn answers_use_the_offers_payload_types_and_version_grows_on_change() {
        let mut o = origin();
        let rtp: SocketAddr = "127.0.0.1:20002".parse().unwrap();
        let n = Negotiated {
            codec: Codec::Pcmu,
            payload_type: 97,
            telephone_event: Some(100),
        };
        let a1 = o.describe(&LocalMedia::answer(rtp, n, Direction::SendRecv));
        let text = String::from_utf8(a1.clone()).unwrap();
        assert!(text.contains("m=audio 20002 RTP/AVP 97 100\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:97 PCMU/8000\r\n"));
        assert!(text.contains("a=rtpmap:100 telephone-event/8000\r\n"));
        // The same description again (183 then 200): same version.
        let a2 = o.describe(&LocalMedia::answer(rtp, n, Direction::SendRecv));
        assert_eq!(a1, a2);
        let held = o.describe(&LocalMedia::answer(rtp, n, Direction::SendOnly));
        let text = String::from_utf8(held.clone()).unwrap();
        assert!(text.contains("o=omnivox 42 2 ") && text.ends_with("a=sendonly\r\n"));
        assert_eq!(
            RemoteSdp::parse(&held).unwrap().direction,
            Direction::SendOnly
        );
        let resumed = o.describe(&LocalMedia::answer(rtp, n, Direction::SendRecv));
        assert!(
            String::from_utf8(resumed)
                .unwrap()
                .contains("o=omnivox 42 3 ")
        );
    }
}
