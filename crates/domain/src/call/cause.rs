//! Canonical hangup causes and their mapping from and to SIP status codes.
//!
//! The mapping follows RFC 3398 section 8.2.6.1 (SIP status -> ISUP/Q.850
//! cause) folded onto our smaller set of causes, with the usual B2BUA
//! practice (FreeSWITCH, Asterisk) where RFC 3398 is silent:
//!
//! | SIP code(s)                         | Q.850 (RFC 3398)            | cause            |
//! |-------------------------------------|-----------------------------|------------------|
//! | 2xx                                 | 16 normal clearing          | `normal`         |
//! | 486, 600                            | 17 user busy                | `busy`           |
//! | 408                                 | 102 recovery on timer       | `no_answer`      |
//! | 401, 402, 403, 407, 603, 607, 608   | 21 call rejected            | `rejected`       |
//! | 404, 485, 604                       | 1 unallocated number        | `invalid_number` |
//! | 410                                 | 22 number changed           | `invalid_number` |
//! | 414, 416, 484                       | 28 invalid number format    | `invalid_number` |
//! | 400, 481, 500, 503                  | 41 temporary failure        | `congestion`     |
//! | 429                                 | (RFC 6585 too many requests)| `congestion`     |
//! | 482, 483                            | 25 exchange routing error   | `congestion`     |
//! | 502                                 | 38 network out of order     | `congestion`     |
//! | 504                                 | 102 recovery on timer       | `congestion`     |
//! | 480                                 | 18 no user responding       | `unavailable`    |
//! | 405                                 | 63 service unavailable      | `unavailable`    |
//! | 406, 415, 501                       | 79 service not implemented  | `unavailable`    |
//! | 420, 421                            | 127 interworking            | `unavailable`    |
//! | 488, 606                            | 65/58 bearer not available  | `unavailable`    |
//! | 487                                 | (request terminated)        | `cancelled`      |
//! | other 3xx (redirect not followed)   |                             | `unavailable`    |
//! | other 4xx                           |                             | `rejected`       |
//! | other 5xx                           |                             | `congestion`     |
//! | other 6xx                           |                             | `rejected`       |
//! | anything else (1xx, < 100, > 699)   |                             | `congestion`     |
//!
//! 408 is `no_answer` (not `congestion` like 504) because carriers answer an
//! INVITE that rang out with 408; 480 is `unavailable` because it is what a
//! switched-off or unregistered phone produces, which a dialer must tell apart
//! from "rang and nobody picked up".

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a call or a leg ended. The snake_case names are stable: they are
/// stored in CDRs and sent in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HangupCause {
    /// An answered call was hung up by one of the parties.
    Normal,
    /// The callee was busy (486, 600).
    Busy,
    /// It rang and nobody answered in time (ring timeout, 408).
    NoAnswer,
    /// The callee or the network refused the call (403, 603, ...).
    Rejected,
    /// The number does not exist or is malformed (404, 484, 604, ...).
    InvalidNumber,
    /// The network or a server failed or is overloaded (5xx).
    Congestion,
    /// The callee could not be reached (480, switched off, unregistered) or
    /// the service is not available for this call.
    Unavailable,
    /// The caller gave up before the answer (CANCEL, 487).
    Cancelled,
    /// No media arrived on an answered call for too long.
    MediaTimeout,
    /// Omnivox stopped (or crashed) while the call was live.
    SystemShutdown,
    /// This leg left the call because the call was transferred elsewhere.
    Transferred,
}

impl HangupCause {
    pub const ALL: [HangupCause; 11] = [
        HangupCause::Normal,
        HangupCause::Busy,
        HangupCause::NoAnswer,
        HangupCause::Rejected,
        HangupCause::InvalidNumber,
        HangupCause::Congestion,
        HangupCause::Unavailable,
        HangupCause::Cancelled,
        HangupCause::MediaTimeout,
        HangupCause::SystemShutdown,
        HangupCause::Transferred,
    ];

