//! A short inline string (rule-set versions and rule ids): `Copy`, no allocation.

/// Capacity of a [`ShortStr`] in bytes.
pub const SHORT_STR_CAP: usize = 32;

/// An immutable UTF-8 string of at most [`SHORT_STR_CAP`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortStr {
    len: u8,
    buf: [u8; SHORT_STR_CAP],
}

impl ShortStr {
    /// `None` when `s` is longer than [`SHORT_STR_CAP`] bytes.
    pub fn new(s: &str) -> Option<ShortStr> {
        let b = s.as_bytes();
        if b.len() > SHORT_STR_CAP {
            return None;
        }
        let mut buf = [0u8; SHORT_STR_CAP];
        buf[..b.len()].copy_from_slice(b);
        Some(ShortStr {
            len: b.len() as u8,
            buf,
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Built from a &str and never mutated, so always valid UTF-8.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for ShortStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ShortStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
