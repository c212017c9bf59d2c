//! Location data: the libphonenumber fixture, area codes, states and ZIP codes.

use chrono_tz::Tz;
use omnivox_compliance::*;

fn names(zones: &[Tz]) -> String {
    if zones.is_empty() {
        return "Etc/Unknown".into();
    }
    zones.iter().map(|z| z.name()).collect::<Vec<_>>().join(",")
}

/// Every row of `data/tz_expected.tsv` (phonenumbers' `time_zones_for_number`) must
/// match: `geo` rows by longest prefix, `country` rows by the country code's zones.
#[test]
fn matches_python_phonenumbers_fixture() {
    let geo = Geo::embedded().unwrap();
    let fixture = include_str!("../data/tz_expected.tsv");
    let (mut rows, mut geo_rows, mut country_rows) = (0, 0, 0);
    let mut failures = Vec::new();
    for line in fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{line}");
        let number = format!("+{}", cols[0]);
        let got = match cols[1] {
            "geo" => {
                geo_rows += 1;
                names(geo.tz().zones_for(&number))
            }
            "country" => {
                country_rows += 1;
                names(geo.country_zones(&number))
            }
            other => panic!("bad scope {other}"),
        };
        if got != cols[2] {
            failures.push(format!(
                "{number} ({}, {}): want {} got {got}",
                cols[3], cols[4], cols[2]
            ));
        }
        rows += 1;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        rows > 2000 && geo_rows > 1000 && country_rows > 500,
        "{rows} {geo_rows} {country_rows}"
    );
}

#[test]
fn table_zones_all_known_to_chrono_tz() {
    let geo = Geo::embedded().unwrap();
    assert!(geo.tz().len() > 3000);
    assert!(geo.tz().distinct_zones().len() > 250);
}

#[test]
fn us_state_zones_use_the_table_names() {
    let geo = Geo::embedded().unwrap();
    let nanp = geo.tz().zones_for("+1");
    for st in ["FL", "TX", "ID", "ND", "NY", "AK", "HI"] {
        let z = geo.state_zones(st);
        assert!(!z.is_empty(), "{st}");
        assert!(z.iter().all(|tz| nanp.contains(tz)), "{st}: {}", names(z));
    }
    assert_eq!(
        names(geo.state_zones("fl")),
        "America/Chicago,America/New_York"
    );
    assert!(geo.state_zones("ZZ").is_empty());
}

#[test]
fn zip_codes_to_states() {
    let geo = Geo::embedded().unwrap();
    let st = |zip: &str| {
        geo.zip_states(zip)
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(st("33101"), ["FL"]);
    assert_eq!(st("10001-1234"), ["NY"]);
    assert_eq!(st("99501"), ["AK"]);
    assert_eq!(st("00601"), ["PR"]);
    assert_eq!(st("73301"), ["TX"]);
    assert!(st("1234").is_empty());
    assert!(st("abcde").is_empty());
    assert!(st("123456").is_empty());
}

#[test]
fn area_codes_give_region_and_state() {
    let geo = Geo::embedded().unwrap();
    let loc = geo.locate("+13055550100", NumberKind::Unknown, &Place::default());
    assert_eq!(loc.region, Some(Region::US));
    assert_eq!(format!("{:?}", loc.subdivisions), "[US-FL]");
    assert_eq!(names(&loc.zones), "America/New_York");
    let loc = geo.locate("+14165550100", NumberKind::Unknown, &Place::default());
    assert_eq!(loc.region, Some(Region::CA));
    assert_eq!(format!("{:?}", loc.subdivisions), "[CA-ON]");
    let loc = geo.locate("+17875550100", NumberKind::Unknown, &Place::default());
    assert_eq!(loc.region.map(|r| r.to_string()), Some("PR".into()));
    let loc = geo.locate("+442079460018", NumberKind::Unknown, &Place::default());
    assert_eq!(loc.region.map(|r| r.to_string()), Some("GB".into()));
    let loc = geo.locate("+80012345678", NumberKind::Unknown, &Place::default());
    assert_eq!(loc.country_code, Some(800));
    assert!(loc.zones.is_empty());
    assert_eq!(loc.basis, ZoneBasis::Unknown);
}

#[test]
fn state_narrows_or_widens_zones() {
    let geo = Geo::embedded().unwrap();
    // SD area code: Mountain and Central. A Colorado ZIP narrows to Mountain.
    let plain = geo.locate("+16055550100", NumberKind::Unknown, &Place::default());
    assert_eq!(
        names(&plain.zones),
        "America/Denver,America/North_Dakota/Center"
    );
    let co = Place {
        postal_code: Some("80202"),
        ..Place::default()
    };
    let narrowed = geo.locate("+16055550100", NumberKind::Unknown, &co);
    assert_eq!(names(&narrowed.zones), "America/Denver");
    assert_eq!(narrowed.basis, ZoneBasis::StateIntersection);
    assert_eq!(format!("{:?}", narrowed.subdivisions), "[US-SD, US-CO]");
    // A New York number of a Californian: both zones.
    let ca = Place {
        state: Some("California"),
        ..Place::default()
    };
    let both = geo.locate("+12125550100", NumberKind::Unknown, &ca);
    assert_eq!(names(&both.zones), "America/New_York,America/Los_Angeles");
    assert_eq!(both.basis, ZoneBasis::StateUnion);
    // A state of another country is ignored for narrowing.
    let gb = Place {
        country: Some("GB"),
        state: Some("CA"),
        ..Place::default()
    };
    let loc = geo.locate("+12125550100", NumberKind::Unknown, &gb);
    assert_eq!(names(&loc.zones), "America/New_York");
    assert_eq!(loc.contact_region.map(|r| r.to_string()), Some("GB".into()));
}

#[test]
fn non_geographic_numbers_use_country_zones() {
    let geo = Geo::embedded().unwrap();
    let loc = geo.locate("+61412345678", NumberKind::NonGeographic, &Place::default());
    assert_eq!(loc.zones.len(), 8);
    assert_eq!(loc.basis, ZoneBasis::CountryCode);
    let loc = geo.locate("+61412345678", NumberKind::Unknown, &Place::default());
    assert_eq!(names(&loc.zones), "Australia/Sydney");
}
