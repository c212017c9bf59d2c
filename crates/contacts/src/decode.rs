//! Streaming text decoding: any supported encoding in, UTF-8 out, in bounded
//! memory.
//!
//! [`DecodedReader`] looks at the first chunk of the input (the *sample*,
//! 64 KiB by default) once, then transcodes chunk by chunk:
//!
//! * a UTF-8 byte-order mark is stripped; UTF-16 LE/BE are recognised by
//!   their byte-order mark, or without one when every other byte of the
//!   sample is NUL (Excel's "Unicode text" export);
//! * otherwise the sample decides between UTF-8 and Windows-1252 (a superset
//!   of the printable part of ISO-8859-1/Latin-1): valid UTF-8 is UTF-8; bytes
//!   that are not UTF-8 make it Windows-1252, unless the sample also holds
//!   more valid multi-byte UTF-8 sequences than stray bytes (a UTF-8 file with
//!   a few Latin-1 bytes pasted in);
//! * in UTF-8 mode, a byte that is not valid UTF-8 later in the stream (past
//!   the sample) is decoded on its own as Windows-1252 instead of failing the
//!   whole file or losing the character; [`DecodedReader::fallback_bytes`]
//!   counts them;
//! * NUL bytes, or more than 2% control characters in the sample, mean the
//!   file is binary: error `not_text`;
//! * no line may exceed `max_line_bytes` (1 MiB by default) of decoded output
//!   between two line breaks (`\n` or `\r`): error `line_too_long`, raised as
//!   soon as the cap is passed, so a 2 GB file without a newline never sits in
//!   memory.
//!
//! Errors travel through [`Read`] as `io::Error`s of kind `InvalidData`
//! wrapping a [`DecodeError`].

use std::io::{self, Read};

use crate::error::DecodeError;

/// Default sample size used for encoding detection and dialect sniffing.
pub const DEFAULT_SAMPLE_BYTES: usize = 64 * 1024;
/// Default cap on bytes between two line breaks.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// The encoding the input was detected to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8, with or without byte-order mark.
    Utf8,
    /// Windows-1252 (covers ISO-8859-1 / Latin-1).
    Windows1252,
    /// UTF-16 little endian.
    Utf16Le,
    /// UTF-16 big endian.
    Utf16Be,
}

/// Limits for [`DecodedReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Bytes examined to detect the encoding and binary content.
    pub sample_bytes: usize,
    /// Maximum decoded bytes between two line breaks.
    pub max_line_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            sample_bytes: DEFAULT_SAMPLE_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Windows-1252 code points for bytes 0x80..=0x9F. The five bytes the code
