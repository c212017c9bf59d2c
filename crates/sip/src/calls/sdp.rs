//! The little SDP handling a signalling-only B2BUA needs.
//!
//! Until the media engine anchors RTP, session descriptions pass from one
//! leg to the other. Two things are still rewritten on the way:
//!
//! - the origin line (`o=`): each leg sees one stable origin owned by
//!   Omnivox whose version goes up with every new description (RFC 3264
//!   §8), and no internal host name or address of the other leg leaks
//!   through it;
//! - the direction attribute, for hold (`sendonly`), resume (`sendrecv`) and
//!   the placeholder offer of an originated call (`inactive`).

use std::net::IpAddr;

/// Media direction attributes (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
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
}

/// The direction of the first media section (or the session-level one),
/// `sendrecv` when none is given.
pub(crate) fn direction(body: &[u8]) -> Direction {
    let Ok(text) = std::str::from_utf8(body) else {
        return Direction::SendRecv;
    };
    let mut session = None;
    let mut in_media = false;
    for line in text.lines() {
        if line.starts_with("m=") {
            if in_media {
                break;
            }
            in_media = true;
            continue;
        }
        if let Some(d) = Direction::parse(line) {
            if in_media {
                return d;
            }
            session = Some(d);
        }
    }
    session.unwrap_or(Direction::SendRecv)
}

/// True when the description puts the sender's peer on hold: `sendonly` or
/// `inactive`, or the old RFC 2543 form `c=IN IP4 0.0.0.0`.
pub(crate) fn is_hold(body: &[u8]) -> bool {
    let held_addr = std::str::from_utf8(body)
        .map(|t| t.lines().any(|l| l.trim_end() == "c=IN IP4 0.0.0.0"))
        .unwrap_or(false);
    held_addr || matches!(direction(body), Direction::SendOnly | Direction::Inactive)
}

/// Omnivox's origin towards one leg: a session id fixed for the leg's life
/// and a version bumped for every description sent.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    session: u64,
    version: u64,
    addr: IpAddr,
}

impl Origin {
    pub(crate) fn new(session: u64, addr: IpAddr) -> Self {
        Self {
            session,
            version: 0,
            addr,
        }
    }

    fn next_line(&mut self) -> String {
        self.version += 1;
        let family = if self.addr.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "o=omnivox {} {} IN {family} {}",
            self.session, self.version, self.addr
        )
    }

    /// `body` with our origin line (next version) and, when `direction` is
    /// given, every direction attribute replaced by it (added to each media
    /// section that had none). A body that is not text is returned as is.
    pub(crate) fn rewrite(&mut self, body: &[u8], direction: Option<Direction>) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(body) else {
            return body.to_vec();
        };
        let mut out = String::with_capacity(text.len() + 32);
        let mut media_has_dir = true;
        for line in text.lines() {
            if line.starts_with("m=") {
                if let (Some(d), false) = (direction, media_has_dir) {
                    out.push_str(d.attr());
                    out.push_str("\r\n");
                }
                media_has_dir = false;
            }
            if line.starts_with("o=") {
                out.push_str(&self.next_line());
            } else if Direction::parse(line).is_some() {
                media_has_dir = true;
                match direction {
                    Some(d) => out.push_str(d.attr()),
                    None => out.push_str(line),
                }
            } else {
                out.push_str(line);
            }
            out.push_str("\r\n");
        }
        if let (Some(d), false) = (direction, media_has_dir) {
            out.push_str(d.attr());
            out.push_str("\r\n");
        }
        out.into_bytes()
    }

    /// A description with no usable media: the first offer to a leg that
    /// Omnivox calls before the other party exists (an originated call). The
    /// real description follows in a re-INVITE once the other leg answers.
    pub(crate) fn placeholder(&mut self) -> Vec<u8> {
        let family = if self.addr.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "v=0\r\n{}\r\ns=omnivox\r\nc=IN {family} {}\r\nt=0 0\r\n\
             m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=inactive\r\n",
            self.next_line(),
            self.addr
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=bob 2890844527 2890844527 IN IP4 10.0.0.7\r\ns=-\r\n\
        c=IN IP4 10.0.0.7\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    fn origin() -> Origin {
        Origin::new(42, "127.0.0.1".parse().unwrap())
    }

    #[test]
    fn origin_is_ours_and_its_version_grows() {
        let mut o = origin();
        let first = String::from_utf8(o.rewrite(OFFER.as_bytes(), None)).unwrap();
        assert!(first.contains("o=omnivox 42 1 IN IP4 127.0.0.1\r\n"));
        assert!(!first.contains("bob"), "no foreign origin leaks: {first}");
        assert!(first.contains("c=IN IP4 10.0.0.7"), "media address kept");
        let second = String::from_utf8(o.rewrite(OFFER.as_bytes(), None)).unwrap();
        assert!(second.contains("o=omnivox 42 2 "));
    }

    #[test]
    fn hold_and_resume_directions() {
        let mut o = origin();
        let held = o.rewrite(OFFER.as_bytes(), Some(Direction::SendOnly));
        assert_eq!(direction(&held), Direction::SendOnly);
        assert!(is_hold(&held));
        let resumed = o.rewrite(&held, Some(Direction::SendRecv));
        assert_eq!(direction(&resumed), Direction::SendRecv);
        assert!(!is_hold(&resumed));
        let text = String::from_utf8(resumed).unwrap();
        assert_eq!(text.matches("a=sendrecv").count(), 1, "{text}");
        assert!(!text.contains("sendonly"));
    }

    #[test]
    fn old_style_hold_and_defaults() {
        let old = OFFER.replace("c=IN IP4 10.0.0.7", "c=IN IP4 0.0.0.0");
        assert!(is_hold(old.as_bytes()));
        assert!(!is_hold(OFFER.as_bytes()));
        assert_eq!(direction(b"\xff\xfe"), Direction::SendRecv);
        let mut o = origin();
        assert_eq!(o.rewrite(b"\xff\xfe", None), b"\xff\xfe");
    }

    #[test]
    fn placeholder_is_inactive() {
        let mut o = origin();
        let p = o.placeholder();
        assert_eq!(direction(&p), Direction::Inactive);
        let text = String::from_utf8(p).unwrap();
        assert!(text.starts_with("v=0\r\no=omnivox 42 1 "));
    }
}
