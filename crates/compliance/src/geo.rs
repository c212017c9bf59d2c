//! Where a called party is: country, US state, time zones.
//!
//! [`Geo`] bundles the embedded location data (see `data/NOTICE`): the prefix ->
//! zones trie, country calling codes, NANP area codes with their region and state,
//! the zones of each US state and a ZIP3 -> state table. [`Geo::locate`] turns a
//! number plus what the contact record says into a [`Location`]:
//!
//! * zones: longest-prefix zones of the number (country-code zones when the caller
//!   says the number is non-geographic);
//! * a known US state of the contact (its state field, or its ZIP code through ZIP3)
//!   narrows the zones: the zones become `number zones ∩ state zones` when that is
//!   non-empty, otherwise `number zones ∪ state zones` (the number and the address
//!   disagree, so both places must be respected);
//! * subdivisions (US states, CA provinces) come from the area code and from the
//!   contact's address, all of them: their rules all apply (most restrictive wins).

use std::borrow::Cow;
use std::sync::OnceLock;

use chrono_tz::Tz;

use crate::error::DataError;
use crate::tz::{EMBEDDED_TZ_PREFIXES, TzTable};

mod names;
mod parse;

pub use names::{ca_province_code, us_state_code};

/// ISO 3166-1 alpha-2 region code, upper case (`US`, `GB`, `PR`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    /// United States.
    pub const US: Region = Region(*b"US");
    /// Canada.
    pub const CA: Region = Region(*b"CA");

    /// Two ASCII letters, any case.
    pub fn new(code: &str) -> Option<Region> {
        let b = code.trim().as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
            .then(|| Region([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A first-level subdivision: a US state (or DC/territory) or a Canadian province.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subdivision {
    /// Country the code belongs to.
    pub region: Region,
    /// Two-letter code (`FL`, `ON`).
    pub code: [u8; 2],
}

impl Subdivision {
    /// The two-letter code as text.
    pub fn code_str(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("??")
    }
}

impl std::fmt::Debug for Subdivision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.region, self.code_str())
    }
}

impl std::fmt::Display for Subdivision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.region, self.code_str())
    }
}

/// Capacity of a [`SubdivisionSet`]: area code (<= 3) + state field (1) + ZIP3 (<= 5).
pub const MAX_SUBDIVISIONS: usize = 12;

/// A small, allocation-free set of subdivisions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SubdivisionSet {
    len: u8,
    items: [Subdivision; MAX_SUBDIVISIONS],
}

impl Default for SubdivisionSet {
    fn default() -> Self {
        Self {
            len: 0,
            items: [Subdivision {
                region: Region(*b"ZZ"),
                code: *b"ZZ",
            }; MAX_SUBDIVISIONS],
        }
    }
}

impl SubdivisionSet {
    /// Add unless present (the capacity covers every source; see [`MAX_SUBDIVISIONS`]).
    pub fn insert(&mut self, s: Subdivision) {
        if !self.contains(&s) && usize::from(self.len) < MAX_SUBDIVISIONS {
            self.items[usize::from(self.len)] = s;
            self.len += 1;
        }
    }

    /// Whether `s` is in the set.
    pub fn contains(&self, s: &Subdivision) -> bool {
        self.as_slice().contains(s)
    }

    /// The members, in insertion order.
    pub fn as_slice(&self) -> &[Subdivision] {
        &self.items[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for SubdivisionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// What the caller knows about the kind of number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NumberKind {
    /// Not known: the number is located by its longest prefix (area code practice).
    #[default]
    Unknown,
    /// Fixed line, or a mobile in a country whose mobile prefixes are geographic.
    Geographic,
    /// Mobile/toll-free/VoIP/... numbers that libphonenumber does not place: every
    /// zone of the country code applies.
    NonGeographic,
}

/// The contact's address, as far as it is known.
#[derive(Clone, Copy, Debug, Default)]
pub struct Place<'a> {
    /// ISO alpha-2 country of the address.
    pub country: Option<&'a str>,
    /// State or province: two-letter code or English name (`FL`, `Florida`).
    pub state: Option<&'a str>,
    /// Postal code; a US ZIP (`12345` or `12345-6789`) gives the state via ZIP3.
    pub postal_code: Option<&'a str>,
}

/// How the zones of a [`Location`] were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneBasis {
    /// Longest prefix of the number.
    Prefix,
    /// All zones of the country calling code (non-geographic number).
    CountryCode,
    /// Number zones narrowed by the contact's state.
    StateIntersection,
    /// Number and state disagree: both sets of zones.
    StateUnion,
    /// No zone known.
    Unknown,
}

/// The resolved location of a called party.
#[derive(Clone, Debug)]
pub struct Location<'g> {
    /// Country calling code of the number.
    pub country_code: Option<u16>,
    /// Region of the number (NANP: by area code).
    pub region: Option<Region>,
    /// Region of the contact's address, when given and valid.
    pub contact_region: Option<Region>,
    /// States/provinces from the area code and the address.
    pub subdivisions: SubdivisionSet,
    /// Zones in all of which the call must be allowed; empty = unknown.
    pub zones: Cow<'g, [Tz]>,
    /// How `zones` was found.
    pub basis: ZoneBasis,
}

