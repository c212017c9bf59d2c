//! HTTP digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760):
//! hashing, `Authorization` parsing and `WWW-Authenticate` challenges.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::fmt;

/// A digest hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DigestAlgorithm {
    /// `MD5`: what every SIP phone speaks.
    #[serde(rename = "MD5")]
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl DigestAlgorithm {
    /// The token used in the `algorithm` parameter.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub(crate) fn hash_hex(self, data: &[u8]) -> String {
        match self {
            DigestAlgorithm::Md5 => {
                let out = <md5::Md5 as md5::Digest>::digest(data);
                crate::error::hex(out.as_slice())
            }
            DigestAlgorithm::Sha256 => crate::error::hex(&sha2::Sha256::digest(data)),
        }
    }

    /// Length of the hex digest.
    pub(crate) fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Md5 => 32,
            DigestAlgorithm::Sha256 => 64,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HA1 = H(user ":" realm ":" password), lower-case hex: what the directory
/// stores instead of the password. The registrar uses the agent's SIP domain
/// as the realm, so provision with `realm = domain`.
pub fn ha1(algorithm: DigestAlgorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(format!("{user}:{realm}:{password}").as_bytes())
}

/// Credentials parsed from an `Authorization: Digest ...` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// `None` when the header names no algorithm (which means MD5).
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub userhash: bool,
}

impl Credentials {
    /// The algorithm and whether it is a `-sess` variant, or `None` when the
    /// header names one we do not implement.
    pub(crate) fn algorithm(&self) -> Option<(DigestAlgorithm, bool)> {
        let Some(name) = self.algorithm.as_deref() else {
            return Some((DigestAlgorithm::Md5, false));
        };
        let (base, sess) = match name.len().checked_sub(5) {
            Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case("-sess") => {
                (&name[..i], true)
            }
            _ => (name, false),
        };
        let alg = if base.eq_ignore_ascii_case("MD5") {
            DigestAlgorithm::Md5
        } else if base.eq_ignore_ascii_case("SHA-256") {
            DigestAlgorithm::Sha256
        } else {
            return None;
        };
        Some((alg, sess))
    }
}

/// Why an `Authorization` header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestParseError {
    /// Another scheme than Digest.
    NotDigest,
    /// Not a comma-separated list of `name=value` pairs.
    Syntax,
    /// A parameter appeared twice.
    Duplicate,
    /// A mandatory parameter is missing.
    Missing(&'static str),
    /// The header is unreasonably long.
    TooLong,
}

/// Longest `Authorization` value we parse.
const MAX_AUTH_LEN: usize = 4096;

/// Parses the value of an `Authorization` (or `Proxy-Authorization`) header.
pub(crate) fn parse_authorization(value: &str) -> Result<Credentials, DigestParseError> {
    if value.len() > MAX_AUTH_LEN {
        return Err(DigestParseError::TooLong);
    }
    let s = value.trim_start();
    let scheme_end = s
        .find(|c: char| c.is_ascii_whitespace())
        .ok_or(DigestParseError::Syntax)?;
    if !s[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(DigestParseError::NotDigest);
    }
    let mut creds = Credentials::default();
    let mut seen: u32 = 0;
    for (name, val) in ParamIter::new(&s[scheme_end..]) {
        let (name, val) = (name?, val);
        let (bit, slot): (u32, Option<&mut String>) = match name.to_ascii_lowercase().as_str() {
            "username" => (1, Some(&mut creds.username)),
            "realm" => (2, Some(&mut creds.realm)),
            "nonce" => (4, Some(&mut creds.nonce)),
            "uri" => (8, Some(&mut creds.uri)),
            "response" => (16, Some(&mut creds.response)),
            "algorithm" => (32, None),
            "qop" => (64, None),
            "nc" => (128, None),
            "cnonce" => (256, None),
            "opaque" => (512, None),
            "userhash" => (1024, None),
            _ => (0, None),
        };
        if bit != 0 {
            if seen & bit != 0 {
                return Err(DigestParseError::Duplicate);
            }
            seen |= bit;
        }
        match (bit, slot) {
            (_, Some(slot)) => *slot = val,
            (32, None) => creds.algorithm = Some(val),
            (64, None) => creds.qop = Some(val),
            (128, None) => creds.nc = Some(val),
            (256, None) => creds.cnonce = Some(val),
            (512, None) => creds.opaque = Some(val),
            (1024, None) => creds.userhash = val.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    for (bit, name) in [
        (1, "username"),
        (2, "realm"),
        (4, "nonce"),
        (8, "uri"),
        (16, "response"),
    ] {
        if seen & bit == 0 {
            return Err(DigestParseError::Missing(name));
        }
    }
    Ok(creds)
}

/// Iterates `name=value` pairs (value a token or a quoted string) separated
/// by commas. Delimiters are ASCII, so every slice boundary is a char
/// boundary whatever the input holds.
struct ParamIter<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> ParamIter<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            rest: s,
            failed: false,
        }
    }
}

