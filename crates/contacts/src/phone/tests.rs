use super::*;
use phonenumber::Mode;

fn us() -> Region {
    Region::parse("US").unwrap()
}

fn ok(raw: &str, region: Region) -> (String, Option<String>) {
    let p = parse_phone(raw, region).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
    (p.e164, p.extension)
}

fn err(raw: &str, region: Region) -> PhoneError {
    parse_phone(raw, region).expect_err(raw)
}

#[test]
fn regions() {
    assert_eq!(Region::parse("us").unwrap().as_str(), "US");
    assert_eq!(Region::parse("GB").unwrap().calling_code(), 44);
    assert!(Region::parse("XX").is_err());
    assert!(Region::parse("USA").is_err());
    assert!(us().nanp_fast);
    assert!(Region::parse("CA").unwrap().nanp_fast);
    assert!(!Region::parse("AG").unwrap().nanp_fast);
}

#[test]
fn accepts_common_shapes() {
    let gb = Region::parse("GB").unwrap();
    let cases = [
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("415-555-0100", "+14155550100"),
        ("1 (415) 555-0100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("14155550100", "+14155550100"),
        ("'+14155550100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("1-800-FLOWERS", "+18003569377"),
        ("+1 (416) 555-0123", "+14165550123"),
    ];
    for (raw, e164) in cases {
        assert_eq!(ok(raw, us()).0, e164, "{raw}");
    }
    assert_eq!(ok("020 7946 0958", gb).0, "+442079460958");
    assert_eq!(ok("0044 20 7946 0958", gb).0, "+442079460958");
    assert_eq!(
        ok("(415) 555-0100", Region::parse("CA").unwrap()).0,
        "+14155550100"
    );
}

#[test]
fn extensions_are_kept_apart() {
    for raw in [
        "415-555-0100 x123",
        "415.555.0100x123",
        "(415) 555-0100 ext. 123",
        "(415) 555-0100 ext 123",
        "+1 415 555 0100 extension 123",
        "+1 415 555 0100;ext=123",
        "415 555 0100 #123",
    ] {
        assert_eq!(
            ok(raw, us()),
            ("+14155550100".into(), Some("123".into())),
            "{raw}"
        );
    }
    assert_eq!(
        ok("+44 20 7946 0958 x7", us()),
        ("+442079460958".into(), Some("7".into()))
    );
}

#[test]
fn rejects_with_reasons() {
    let e = err("555-0100", us());
    assert_eq!(e.kind, PhoneErrorKind::TooShort);
    assert!(
        e.reason.contains("too short") && e.reason.contains("7 digits"),
        "{}",
        e.reason
    );
    let e = err("(099) 555-0100", us());
    assert_eq!(e.kind, PhoneErrorKind::InvalidNumber, "{e:?}");
    // Leading 1 is read as the country code, the rest is too short.
    let e = err("(111) 555-0100", us());
    assert!(
        matches!(
            e.kind,
            PhoneErrorKind::TooShort | PhoneErrorKind::InvalidNumber
        ),
        "{e:?}"
    );
    assert_eq!(err("12", us()).kind, PhoneErrorKind::TooShort);
    assert_eq!(err("n/a", us()).kind, PhoneErrorKind::NoNumber);
    assert_eq!(err("", us()).kind, PhoneErrorKind::NoNumber);
    let e = err("+999 1234 5678", us());
    assert_eq!(e.kind, PhoneErrorKind::InvalidCountryCode, "{e:?}");
    let e = err("+44 20 7946 095", us());
    assert_eq!(e.kind, PhoneErrorKind::InvalidNumber, "{e:?}");
    let e = err("+1 415 555 0100 5555 5555 5555", us());
    assert!(
        matches!(
            e.kind,
            PhoneErrorKind::TooLong | PhoneErrorKind::InvalidNumber
        ),
        "{e:?}"
    );
}

/// What the crate alone says: E.164 when parsed and valid.
fn reference(raw: &str, region: Region) -> Option<String> {
    let p = phonenumber::parse(Some(region.id), raw).ok()?;
    p.is_valid()
        .then(|| p.format().mode(Mode::E164).to_string())
}

/// Small deterministic PRNG (xorshift) so tests need no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn nanp_fast_path_equals_the_crate() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let shapes: [fn(&str) -> String; 7] = [
        |d| d.to_string(),
        |d| format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        |d| format!("{}.{}.{}", &d[..3], &d[3..6], &d[6..]),
        |d| format!("1 {}-{}-{}", &d[..3], &d[3..6], &d[6..]),
        |d| format!("+1 ({}) {} {}", &d[..3], &d[3..6], &d[6..]),
        |d| format!("1{d}"),
        |d| format!("{}/{}-{}", &d[..3], &d[3..6], &d[6..]),
    ];
    for region in ["US", "CA", "PR", "DO", "JM"] {
        let region = Region::parse(region).unwrap();
        let mut valid = 0;
        for i in 0..1200 {
            // Mostly plausible NANP numbers, some arbitrary digit strings.
            let digits = if i % 5 == 0 {
                format!("{:010}", rng.below(10_000_000_000))
            } else {
                format!(
                    "{}{:02}{}{:06}",
                    2 + rng.below(8),
                    rng.below(100),
                    2 + rng.below(8),
                    rng.below(1_000_000)
                )
            };
            let raw = shapes[i % shapes.len()](&digits);
            let mine = parse_phone(&raw, region).ok().map(|p| p.e164);
            assert_eq!(mine, reference(&raw, region), "{raw} in {region}");
            valid += usize::from(mine.is_some());
        }
        assert!(valid > 400, "too few valid samples: {valid}");
    }
}

#[test]
fn own_validator_equals_the_crate_for_every_region() {
    let mut checked = 0;
    for meta in DATABASE.iter() {
        let d = meta.descriptors();
        let examples = [d.fixed_line(), d.mobile(), d.toll_free(), d.voip()];
        for example in examples.into_iter().flatten().filter_map(|x| x.example()) {
            let code = meta.country_code();
            for raw in [
                format!("+{code} {example}"),
                format!("+{code} {example}9"),
                format!("+{code} {}", &example[1..]),
            ] {
                let Ok(p) = phonenumber::parse(None, &raw) else {
                    continue;
                };
                let national = p.national().to_string();
                let mine = VALIDATOR.is_valid(p.code().value(), &national);
                assert_eq!(mine, Some(p.is_valid()), "{raw} ({})", meta.id());
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn garbage_never_panics() {
    let alphabet: Vec<char> = "0123456789+-() .x#;=ext/'*,abc\u{FF10}\u{0660}"
        .chars()
        .collect();
    let mut rng = Rng(42);
    let gb = Region::parse("GB").unwrap();
    for _ in 0..3000 {
        let len = 1 + rng.below(24) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        let _ = parse_phone(&s, us());
        let _ = parse_phone(&s, gb);
    }
}

#[test]
fn country_of_an_e164_number() {
    assert_eq!(country_of("+14153401234"), Some("US"));
    assert_eq!(country_of("+442079460000"), Some("GB"));
    assert_eq!(country_of("+33142685300"), Some("FR"));
    assert_eq!(country_of("not a number"), None);
    assert_eq!(country_of(""), None);
}
