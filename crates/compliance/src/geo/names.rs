//! US state and Canadian province names and codes (USPS / Canada Post abbreviations).

use super::Region;

const US: [(&str, &str); 56] = [
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("PR", "Puerto Rico"),
    ("VI", "U.S. Virgin Islands"),
    ("GU", "Guam"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands"),
];

const CA: [(&str, &str); 13] = [
    ("AB", "Alberta"),
    ("BC", "British Columbia"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick"),
    ("NL", "Newfoundland and Labrador"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island"),
    ("QC", "Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon"),
];

fn lookup(table: &[(&str, &str)], text: &str) -> Option<[u8; 2]> {
    let t = text.trim();
    let found = if t.len() == 2 {
        let b = t.as_bytes();
        let key = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
        table.iter().find(|(code, _)| code.as_bytes() == key)
    } else {
        table.iter().find(|(_, name)| name.eq_ignore_ascii_case(t))
    };
    found.map(|(code, _)| {
        let b = code.as_bytes();
        [b[0], b[1]]
    })
}

/// USPS code of a US state, DC or inhabited territory, from its code or English name.
pub fn us_state_code(text: &str) -> Option<[u8; 2]> {
    lookup(&US, text)
}

/// Canada Post code of a province or territory, from its code or English name.
pub fn ca_province_code(text: &str) -> Option<[u8; 2]> {
    lookup(&CA, text)
}

/// US territories with their own ISO region code (TCPA applies there too).
pub(super) fn is_us_territory(r: Region) -> bool {
    matches!(r.as_str(), "PR" | "VI" | "GU" | "AS" | "MP")
}
