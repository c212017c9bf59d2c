//! Inputs that must fail as a whole, clearly and in bounded memory.

mod common;

use std::io::{self, Read};

use common::*;
use omnivox_contacts::*;

/// Produces `len` bytes lazily (an optional prefix, then `fill` repeated)
/// and counts how many were pulled, so a test can prove the reader stopped
/// early instead of buffering everything.
struct Lazy {
    prefix: Vec<u8>,
    fill: &'static [u8],
    len: u64,
    pulled: u64,
}

impl Lazy {
    fn new(prefix: &[u8], fill: &'static [u8], len: u64) -> Self {
        Self {
            prefix: prefix.to_vec(),
            fill,
            len,
            pulled: 0,
        }
    }
}

impl Read for &mut Lazy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.pulled;
        let n = (buf.len() as u64).min(left) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let pos = self.pulled as usize + i;
            *b = match self.prefix.get(pos) {
                Some(p) => *p,
                None => self.fill[(pos - self.prefix.len()) % self.fill.len()],
            };
        }
        self.pulled += n as u64;
        Ok(n)
    }
}

const FIFTY_MB: u64 = 50 * 1024 * 1024;

#[test]
fn binary_file_is_not_text() {
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let err = ImportReader::open(&png[..], ImportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "not_text", "{err}");
    // Control characters without NUL (e.g. an old binary format).
    let ctl: Vec<u8> = (0..2000u32)
        .map(|i| if i % 10 == 0 { 0x01 } else { b'a' })
        .collect();
    let err = ImportReader::open(&ctl[..], ImportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "not_text", "{err}");
}

#[test]
fn ten_thousand_columns_fail_before_any_row() {
    let header: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
    let mut csv = header.join(",");
    csv.push('\n');
    csv.push_str(&vec!["4155550100"; 10_000].join(","));
    csv.push('\n');
    let err = ImportReader::open(csv.as_bytes(), ImportOptions::default()).unwrap_err();
    assert_eq!(err.code(), "too_many_columns");
    assert_eq!(err.to_string(), "row 1 has more than 1000 columns");
    // Just at the limit is fine.
    let ok: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
    let csv = format!("{}\n", ok.join(","));
    assert!(ImportReader::open(csv.as_bytes(), ImportOptions::default()).is_ok());
}

#[test]
fn fifty_megabytes_without_newline() {
    // Through the decoder alone.
    let mut src = Lazy::new(b"", b"a", FIFTY_MB);
    let mut decoded = DecodedReader::new(&mut src);
    let mut sink = Vec::new();
    let err = decoded.read_to_end(&mut sink).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1 is longer than 1048576 bytes"),
        "{err}"
    );
    assert!(src.pulled < 3 * 1024 * 1024, "pulled {} bytes", src.pulled);

    // Through the import reader.
    let mut src = Lazy::new(b"name,phone\n", b"a", FIFTY_MB);
    let err = ImportReader::open(&mut src, ImportOptions::default()).and_then(|mut r| {
        let n = r.normalizer(
            &Mapping::new(vec![Target::Ignore, Target::Phone(PhoneType::Other)]),
            &Schema::standard(),
            Region::parse("US")?,
        )?;
        while r.next_row(&n)?.is_some() {}
        Ok(())
    });
    let err = err.unwrap_err();
    assert!(
        matches!(err.code(), "line_too_long" | "record_too_long"),
        "{err}"
    );
    assert!(src.pulled < 3 * 1024 * 1024, "pulled {} bytes", src.pulled);
}

#[test]
fn unterminated_quote_spanning_many_lines() {
    // Short lines, so only the record cap can stop it.
    let mut src = Lazy::new(b"name,phone\n\"", b"aaaaaaa\n", FIFTY_MB);
    let mut reader = ImportReader::open(&mut src, ImportOptions::default()).unwrap();
    let err = loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("should fail"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), "record_too_long");
    assert_eq!(
        err.to_string(),
        "row 2 (line 2) is longer than 1048576 bytes"
    );
    assert!(src.pulled < 3 * 1024 * 1024, "pulled {} bytes", src.pulled);
}

#[test]
fn mapping_to_unknown_field_fails_before_rows() {
    let bytes = fixture("mixed_us.csv");
    let reader = ImportReader::open(&bytes[..], ImportOptions::default()).unwrap();
    let mapping: Mapping = serde_json::from_str(
        r#"["first_name","last_name","phone","favorite_color","email","custom:shoe_size"]"#,
    )
    .unwrap();
    let err = reader
        .normalizer(&mapping, &us_schema(), Region::parse("US").unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_mapping");
    assert_eq!(
        err.to_string(),
        "invalid column mapping: column 3: unknown field `favorite_color`; column 5: unknown field `shoe_size`"
    );
    match &err {
        ContactsError::InvalidMapping { problems } => {
            assert_eq!(
                problems
                    .iter()
                    .map(MappingProblem::code)
                    .collect::<Vec<_>>(),
                ["unknown_field"; 2]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reader.stats().records, 0, "no row was processed");
    let no_phone = Mapping::new(vec![Target::Standard(StandardField::FirstName)]);
    let err =
        Normalizer::new(&no_phone, &Schema::standard(), Region::parse("US").unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no column is mapped to a phone number")
    );
}

#[test]
fn empty_inputs() {
    for input in ["", "\n\n\r\n", "   \n"] {
        let err = ImportReader::open(input.as_bytes(), ImportOptions::default()).unwrap_err();
        assert_eq!(err.code(), "empty_file", "{input:?}");
    }
    assert_eq!(Region::parse("ZZZ").unwrap_err().code(), "unknown_region");
}