#[derive(Clone, Copy)]
enum CcInfo {
    Unknown,
    NonGeographic,
    Region(Region),
}

#[derive(Clone, Copy)]
struct Npa {
    region: Region,
    subs: [[u8; 2]; 3],
    n_subs: u8,
}

/// State -> zones, sorted by state.
type StateZones = Vec<([u8; 2], Box<[Tz]>)>;
/// ZIP3 -> up to five states (and how many).
type Zip3Table = Vec<([[u8; 2]; 5], u8)>;

/// The embedded location data, parsed once.
pub struct Geo {
    tz: TzTable,
    cc: Vec<CcInfo>,
    npa: Vec<Option<Npa>>,
    state_zones: StateZones,
    /// `A..Z x A..Z` -> index into `state_zones`, `u16::MAX` when absent.
    state_index: Vec<u16>,
    zip3: Zip3Table,
}

fn state_slot(code: &[u8]) -> Option<usize> {
    match code {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(
            usize::from(a.to_ascii_uppercase() - b'A') * 26
                + usize::from(b.to_ascii_uppercase() - b'A'),
        ),
        _ => None,
    }
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo")
            .field("tz", &self.tz)
            .finish_non_exhaustive()
    }
}

/// The embedded data files, in the order [`Geo::parse`] takes them.
pub const EMBEDDED_COUNTRY_CODES: &str = include_str!("../data/country_codes.txt");
/// NANP area codes -> region and state.
pub const EMBEDDED_NANP: &str = include_str!("../data/nanp_npa.txt");
/// US state -> zones.
pub const EMBEDDED_STATE_ZONES: &str = include_str!("../data/us_state_zones.txt");
/// ZIP3 -> US states.
pub const EMBEDDED_ZIP3: &str = include_str!("../data/us_zip3.txt");

static EMBEDDED: OnceLock<Result<Geo, DataError>> = OnceLock::new();

impl Geo {
    /// The embedded data, parsed on first use. It is tested to parse; an error here
    /// means a corrupted build and callers should refuse to dial.
    pub fn embedded() -> Result<&'static Geo, &'static DataError> {
        EMBEDDED
            .get_or_init(|| {
                Geo::parse(
                    EMBEDDED_TZ_PREFIXES,
                    EMBEDDED_COUNTRY_CODES,
                    EMBEDDED_NANP,
                    EMBEDDED_STATE_ZONES,
                    EMBEDDED_ZIP3,
                )
            })
            .as_ref()
    }

    /// Parse the five data files (formats in `scripts/gen_tz_prefixes.py`).
    pub fn parse(
        tz_prefixes: &str,
        country_codes: &str,
        nanp: &str,
        state_zones: &str,
        zip3: &str,
    ) -> Result<Geo, DataError> {
        let state_zones = parse::state_zones(state_zones)?;
        let mut state_index = vec![u16::MAX; 26 * 26];
        for (i, (code, _)) in state_zones.iter().enumerate() {
            if let Some(slot) = state_slot(code) {
                state_index[slot] = i as u16;
            }
        }
        Ok(Geo {
            tz: TzTable::parse(tz_prefixes)?,
            cc: parse::country_codes(country_codes)?,
            npa: parse::nanp(nanp)?,
            state_zones,
            state_index,
            zip3: parse::zip3(zip3)?,
        })
    }

    /// The prefix -> zones table.
    pub fn tz(&self) -> &TzTable {
        &self.tz
    }

    /// Country calling code of `e164` and its length in digits.
    pub fn country_code(&self, e164: &str) -> Option<(u16, usize)> {
        let d = e164.strip_prefix('+').unwrap_or(e164).as_bytes();
        let mut cc = 0u16;
        for (i, b) in d.iter().take(3).enumerate() {
            if !b.is_ascii_digit() {
                return None;
            }
            cc = cc * 10 + u16::from(b - b'0');
            if !matches!(self.cc[usize::from(cc)], CcInfo::Unknown) {
                return Some((cc, i + 1));
            }
        }
        None
    }

    /// Zones of the number's country calling code (libphonenumber's answer for
    /// non-geographic numbers); empty when the code has none (`+800`).
    pub fn country_zones(&self, e164: &str) -> &[Tz] {
        match self.country_code(e164) {
            Some((_, len)) => self.tz.longest_match(e164, len),
            None => &[],
        }
    }

    /// Zones of a US state (`FL`), empty if unknown.
    pub fn state_zones(&self, code: &str) -> &[Tz] {
        match state_slot(code.as_bytes()).map(|s| self.state_index[s]) {
            Some(i) if i != u16::MAX => &self.state_zones[usize::from(i)].1,
            _ => &[],
        }
    }

