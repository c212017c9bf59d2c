//! The US National Do-Not-Call registry in memory: tens of millions of 10-digit
//! numbers at about 2 bytes each, looked up in well under 100 ns.
//!
//! Layout: numbers are grouped by NPA (area code) and NXX (exchange), giving blocks of
//! at most 10 000 line numbers. Each present NPA owns 1001 `u32` offsets into one
//! `u16` pool; a block is either a sorted list of line numbers (fewer than 625 of
//! them, 2 bytes each) or, when denser, a 10 000-bit bitmap (625 words, 1250 bytes).
//! The block length tells which: exactly 625 words means bitmap. A lookup is two
//! array reads and a binary search in at most 624 `u16`s or one bit test.

use std::io::BufRead;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::dnc::{DncHit, DncList, DncLookup};
use crate::error::DncError;

const NONE: u32 = u32::MAX;
const BITMAP_WORDS: usize = 625;
const BLOCKS_PER_NPA: usize = 1000;
/// A registry older than this is stale (the FTC requires access every 31 days).
pub const MAX_REGISTRY_AGE: TimeDelta = TimeDelta::days(31);

/// What loading a registry file found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Lines read.
    pub lines: u64,
    /// Numbers stored (after removing duplicates).
    pub accepted: u64,
    /// Valid numbers seen more than once.
    pub duplicates: u64,
    /// Lines that were not one valid 10-digit NANP number (headers, garbage).
    pub junk: u64,
    /// Empty lines.
    pub blank: u64,
}

/// Collects numbers, then [`NationalDncBuilder::build`]s the compact structure.
pub struct NationalDncBuilder {
    per_npa: Vec<Vec<u32>>,
    report: LoadReport,
}

impl Default for NationalDncBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Parse one registry line: 10 digits (or 11 with a leading 1) with optional
/// separators (space, tab, `-().,+"`). `Ok(None)` = blank line, `Err(())` = junk.
fn parse_line(line: &[u8]) -> Result<Option<u64>, ()> {
    let mut v = 0u64;
    let mut n = 0u32;
    for &b in line {
        match b {
            b'0'..=b'9' => {
                n += 1;
                if n > 11 {
                    return Err(());
                }
                v = v * 10 + u64::from(b - b'0');
            }
            b' ' | b'\t' | b'-' | b'(' | b')' | b'.' | b',' | b'+' | b'"' | b'\r' | b'\n' => {}
            _ => return Err(()),
        }
    }
    match n {
        0 => Ok(None),
        10 => Ok(Some(v)),
        11 if v / 10_000_000_000 == 1 => Ok(Some(v % 10_000_000_000)),
        _ => Err(()),
    }
}

impl NationalDncBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        NationalDncBuilder {
            per_npa: vec![Vec::new(); 1000],
            report: LoadReport::default(),
        }
    }

    /// Add a valid NANP number `NPANXXXXXX` (NPA and NXX start with 2-9).
    /// Returns `false` (and counts junk) otherwise.
    pub fn push_number(&mut self, ten_digits: u64) -> bool {
        let npa = ten_digits / 10_000_000;
        let suffix = (ten_digits % 10_000_000) as u32;
        if !(200..1000).contains(&npa) || suffix < 2_000_000 {
            self.report.junk += 1;
            return false;
        }
        self.per_npa[npa as usize].push(suffix);
        true
    }

    /// Add one line of a registry file; counts it as number, blank or junk.
    pub fn push_line(&mut self, line: &[u8]) -> bool {
        self.report.lines += 1;
        match parse_line(line) {
            Ok(Some(n)) => self.push_number(n),
            Ok(None) => {
                self.report.blank += 1;
                false
            }
            Err(()) => {
                self.report.junk += 1;
                false
            }
        }
    }

    /// Sort, deduplicate and pack.
    pub fn build(
        mut self,
        registry: &str,
        refreshed_at: DateTime<Utc>,
    ) -> (NationalDnc, LoadReport) {
        let mut npa_slot = vec![NONE; 1000];
        let mut index: Vec<u32> = Vec::new();
        let mut data: Vec<u16> = Vec::new();
        let mut len = 0usize;
        let mut bitmaps = 0usize;
        for (npa, nums) in self.per_npa.iter_mut().enumerate() {
            if nums.is_empty() {
                continue;
            }
            nums.sort_unstable();
            let before = nums.len();
            nums.dedup();
            self.report.duplicates += (before - nums.len()) as u64;
            len += nums.len();
            npa_slot[npa] = (index.len() / (BLOCKS_PER_NPA + 1)) as u32;
            let mut i = 0;
            for nxx in 0..BLOCKS_PER_NPA as u32 {
                index.push(data.len() as u32);
                let start = i;
                while i < nums.len() && nums[i] / 10_000 == nxx {
                    i += 1;
                }
                let block = &nums[start..i];
                if block.len() >= BITMAP_WORDS {
                    let base = data.len();
                    data.resize(base + BITMAP_WORDS, 0);
                    for n in block {
                        let line = (n % 10_000) as usize;
                        data[base + line / 16] |= 1 << (line % 16);
                    }
                    bitmaps += 1;
                } else {
                    data.extend(block.iter().map(|n| (n % 10_000) as u16));
                }
            }
            index.push(data.len() as u32);
            *nums = Vec::new();
        }
        index.shrink_to_fit();
        data.shrink_to_fit();
        self.report.accepted = len as u64;
        let dnc = NationalDnc {
            registry: Arc::from(registry),
            refreshed_at,
            npa_slot: npa_slot.into_boxed_slice(),
            index: index.into_boxed_slice(),
            data: data.into_boxed_slice(),
            len,
            bitmaps,
        };
        (dnc, self.report)
    }
}

