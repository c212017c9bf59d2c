//! CSV dialect sniffing: delimiter and header row, from a decoded sample.

use serde::{Deserialize, Serialize};

use crate::mapping::{looks_like_phone, normalize_header};
use crate::values::{parse_bool, parse_date, parse_number};

/// Delimiters tried, in order of preference on ties.
pub const CANDIDATE_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Records of the sample that are parsed and kept for inspection.
const SAMPLE_ROWS: usize = 200;

/// How a CSV file is written. Quoting is always RFC 4180 style with `"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialect {
    /// Field delimiter: one of `,` `;` `\t` `|`.
    pub delimiter: u8,
    /// Whether the first row holds column names.
    pub has_header: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            has_header: true,
        }
    }
}

/// A sniffed sample: the dialect and the first records parsed with it.
#[derive(Debug, Clone)]
pub struct Sniffed {
    /// The dialect.
    pub dialect: Dialect,
    /// Up to 200 records from the sample (header included), parsed with the
    /// chosen delimiter. A record cut by the end of the sample is left out.
    pub rows: Vec<Vec<String>>,
}

/// Sniffs the dialect of `sample` (the first ~64 KiB of decoded text).
/// `complete` says whether the sample is the whole file; if not, its last,
/// possibly cut, record is ignored.
///
/// Delimiter: for each candidate, the sample is parsed (quotes respected)
/// and the share of records having the most common field count is computed;
/// candidates that split rows into at least two fields compete on that
/// consistency, and among the ones within 10% of the best, the one giving
/// more fields wins (a comma inside every address of a semicolon file loses
/// to the semicolon). No candidate splitting anything means a one-column
/// file, read with `,`.
///
/// Header: the first row is a header when one of its cells is a known column
/// name (see [`suggest_mapping`](crate::suggest_mapping)); it is not when a
/// cell looks like data (a number, a phone, a date, an e-mail, a boolean) or
/// two cells repeat; otherwise columns vote: a text cell above a column of
/// numbers/phones/dates, or of same-length codes of another length, votes
/// for a header.
pub fn sniff(sample: &str, complete: bool) -> Sniffed {
    let mut best: Option<(u8, f64, usize, Vec<Vec<String>>)> = None;
    let mut fallback_rows = None;
    for delimiter in CANDIDATE_DELIMITERS {
        let rows = parse_sample(sample, delimiter, complete);
        let counts: Vec<usize> = rows.iter().filter(|r| !is_blank(r)).map(Vec::len).collect();
        if fallback_rows.is_none() {
            fallback_rows = Some(rows.clone());
        }
        let Some((mode, freq)) = mode(&counts) else {
            continue;
        };
        if mode < 2 {
            continue;
        }
        let consistency = freq as f64 / counts.len() as f64;
        let better = match &best {
            None => true,
            Some((_, c, m, _)) => {
                consistency > c * 1.1
                    || (consistency >= c * 0.9 && mode > *m)
                    || (consistency > *c && mode == *m)
            }
        };
        if better {
            best = Some((delimiter, consistency, mode, rows));
        }
    }
    let (delimiter, rows) = match best {
        Some((d, _, _, rows)) => (d, rows),
        None => (b',', fallback_rows.unwrap_or_default()),
    };
    let has_header = detect_header(&rows);
    Sniffed {
        dialect: Dialect {
            delimiter,
            has_header,
        },
        rows,
    }
}

fn parse_sample(sample: &str, delimiter: u8, complete: bool) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while rows.len() <= SAMPLE_ROWS {
        match reader.read_record(&mut record) {
            Ok(true) => rows.push(record.iter().map(str::to_string).collect()),
            _ => break,
        }
    }
    if !complete && rows.len() <= SAMPLE_ROWS {
        rows.pop();
    }
    rows.truncate(SAMPLE_ROWS);
    rows
}

fn is_blank(row: &[String]) -> bool {
    row.iter().all(|c| c.trim().is_empty())
}

