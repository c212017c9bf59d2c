//! Message framing on a byte stream (RFC 3261 §18.3): the head ends with an
//! empty line, the body length is Content-Length. Keep-alives (RFC 5626
//! §3.5.1): CRLFCRLF ping, CRLF pong.

use crate::rawhead::{self, ContentLength};
use memchr::memmem;

/// The next unit in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A CRLFCRLF ping of this many bytes.
    Ping(usize),
    /// A pong or stray line break of this many bytes.
    Pong(usize),
    /// A complete message of this many bytes.
    Message(usize),
    /// Not complete yet.
    NeedMore,
    /// Larger than the limit; the head's length when it was complete.
    TooLarge { head_len: Option<usize> },
    /// The Content-Length cannot be read: framing is lost.
    BadLength { head_len: usize },
}

/// Remembers how far the current head was searched, so that a peer that
/// trickles bytes in does not make every read rescan the buffer.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    searched: usize,
    /// Total length of the message whose head was already read.
    pending_total: Option<usize>,
}

impl Framer {
    /// Looks at the start of `buf`. After a frame is consumed from the
    /// buffer, the next call starts afresh.
    pub(crate) fn next(&mut self, buf: &[u8], max_message: usize) -> Frame {
        let frame = self.find(buf, max_message);
        if !matches!(frame, Frame::NeedMore) {
            self.searched = 0;
            self.pending_total = None;
        }
        frame
    }

    fn find(&mut self, buf: &[u8], max_message: usize) -> Frame {
        if let Some(total) = self.pending_total {
            return if buf.len() >= total {
                Frame::Message(total)
            } else {
                Frame::NeedMore
            };
        }
        if buf.starts_with(b"\r\n\r\n") {
            return Frame::Ping(4);
        }
        if buf == b"\r\n\r" {
            return Frame::NeedMore;
        }
        if buf.starts_with(b"\r\n") {
            return Frame::Pong(2);
        }
        if buf.starts_with(b"\n") {
            return Frame::Pong(1);
        }
        let limit = buf.len().min(max_message);
        let from = self.searched.saturating_sub(3).min(limit);
        let Some(i) = memmem::find(&buf[from..limit], b"\r\n\r\n") else {
            self.searched = limit;
            return if buf.len() >= max_message {
                Frame::TooLarge { head_len: None }
            } else {
                Frame::NeedMore
            };
        };
        let head_len = from + i + 4;
        self.searched = head_len;
        let head = rawhead::scan(&buf[..head_len], usize::MAX);
        let body = match head.content_length {
            ContentLength::Missing => 0,
            ContentLength::Value(n) => n,
            ContentLength::Invalid => return Frame::BadLength { head_len },
        };
        match head_len.checked_add(body) {
            Some(total) if total <= max_message => {
                if buf.len() >= total {
                    Frame::Message(total)
                } else {
                    self.pending_total = Some(total);
                    Frame::NeedMore
                }
            }
            _ => Frame::TooLarge {
                head_len: Some(head_len),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn frames_messages_split_anywhere() {
        for cut in 0..MSG.len() {
            let mut f = Framer::default();
            assert_eq!(f.next(&MSG[..cut], 1000), Frame::NeedMore, "cut {cut}");
            assert_eq!(f.next(MSG, 1000), Frame::Message(MSG.len()), "cut {cut}");
        }
    }

    #[test]
    fn back_to_back_messages_and_keepalives() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(MSG);
        let mut f = Framer::default();
        let mut rest = &stream[..];
        let mut frames = Vec::new();
        loop {
            let fr = f.next(rest, 1000);
            let n = match fr {
                Frame::Ping(n) | Frame::Pong(n) | Frame::Message(n) => n,
                _ => break,
            };
            frames.push(fr);
            rest = &rest[n..];
        }
        assert_eq!(
            frames,
            [
                Frame::Ping(4),
                Frame::Message(MSG.len()),
                Frame::Pong(2),
                Frame::Message(MSG.len())
            ]
        );
        assert!(rest.is_empty());
    }

    #[test]
    fn limits_and_broken_lengths() {
        let mut f = Framer::default();
        assert_eq!(f.next(&[b'a'; 100], 64), Frame::TooLarge { head_len: None });
        let big = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n";
        assert_eq!(
            f.next(big, 1000),
            Frame::TooLarge {
                head_len: Some(big.len())
            }
        );
        let huge = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n";
        assert_eq!(
            f.next(huge, 1000),
            Frame::BadLength {
                head_len: huge.len()
            }
        );
        let bad = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n";
        assert_eq!(
            f.next(bad, 1000),
            Frame::BadLength {
                head_len: bad.len()
            }
        );
        let none = b"OPTIONS sip:a SIP/2.0\r\n\r\nleftover";
        assert_eq!(f.next(none, 1000), Frame::Message(none.len() - 8));
    }

    #[test]
    fn trickled_bytes_do_not_rescan() {
        let mut f = Framer::default();
        let mut buf = Vec::new();
        for &b in &MSG[..MSG.len() - 1] {
            buf.push(b);
            assert_eq!(f.next(&buf, 1000), Frame::NeedMore);
        }
        buf.push(MSG[MSG.len() - 1]);
        assert_eq!(f.next(&buf, 1000), Frame::Message(MSG.len()));
    }
}