impl Iterator for ParamIter<'_> {
    type Item = (Result<String, DigestParseError>, String);

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let s = self
            .rest
            .trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if s.is_empty() {
            return None;
        }
        let fail = |me: &mut Self| {
            me.failed = true;
            Some((Err(DigestParseError::Syntax), String::new()))
        };
        let Some(eq) = s.find('=') else {
            return fail(self);
        };
        let name = s[..eq].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return fail(self);
        }
        let after = s[eq + 1..].trim_start();
        let (value, rest) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                } else {
                    out.push(c);
                }
            }
            let Some(end) = end else {
                return fail(self);
            };
            (out, &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let token = after[..end].trim();
            if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace() || c == '"') {
                return fail(self);
            }
            (token.to_string(), &after[end..])
        };
        let rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return fail(self);
        }
        self.rest = rest;
        Some((Ok(name.to_string()), value))
    }
}

/// Everything a digest response is computed from, besides HA1.
pub(crate) struct ResponseInput<'a> {
    pub algorithm: DigestAlgorithm,
    pub sess: bool,
    pub nonce: &'a str,
    pub cnonce: Option<&'a str>,
    pub nc: Option<&'a str>,
    pub qop: Option<&'a str>,
    pub method: &'a str,
    pub uri: &'a str,
}

/// The expected `response` for stored `ha1` (RFC 7616 §3.4.1-3.4.3; without
/// qop, the RFC 2069 form).
pub(crate) fn expected_response(ha1: &str, input: &ResponseInput<'_>) -> String {
    let alg = input.algorithm;
    let cnonce = input.cnonce.unwrap_or("");
    let ha1 = if input.sess {
        alg.hash_hex(format!("{ha1}:{}:{cnonce}", input.nonce).as_bytes())
    } else {
        ha1.to_ascii_lowercase()
    };
    let ha2 = alg.hash_hex(format!("{}:{}", input.method, input.uri).as_bytes());
    match input.qop {
        Some(qop) => alg.hash_hex(
            format!(
                "{ha1}:{}:{}:{cnonce}:{qop}:{ha2}",
                input.nonce,
                input.nc.unwrap_or("")
            )
            .as_bytes(),
        ),
        None => alg.hash_hex(format!("{ha1}:{}:{ha2}", input.nonce).as_bytes()),
    }
}

