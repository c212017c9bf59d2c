//! A raw, allocation-light scan of a SIP message head, and stateless replies
//! built from it.
//!
//! The scan runs before the real parser: it finds the framing facts
//! (Content-Length, where the body starts), the User-Agent for scanner
//! detection, and the raw Via/From/To/Call-ID/CSeq values, so that a request
//! the parser rejects can still get its 400 (or 501/513) response.

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartLine<'a> {
    /// `METHOD SP Request-URI SP SIP/2.0`, loosely: a token and a version.
    Request { method: &'a [u8] },
    /// `SIP/2.0 ...`.
    Response,
    /// Anything else.
    Other,
}

/// The Content-Length as found in the raw headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentLength {
    Missing,
    Value(usize),
    /// Not a number, too large, or several different values.
    Invalid,
}

/// What the raw scan found.
#[derive(Debug)]
pub(crate) struct RawHead<'a> {
    /// Bytes of leading CR/LF skipped before the start line.
    pub start_offset: usize,
    pub start: StartLine<'a>,
    /// Index of the first body byte when the empty line was found.
    pub body_start: Option<usize>,
    pub content_length: ContentLength,
    pub user_agent: Option<&'a [u8]>,
    pub vias: Vec<&'a [u8]>,
    pub from: Option<&'a [u8]>,
    pub to: Option<&'a [u8]>,
    pub call_id: Option<&'a [u8]>,
    pub cseq: Option<&'a [u8]>,
    pub header_count: usize,
}

impl RawHead<'_> {
    /// True for a request (not ACK) with the headers a response needs.
    pub(crate) fn can_reply(&self) -> bool {
        matches!(self.start, StartLine::Request { method } if !method.eq_ignore_ascii_case(b"ACK"))
            && !self.vias.is_empty()
            && self.from.is_some()
            && self.to.is_some()
            && self.call_id.is_some()
            && self.cseq.is_some()
    }

    /// The request method as text, if this is a request.
    pub(crate) fn method(&self) -> Option<&[u8]> {
        match self.start {
            StartLine::Request { method } => Some(method),
            _ => None,
        }
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(c))
}

fn classify_start(line: &[u8]) -> StartLine<'_> {
    if line.starts_with(b"SIP/") {
        return StartLine::Response;
    }
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(_uri), Some(version))
            if is_token(method) && trim(version).starts_with(b"SIP/") =>
        {
            StartLine::Request { method }
        }
        _ => StartLine::Other,
    }
}

/// Scans the head of `bytes`; at most `max_headers` header lines are looked
/// at (the caller rejects messages with more: `header_count` exceeds it).
pub(crate) fn scan(bytes: &[u8], max_headers: usize) -> RawHead<'_> {
    let start_offset = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let mut head = RawHead {
        start_offset,
        start: StartLine::Other,
        body_start: None,
        content_length: ContentLength::Missing,
        user_agent: None,
        vias: Vec::new(),
        from: None,
        to: None,
        call_id: None,
        cseq: None,
        header_count: 0,
    };
    let mut pos = start_offset;
    let mut first = true;
    // The header being read: (name, value start, value end).
    let mut current: Option<(&[u8], usize, usize)> = None;
    while pos < bytes.len() {
        let nl = bytes[pos..].iter().position(|&b| b == b'\n');
        let (line_end, next) = match nl {
            Some(i) => (pos + i, pos + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        let content_end = if line_end > pos && bytes[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let line = &bytes[pos..content_end];
        if first {
            head.start = classify_start(line);
            first = false;
        } else if line.is_empty() {
            if nl.is_some() {
                head.body_start = Some(next);
            }
            break;
        } else if line[0] == b' ' || line[0] == b'\t' {
            if let Some(cur) = current.as_mut() {
                cur.2 = content_end;
            }
        } else {
            if let Some((name, s, e)) = current.take() {
                record(&mut head, name, &bytes[s..e]);
            }
            head.header_count += 1;
            if head.header_count > max_headers {
                break;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = trim(&line[..colon]);
                let mut vs = pos + colon + 1;
                while vs < content_end && (bytes[vs] == b' ' || bytes[vs] == b'\t') {
                    vs += 1;
                }
                current = Some((name, vs, content_end));
            }
        }
        pos = next;
    }
    if let Some((name, s, e)) = current.take() {
        record(&mut head, name, &bytes[s..e]);
    }
    head
}

fn record<'a>(head: &mut RawHead<'a>, name: &[u8], value: &'a [u8]) {
    let is = |full: &[u8], short: &[u8]| {
        name.eq_ignore_ascii_case(full) || (!short.is_empty() && name.eq_ignore_ascii_case(short))
    };
    if is(b"Via", b"v") {
        head.vias.push(value);
    } else if is(b"From", b"f") {
        head.from.get_or_insert(value);
    } else if is(b"To", b"t") {
        head.to.get_or_insert(value);
    } else if is(b"Call-ID", b"i") {
        head.call_id.get_or_insert(value);
    } else if is(b"CSeq", b"") {
        head.cseq.get_or_insert(value);
    } else if is(b"User-Agent", b"") {
        head.user_agent.get_or_insert(value);
    } else if is(b"Content-Length", b"l") {
        let v = trim(value);
        let parsed = if !v.is_empty() && v.len() <= 10 && v.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
        } else {
            None
        };
        head.content_length = match (head.content_length, parsed) {
            (_, None) | (ContentLength::Invalid, _) => ContentLength::Invalid,
            (ContentLength::Missing, Some(n)) => ContentLength::Value(n),
            (ContentLength::Value(m), Some(n)) if m == n => ContentLength::Value(n),
            (ContentLength::Value(_), Some(_)) => ContentLength::Invalid,
        };
    }
}