    /// US states of a ZIP code by its first three digits (several when the ZIP3
    /// straddles states).
    pub fn zip_states(&self, zip: &str) -> &[[u8; 2]] {
        let b = zip.trim().as_bytes();
        let ok = match b.len() {
            5 => b.iter().all(u8::is_ascii_digit),
            10 => b[5] == b'-' && b[..5].iter().chain(&b[6..]).all(u8::is_ascii_digit),
            _ => false,
        };
        if !ok {
            return &[];
        }
        let z3 = usize::from(b[0] - b'0') * 100
            + usize::from(b[1] - b'0') * 10
            + usize::from(b[2] - b'0');
        let (states, n) = &self.zip3[z3];
        &states[..usize::from(*n)]
    }

    /// Resolve where the called party may be. See the module docs for the rules.
    pub fn locate(&self, e164: &str, kind: NumberKind, place: &Place<'_>) -> Location<'_> {
        let cc = self.country_code(e164);
        let mut subdivisions = SubdivisionSet::default();
        let mut region = None;
        let mut zones: &[Tz] = &[];
        let mut basis = ZoneBasis::Unknown;
        if let Some((code, len)) = cc {
            if let CcInfo::Region(r) = self.cc[usize::from(code)] {
                region = Some(r);
            }
            let (z, b) = match kind {
                NumberKind::NonGeographic => {
                    (self.tz.longest_match(e164, len), ZoneBasis::CountryCode)
                }
                _ => (self.tz.zones_for(e164), ZoneBasis::Prefix),
            };
            if !z.is_empty() {
                zones = z;
                basis = b;
            }
            if code == 1
                && let Some(npa) = self.npa_of(e164)
            {
                region = Some(npa.region);
                for code in &npa.subs[..usize::from(npa.n_subs)] {
                    subdivisions.insert(Subdivision {
                        region: npa.region,
                        code: *code,
                    });
                }
            }
        }
        let contact_region = place.country.and_then(Region::new);
        let mut narrowing = SubdivisionSet::default();
        let context = contact_region.or(region);
        if let Some(state) = place.state {
            let us = us_state_code(state).map(|c| Subdivision {
                region: Region::US,
                code: c,
            });
            let ca = ca_province_code(state).map(|c| Subdivision {
                region: Region::CA,
                code: c,
            });
            for s in [us, ca].into_iter().flatten() {
                let fits = match context {
                    Some(r) => {
                        r == s.region || (s.region == Region::US && names::is_us_territory(r))
                    }
                    None => true,
                };
                if fits {
                    subdivisions.insert(s);
                    narrowing.insert(s);
                }
            }
        }
        if let Some(zip) = place.postal_code
            && matches!(contact_region, None | Some(Region::US))
        {
            for code in self.zip_states(zip) {
                let s = Subdivision {
                    region: Region::US,
                    code: *code,
                };
                subdivisions.insert(s);
                narrowing.insert(s);
            }
        }
        let (zones, basis) = self.narrow(zones, basis, &narrowing);
        Location {
            country_code: cc.map(|c| c.0),
            region,
            contact_region,
            subdivisions,
            zones,
            basis,
        }
    }

    fn npa_of(&self, e164: &str) -> Option<&Npa> {
        let d = e164.strip_prefix('+').unwrap_or(e164).as_bytes();
        if d.len() < 4 || !d[1..4].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = usize::from(d[1] - b'0') * 100
            + usize::from(d[2] - b'0') * 10
            + usize::from(d[3] - b'0');
        self.npa[n].as_ref()
    }

    fn narrow<'g>(
        &'g self,
        zones: &'g [Tz],
        basis: ZoneBasis,
        states: &SubdivisionSet,
    ) -> (Cow<'g, [Tz]>, ZoneBasis) {
        let mut sets: [&[Tz]; MAX_SUBDIVISIONS] = [&[]; MAX_SUBDIVISIONS];
        let mut n = 0;
        for s in states.as_slice().iter().filter(|s| s.region == Region::US) {
            let z = self.state_zones(s.code_str());
            if !z.is_empty() {
                sets[n] = z;
                n += 1;
            }
        }
        let state_sets = &sets[..n];
        if state_sets.is_empty() {
            return (Cow::Borrowed(zones), basis);
        }
        let in_states = |tz: &Tz| state_sets.iter().any(|set| set.contains(tz));
        let kept = zones.iter().filter(|tz| in_states(tz)).count();
        if kept == zones.len() && kept > 0 {
            return (Cow::Borrowed(zones), ZoneBasis::StateIntersection);
        }
        if kept > 0 {
            let inter: Vec<Tz> = zones.iter().copied().filter(|tz| in_states(tz)).collect();
            return (Cow::Owned(inter), ZoneBasis::StateIntersection);
        }
        let mut union: Vec<Tz> = zones.to_vec();
        for tz in state_sets.iter().flat_map(|s| s.iter()) {
            if !union.contains(tz) {
                union.push(*tz);
            }
        }
        (Cow::Owned(union), ZoneBasis::StateUnion)
    }
}
