//! Known SIP scanner user agents.
//!
//! Scanners (SIPVicious and its many forks, sipcli, VaxSIP-based tools, ...)
//! announce themselves more often than not. Their traffic is dropped without a
//! response: an answer only confirms that a SIP server lives here.

/// Lower-case substrings of User-Agent values sent by known scanners and
/// attack tools. Deliberately no legitimate diagnostic tools (sipsak, sipp).
const BUILT_IN: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent",
    "sundayddr",
    "iwar",
    "sivus",
    "siparmyknife",
    "pplsip",
    "sipptk",
    "voiper",
    "smap ",
    "nmap nse",
    "sip-tcp-attack",
];

/// Matches User-Agent values against the built-in list and configured extras.
#[derive(Debug)]
pub(crate) struct ScannerList {
    extra: Vec<String>,
}

impl ScannerList {
    pub(crate) fn new(extra: &[String]) -> Self {
        Self {
            extra: extra
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// True when the raw User-Agent value belongs to a known scanner.
    pub(crate) fn is_scanner(&self, user_agent: &[u8]) -> bool {
        let ua = String::from_utf8_lossy(user_agent).to_ascii_lowercase();
        // "smap" is matched with a trailing space or at the end only, so that
        // e.g. "Smapper-Phone" is not caught.
        BUILT_IN.iter().any(|s| ua.contains(s))
            || ua.trim_end() == "smap"
            || self.extra.iter().any(|s| ua.contains(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scanners_match_case_insensitively() {
        let l = ScannerList::new(&[]);
        for ua in [
            "friendly-scanner",
            "Friendly-Scanner 1.0",
            "sipvicious 0.3.0",
            "SIPVicious",
            "sipcli/v1.8",
            "sip-scan",
            "VaxSIPUserAgent/3.1",
            "smap",
            "smap 0.6.0",
        ] {
            assert!(l.is_scanner(ua.as_bytes()), "{ua}");
        }
    }

    #[test]
    fn phones_do_not_match() {
        let l = ScannerList::new(&[]);
        for ua in [
            "Yealink SIP-T46S 66.86.0.15",
            "PolycomVVX-VVX_411-UA/6.3.1",
            "baresip v1.1.0 (x86_64/linux)",
            "Linphone/5.0",
            "Grandstream GXP2170 1.0.11.3",
            "sipp",
            "Smapper-Phone",
        ] {
            assert!(!l.is_scanner(ua.as_bytes()), "{ua}");
        }
    }

    #[test]
    fn extras_are_honoured() {
        let l = ScannerList::new(&["  EvilTool ".into(), String::new()]);
        assert!(l.is_scanner(b"my eviltool 2"));
        assert!(!l.is_scanner(b"phone"));
    }
}
