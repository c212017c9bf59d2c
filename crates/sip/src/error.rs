//! The crate's error type.

use std::net::SocketAddr;

/// Errors from building or running the SIP server.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// The configuration is inconsistent (see [`crate::SipConfig::validate`]).
    #[error("invalid SIP configuration: {0}")]
    Config(String),
    /// A socket could not be bound.
    #[error("cannot bind SIP {transport} on {addr}: {source}")]
    Bind {
        /// `"UDP"` or `"TCP"`.
        transport: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// rsipstack refused an operation (its message, stringified).
    #[error("SIP stack error: {0}")]
    Stack(String),
}

/// rsipstack's error as ours (kept out of the public API: no `From`).
pub(crate) fn stack_error(e: rsipstack::Error) -> SipError {
    SipError::Stack(e.to_string())
}

/// Fills `buf` with random bytes from the operating system.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), SipError> {
    getrandom::fill(buf).map_err(|e| SipError::Random(e.to_string()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A random token of `n` bytes as hex (tags); falls back to a time-derived
/// value if the OS refuses randomness, since a tag only needs uniqueness.
pub(crate) fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if random_bytes(&mut buf).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8;
        }
    }
    hex(&buf)
}
