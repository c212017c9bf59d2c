//! Dedup keys.
//!
//! A contact's identity is its `external_id` when it has one (the tenant's
//! CRM id is authoritative: the same person may change numbers), otherwise
//! its primary phone (the first valid one in column order) in E.164 with its
//! extension, if any (two people behind one switchboard are two contacts).
//! Keys are prefixed (`ext:` / `tel:`) so the two kinds never collide; the
//! external id is used as written (trimmed, case-sensitive).
//!
//! The caller picks the scope: a [`Deduper`] per file, the key stored in a
//! unique index per list or per tenant.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use serde::Serialize;

use crate::normalize::NormalizedContact;

/// A contact's dedup identity, e.g. `tel:+14155550100` or `ext:CRM-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DedupKey(String);

impl DedupKey {
    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable 64-bit hash of the key (FNV-1a): the same on every platform,
    /// build and run, so it can be stored. Distinct keys may collide (about
    /// one chance in 10^7 for two million keys); use the text where a false
    /// match matters.
    pub fn hash64(&self) -> u64 {
        hash_key(&self.0)
    }
}

/// [`DedupKey::hash64`] of a key already turned into text (e.g. stored).
pub fn hash_key(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The dedup key of a contact (see the module docs). `None` only for a
/// contact with neither external id nor phone, which
/// [`Normalizer`](crate::Normalizer) never produces.
pub fn dedup_key(contact: &NormalizedContact) -> Option<DedupKey> {
    if let Some(id) = contact
        .external_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Some(DedupKey(format!("ext:{id}")));
    }
    let phone = contact.primary_phone()?;
    Some(DedupKey(match &phone.extension {
        Some(ext) => format!("tel:{};ext={ext}", phone.e164),
        None => format!("tel:{}", phone.e164),
    }))
}

/// Finds duplicates within one file, keeping 16 bytes per distinct contact
/// (it remembers [`DedupKey::hash64`], not the text).
#[derive(Debug, Clone, Default)]
pub struct Deduper {
    seen: HashMap<u64, u64>,
}

impl Deduper {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `key` as seen at `row`. Returns the row where it was first
    /// seen when it is a duplicate.
    pub fn check(&mut self, key: &DedupKey, row: u64) -> Option<u64> {
        match self.seen.entry(key.hash64()) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(row);
                None
            }
        }
    }

    /// Distinct keys seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True before the first key.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::ContactPhone;
    use crate::schema::PhoneType;

    fn contact(ext_id: Option<&str>, phones: &[(&str, Option<&str>)]) -> NormalizedContact {
        NormalizedContact {
            external_id: ext_id.map(str::to_string),
            phones: phones
                .iter()
                .map(|(e, x)| ContactPhone {
                    e164: e.to_string(),
                    extension: x.map(str::to_string),
                    phone_type: PhoneType::Mobile,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn keys() {
        let k = |c: &NormalizedContact| dedup_key(c).map(|k| k.to_string());
        assert_eq!(
            k(&contact(
                None,
                &[("+14155550100", None), ("+14155550101", None)]
            ))
            .as_deref(),
            Some("tel:+14155550100")
        );
        assert_eq!(
            k(&contact(None, &[("+14155550100", Some("12"))])).as_deref(),
            Some("tel:+14155550100;ext=12")
        );
        assert_eq!(
            k(&contact(Some(" CRM-1 "), &[("+14155550100", None)])).as_deref(),
            Some("ext:CRM-1")
        );
        assert_eq!(k(&contact(Some(""), &[])), None);
        // FNV-1a test vector.
        assert_eq!(DedupKey("a".into()).hash64(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn deduper() {
        let mut d = Deduper::new();
        let a = DedupKey("tel:+14155550100".into());
        let b = DedupKey("tel:+14155550101".into());
        assert_eq!(d.check(&a, 2), None);
        assert_eq!(d.check(&b, 3), None);
        assert_eq!(d.check(&a, 9), Some(2));
        assert_eq!(d.len(), 2);
    }
}
