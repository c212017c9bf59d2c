//! Import throughput on one thread: decode + CSV parse + normalize +
//! validate, against baselines measured in the same run.
//!
//! `cargo bench -p omnivox-contacts --bench normalize [-- ROWS]`
//! (default 1,000,000 rows). Prints one JSON object.

use std::hint::black_box;
use std::time::Instant;

use omnivox_contacts::{
    CustomField, FieldType, ImportOptions, ImportReader, Region, RowOutcome, Schema, parse_phone,
    suggest_mapping,
};

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "José",
    "María",
    "Zoë",
    "François",
    "Chloé",
    "Jürgen",
    "Wei",
    "Aisha",
    "Oluwaseun",
    "Siobhán",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Müller",
    "O'Brien",
    "Nguyen",
    "Smith, Jr.",
    "Gómez",
    "Kowalski",
    "Brontë",
    "Lee",
    "Patel",
    "Kim",
];
const CITIES: &[(&str, &str, &[&str])] = &[
    ("San Francisco", "CA", &["415", "628"]),
    ("New York", "NY", &["212", "646", "917", "718"]),
    ("Chicago", "IL", &["312", "773"]),
    ("Houston", "TX", &["713", "832"]),
    ("Phoenix", "AZ", &["602", "480"]),
    ("Miami", "FL", &["305", "786"]),
    ("Seattle", "WA", &["206"]),
    ("Boston", "MA", &["617", "857"]),
    ("Toronto", "ON", &["416", "647"]),
    ("Denver", "CO", &["303", "720"]),
];
const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "2nd St",
    "Elm St",
    "Park Blvd",
    "Cedar Ln",
];
const TIERS: &[&str] = &["Gold", "silver", "BRONZE", "Gold", ""];

fn phone(rng: &mut Rng, area: &str) -> String {
    let exch = 200 + rng.below(800);
    let line = rng.below(10_000);
    match rng.below(100) {
        0..=24 => format!("({area}) {exch}-{line:04}"),
        25..=44 => format!("{area}.{exch}.{line:04}"),
        45..=64 => format!("{area}{exch}{line:04}"),
        65..=79 => format!("+1 {area} {exch} {line:04}"),
        80..=89 => format!("1-{area}-{exch}-{line:04}"),
        90..=92 => format!("({area}) {exch}-{line:04} x{}", rng.below(999)),
        93..=95 => format!("+44 20 7946 {line:04}"),
        96..=97 => format!("0044 7700 900{:03}", rng.below(1000)),
        _ => format!("{exch}-{line:04}"), // missing area code: invalid
    }
}

fn generate(rows: usize) -> Vec<u8> {
    let mut rng = Rng(0x5EED_CAFE_F00D_BEEF);
    let mut out = String::with_capacity(rows * 160);
    out.push_str(
        "First Name,Last Name,Phone,Mobile,Email,Address,City,State,Zip,Signup Date,Tier,Balance\r\n",
    );
    for i in 0..rows {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let (city, state, areas) = CITIES[rng.below(CITIES.len() as u64) as usize];
        let area = areas[rng.below(areas.len() as u64) as usize];
        let main = phone(&mut rng, area);
        let mobile = if rng.below(3) == 0 {
            phone(&mut rng, area)
        } else {
            String::new()
        };
        let email = if rng.below(4) == 0 {
            String::new()
        } else {
            format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                i % 1000,
                rng.below(100)
            )
        };
        let last_cell = if last.contains(',') {
            format!("\"{last}\"")
        } else {
            last.to_string()
        };
        let date = if rng.below(2) == 0 {
            format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28))
        } else {
            format!("{}/{}/2023", 1 + rng.below(12), 1 + rng.below(28))
        };
        out.push_str(&format!(
            "{first},{last_cell},{main},{mobile},{email},{} {},{city},{state},{:05},{date},{},{}.{:02}\r\n",
            1 + rng.below(9999),
            rng.pick(STREETS),
            rng.below(99_999),
            rng.pick(TIERS),
            rng.below(10_000),
            rng.below(100),
        ));
    }
    out.into_bytes()
}

fn schema() -> Schema {
    Schema::new(vec![
        CustomField::new("signup_date", "Signup Date", FieldType::Date),
        CustomField::new(
            "tier",
            "Tier",
            FieldType::Choice {
                allowed: vec!["Gold".into(), "Silver".into(), "Bronze".into()],
            },
        ),
        CustomField::new("balance", "Balance", FieldType::Number),
    ])
    .unwrap_or_default()
}

/// Best of `runs` timings, in seconds.
fn best<F: FnMut() -> u64>(runs: usize, mut f: F) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut result = 0;
    for _ in 0..runs {
        let t = Instant::now();
        result = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, result)
}

fn csv_crate_baseline(data: &[u8]) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(data);
    let mut record = csv::StringRecord::new();
    let mut n = 0;
    while reader.read_record(&mut record).unwrap_or(false) {
        black_box(&record);
        n += 1;
    }
    n
}

fn reader_only(data: &[u8]) -> u64 {
    let Ok(mut reader) = ImportReader::open(data, ImportOptions::default()) else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(_)) = reader.next_record() {
        black_box(reader.record());
        n += 1;
    }
    n
}

