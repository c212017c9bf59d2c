//! End-to-end imports of the committed fixtures, with exact outcomes.
//!
//! Fixtures (`tests/fixtures/`):
//! * `mixed_us.csv`: UTF-8 with BOM; `(415) 555-0100`, `415.555.0101 x123`,
//!   `+44 20 7946 0958`, `0044 ...`, `;ext=55`, `1-800-FLOWERS`, a quoted
//!   field with an embedded newline, an empty line, a row of empty cells,
//!   an extra cell past the header, custom date/choice/boolean columns and
//!   one row with every kind of bad value;
//! * `latin1_windows1252.csv`: Windows-1252 bytes (`José Müller`, `Zoë`,
//!   `Œuvre` (0x8C, outside Latin-1)), `;` delimiter, CRLF, German numbers;
//! * `semicolon_fr.csv`: `;` delimiter with a quoted `;`, French numbers,
//!   `0033` prefix;
//! * `contacts.tsv`: tab-delimited;
//! * `headerless.csv`: no header row, CRLF.

mod common;

use common::*;
use omnivox_contacts::*;

fn names(m: &Mapping) -> Vec<String> {
    m.columns().iter().map(ToString::to_string).collect()
}

fn p(code: &str, sev: &'static str, col: Option<usize>) -> (String, &'static str, Option<usize>) {
    (code.to_string(), sev, col)
}

#[test]
fn mixed_us_file() {
    let r = import(&fixture("mixed_us.csv"), &us_schema(), "US");
    assert_eq!(
        r.dialect,
        Dialect {
            delimiter: b',',
            has_header: true
        }
    );
    assert_eq!(r.encoding, Encoding::Utf8);
    assert_eq!(
        r.headers.as_ref().map(|h| h[0].as_str()),
        Some("First Name"),
        "BOM stripped"
    );
    assert_eq!(
        names(&r.mapping),
        [
            "first_name",
            "last_name",
            "phone:other",
            "phone:mobile",
            "email",
            "postal_code",
            "custom:signup_date",
            "custom:tier",
            "custom:vip"
        ]
    );
    assert_eq!(
        r.stats,
        ImportStats {
            records: 12,
            accepted: 7,
            rejected: 4,
            blank: 2,
            warnings: 4
        }
    );
    let (e, w) = ("error", "warning");
    assert_eq!(
        r.summary(),
        vec![
            (2, "accepted", vec![]),
            (3, "accepted", vec![]),
            // row 4 is an empty line: skipped and counted by the reader
            (5, "accepted", vec![]),
            (6, "rejected", vec![p("invalid_email", e, Some(5))]),
            (7, "accepted", vec![p("invalid_phone", w, Some(3))]),
            (8, "rejected", vec![p("no_phone", e, None)]),
            (
                9,
                "rejected",
                vec![
                    p("invalid_phone", e, Some(3)),
                    p("invalid_phone", e, Some(4)),
                    p("invalid_date", e, Some(7)),
                    p("unknown_choice", e, Some(8)),
                    p("invalid_boolean", e, Some(9)),
                    p("no_phone", e, None),
                ]
            ),
            (10, "blank", vec![]),
            (11, "accepted", vec![]),
            (12, "accepted", vec![p("duplicate_phone", w, Some(4))]),
            (
                13,
                "accepted",
                vec![
                    p("invalid_phone", w, Some(4)),
                    p("extra_columns", w, Some(10))
                ]
            ),
            (14, "rejected", vec![p("invalid_date", e, Some(7))]),
        ]
    );
    // Row 7 holds a quoted newline, so later rows start one line further.
    let expected_report = "\
row,line,column,column_name,severity,code,reason,value\r
6,6,5,E-mail,error,invalid_email,more than one @,dan@@example.com\r
7,7,3,Phone,warning,invalid_phone,\"too short for +1: 7 digits after the country code, expected at least 10\",555-0100\r
8,9,,,error,no_phone,the row has no phone number,\r
9,10,3,Phone,error,invalid_phone,\"too short for +1: 2 digits after the country code, expected at least 10\",123\r
9,10,4,Mobile,error,invalid_phone,no phone number found in the value,abc\r
9,10,7,Signup Date,error,invalid_date,month 13 is out of range (slash dates are read as MM/DD/YYYY),13/45/2024\r
9,10,8,Tier,error,unknown_choice,\"`Platinum` is not one of: Gold, Silver, Bronze\",Platinum\r
9,10,9,VIP,error,invalid_boolean,\"expected true/false, yes/no, y/n or 1/0\",maybe\r
9,10,,,error,no_phone,the row has no valid phone number,\r
12,13,4,Mobile,warning,duplicate_phone,the number +14155550105 already appears in this row,1 (415) 555-0105\r
13,14,4,Mobile,warning,invalid_phone,too short to be a phone number,ext. 12\r
13,14,10,column 10,warning,extra_columns,1 cells past the last header column were not imported,extra\r
14,15,7,Signup Date,error,invalid_date,day 30 does not exist in 2024-02,2024-02-30\r
";
    assert_eq!(r.report, expected_report);

    let contacts = r.contacts();
    let phones: Vec<(String, Option<String>, PhoneType)> = contacts
        .iter()
        .flat_map(|c| {
            c.phones
                .iter()
                .map(|p| (p.e164.clone(), p.extension.clone(), p.phone_type))
        })
        .collect();
    let ph = |e: &str, x: Option<&str>, t| (e.to_string(), x.map(str::to_string), t);
    assert_eq!(
        phones,
        [
            ph("+14155550100", None, PhoneType::Other),
            ph("+14155550101", Some("123"), PhoneType::Other),
            ph("+442079460958", None, PhoneType::Other),
            ph("+14155550103", None, PhoneType::Mobile),
            ph("+14155550104", Some("55"), PhoneType::Other),
            ph("+14155550105", None, PhoneType::Other),
            ph("+14155550106", None, PhoneType::Other),
        ]
    );
    let bob = &contacts[1];
    assert_eq!(bob.last_name.as_deref(), Some("Smith, Jr."));
    assert_eq!(bob.email.as_deref(), Some("Bob@example.org"));
    assert_eq!(
        bob.custom.get("tier"),
        Some(&CustomValue::Text("Silver".into()))
    );
    assert_eq!(
        bob.custom.get("signup_date"),
        Some(&CustomValue::Date(
            chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()
        ))
    );
    assert_eq!(bob.custom.get("vip"), Some(&CustomValue::Boolean(false)));
    let carla = &contacts[2];
    assert_eq!(carla.last_name.as_deref(), Some("Gómez"));
    assert_eq!(
        carla.custom.get("signup_date"),
        Some(&CustomValue::Date(
            chrono::NaiveDate::from_ymd_opt(2024, 2, 15).unwrap()
        ))
    );
    assert_eq!(
        contacts[0].custom.get("tier"),
        Some(&CustomValue::Text("Gold".into())),
        "canonical choice"
    );
    assert_eq!(
        contacts[3].last_name.as_deref(),
        Some("Multi Line"),
        "embedded newline cleaned"
    );
    assert_eq!(contacts[6].first_name.as_deref(), Some("Jack"), "trimmed");
}