/// page leaves undefined map to the C1 control of the same value, as the
/// WHATWG Encoding Standard does. Bytes 0xA0..=0xFF equal their code point.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes one Windows-1252 byte.
pub fn cp1252_char(byte: u8) -> char {
    match byte {
        0x80..=0x9F => CP1252_HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

fn push_cp1252(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let ascii = rest.iter().position(|b| *b >= 0x80).unwrap_or(rest.len());
        out.extend_from_slice(&rest[..ascii]);
        rest = &rest[ascii..];
        if let Some((&b, tail)) = rest.split_first() {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(cp1252_char(b).encode_utf8(&mut tmp).as_bytes());
            rest = tail;
        }
    }
}

/// A reader adapter producing UTF-8 from UTF-8, Windows-1252 or UTF-16
/// input, with binary-content and line-length guards. See the module docs.
#[derive(Debug)]
pub struct DecodedReader<R> {
    inner: R,
    opts: DecodeOptions,
    encoding: Option<Encoding>,
    input: Vec<u8>,
    in_start: usize,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    line: u64,
    line_bytes: usize,
    fallback_bytes: u64,
    failed: Option<DecodeError>,
}

impl<R: Read> DecodedReader<R> {
    /// Wraps `inner` with the default limits.
    pub fn new(inner: R) -> Self {
        Self::with_options(inner, DecodeOptions::default())
    }

    /// Wraps `inner` with explicit limits.
    pub fn with_options(inner: R, opts: DecodeOptions) -> Self {
        Self {
            inner,
            opts,
            encoding: None,
            input: Vec::with_capacity(opts.sample_bytes.max(4096)),
            in_start: 0,
            out: Vec::new(),
            out_pos: 0,
            eof: false,
            line: 0,
            line_bytes: 0,
            fallback_bytes: 0,
            failed: None,
        }
    }

    /// The detected encoding; `None` until the first read.
    pub fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    /// Bytes that were not valid UTF-8 in a stream detected as UTF-8 and were
    /// decoded as Windows-1252 instead.
    pub fn fallback_bytes(&self) -> u64 {
        self.fallback_bytes
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Drops consumed input, then reads until at least `extra` more raw bytes
    /// than are pending are buffered, or the input ends.
    fn fill(&mut self, extra: usize) -> io::Result<()> {
        if self.in_start > 0 {
            self.input.drain(..self.in_start);
            self.in_start = 0;
        }
        let want = self.input.len() + extra;
        let chunk = self.opts.sample_bytes.clamp(4096, 64 * 1024);
        while !self.eof && self.input.len() < want {
            let len = self.input.len();
            self.input.resize(len + chunk, 0);
            match self.inner.read(&mut self.input[len..]) {
                Ok(0) => {
                    self.input.truncate(len);
                    self.eof = true;
                }
                Ok(n) => self.input.truncate(len + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.input.truncate(len),
                Err(e) => {
                    self.input.truncate(len);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn detect(&mut self) -> Result<Encoding, DecodeError> {
        let len = self.input.len().min(self.opts.sample_bytes);
        let whole = self.eof && len == self.input.len();
        let sample = &self.input[..len];
        let (encoding, skip) = if sample.starts_with(b"\xEF\xBB\xBF") {
            (Encoding::Utf8, 3)
        } else if sample.starts_with(b"\xFF\xFE") {
            (Encoding::Utf16Le, 2)
        } else if sample.starts_with(b"\xFE\xFF") {
            (Encoding::Utf16Be, 2)
        } else if let Some(enc) = utf16_without_bom(sample) {
            (enc, 0)
        } else {
            if sample.contains(&0) {
                return Err(DecodeError::NotText("it contains NUL bytes".into()));
            }
            (utf8_or_cp1252(sample, whole), 0)
        };
        self.in_start = skip;
        Ok(encoding)
    }

    /// Decodes what is buffered into `self.out`, keeping an incomplete
    /// trailing sequence for the next round.
    fn decode_buffered(&mut self, encoding: Encoding) {
        let pending = &self.input[self.in_start..];
        let mut used = pending.len();
        match encoding {
            Encoding::Windows1252 => push_cp1252(&mut self.out, pending),
            Encoding::Utf8 => {
                let mut rest = pending;
                loop {
                    match std::str::from_utf8(rest) {
                        Ok(s) => {
                            self.out.extend_from_slice(s.as_bytes());
                            break;
                        }
                        Err(e) => {
                            let (valid, bad) = rest.split_at(e.valid_up_to());
                            self.out.extend_from_slice(valid);
                            if e.error_len().is_none() && !self.eof {
                                used -= bad.len();
                                break;
                            }
                            push_cp1252(&mut self.out, &bad[..1]);
                            self.fallback_bytes += 1;
                            rest = &bad[1..];
                        }
                    }
                }
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let mut units: Vec<u16> = pending
                    .chunks_exact(2)
                    .map(|p| match encoding {
                        Encoding::Utf16Le => u16::from_le_bytes([p[0], p[1]]),
                        _ => u16::from_be_bytes([p[0], p[1]]),
                    })
                    .collect();
                used = units.len() * 2;
                if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
                    units.pop();
                    used -= 2;
                }
                for ch in char::decode_utf16(units) {
                    let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut tmp = [0u8; 4];
                    self.out
                        .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                if self.eof && pending.len() % 2 == 1 {
                    // A dangling odd byte at the very end cannot be a character.
                    self.out
                        .extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
                    used = pending.len();
                }
            }
        }
        self.in_start += used;
    }

    fn check_binary(decoded: &[u8]) -> Result<(), DecodeError> {
        if decoded.contains(&0) {
            return Err(DecodeError::NotText("it contains NUL characters".into()));
        }
        let controls = decoded
            .iter()
            .filter(|&&b| {
                (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A)) || b == 0x7F
            })
            .count();
        if !decoded.is_empty() && controls * 50 > decoded.len() {
            return Err(DecodeError::NotText(format!(
                "{controls} control characters in the first {} bytes",
                decoded.len()
            )));
        }
        Ok(())
    }

    /// Applies the line-length cap to freshly decoded bytes `out[from..]`.
    fn check_lines(&mut self, from: usize) -> Result<(), DecodeError> {
        let max = self.opts.max_line_bytes;
        let new = &self.out[from..];
        let mut last = 0;
        for pos in memchr::memchr2_iter(b'\n', b'\r', new) {
            if self.line_bytes + (pos - last) > max {
                return Err(DecodeError::LineTooLong {
                    line: self.line + 1,
                    max,
                });
            }
            self.line_bytes = 0;
            if new[pos] == b'\n' {
                self.line += 1;
            }
            last = pos + 1;
        }
        self.line_bytes += new.len() - last;
        if self.line_bytes > max {
            return Err(DecodeError::LineTooLong {
                line: self.line + 1,
                max,
            });
        }
        Ok(())
    }

    /// Produces the next decoded chunk into `self.out`. Returns false at the
    /// end of the input.
    fn produce(&mut self) -> io::Result<bool> {
        let first = self.encoding.is_none();
        let encoding = match self.encoding {
            Some(enc) => {
                self.fill(1)?;
                enc
            }
            None => {
                self.fill(self.opts.sample_bytes)?;
                let enc = self.detect()?;
                self.encoding = Some(enc);
                enc
            }
        };
        if self.in_start >= self.input.len() && self.eof {
            return Ok(false);
        }
        self.out.clear();
        self.out_pos = 0;
        self.decode_buffered(encoding);
        if first {
            Self::check_binary(&self.out)?;
        }
        self.check_lines(0)?;
        Ok(true)
    }
}

impl<R: Read> Read for DecodedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(err.clone().into());
        }
        while self.out_pos >= self.out.len() {
            match self.produce() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    if let Some(d) = e.get_ref().and_then(|i| i.downcast_ref::<DecodeError>()) {
                        self.failed = Some(d.clone());
                    }
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// UTF-16 without a byte-order mark: ASCII-range text leaves every other
/// byte NUL.
fn utf16_without_bom(sample: &[u8]) -> Option<Encoding> {
    if sample.len() < 4 {
        return None;
    }
    let pairs = sample.len() / 2;
    let (mut even_zero, mut odd_zero) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even_zero += usize::from(pair[0] == 0);
        odd_zero += usize::from(pair[1] == 0);
    }
    if odd_zero * 10 >= pairs * 9 && even_zero * 20 < pairs {
        Some(Encoding::Utf16Le)
    } else if even_zero * 10 >= pairs * 9 && odd_zero * 20 < pairs {
        Some(Encoding::Utf16Be)
    } else {
        None
    }
}

/// Chooses between UTF-8 and Windows-1252 from the sample (see module docs).
fn utf8_or_cp1252(sample: &[u8], at_eof: bool) -> Encoding {
    let (mut multibyte, mut bad) = (0usize, 0usize);
    let mut rest = sample;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (valid, tail) = rest.split_at(e.valid_up_to());
                multibyte += valid.iter().filter(|b| **b >= 0xC0).count();
                match e.error_len() {
                    Some(n) => {
                        bad += 1;
                        rest = &tail[n.min(1)..];
                    }
                    None => {
                        if at_eof {
                            bad += 1;
                        }
                        break;
                    }
                }
            }
        }
    }
    if bad == 0 || multibyte > bad {
        Encoding::Utf8
    } else {
        Encoding::Windows1252
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(String, Encoding), String> {
        let opts = DecodeOptions {
            sample_bytes: 16,
            max_line_bytes: 64,
        };
        let mut r = DecodedReader::with_options(bytes, opts);
        let mut s = String::new();
        r.read_to_string(&mut s).map_err(|e| e.to_string())?;
        Ok((s, r.encoding().unwrap_or(Encoding::Utf8)))
    }

    #[test]
    fn cp1252_table_matches_known_points() {
        assert_eq!(cp1252_char(0x80), '€');
        assert_eq!(cp1252_char(0x9F), 'Ÿ');
        assert_eq!(cp1252_char(0xE9), 'é');
        assert_eq!(cp1252_char(0xFC), 'ü');
        assert_eq!(cp1252_char(b'a'), 'a');
    }

    #[test]
    fn strips_bom_and_keeps_utf8() {
        let (s, enc) = decode("\u{FEFF}José,Zoë\n".as_bytes()).unwrap();
        assert_eq!(s, "José,Zoë\n");
        assert_eq!(enc, Encoding::Utf8);
    }

    #[test]
    fn latin1_is_transcoded() {
        let (s, enc) = decode(b"Jos\xE9 M\xFCller,Zo\xEB\n").unwrap();
        assert_eq!(s, "José Müller,Zoë\n");
        assert_eq!(enc, Encoding::Windows1252);
    }

    #[test]
    fn late_invalid_byte_in_utf8_stream_falls_back_per_byte() {
        let mut bytes = b"name\n".repeat(10);
        bytes.extend_from_slice("Zoë\n".as_bytes());
        bytes.extend_from_slice(b"Jos\xE9\n");
        let mut r = DecodedReader::with_options(
            &bytes[..],
            DecodeOptions {
                sample_bytes: 16,
                max_line_bytes: 64,
            },
        );
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert!(s.ends_with("Zoë\nJosé\n"));
        assert_eq!(r.fallback_bytes(), 1);
        assert_eq!(r.encoding(), Some(Encoding::Utf8));
    }

    /// Hands out one byte per read, so every multi-byte sequence is split.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn sequences_split_across_reads() {
        let text = "éé€𝄞 Zoë\n".repeat(50);
        for bytes in [
            text.as_bytes().to_vec(),
            [0xFF, 0xFE]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                .collect(),
        ] {
            let opts = DecodeOptions {
                sample_bytes: 16,
                max_line_bytes: 64,
            };
            let mut r = DecodedReader::with_options(Trickle(&bytes), opts);
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert_eq!(s, text);
            assert_eq!(r.fallback_bytes(), 0);
        }
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "Zoë,+1 415 555 0100\r\n";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode(&le).unwrap(), (text.to_string(), Encoding::Utf16Le));
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&be).unwrap(), (text.to_string(), Encoding::Utf16Be));
    }

    #[test]
    fn binary_is_rejected() {
        let err = decode(b"PK\x03\x04\x14\x00\x00\x00\x08\x00").unwrap_err();
        assert!(err.contains("not text"), "{err}");
        let err = decode(b"\x01\x02\x03\x04\x05abc\x06\x07\x08\n").unwrap_err();
        assert!(err.contains("control characters"), "{err}");
    }

    #[test]
    fn long_line_is_rejected() {
        let mut bytes = b"ok\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 100));
        let err = decode(&bytes).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(decode(&b"a\n".repeat(500)).is_ok());
    }
}