    /// The stable snake_case name (the same as the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::Normal => "normal",
            HangupCause::Busy => "busy",
            HangupCause::NoAnswer => "no_answer",
            HangupCause::Rejected => "rejected",
            HangupCause::InvalidNumber => "invalid_number",
            HangupCause::Congestion => "congestion",
            HangupCause::Unavailable => "unavailable",
            HangupCause::Cancelled => "cancelled",
            HangupCause::MediaTimeout => "media_timeout",
            HangupCause::SystemShutdown => "system_shutdown",
            HangupCause::Transferred => "transferred",
        }
    }

    /// The cause for a SIP final response (see the module table). Total: every
    /// `u16` maps to something.
    pub fn from_sip(code: u16) -> HangupCause {
        match code {
            200..=299 => HangupCause::Normal,
            486 | 600 => HangupCause::Busy,
            408 => HangupCause::NoAnswer,
            401 | 402 | 403 | 407 | 603 | 607 | 608 => HangupCause::Rejected,
            404 | 410 | 414 | 416 | 484 | 485 | 604 => HangupCause::InvalidNumber,
            400 | 429 | 481 | 482 | 483 | 500 | 502 | 503 | 504 => HangupCause::Congestion,
            405 | 406 | 415 | 420 | 421 | 480 | 488 | 501 | 606 => HangupCause::Unavailable,
            487 => HangupCause::Cancelled,
            300..=399 => HangupCause::Unavailable,
            400..=499 | 600..=699 => HangupCause::Rejected,
            _ => HangupCause::Congestion,
        }
    }

    /// The SIP final response to send on an unanswered inbound leg that ends
    /// for this cause when there is no SIP code to relay (FreeSWITCH-like).
    pub fn to_sip(self) -> u16 {
        match self {
            HangupCause::Busy => 486,
            HangupCause::Rejected => 603,
            HangupCause::InvalidNumber => 404,
            HangupCause::Cancelled => 487,
            HangupCause::Congestion | HangupCause::SystemShutdown => 503,
            HangupCause::Normal
            | HangupCause::NoAnswer
            | HangupCause::Unavailable
            | HangupCause::MediaTimeout
            | HangupCause::Transferred => 480,
        }
    }
}

impl fmt::Display for HangupCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown hangup cause name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown hangup cause `{0}`")]
pub struct UnknownHangupCause(pub String);

impl FromStr for HangupCause {
    type Err = UnknownHangupCause;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HangupCause::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownHangupCause(s.to_owned()))
    }
}

/// How a leg or a call ended: the canonical cause and, when a SIP final
/// response caused it (or was sent for it), that response's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hangup {
    pub cause: HangupCause,
    pub sip_code: Option<u16>,
}

impl Hangup {
    /// A hangup without a SIP code (BYE, timer, API, shutdown).
    pub fn new(cause: HangupCause) -> Self {
        Hangup {
            cause,
            sip_code: None,
        }
    }

    /// A hangup caused by a SIP final response.
    pub fn from_sip(code: u16) -> Self {
        Hangup {
            cause: HangupCause::from_sip(code),
            sip_code: Some(code),
        }
    }

