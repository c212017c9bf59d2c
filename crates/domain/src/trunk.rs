//! SIP trunk settings shared by the store, the API and the SIP layer: the
//! transport, how the caller id is presented, how the dialled number is
//! written, and the source networks a trunk's inbound calls come from.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A value that is not one of an enum's stable names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a known value")]
pub struct UnknownValue(pub String);

macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name, as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(UnknownValue(other.to_owned())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// The SIP transport to reach a trunk.
    Transport {
        Udp => "udp",
        Tcp => "tcp",
    }
);

str_enum!(
    /// Where an outbound INVITE carries the caller id.
    CallerIdMode {
        /// In the `From` header.
        From => "from",
        /// In `P-Asserted-Identity` (RFC 3325), `From` keeps the trunk user.
        Pai => "pai",
        /// In both.
        Both => "both",
    }
);

str_enum!(
    /// How the dialled number is written in the Request-URI user part.
    NumberFormat {
        /// `+14155550100`.
        E164Plus => "e164_plus",
        /// `14155550100`.
        E164 => "e164",
        /// NANP ten digits, `4155550100` (other numbers as `e164`).
        National => "national",
    }
);

/// An address or network a trunk's inbound calls may come from: an IP
/// address (`203.0.113.5`) or a CIDR block (`203.0.113.0/24`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceNet {
    addr: IpAddr,
    prefix_len: u8,
}

/// Not an IP address or CIDR block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR block (203.0.113.0/24)")]
pub struct InvalidSourceNet(pub String);

impl SourceNet {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is inside this network. An IPv4 address written as
    /// IPv4-mapped IPv6 (`::ffff:203.0.113.5`) matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for SourceNet {
    type Err = InvalidSourceNet;
    fn from_str(s: &str) -> Result<Self, InvalidSourceNet> {
        let bad = || InvalidSourceNet(s.to_owned());
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            None => max,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix_len > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix_len })
    }
}

impl fmt::Display for SourceNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix_len == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix_len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_names() {
        for t in Transport::ALL {
            assert_eq!(t.as_str().parse::<Transport>().unwrap(), *t);
        }
        for m in CallerIdMode::ALL {
            assert_eq!(m.as_str().parse::<CallerIdMode>().unwrap(), *m);
        }
        for n in NumberFormat::ALL {
            assert_eq!(n.as_str().parse::<NumberFormat>().unwrap(), *n);
            assert_eq!(
                serde_json::to_value(n).unwrap(),
                serde_json::json!(n.as_str())
            );
        }
        assert!("tls".parse::<Transport>().is_err());
    }

    #[test]
    fn source_nets() {
        let net: SourceNet = "203.0.113.0/24".parse().unwrap();
        assert!(net.contains("203.0.113.77".parse().unwrap()));
        assert!(net.contains("::ffff:203.0.113.77".parse().unwrap()));
        assert!(!net.contains("203.0.114.1".parse().unwrap()));
        assert_eq!(net.to_string(), "203.0.113.0/24");
        let one: SourceNet = "198.51.100.7".parse().unwrap();
        assert!(one.contains("198.51.100.7".parse().unwrap()));
        assert!(!one.contains("198.51.100.8".parse().unwrap()));
        assert_eq!(one.to_string(), "198.51.100.7");
        let all: SourceNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: SourceNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("203.0.113.1".parse().unwrap()));
        for bad in [
            "",
            "host.example",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+1",
            "::/129",
            "10.0.0.0/24/1",
            " 10.0.0.1",
        ] {
            assert!(bad.parse::<SourceNet>().is_err(), "{bad}");
        }
    }
}
