//! Parsers of the small tab-separated location data files.

use chrono_tz::Tz;

use super::{CcInfo, Npa, Region, StateZones, Zip3Table};
use crate::error::DataError;

fn lines<'a>(text: &'a str) -> impl Iterator<Item = (usize, Vec<&'a str>)> + 'a {
    text.lines().enumerate().filter_map(|(n, raw)| {
        let line = raw.trim_end_matches('\r');
        (!line.is_empty() && !line.starts_with('#')).then(|| (n + 1, line.split('\t').collect()))
    })
}

fn err(file: &'static str, line: usize, message: impl Into<String>) -> DataError {
    DataError::Line {
        file,
        line,
        message: message.into(),
    }
}

fn three_digits(file: &'static str, line: usize, s: &str) -> Result<usize, DataError> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().map_err(|_| err(file, line, "bad number"))
    } else {
        Err(err(file, line, format!("expected three digits, got {s:?}")))
    }
}

fn code2(file: &'static str, line: usize, s: &str) -> Result<[u8; 2], DataError> {
    let b = s.as_bytes();
    if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
        Ok([b[0], b[1]])
    } else {
        Err(err(
            file,
            line,
            format!("expected a two-letter code, got {s:?}"),
        ))
    }
}

/// `country_codes.txt`: `<cc>\t<REGION>[,...]`; region `001` = non-geographic.
pub(super) fn country_codes(text: &str) -> Result<Vec<CcInfo>, DataError> {
    const F: &str = "country_codes.txt";
    let mut out = vec![CcInfo::Unknown; 1000];
    for (n, cols) in lines(text) {
        let [cc, regions] = cols.as_slice() else {
            return Err(err(F, n, "expected 2 columns"));
        };
        let cc: usize = cc
            .parse()
            .ok()
            .filter(|c| (1..1000).contains(c))
            .ok_or_else(|| err(F, n, "bad country code"))?;
        let main = regions.split(',').next().unwrap_or_default();
        out[cc] = if main == "001" {
            CcInfo::NonGeographic
        } else {
            CcInfo::Region(Region::new(main).ok_or_else(|| err(F, n, "bad region"))?)
        };
    }
    Ok(out)
}

/// `nanp_npa.txt`: `<npa>\t<REGION>\t<SUB>[,...]|-`.
pub(super) fn nanp(text: &str) -> Result<Vec<Option<Npa>>, DataError> {
    const F: &str = "nanp_npa.txt";
    let mut out = vec![None; 1000];
    for (n, cols) in lines(text) {
        let [npa, region, subs] = cols.as_slice() else {
            return Err(err(F, n, "expected 3 columns"));
        };
        let npa = three_digits(F, n, npa)?;
        let region = Region::new(region).ok_or_else(|| err(F, n, "bad region"))?;
        let mut entry = Npa {
            region,
            subs: [[0; 2]; 3],
            n_subs: 0,
        };
        if *subs != "-" {
            for s in subs.split(',') {
                if usize::from(entry.n_subs) == entry.subs.len() {
                    return Err(err(F, n, "more than 3 subdivisions"));
                }
                entry.subs[usize::from(entry.n_subs)] = code2(F, n, s)?;
                entry.n_subs += 1;
            }
        }
        out[npa] = Some(entry);
    }
    Ok(out)
}

/// `us_state_zones.txt`: `<ST>\t<zone>[,...]`, returned sorted by state.
pub(super) fn state_zones(text: &str) -> Result<StateZones, DataError> {
    const F: &str = "us_state_zones.txt";
    let mut out = Vec::new();
    for (n, cols) in lines(text) {
        let [st, zones] = cols.as_slice() else {
            return Err(err(F, n, "expected 2 columns"));
        };
        let zones = zones
            .split(',')
            .map(|z| {
                z.parse::<Tz>()
                    .map_err(|_| err(F, n, format!("unknown zone {z:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push((code2(F, n, st)?, zones.into_boxed_slice()));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

/// `us_zip3.txt`: `<zip3>\t<ST>[,...]` (at most 5 states).
pub(super) fn zip3(text: &str) -> Result<Zip3Table, DataError> {
    const F: &str = "us_zip3.txt";
    let mut out = vec![([[0u8; 2]; 5], 0u8); 1000];
    for (n, cols) in lines(text) {
        let [z3, states] = cols.as_slice() else {
            return Err(err(F, n, "expected 2 columns"));
        };
        let slot = &mut out[three_digits(F, n, z3)?];
        for s in states.split(',') {
            if usize::from(slot.1) == slot.0.len() {
                return Err(err(F, n, "more than 5 states"));
            }
            slot.0[usize::from(slot.1)] = code2(F, n, s)?;
            slot.1 += 1;
        }
    }
    Ok(out)
}