#[test]
fn windows_1252_file() {
    let bytes = fixture("latin1_windows1252.csv");
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture must not be UTF-8"
    );
    let r = import(&bytes, &Schema::standard(), "DE");
    assert_eq!(r.encoding, Encoding::Windows1252);
    assert_eq!(
        r.dialect,
        Dialect {
            delimiter: b';',
            has_header: true
        }
    );
    assert_eq!(
        names(&r.mapping),
        ["first_name", "last_name", "phone:other", "city"]
    );
    assert_eq!(
        r.stats,
        ImportStats {
            records: 4,
            accepted: 3,
            rejected: 1,
            blank: 0,
            warnings: 0
        }
    );
    let people: Vec<(String, String, String, String)> = r
        .contacts()
        .iter()
        .map(|c| {
            (
                c.first_name.clone().unwrap_or_default(),
                c.last_name.clone().unwrap_or_default(),
                c.city.clone().unwrap_or_default(),
                c.phones[0].e164.clone(),
            )
        })
        .collect();
    let t = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        people,
        [
            t("José", "Müller", "Köln", "+493012345678"),
            t("Zoë", "Brontë", "Zürich", "+493012345679"),
            t("François", "Œuvre", "Paris", "+491711234567"),
        ]
    );
    assert_eq!(
        r.summary()[3],
        (
            5,
            "rejected",
            vec![
                p("invalid_phone", "error", Some(3)),
                p("no_phone", "error", None)
            ]
        )
    );
    assert_eq!(
        r.report,
        "row,line,column,column_name,severity,code,reason,value\r
5,5,3,Telefon,error,invalid_phone,\"too short for +49: 2 digits after the country code, expected at least 4\",12\r
5,5,,,error,no_phone,the row has no valid phone number,\r
"
    );
}

#[test]
fn semicolon_file() {
    let r = import(&fixture("semicolon_fr.csv"), &Schema::standard(), "FR");
    assert_eq!(
        r.dialect,
        Dialect {
            delimiter: b';',
            has_header: true
        }
    );
    assert_eq!(
        names(&r.mapping),
        [
            "last_name",
            "first_name",
            "phone:other",
            "postal_code",
            "city"
        ]
    );
    assert_eq!(
        r.stats,
        ImportStats {
            records: 5,
            accepted: 4,
            rejected: 1,
            blank: 0,
            warnings: 0
        }
    );
    let c = r.contacts();
    let e164: Vec<&str> = c.iter().map(|c| c.phones[0].e164.as_str()).collect();
    assert_eq!(
        e164,
        [
            "+33142685300",
            "+33612345678",
            "+33142685301",
            "+33612345679"
        ]
    );
    assert_eq!(
        c[1].first_name.as_deref(),
        Some("Anne; Marie"),
        "quoted delimiter"
    );
    assert_eq!(c[3].first_name.as_deref(), Some("Zoé"));
    assert!(
        r.report
            .contains("6,6,3,Téléphone,error,invalid_phone,\"too short for +33: 3 digits"),
        "{}",
        r.report
    );
}