/// A `WWW-Authenticate` value. `realm` must be a validated domain (no quote
/// or backslash); the nonce is base64url.
pub(crate) fn challenge(
    algorithm: DigestAlgorithm,
    realm: &str,
    nonce: &str,
    stale: bool,
) -> String {
    let mut s = format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
        algorithm.name()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(alg: DigestAlgorithm, nonce: &'a str, cnonce: &'a str) -> ResponseInput<'a> {
        ResponseInput {
            algorithm: alg,
            sess: false,
            nonce,
            cnonce: Some(cnonce),
            nc: Some("00000001"),
            qop: Some("auth"),
            method: "GET",
            uri: "/dir/index.html",
        }
    }

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5.
        let h = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let got = expected_response(
            &h,
            &input(
                DigestAlgorithm::Md5,
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                "0a4f113b",
            ),
        );
        assert_eq!(got, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_examples_md5_and_sha256() {
        // RFC 7616 §3.9.1.
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let realm = "http-auth@example.org";
        let md5 = ha1(DigestAlgorithm::Md5, "Mufasa", realm, "Circle of Life");
        assert_eq!(
            expected_response(&md5, &input(DigestAlgorithm::Md5, nonce, cnonce)),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = ha1(DigestAlgorithm::Sha256, "Mufasa", realm, "Circle of Life");
        assert_eq!(
            expected_response(&sha, &input(DigestAlgorithm::Sha256, nonce, cnonce)),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2069_form_without_qop() {
        // RFC 2069 §2.4 example computed by hand: response = MD5(HA1:nonce:HA2).
        let h = ha1(DigestAlgorithm::Md5, "alice", "acme.omnivox", "pw");
        let mut i = input(DigestAlgorithm::Md5, "n", "c");
        i.qop = None;
        let ha2 = DigestAlgorithm::Md5.hash_hex(b"GET:/dir/index.html");
        let want = DigestAlgorithm::Md5.hash_hex(format!("{h}:n:{ha2}").as_bytes());
        assert_eq!(expected_response(&h, &i), want);
    }

    #[test]
    fn parses_a_typical_sip_authorization() {
        let c = parse_authorization(
            "Digest username=\"alice\",realm=\"acme.omnivox\", nonce=\"abc\", \
             uri=\"sip:acme.omnivox\", response=\"0123\", algorithm=MD5, cnonce=\"xyz\", \
             qop=auth, nc=00000001, opaque=\"\"",
        )
        .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.realm, "acme.omnivox");
        assert_eq!(c.uri, "sip:acme.omnivox");
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(c.algorithm(), Some((DigestAlgorithm::Md5, false)));
        assert_eq!(c.opaque.as_deref(), Some(""));
    }

    #[test]
    fn algorithm_variants() {
        let mut c = Credentials::default();
        assert_eq!(c.algorithm(), Some((DigestAlgorithm::Md5, false)));
        c.algorithm = Some("sha-256-sess".into());
        assert_eq!(c.algorithm(), Some((DigestAlgorithm::Sha256, true)));
        c.algorithm = Some("SHA-512-256".into());
        assert_eq!(c.algorithm(), None);
        c.algorithm = Some("é-sess".into());
        assert_eq!(c.algorithm(), None);
    }

    #[test]
    fn quoted_strings_with_escapes_and_commas() {
        let c = parse_authorization(
            r#"Digest username="a\"b", realm="r,1", nonce="n", uri="u", response="x""#,
        )
        .unwrap();
        assert_eq!(c.username, "a\"b");
        assert_eq!(c.realm, "r,1");
    }

    #[test]
    fn rejects_broken_headers() {
        use DigestParseError::*;
        let cases: &[(&str, DigestParseError)] = &[
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", NotDigest),
            ("Digest", Syntax),
            ("Digest username=\"alice", Syntax),
            ("Digest username", Syntax),
            ("Digest =x", Syntax),
            ("Digest username=\"a\" realm=\"b\"", Syntax),
            (
                "Digest username=a, username=b, realm=r, nonce=n, uri=u, response=x",
                Duplicate,
            ),
            (
                "Digest username=a, realm=r, nonce=n, uri=u",
                Missing("response"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(parse_authorization(value), Err(*want), "{value}");
        }
        assert_eq!(
            parse_authorization(&format!("Digest username=\"{}\"", "a".repeat(5000))),
            Err(TooLong)
        );
    }

    #[test]
    fn challenge_format() {
        assert_eq!(
            challenge(DigestAlgorithm::Sha256, "acme.omnivox", "N", true),
            "Digest realm=\"acme.omnivox\", nonce=\"N\", algorithm=SHA-256, qop=\"auth\", stale=true"
        );
    }
}
