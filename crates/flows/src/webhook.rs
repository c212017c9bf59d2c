//! Webhook requests and replies. The interpreter builds a fully signed request and the call
//! actor only sends it, so the signature is the same in simulation and live. Signature:
//! `X-Omnivox-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>` with the Unix
//! time in `X-Omnivox-Timestamp`; binding the timestamp stops replays of old bodies.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "X-Omnivox-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Omnivox-Signature";
const SIGNATURE_PREFIX: &str = "v1=";

/// What the call actor must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub timeout_ms: u32,
}

/// The HTTP answer, as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookResponse {
    pub status: u16,
    #[serde(default)]
    pub body: String,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFailure {
    Timeout,
    Transport(String),
}

/// The JSON a webhook may answer with: variables to set and, optionally, the next node
/// (which must be one of the node's `choices`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReply {
    #[serde(default)]
    pub variables: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("webhook reply is not valid JSON for this flow: {0}")]
    Body(String),
    #[error("webhook variable `{0}` must be a string, number or boolean")]
    BadVariable(String),
    #[error("webhook chose `{0}`, which is not among the node's choices")]
    UnknownChoice(String),
    #[error("signing secret `{0}` is not configured")]
    MissingSecret(String),
    #[error("HMAC key rejected")]
    InvalidKey,
}

/// Checking an incoming signature failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("timestamp header is not a Unix time")]
    BadTimestamp,
    #[error("timestamp is {0} s away from now, beyond the tolerance")]
    Stale(i64),
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &str) -> Result<Hmac<Sha256>, WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::InvalidKey)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(mac)
}

/// Lower-case hex HMAC-SHA256 of `message`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> Result<String, WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| WebhookError::InvalidKey)?;
    mac.update(message);
    Ok(hex(&mac.finalize().into_bytes()))
}

/// The signature header value for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> Result<String, WebhookError> {
    let tag = mac(secret, timestamp, body)?.finalize().into_bytes();
    Ok(format!("{SIGNATURE_PREFIX}{}", hex(&tag)))
}

/// Verifies a signature as a receiver would (constant-time compare), rejecting timestamps
/// more than `tolerance_secs` away from `now`.
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    body: &str,
    signature_header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = (now - ts).abs();
    if skew > tolerance_secs {
        return Err(SignatureError::Stale(skew));
    }
    let hex_tag = signature_header
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let tag = unhex(hex_tag).ok_or(SignatureError::Malformed)?;
    mac(secret, ts, body)
        .map_err(|_| SignatureError::Mismatch)?
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

/// Builds the signed POST for a webhook node.
pub fn build_request(
    url: &str,
    secret: &[u8],
    timestamp: i64,
    timeout_ms: u32,
    payload: &serde_json::Value,
) -> Result<WebhookRequest, WebhookError> {
    let body = payload.to_string();
    let signature = sign(secret, timestamp, &body)?;
    Ok(WebhookRequest {
        url: url.to_string(),
        method: "POST".into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (TIMESTAMP_HEADER.into(), timestamp.to_string()),
            (SIGNATURE_HEADER.into(), signature),
        ],
        body,
        timeout_ms,
    })
}

/// Parses a response: non-2xx, malformed JSON, unknown fields or non-scalar variables are
/// errors (the node's error branch). An empty 2xx body means "carry on".
pub fn parse_reply(
    response: &WebhookResponse,
) -> Result<(BTreeMap<String, String>, Option<String>), WebhookError> {
    if !(200..300).contains(&response.status) {
        return Err(WebhookError::Status(response.status));
    }
    if response.body.trim().is_empty() {
        return Ok((BTreeMap::new(), None));
    }
    let reply: WebhookReply =
        serde_json::from_str(&response.body).map_err(|e| WebhookError::Body(e.to_string()))?;
    let mut vars = BTreeMap::new();
    for (name, value) in reply.variables {
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(WebhookError::BadVariable(name)),
        };
        if !crate::template::valid_name(&name) {
            return Err(WebhookError::BadVariable(name));
        }
        vars.insert(name, text);
    }
    Ok((vars, reply.next))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe".
        let tag = hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            tag,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        let body = r#"{"a":1}"#;
        let sig = sign(b"secret", 1_700_000_000, body).unwrap();
        let expected = hmac_sha256_hex(b"secret", br#"1700000000.{"a":1}"#).unwrap();
        assert_eq!(sig, format!("v1={expected}"));
        assert_eq!(
            verify(b"secret", "1700000000", body, &sig, 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify(
                b"secret",
                "1700000000",
                r#"{"a":2}"#,
                &sig,
                1_700_000_000,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", "1700000000", body, &sig, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", "1700000000", body, &sig, 1_700_001_000, 300),
            Err(SignatureError::Stale(1000))
        );
        assert_eq!(
            verify(b"secret", "1700000000", body, "v1=zz", 1_700_000_000, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn replies_parse_or_fail_clearly() {
        let ok = WebhookResponse {
            status: 200,
            body: r#"{"variables":{"tier":"gold","n":3,"vip":true},"next":"vip"}"#.into(),
        };
        let (vars, next) = parse_reply(&ok).unwrap();
        assert_eq!(vars.get("n").map(String::as_str), Some("3"));
        assert_eq!(vars.get("vip").map(String::as_str), Some("true"));
        assert_eq!(next.as_deref(), Some("vip"));
        let garbage = WebhookResponse {
            status: 200,
            body: "<html>oops".into(),
        };
        assert!(matches!(parse_reply(&garbage), Err(WebhookError::Body(_))));
        let unknown = WebhookResponse {
            status: 200,
            body: r#"{"goto":"x"}"#.into(),
        };
        assert!(matches!(parse_reply(&unknown), Err(WebhookError::Body(_))));
        let nested = WebhookResponse {
            status: 200,
            body: r#"{"variables":{"a":{"b":1}}}"#.into(),
        };
        assert_eq!(
            parse_reply(&nested),
            Err(WebhookError::BadVariable("a".into()))
        );
        let err = WebhookResponse {
            status: 503,
            body: String::new(),
        };
        assert_eq!(parse_reply(&err), Err(WebhookError::Status(503)));
        let empty = WebhookResponse {
            status: 204,
            body: String::new(),
        };
        assert_eq!(parse_reply(&empty), Ok((BTreeMap::new(), None)));
    }
}
