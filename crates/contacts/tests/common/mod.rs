//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use omnivox_contacts::*;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The custom fields used by the US fixture.
pub fn us_schema() -> Schema {
    Schema::new(vec![
        CustomField::new("signup_date", "Signup Date", FieldType::Date),
        CustomField::new(
            "tier",
            "Tier",
            FieldType::Choice {
                allowed: vec!["Gold".into(), "Silver".into(), "Bronze".into()],
            },
        ),
        CustomField::new("vip", "VIP", FieldType::Boolean),
    ])
    .unwrap()
}

/// (row, "accepted" | "rejected" | "blank", [(code, severity, 1-based column)])
pub type RowSummary = (
    u64,
    &'static str,
    Vec<(String, &'static str, Option<usize>)>,
);

pub struct Imported {
    pub dialect: Dialect,
    pub encoding: Encoding,
    pub headers: Option<Vec<String>>,
    pub mapping: Mapping,
    pub rows: Vec<ImportRow>,
    pub stats: ImportStats,
    pub report: String,
}

impl Imported {
    pub fn contacts(&self) -> Vec<NormalizedContact> {
        self.rows
            .iter()
            .filter_map(|r| match &r.outcome {
                RowOutcome::Accepted { contact, .. } => Some(contact.clone()),
                _ => None,
            })
            .collect()
    }

    /// Row number -> (outcome, [(code, severity, 1-based column)]).
    pub fn summary(&self) -> Vec<RowSummary> {
        self.rows
            .iter()
            .map(|r| {
                let (state, problems): (&str, &[RowError]) = match &r.outcome {
                    RowOutcome::Blank => ("blank", &[]),
                    RowOutcome::Accepted { warnings, .. } => ("accepted", warnings),
                    RowOutcome::Rejected { errors } => ("rejected", errors),
                };
                let problems = problems
                    .iter()
                    .map(|p| {
                        let sev = if p.severity == Severity::Error {
                            "error"
                        } else {
                            "warning"
                        };
                        (p.code.as_str().to_string(), sev, p.column.map(|c| c + 1))
                    })
                    .collect();
                (r.row, state, problems)
            })
            .collect()
    }
}

/// Imports `bytes` end to end: open, suggest a mapping (from headers or
/// values), normalize every row, write the error report.
pub fn import(bytes: &[u8], schema: &Schema, region: &str) -> Imported {
    let mut reader = ImportReader::open(bytes, ImportOptions::default()).unwrap();
    let mapping = match reader.headers() {
        Some(h) => suggest_mapping(h, schema),
        None => suggest_mapping_from_values(reader.sample_rows()),
    };
    let normalizer = reader
        .normalizer(&mapping, schema, Region::parse(region).unwrap())
        .unwrap();
    let mut report = ErrorReportWriter::new(Vec::new()).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row(&normalizer).unwrap() {
        report.write_row(&row).unwrap();
        rows.push(row);
    }
    Imported {
        dialect: reader.dialect(),
        encoding: reader.encoding(),
        headers: reader.headers().map(<[String]>::to_vec),
        mapping,
        rows,
        stats: reader.stats(),
        report: String::from_utf8(report.finish().unwrap()).unwrap(),
    }
}