/// Full pipeline; returns accepted rows (and checks the counts add up).
fn full(data: &[u8], schema: &Schema) -> (u64, u64, u64) {
    let Ok(mut reader) = ImportReader::open(data, ImportOptions::default()) else {
        return (0, 0, 0);
    };
    let mapping = suggest_mapping(reader.headers().unwrap_or(&[]), schema);
    let Ok(region) = Region::parse("US") else {
        return (0, 0, 0);
    };
    let Ok(normalizer) = reader.normalizer(&mapping, schema, region) else {
        return (0, 0, 0);
    };
    let (mut rows, mut accepted, mut rejected) = (0, 0, 0);
    while let Ok(Some(row)) = reader.next_row(&normalizer) {
        rows += 1;
        match &row.outcome {
            RowOutcome::Accepted { contact, .. } => {
                accepted += 1;
                black_box(contact);
            }
            RowOutcome::Rejected { errors } => {
                rejected += 1;
                black_box(errors);
            }
            RowOutcome::Blank => {}
        }
    }
    (rows, accepted, rejected)
}

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs = 3;
    let schema = schema();

    // One-time cost: compiling the NANP validation patterns.
    let t = Instant::now();
    let _ = Region::parse("US").map(|us| parse_phone("(415) 555-0100", us));
    let validator_init_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let data = generate(rows);
    let gen_s = t.elapsed().as_secs_f64();
    let latin1: Vec<u8> = String::from_utf8_lossy(&data)
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();

    let (csv_s, csv_rows) = best(runs, || csv_crate_baseline(&data));
    let (rd_s, rd_rows) = best(runs, || reader_only(&data));
    let mut counts = (0, 0, 0);
    let (full_s, _) = best(runs, || {
        counts = full(&data, &schema);
        counts.0
    });
    let mut latin_counts = (0, 0, 0);
    let (latin_s, _) = best(runs, || {
        latin_counts = full(&latin1, &schema);
        latin_counts.0
    });

    // Phone parsing alone: this crate vs the phonenumber crate's parse +
    // is_valid + E.164 formatting, on the same strings.
    let mut rng = Rng(7);
    // The `00` international prefix is left out: with region US only this
    // crate accepts it, so the valid counts would differ by design.
    let phones: Vec<String> = (0..100_000)
        .map(|_| phone(&mut rng, "415"))
        .map(|p| match p.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => p,
        })
        .collect();
    let us = Region::parse("US").ok();
    let (ours_s, ours_ok) = best(runs, || {
        let Some(us) = us else { return 0 };
        phones
            .iter()
            .filter(|p| black_box(parse_phone(p, us)).is_ok())
            .count() as u64
    });
    let (crate_s, crate_ok) = best(1, || {
        phones
            .iter()
            .filter(|p| {
                let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), p.as_str());
                parsed.is_ok_and(|n| {
                    n.is_valid()
                        && !black_box(n.format().mode(phonenumber::Mode::E164).to_string())
                            .is_empty()
                })
            })
            .count() as u64
    });

    // Numbers that take the slow path (phonenumber::parse + our validator).
    let intl: Vec<String> = (0..20_000u64)
        .map(|i| match i % 4 {
            0 => format!("+44 20 7946 {:04}", i % 10_000),
            1 => format!("+33 1 42 68 {:02} {:02}", i % 100, (i / 100) % 100),
            2 => format!("+49 30 1234{:04}", i % 10_000),
            _ => format!("+52 55 1234 {:04}", i % 10_000),
        })
        .collect();
    let (intl_ours_s, intl_ours_ok) = best(runs, || {
        let Some(us) = us else { return 0 };
        intl.iter()
            .filter(|p| black_box(parse_phone(p, us)).is_ok())
            .count() as u64
    });
    let (intl_crate_s, intl_crate_ok) = best(1, || {
        intl.iter()
            .filter(|p| {
                phonenumber::parse(Some(phonenumber::country::Id::US), p.as_str()).is_ok_and(|n| {
                    n.is_valid()
                        && !black_box(n.format().mode(phonenumber::Mode::E164).to_string())
                            .is_empty()
                })
            })
            .count() as u64
    });

    let per_s = |n: u64, s: f64| (n as f64 / s).round();
    println!(
        "{}",
        serde_json::json!({
            "bench": "contacts_import",
            "rows": rows,
            "input_bytes": data.len(),
            "threads": 1,
            "runs": runs,
            "generate_s": gen_s,
            "phone_validator_init_s": validator_init_s,
            "baseline_csv_crate": { "rows": csv_rows, "seconds": csv_s, "rows_per_s": per_s(csv_rows, csv_s),
                                     "mb_per_s": data.len() as f64 / csv_s / 1e6 },
            "reader_only_decode_and_split": { "rows": rd_rows, "seconds": rd_s, "rows_per_s": per_s(rd_rows, rd_s) },
            "full_utf8": { "rows": counts.0, "accepted": counts.1, "rejected": counts.2, "seconds": full_s,
                           "rows_per_s": per_s(counts.0, full_s) },
            "full_windows1252": { "rows": latin_counts.0, "accepted": latin_counts.1, "rejected": latin_counts.2,
                                  "seconds": latin_s, "rows_per_s": per_s(latin_counts.0, latin_s) },
            "phones_100k": {
                "omnivox_parse_phone": { "valid": ours_ok, "seconds": ours_s, "per_s": per_s(100_000, ours_s) },
                "phonenumber_crate_parse_is_valid_format": { "valid": crate_ok, "seconds": crate_s,
                                                               "per_s": per_s(100_000, crate_s) },
                "same_valid_count": ours_ok == crate_ok
            },
            "phones_20k_international_slow_path": {
                "omnivox_parse_phone": { "valid": intl_ours_ok, "seconds": intl_ours_s,
                                         "per_s": per_s(20_000, intl_ours_s) },
                "phonenumber_crate_parse_is_valid_format": { "valid": intl_crate_ok, "seconds": intl_crate_s,
                                                               "per_s": per_s(20_000, intl_crate_s) },
                "same_valid_count": intl_ours_ok == intl_crate_ok
            },
            "target_rows_per_s": 100_000,
            "meets_target": per_s(counts.0, full_s) >= 100_000.0
        })
    );
}