#[test]
fn tab_separated_file() {
    let r = import(&fixture("contacts.tsv"), &Schema::standard(), "US");
    assert_eq!(
        r.dialect,
        Dialect {
            delimiter: b'\t',
            has_header: true
        }
    );
    assert_eq!(
        names(&r.mapping),
        ["ignore", "phone:other", "city", "email"]
    );
    assert_eq!(
        r.stats,
        ImportStats {
            records: 3,
            accepted: 2,
            rejected: 1,
            blank: 0,
            warnings: 0
        }
    );
    assert_eq!(
        r.summary()[2],
        (
            4,
            "rejected",
            vec![
                p("invalid_phone", "error", Some(2)),
                p("invalid_email", "error", Some(4)),
                p("no_phone", "error", None)
            ]
        )
    );
    assert_eq!(r.contacts()[1].phones[0].e164, "+12125550111");
}

#[test]
fn headerless_file() {
    let r = import(&fixture("headerless.csv"), &Schema::standard(), "US");
    assert_eq!(
        r.dialect,
        Dialect {
            delimiter: b',',
            has_header: false
        }
    );
    assert_eq!(r.headers, None);
    assert_eq!(
        names(&r.mapping),
        ["ignore", "ignore", "phone:other", "email"]
    );
    assert_eq!(
        r.stats,
        ImportStats {
            records: 3,
            accepted: 2,
            rejected: 1,
            blank: 0,
            warnings: 0
        }
    );
    let rows: Vec<u64> = r.rows.iter().map(|r| r.row).collect();
    assert_eq!(
        rows,
        [1, 2, 3],
        "without a header the first record is row 1"
    );
    assert!(
        r.report.contains("3,3,3,column 3,error,invalid_phone,"),
        "{}",
        r.report
    );
}

#[test]
fn utf16_file_with_bom() {
    let text = "Name\tMobile\r\nZoë\t(415) 555-0130\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let r = import(&bytes, &Schema::standard(), "US");
    assert_eq!(r.encoding, Encoding::Utf16Le);
    assert_eq!(r.dialect.delimiter, b'\t');
    assert_eq!(r.contacts()[0].phones[0].e164, "+14155550130");
}

#[test]
fn country_column_sets_the_row_region() {
    let csv = "first_name,phone,country\nAnn,020 7946 0958,GB\nBob,(415) 555-0100,US\nCy,020 7946 0958,United Kingdom\n";
    let r = import(csv.as_bytes(), &Schema::standard(), "US");
    let e164: Vec<Option<String>> = r
        .rows
        .iter()
        .map(|row| match &row.outcome {
            RowOutcome::Accepted { contact, .. } => Some(contact.phones[0].e164.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        e164,
        [
            Some("+442079460958".to_string()),
            Some("+14155550100".to_string()),
            None
        ]
    );
}

#[test]
fn dedup_within_a_file() {
    let csv = "name,phone,external_id\nA,(415) 555-0100,\nB,+1 415 555 0100,\nC,415-555-0100 x7,\nD,4155550101,CRM-1\nE,4155550102,CRM-1\n";
    let r = import(csv.as_bytes(), &Schema::standard(), "US");
    let mut deduper = Deduper::new();
    let mut verdicts = Vec::new();
    for row in &r.rows {
        if let RowOutcome::Accepted { contact, .. } = &row.outcome {
            let key = dedup_key(contact).unwrap();
            verdicts.push((key.to_string(), deduper.check(&key, row.row)));
        }
    }
    let v = |k: &str, d: Option<u64>| (k.to_string(), d);
    assert_eq!(
        verdicts,
        [
            v("tel:+14155550100", None),
            v("tel:+14155550100", Some(2)),
            v("tel:+14155550100;ext=7", None),
            v("ext:CRM-1", None),
            v("ext:CRM-1", Some(5)),
        ]
    );
}

#[test]
fn overrides_and_record_access() {
    let opts = ImportOptions {
        delimiter: Some(b';'),
        has_header: Some(false),
        ..ImportOptions::default()
    };
    let mut reader = ImportReader::open("a,b;4155550100\n".as_bytes(), opts).unwrap();
    assert_eq!(
        reader.dialect(),
        Dialect {
            delimiter: b';',
            has_header: false
        }
    );
    assert_eq!(reader.next_record().unwrap(), Some((1, 1)));
    assert_eq!(
        reader.record().iter().collect::<Vec<_>>(),
        ["a,b", "4155550100"]
    );
    assert_eq!(reader.next_record().unwrap(), None);
}