/// The national registry, immutable once built; share it behind an `Arc`.
pub struct NationalDnc {
    registry: Arc<str>,
    refreshed_at: DateTime<Utc>,
    npa_slot: Box<[u32]>,
    index: Box<[u32]>,
    data: Box<[u16]>,
    len: usize,
    bitmaps: usize,
}

impl std::fmt::Debug for NationalDnc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NationalDnc")
            .field("registry", &self.registry)
            .field("refreshed_at", &self.refreshed_at)
            .field("len", &self.len)
            .field("bitmap_blocks", &self.bitmaps)
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl NationalDnc {
    /// Stream a registry file, one number per line (see [`LoadReport`] for what is
    /// counted). Only IO errors fail; junk lines are skipped and counted.
    pub fn load_from_reader(
        mut reader: impl BufRead,
        registry: &str,
        refreshed_at: DateTime<Utc>,
    ) -> Result<(NationalDnc, LoadReport), DncError> {
        let mut b = NationalDncBuilder::new();
        let mut line = Vec::with_capacity(64);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            b.push_line(&line);
        }
        Ok(b.build(registry, refreshed_at))
    }

    /// Build from 10-digit strings (same parsing as a file line).
    pub fn from_numbers<S: AsRef<str>>(
        numbers: impl IntoIterator<Item = S>,
        registry: &str,
        refreshed_at: DateTime<Utc>,
    ) -> (NationalDnc, LoadReport) {
        let mut b = NationalDncBuilder::new();
        for n in numbers {
            b.push_line(n.as_ref().as_bytes());
        }
        b.build(registry, refreshed_at)
    }

    /// Whether `NPANXXXXXX` is registered.
    #[inline]
    pub fn contains_ten(&self, ten_digits: u64) -> bool {
        if ten_digits >= 10_000_000_000 {
            return false;
        }
        let npa = (ten_digits / 10_000_000) as usize;
        let slot = self.npa_slot[npa];
        if slot == NONE {
            return false;
        }
        let rest = (ten_digits % 10_000_000) as usize;
        let at = slot as usize * (BLOCKS_PER_NPA + 1) + rest / 10_000;
        let line = (rest % 10_000) as u16;
        let block = &self.data[self.index[at] as usize..self.index[at + 1] as usize];
        if block.len() == BITMAP_WORDS {
            block[usize::from(line / 16)] & (1 << (line % 16)) != 0
        } else {
            block.binary_search(&line).is_ok()
        }
    }

    /// Whether an E.164 number (`+1NPANXXXXXX`) is registered.
    #[inline]
    pub fn contains(&self, e164: &str) -> bool {
        let b = e164.as_bytes();
        if b.len() != 12 || b[0] != b'+' || b[1] != b'1' {
            return false;
        }
        let mut v = 0u64;
        for &c in &b[2..] {
            if !c.is_ascii_digit() {
                return false;
            }
            v = v * 10 + u64::from(c - b'0');
        }
        self.contains_ten(v)
    }

    /// Numbers held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no number is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes of the lookup structure.
    pub fn memory_bytes(&self) -> usize {
        self.npa_slot.len() * 4 + self.index.len() * 4 + self.data.len() * 2
    }

    /// Blocks stored as bitmaps (dense exchanges).
    pub fn bitmap_blocks(&self) -> usize {
        self.bitmaps
    }

    /// Registry name reported in hits.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// When the copy was refreshed.
    pub fn refreshed_at(&self) -> DateTime<Utc> {
        self.refreshed_at
    }

    /// Whether the copy is older than [`MAX_REGISTRY_AGE`] (31 days) at `now`.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.refreshed_at > MAX_REGISTRY_AGE
    }
}

