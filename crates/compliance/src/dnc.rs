//! Do-not-call lists: the lookup trait, hits, and [`DncSet`] for internal and
//! campaign lists (exact numbers plus prefix wildcards such as `+1212*`).
//! The national registry lives in [`crate::national`].

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::DncError;

/// A campaign id (a UUID's 128 bits, or any other key the caller maps to it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignId(pub u128);

impl std::fmt::Display for CampaignId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl serde::Serialize for CampaignId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which list a number was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DncList {
    /// The tenant's own (company-wide) list.
    Internal,
    /// A campaign-specific list.
    Campaign(CampaignId),
    /// A national registry (e.g. the US National DNC Registry).
    National {
        /// Registry name, e.g. `us_national_dnc`.
        registry: Arc<str>,
        /// When the local copy was last refreshed.
        refreshed_at: DateTime<Utc>,
    },
}

/// A positive DNC lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DncHit {
    /// The list that matched.
    pub list: DncList,
    /// Matched through a prefix wildcard (`+1212*`) rather than the exact number.
    pub wildcard: bool,
}

/// Anything that can say whether a number must not be called.
pub trait DncLookup {
    /// The hit for an E.164 number (`+12125550100`), or `None`.
    fn check(&self, e164: &str) -> Option<DncHit>;

    /// Whether the list is too old to rely on at `now` (registries must be refreshed
    /// every 31 days). Lists that do not expire return `false`.
    fn is_stale(&self, _now: DateTime<Utc>) -> bool {
        false
    }
}

/// Parse `+` and 1-15 digits (no leading zero) into their value and digit count.
pub(crate) fn e164_digits(e164: &str) -> Option<(u64, u32)> {
    let d = e164.strip_prefix('+')?.as_bytes();
    if d.is_empty() || d.len() > 15 || d[0] == b'0' {
        return None;
    }
    let mut v = 0u64;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    Some((v, d.len() as u32))
}

/// Multiply-fold hasher for `u64` keys with a per-set random seed.
#[derive(Clone, Copy)]
pub(crate) struct U64Hasher(u64);

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for U64Hasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(MUL);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(MUL);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Builds [`U64Hasher`]s with a seed drawn from the process's random state.
#[derive(Clone, Copy)]
pub(crate) struct SeededState(u64);

impl SeededState {
    pub(crate) fn new() -> Self {
        SeededState(RandomState::new().hash_one(0x5eed_u64) | 1)
    }
}

impl BuildHasher for SeededState {
    type Hasher = U64Hasher;
    fn build_hasher(&self) -> U64Hasher {
        U64Hasher(self.0)
    }
}

const POW10: [u64; 16] = {
    let mut p = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// An internal or campaign DNC list: exact E.164 numbers and prefix wildcards.
#[derive(Clone)]
pub struct DncSet {
    list: DncList,
    exact: HashSet<u64, SeededState>,
    /// (prefix length in digits, prefixes of that length), sorted by length.
    prefixes: Vec<(u32, HashSet<u64, SeededState>)>,
}

impl std::fmt::Debug for DncSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DncSet")
            .field("list", &self.list)
            .field("numbers", &self.exact.len())
            .field("wildcards", &self.wildcard_count())
            .finish()
    }
}

impl DncSet {
    /// An empty list reporting hits as `list`.
    pub fn new(list: DncList) -> Self {
        DncSet {
            list,
            exact: HashSet::with_hasher(SeededState::new()),
            prefixes: Vec::new(),
        }
    }

    /// An empty internal (company-wide) list.
    pub fn internal() -> Self {
        Self::new(DncList::Internal)
    }

    /// An empty list of one campaign.
    pub fn campaign(id: CampaignId) -> Self {
        Self::new(DncList::Campaign(id))
    }

    /// Add `+<digits>` (one number) or `+<digits>*` (every number starting with
    /// those digits, e.g. `+1212*` for area code 212).
    pub fn insert(&mut self, entry: &str) -> Result<(), DncError> {
        let e = entry.trim();
        let bad = || DncError::BadEntry(entry.to_owned());
        match e.strip_suffix('*') {
            Some(prefix) => {
                let (v, len) = e164_digits(prefix).ok_or_else(bad)?;
                match self.prefixes.binary_search_by_key(&len, |(l, _)| *l) {
                    Ok(i) => {
                        self.prefixes[i].1.insert(v);
                    }
                    Err(i) => {
                        let mut set = HashSet::with_hasher(SeededState::new());
                        set.insert(v);
                        self.prefixes.insert(i, (len, set));
                    }
                }
            }
            None => {
                let (v, _) = e164_digits(e).ok_or_else(bad)?;
                self.exact.insert(v);
            }
        }
        Ok(())
    }

    /// Build from entries (see [`DncSet::insert`]).
    pub fn from_entries<'a>(
        list: DncList,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, DncError> {
        let mut set = Self::new(list);
        for e in entries {
            set.insert(e)?;
        }
        Ok(set)
    }

    /// Exact numbers held.
    pub fn len(&self) -> usize {
        self.exact.len()
    }

    /// Whether the list holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// Wildcard prefixes held.
    pub fn wildcard_count(&self) -> usize {
        self.prefixes.iter().map(|(_, s)| s.len()).sum()
    }
}

impl DncLookup for DncSet {
    fn check(&self, e164: &str) -> Option<DncHit> {
        let (v, len) = e164_digits(e164)?;
        if self.exact.contains(&v) {
            return Some(DncHit {
                list: self.list.clone(),
                wildcard: false,
            });
        }
        for (plen, set) in &self.prefixes {
            if *plen > len {
                break;
            }
            if set.contains(&(v / POW10[(len - plen) as usize])) {
                return Some(DncHit {
                    list: self.list.clone(),
                    wildcard: true,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_wildcard() {
        let mut s = DncSet::campaign(CampaignId(7));
        s.insert("+12125550100").unwrap();
        s.insert("+1646*").unwrap();
        s.insert("+44*").unwrap();
        assert_eq!(
            s.check("+12125550100"),
            Some(DncHit {
                list: DncList::Campaign(CampaignId(7)),
                wildcard: false
            })
        );
        assert_eq!(s.check("+12125550101"), None);
        assert_eq!(s.check("+16465550101").map(|h| h.wildcard), Some(true));
        assert_eq!(s.check("+442071234567").map(|h| h.wildcard), Some(true));
        assert_eq!(
            s.check("+1646"),
            Some(DncHit {
                list: DncList::Campaign(CampaignId(7)),
                wildcard: true
            })
        );
        assert_eq!(s.check("+164"), None);
        assert_eq!(s.check("12125550100"), None);
        assert_eq!((s.len(), s.wildcard_count()), (1, 2));
    }

    #[test]
    fn bad_entries() {
        let mut s = DncSet::internal();
        for e in ["", "+", "+0123", "12a", "+1234567890123456", "+12*3", "*"] {
            assert!(s.insert(e).is_err(), "{e}");
        }
        assert!(s.is_empty());
    }

    #[test]
    fn digits() {
        assert_eq!(e164_digits("+12125550100"), Some((12125550100, 11)));
        assert_eq!(e164_digits("+999999999999999"), Some((999999999999999, 15)));
        assert_eq!(e164_digits("+1 212"), None);
    }
}