    /// The code to answer an unanswered inbound leg with when this hangup is
    /// relayed to it: our own SIP code when it is a relayable failure, else
    /// [`HangupCause::to_sip`]. Auth challenges (401, 407) belong to the hop
    /// that sent them and 487 answers our own CANCEL, so neither is relayed.
    pub fn relay_code(&self) -> u16 {
        match self.sip_code {
            Some(code @ 400..=699) if !matches!(code, 401 | 407 | 487) => code,
            _ => self.cause.to_sip(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the table names explicitly, plus class defaults.
    const TABLE: &[(u16, HangupCause)] = &[
        (200, HangupCause::Normal),
        (202, HangupCause::Normal),
        (300, HangupCause::Unavailable),
        (302, HangupCause::Unavailable),
        (400, HangupCause::Congestion),
        (401, HangupCause::Rejected),
        (402, HangupCause::Rejected),
        (403, HangupCause::Rejected),
        (404, HangupCause::InvalidNumber),
        (405, HangupCause::Unavailable),
        (406, HangupCause::Unavailable),
        (407, HangupCause::Rejected),
        (408, HangupCause::NoAnswer),
        (410, HangupCause::InvalidNumber),
        (413, HangupCause::Rejected),
        (414, HangupCause::InvalidNumber),
        (415, HangupCause::Unavailable),
        (416, HangupCause::InvalidNumber),
        (420, HangupCause::Unavailable),
        (421, HangupCause::Unavailable),
        (429, HangupCause::Congestion),
        (480, HangupCause::Unavailable),
        (481, HangupCause::Congestion),
        (482, HangupCause::Congestion),
        (483, HangupCause::Congestion),
        (484, HangupCause::InvalidNumber),
        (485, HangupCause::InvalidNumber),
        (486, HangupCause::Busy),
        (487, HangupCause::Cancelled),
        (488, HangupCause::Unavailable),
        (491, HangupCause::Rejected),
        (500, HangupCause::Congestion),
        (501, HangupCause::Unavailable),
        (502, HangupCause::Congestion),
        (503, HangupCause::Congestion),
        (504, HangupCause::Congestion),
        (505, HangupCause::Congestion),
        (580, HangupCause::Congestion),
        (600, HangupCause::Busy),
        (603, HangupCause::Rejected),
        (604, HangupCause::InvalidNumber),
        (606, HangupCause::Unavailable),
        (607, HangupCause::Rejected),
        (608, HangupCause::Rejected),
        (699, HangupCause::Rejected),
        (0, HangupCause::Congestion),
        (100, HangupCause::Congestion),
        (180, HangupCause::Congestion),
        (700, HangupCause::Congestion),
        (u16::MAX, HangupCause::Congestion),
    ];

    #[test]
    fn sip_mapping_table() {
        for &(code, cause) in TABLE {
            assert_eq!(HangupCause::from_sip(code), cause, "SIP {code}");
            assert_eq!(
                Hangup::from_sip(code),
                Hangup {
                    cause,
                    sip_code: Some(code)
                }
            );
        }
    }

    #[test]
    fn every_code_maps_without_panicking() {
        for code in 0..=u16::MAX {
            let _ = HangupCause::from_sip(code);
        }
    }

    #[test]
    fn to_sip_round_trips_for_the_causes_a_response_can_carry() {
        for cause in HangupCause::ALL {
            let code = cause.to_sip();
            assert!((400..=699).contains(&code), "{cause}: {code}");
        }
        for cause in [
            HangupCause::Busy,
            HangupCause::Rejected,
            HangupCause::InvalidNumber,
            HangupCause::Cancelled,
            HangupCause::Congestion,
            HangupCause::Unavailable,
        ] {
            assert_eq!(HangupCause::from_sip(cause.to_sip()), cause);
        }
    }

    #[test]
    fn relay_code_keeps_relayable_failures_only() {
        assert_eq!(Hangup::from_sip(486).relay_code(), 486);
        assert_eq!(Hangup::from_sip(603).relay_code(), 603);
        assert_eq!(Hangup::from_sip(407).relay_code(), 603);
        assert_eq!(Hangup::from_sip(487).relay_code(), 487);
        assert_eq!(
            Hangup {
                cause: HangupCause::NoAnswer,
                sip_code: Some(487)
            }
            .relay_code(),
            480
        );
        assert_eq!(Hangup::new(HangupCause::Normal).relay_code(), 480);
    }

    #[test]
    fn names_are_stable_and_match_serde() {
        let names: Vec<&str> = HangupCause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "normal",
                "busy",
                "no_answer",
                "rejected",
                "invalid_number",
                "congestion",
                "unavailable",
                "cancelled",
                "media_timeout",
                "system_shutdown",
                "transferred"
            ]
        );
        for cause in HangupCause::ALL {
            assert_eq!(
                serde_json::to_value(cause).unwrap(),
                serde_json::Value::String(cause.as_str().into())
            );
            assert_eq!(cause.as_str().parse::<HangupCause>().unwrap(), cause);
        }
        assert!("hungup".parse::<HangupCause>().is_err());
        assert_eq!(
            serde_json::to_value(Hangup::from_sip(486)).unwrap(),
            serde_json::json!({"cause": "busy", "sip_code": 486})
        );
    }
}
