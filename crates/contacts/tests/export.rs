//! Export: formula escaping and export -> import round trips.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use omnivox_contacts::*;

fn export(contacts: &[NormalizedContact], mapping: &Mapping, schema: &Schema) -> (String, u64) {
    let mut w = ContactCsvWriter::new(Vec::new(), mapping, schema).unwrap();
    for c in contacts {
        w.write_contact(c).unwrap();
    }
    let dropped = w.dropped_phones();
    (String::from_utf8(w.finish().unwrap()).unwrap(), dropped)
}

#[test]
fn round_trip_of_the_mixed_fixture() {
    let schema = us_schema();
    let first = import(&fixture("mixed_us.csv"), &schema, "US");
    let contacts = first.contacts();
    let (csv, dropped) = export(&contacts, &first.mapping, &schema);
    assert_eq!(dropped, 0);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "first_name,last_name,other_phone,mobile_phone,email,postal_code,signup_date,tier,vip"
        )
    );
    assert_eq!(
        lines.next(),
        Some("Ann,Lee,'+14155550100,,ann@example.com,94105,2024-01-15,Gold,true")
    );
    assert_eq!(
        lines.next(),
        Some(
            "Bob,\"Smith, Jr.\",'+14155550101;ext=123,,Bob@example.org,94107,2024-01-31,Silver,false"
        )
    );
    // Re-import with the mapping suggested from our own headers, in another
    // default region: E.164 needs none.
    let second = import(csv.as_bytes(), &schema, "GB");
    assert_eq!(second.mapping, first.mapping);
    assert_eq!(second.stats.rejected, 0);
    assert_eq!(second.stats.warnings, 0);
    assert_eq!(second.contacts(), contacts);
}

#[test]
fn formula_cells_are_escaped_and_round_trip() {
    let schema = Schema::new(vec![
        CustomField::new("note", "Note", FieldType::Text),
        CustomField::new("balance", "Balance", FieldType::Number),
    ])
    .unwrap();
    let mut nasty = NormalizedContact {
        first_name: Some("=HYPERLINK(\"http://evil.example\",\"click\")".into()),
        last_name: Some("-Smith".into()),
        city: Some("@SUM(A1:A9)".into()),
        state: Some("'quoted".into()),
        external_id: Some("+cmd|' /C calc'!A0".into()),
        phones: vec![
            ContactPhone {
                e164: "+14155550100".into(),
                extension: None,
                phone_type: PhoneType::Mobile,
            },
            ContactPhone {
                e164: "+442079460958".into(),
                extension: Some("9".into()),
                phone_type: PhoneType::Work,
            },
        ],
        ..Default::default()
    };
    nasty
        .custom
        .insert("note".into(), CustomValue::Text("=1+1".into()));
    nasty
        .custom
        .insert("balance".into(), CustomValue::Number(-12.5));
    let mapping = export_mapping(&schema, &[PhoneType::Mobile, PhoneType::Work]);
    let (csv, _) = export(std::slice::from_ref(&nasty), &mapping, &schema);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "external_id,first_name,last_name,mobile_phone,work_phone,email,address1,address2,city,state,\
             postal_code,country,note,balance"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "'+cmd|' /C calc'!A0,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",'-Smith,'+14155550100,\
             '+442079460958;ext=9,,,,'@SUM(A1:A9),''quoted,,,'=1+1,'-12.5"
        )
    );
    // No cell starts with a formula trigger.
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell}"
            );
        }
    }
    let back = import(csv.as_bytes(), &schema, "US");
    assert_eq!(back.contacts(), vec![nasty]);
}

#[test]
fn bom_for_excel_round_trips() {
    let c = NormalizedContact {
        first_name: Some("Zoë".into()),
        phones: vec![ContactPhone {
            e164: "+14155550100".into(),
            extension: None,
            phone_type: PhoneType::Home,
        }],
        ..Default::default()
    };
    let mapping = Mapping::new(vec![
        Target::Standard(StandardField::FirstName),
        Target::Phone(PhoneType::Home),
    ]);
    let mut w = ContactCsvWriter::new_with_bom(Vec::new(), &mapping, &Schema::standard()).unwrap();
    w.write_contact(&c).unwrap();
    let bytes = w.finish().unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFfirst_name,home_phone\r\n"));
    assert_eq!(
        import(&bytes, &Schema::standard(), "US").contacts(),
        vec![c]
    );
}

#[test]
fn phones_without_a_column_are_counted() {
    let c = NormalizedContact {
        phones: vec![
            ContactPhone {
                e164: "+14155550100".into(),
                extension: None,
                phone_type: PhoneType::Home,
            },
            ContactPhone {
                e164: "+14155550101".into(),
                extension: None,
                phone_type: PhoneType::Home,
            },
            ContactPhone {
                e164: "+14155550102".into(),
                extension: None,
                phone_type: PhoneType::Work,
            },
        ],
        ..Default::default()
    };
    let mapping = Mapping::new(vec![
        Target::Phone(PhoneType::Home),
        Target::Ignore,
        Target::Phone(PhoneType::Mobile),
    ]);
    let (csv, dropped) = export(&[c], &mapping, &Schema::standard());
    assert_eq!(csv, "home_phone,mobile_phone\r\n'+14155550100,\r\n");
    assert_eq!(dropped, 2);
    let bad = Mapping::new(vec![Target::Custom("nope".into())]);
    assert_eq!(
        ContactCsvWriter::new(Vec::new(), &bad, &Schema::standard())
            .unwrap_err()
            .code(),
        "invalid_mapping"
    );
}

#[test]
fn error_report_escapes_values() {
    let csv = "name,phone\nMallory,=cmd|'/C calc'!A0\n";
    let r = import(csv.as_bytes(), &Schema::standard(), "US");
    assert_eq!(r.stats.rejected, 1);
    assert!(r.report.contains(",'=cmd|'/C calc'!A0\r\n"), "{}", r.report);
}