fn mode(counts: &[usize]) -> Option<(usize, usize)> {
    let mut tally: Vec<(usize, usize)> = Vec::new();
    for &c in counts {
        match tally.iter_mut().find(|(v, _)| *v == c) {
            Some((_, n)) => *n += 1,
            None => tally.push((c, 1)),
        }
    }
    tally.into_iter().max_by_key(|&(v, n)| (n, v))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Data,
    Text,
}

fn kind(cell: &str) -> Kind {
    let v = cell.trim().trim_start_matches('\'');
    if v.is_empty() {
        Kind::Empty
    } else if parse_number(v).is_ok()
        || looks_like_phone(v)
        || parse_date(v).is_ok()
        || parse_bool(v).is_ok()
        || (v.contains('@') && !v.contains(' '))
    {
        Kind::Data
    } else {
        Kind::Text
    }
}

fn detect_header(rows: &[Vec<String>]) -> bool {
    let mut rows_iter = rows.iter().filter(|r| !is_blank(r));
    let Some(first) = rows_iter.next() else {
        return false;
    };
    let rest: Vec<&Vec<String>> = rows_iter.take(50).collect();
    if first.iter().any(|c| kind(c) == Kind::Data) {
        return false;
    }
    let names: Vec<String> = first
        .iter()
        .map(|c| normalize_header(c))
        .filter(|n| !n.is_empty())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    let known = first.iter().any(|c| {
        let probe = [c.as_str()];
        crate::mapping::suggest_mapping(&probe, &crate::schema::Schema::standard()).target(0)
            != &crate::mapping::Target::Ignore
    });
    if known {
        return true;
    }
    let mut votes = 0i32;
    for (col, head) in first.iter().enumerate() {
        if kind(head) != Kind::Text {
            continue;
        }
        let cells: Vec<&str> = rest
            .iter()
            .filter_map(|r| r.get(col))
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        if cells.is_empty() {
            continue;
        }
        let data = cells.iter().filter(|c| kind(c) == Kind::Data).count();
        if data * 2 > cells.len() {
            votes += 1;
            continue;
        }
        let len = cells[0].chars().count();
        if cells.len() >= 2 && cells.iter().all(|c| c.chars().count() == len) {
            votes += if head.trim().chars().count() != len {
                1
            } else {
                -1
            };
        }
    }
    votes > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(sample: &str) -> Dialect {
        sniff(sample, true).dialect
    }

    #[test]
    fn delimiters() {
        assert_eq!(d("a,b,c\n1,2,3\n4,5,6\n").delimiter, b',');
        assert_eq!(
            d("name;street;phone\nAnn;\"Main St, 4\";4155550100\nBob;Elm St, 5;4155550101\n")
                .delimiter,
            b';'
        );
        assert_eq!(d("name\tphone\nAnn\t4155550100\n").delimiter, b'\t');
        assert_eq!(d("name|phone\nAnn|4155550100\n").delimiter, b'|');
        // A quoted field with the other delimiter and a newline inside.
        assert_eq!(
            d("name,notes\n\"Ann\",\"a;b\nc;d\"\n\"Bob\",\"x\"\n").delimiter,
            b','
        );
        // One column of phone numbers.
        assert_eq!(
            d("4155550100\n4155550101\n"),
            Dialect {
                delimiter: b',',
                has_header: false
            }
        );
        // European decimals do not fool it.
        assert_eq!(
            d("name;amount;phone\nAnn;1,5;4155550100\nBob;2;4155550101\n").delimiter,
            b';'
        );
    }

    #[test]
    fn headers() {
        assert!(d("First Name,Phone\nAnn,4155550100\n").has_header);
        assert!(
            d("Kunde,Rufnummer\nAnn,4155550100\n").has_header,
            "type vote"
        );
        assert!(!d("Ann,4155550100\nBob,4155550101\n").has_header);
        assert!(!d("Ann,Smith\nBob,Jones\n").has_header);
        assert!(
            d("Kunde,Bundesstaat\nAnn,CA\nBob,NY\n").has_header,
            "length vote"
        );
        assert!(!d("a,a\nb,c\n").has_header);
        assert!(d("phone\n").has_header);
    }

    #[test]
    fn cut_last_record_is_dropped() {
        let s = sniff("a,b\n1,2\n3,", false);
        assert_eq!(s.rows.len(), 2);
    }
}