/// True when the raw To value already carries a tag.
fn has_tag(to: &[u8]) -> bool {
    to.windows(4).any(|w| w.eq_ignore_ascii_case(b"tag="))
}

/// A stateless response to the request scanned in `head`, or `None` when no
/// response can be built (not a request, an ACK, or mandatory headers
/// missing). `extra` headers are written as given.
pub(crate) fn reply(
    head: &RawHead<'_>,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
    server: &str,
) -> Option<Vec<u8>> {
    if !head.can_reply() {
        return None;
    }
    let (from, to, call_id, cseq) = (head.from?, head.to?, head.call_id?, head.cseq?);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
    for via in &head.vias {
        out.extend_from_slice(b"Via: ");
        out.extend_from_slice(via);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in [(&b"From"[..], from), (b"To", to)] {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        if name == b"To" && !has_tag(value) {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(crate::error::random_token(6).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in [(&b"Call-ID"[..], call_id), (b"CSeq", cseq)] {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Server: {server}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:acme.omnivox SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\r\n\
v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
f: <sip:a@acme.omnivox>;tag=1\r\n\
To: <sip:b@acme.omnivox>\r\n\
Call-ID: abc\r\n\
CSeq: 1 OPTIONS\r\n\
User-Agent: friendly-scanner\r\n\
Subject: folded\r\n  continues here\r\n\
l: 4\r\n\
\r\n\
body";

    #[test]
    fn scans_a_request() {
        let h = scan(OPTIONS, 100);
        assert_eq!(h.start, StartLine::Request { method: b"OPTIONS" });
        assert_eq!(h.vias.len(), 2);
        assert_eq!(h.from, Some(&b"<sip:a@acme.omnivox>;tag=1"[..]));
        assert_eq!(h.user_agent, Some(&b"friendly-scanner"[..]));
        assert_eq!(h.content_length, ContentLength::Value(4));
        assert_eq!(&OPTIONS[h.body_start.unwrap()..], b"body");
        assert_eq!(h.header_count, 9);
        assert!(h.can_reply());
    }

    #[test]
    fn reply_mirrors_the_request_and_adds_a_to_tag() {
        let h = scan(OPTIONS, 100);
        let r = reply(
            &h,
            400,
            "Bad Request",
            &[("Warning", "399 x \"y\"")],
            "Test",
        )
        .unwrap();
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("SIP/2.0 400 Bad Request\r\n"));
        assert!(r.contains("Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\r\n"));
        assert!(r.contains("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"));
        assert!(r.contains("To: <sip:b@acme.omnivox>;tag="));
        assert!(r.contains("CSeq: 1 OPTIONS\r\n"));
        assert!(r.contains("Warning: 399 x \"y\"\r\n"));
        assert!(r.ends_with("Server: Test\r\nContent-Length: 0\r\n\r\n"));
        let msg = rsipstack::sip::SipMessage::try_from(r.as_bytes()).unwrap();
        assert!(matches!(msg, rsipstack::sip::SipMessage::Response(_)));
    }

    #[test]
    fn content_length_variants() {
        let cl = |v: &str| {
            let m = format!("OPTIONS sip:a SIP/2.0\r\nContent-Length: {v}\r\n\r\n");
            scan(m.as_bytes(), 10).content_length
        };
        assert_eq!(cl("0"), ContentLength::Value(0));
        assert_eq!(cl(" 12 "), ContentLength::Value(12));
        for bad in ["-1", "abc", "1e3", "99999999999999999999", "", "0x10"] {
            assert_eq!(cl(bad), ContentLength::Invalid, "{bad:?}");
        }
        let twice = b"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(scan(twice, 10).content_length, ContentLength::Invalid);
    }

    #[test]
    fn no_reply_for_ack_responses_or_missing_headers() {
        let ack =
            b"ACK sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n";
        assert!(reply(&scan(ack, 10), 400, "Bad Request", &[], "t").is_none());
        let resp =
            b"SIP/2.0 200 OK\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 X\r\n\r\n";
        assert_eq!(scan(resp, 10).start, StartLine::Response);
        assert!(reply(&scan(resp, 10), 400, "Bad Request", &[], "t").is_none());
        let no_callid = b"BYE sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCSeq: 1 BYE\r\n\r\n";
        assert!(reply(&scan(no_callid, 10), 400, "Bad Request", &[], "t").is_none());
    }

    #[test]
    fn leading_crlf_garbage_and_limits() {
        let h = scan(b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\n\r\n", 10);
        assert_eq!(h.start_offset, 4);
        assert!(matches!(h.start, StartLine::Request { .. }));
        assert_eq!(scan(b"\x00\xff\xfe garbage", 10).start, StartLine::Other);
        assert_eq!(scan(b"", 10).start, StartLine::Other);
        let many = format!("OPTIONS sip:a SIP/2.0\r\n{}\r\n", "X: y\r\n".repeat(50));
        assert_eq!(scan(many.as_bytes(), 10).header_count, 11);
        // No empty line: no body start.
        assert_eq!(
            scan(b"OPTIONS sip:a SIP/2.0\r\nVia: x", 10).body_start,
            None
        );
    }
}