impl DncLookup for NationalDnc {
    fn check(&self, e164: &str) -> Option<DncHit> {
        self.contains(e164).then(|| DncHit {
            list: DncList::National {
                registry: self.registry.clone(),
                refreshed_at: self.refreshed_at,
            },
            wildcard: false,
        })
    }

    /// Older than [`MAX_REGISTRY_AGE`] (31 days) at `now`.
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        NationalDnc::is_stale(self, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn t0() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn load_counts_junk_and_duplicates() {
        let file = "AreaCode,PhoneNumber\n212,5550100\n(212) 555-0101\n1-646-555-0102\n\n2125550100\n0125550100\n212555010\n+1 212 555 0199\r\nabc\n";
        let (dnc, r) = NationalDnc::load_from_reader(file.as_bytes(), "us", t0()).unwrap();
        assert_eq!(
            r,
            LoadReport {
                lines: 10,
                accepted: 4,
                duplicates: 1,
                junk: 4,
                blank: 1
            }
        );
        assert_eq!(dnc.len(), 4);
        for n in [
            "+12125550100",
            "+12125550101",
            "+16465550102",
            "+12125550199",
        ] {
            assert!(dnc.contains(n), "{n}");
        }
        assert!(!dnc.contains("+12125550102"));
        assert!(!dnc.contains("+442125550100"));
        assert!(!dnc.contains("+1212555010"));
        assert!(!dnc.contains("+1999555010x"));
    }

    #[test]
    fn lists_and_bitmaps_agree_with_a_hash_set() {
        let mut b = NationalDncBuilder::new();
        let mut truth = HashSet::new();
        let mut x: u64 = 0x1234_5678;
        for i in 0..60_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A dense exchange (bitmap) plus sparse numbers over a few NPAs.
            let n = if i % 3 == 0 {
                3_055_550_000 + x % 10_000
            } else {
                [212, 305, 907][(x % 3) as usize] * 10_000_000 + 2_000_000 + x % 8_000_000
            };
            assert!(b.push_number(n));
            truth.insert(n);
        }
        let (dnc, r) = b.build("us", t0());
        assert_eq!(dnc.len(), truth.len());
        assert_eq!(r.accepted as usize, truth.len());
        assert!(dnc.bitmap_blocks() >= 1);
        let mut y: u64 = 99;
        for _ in 0..200_000 {
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            let n = [212, 305, 907, 646][(y % 4) as usize] * 10_000_000 + y % 10_000_000;
            assert_eq!(dnc.contains_ten(n), truth.contains(&n), "{n}");
        }
        for n in &truth {
            assert!(dnc.contains_ten(*n));
        }
    }

    #[test]
    fn staleness_and_hits() {
        let (dnc, _) = NationalDnc::from_numbers(["2125550100"], "us_national_dnc", t0());
        assert!(!dnc.is_stale(t0() + TimeDelta::days(31)));
        assert!(dnc.is_stale(t0() + TimeDelta::days(31) + TimeDelta::seconds(1)));
        let hit = dnc.check("+12125550100").unwrap();
        assert_eq!(
            hit.list,
            DncList::National {
                registry: "us_national_dnc".into(),
                refreshed_at: t0()
            }
        );
        assert!(dnc.check("+12125550101").is_none());
    }
}
