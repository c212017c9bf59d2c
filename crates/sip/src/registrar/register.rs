//! REGISTER requests: from rsipstack's parsed request to the registrar and
//! back to a response (RFC 3261 §10.3).

use super::{ContactEntry, ContactSpec, RegisterError, RegisterRequest, SipTransport};
use crate::auth::{self, Challenger};
use crate::directory::AccountOwner;
use crate::router::{ReplySpec, Shared, warning};
use crate::stats::Counters;
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{
    Contact, Date, Header, HeadersExt, Host, MinExpires, Param, Request, RetryAfter, Scheme,
    StatusCode, Unsupported, typed,
};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// Most Contact entries accepted in one REGISTER.
const MAX_CONTACTS: usize = 32;
/// Longest User-Agent kept with a binding.
const MAX_UA_LEN: usize = 256;

/// Handles an authenticated-or-not REGISTER from `source`.
pub(crate) async fn handle(
    shared: &Shared,
    req: &Request,
    source: SocketAddr,
    transport: SipTransport,
) -> ReplySpec {
    let Ok(to) = req.to_header().and_then(|t| t.typed()) else {
        return ReplySpec::bad_request("malformed To");
    };
    let Some(user) = to.uri.user().filter(|u| !u.is_empty()) else {
        return ReplySpec::new(StatusCode::NotFound).with(warning("the To URI has no user"));
    };
    let Some(realm) = realm_of(&to.uri.host_with_port.host) else {
        return ReplySpec::bad_request("invalid domain in To");
    };
    if let Some(unsupported) = required_extensions(req) {
        return ReplySpec::new(StatusCode::BadExtension)
            .with(Header::Unsupported(Unsupported::new(unsupported)));
    }

    let now = Instant::now();
    let account = match auth::check(
        shared,
        req,
        Challenger::Registrar,
        &realm,
        Some(user),
        source,
    )
    .await
    {
        Ok(a) if matches!(a.owner, AccountOwner::Agent(_)) => a,
        // A trunk's inbound credentials are for calls only.
        Ok(_) => return ReplySpec::new(StatusCode::Forbidden),
        Err(refusal) => return refusal,
    };

    let register = match parse_register(req, source, transport) {
        Ok(r) => r,
        Err(why) => return ReplySpec::bad_request(why),
    };
    match shared
        .registrar
        .apply(&account, &register, now, SystemTime::now())
    {
        Ok(current) => {
            Counters::inc(&shared.guard.counters.registrations);
            let mut spec = ReplySpec::new(StatusCode::OK);
            for (b, secs) in current {
                let mut value = format!("<{}>;expires={secs}", b.contact);
                if let Some(inst) = &b.instance_id {
                    value.push_str(&format!(";+sip.instance=\"{inst}\""));
                }
                spec = spec.with(Header::Contact(Contact::new(value)));
            }
            let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
            spec.with(Header::Date(Date::new(date.to_string())))
        }
        Err(RegisterError::IntervalTooBrief(min)) => ReplySpec::new(StatusCode::IntervalTooBrief)
            .with(Header::MinExpires(MinExpires::new(min.to_string()))),
        Err(RegisterError::BadRequest(why)) => ReplySpec::bad_request(why),
        Err(RegisterError::OutOfOrder) => ReplySpec::new(StatusCode::ServerInternalError)
            .with(warning("CSeq is not higher than the binding's"))
            .with(Header::RetryAfter(RetryAfter::new("1"))),
    }
}

/// The tenant realm named by a To host: a lower-case host name (letters,
/// digits, `.-_`) or an IP address. `None` for anything else.
pub(crate) fn realm_of(host: &Host) -> Option<String> {
    match host {
        Host::IpAddr(ip) => Some(ip.to_string()),
        Host::Domain(d) => {
            let s = d.0.to_ascii_lowercase();
            let ok = !s.is_empty()
                && s.len() <= 253
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
            ok.then_some(s)
        }
    }
}

/// Option tags from `Require` (we support none), comma-joined.
fn required_extensions(req: &Request) -> Option<String> {
    let tags: Vec<String> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Require(r) => Some(r.value()),
            _ => None,
        })
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    (!tags.is_empty()).then(|| tags.join(", "))
}

/// Reads the parts of a REGISTER the registrar needs.
pub(crate) fn parse_register(
    req: &Request,
    source: SocketAddr,
    transport: SipTransport,
) -> Result<RegisterRequest, &'static str> {
    let expires_header = match req.expires_header() {
        Some(e) => Some(parse_seconds(e.value()).ok_or("malformed Expires")?),
        None => None,
    };
    let mut wildcard = false;
    let mut entries = Vec::new();
    for h in req.headers.iter() {
        let Header::Contact(c) = h else { continue };
        if c.value().trim() == "*" {
            wildcard = true;
            continue;
        }
        let list = typed::Contact::parse_header_list(c.value()).map_err(|_| "malformed Contact")?;
        for contact in list {
            if entries.len() >= MAX_CONTACTS {
                return Err("too many contacts");
            }
            entries.push(contact_entry(&contact)?);
        }
    }
    let contacts = match (wildcard, entries.is_empty()) {
        (true, true) => ContactSpec::Wildcard,
        (true, false) => return Err("Contact: * must be the only contact"),
        (false, true) => ContactSpec::Query,
        (false, false) => ContactSpec::List(entries),
    };
    let call_id = req
        .call_id_header()
        .map_err(|_| "missing Call-ID")?
        .value()
        .trim()
        .to_string();
    let cseq = req
        .cseq_header()
        .and_then(|c| c.seq())
        .map_err(|_| "malformed CSeq")?;
    let user_agent = req
        .user_agent_header()
        .map(|ua| ua.value().chars().take(MAX_UA_LEN).collect());
    Ok(RegisterRequest {
        contacts,
        expires_header,
        call_id,
        cseq,
        source,
        transport,
        user_agent,
    })
}

/// Delta-seconds; values beyond u32 are clamped (they exceed any maximum).
fn parse_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        s.parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    )
}

fn contact_entry(c: &typed::Contact) -> Result<ContactEntry, &'static str> {
    let uri = &c.uri;
    let scheme = match &uri.scheme {
        Some(Scheme::Sip) | None => "sip",
        Some(Scheme::Sips) => "sips",
        Some(Scheme::Other(_)) => return Err("Contact must be a sip: or sips: URI"),
    };
    let host = uri.host_with_port.host.to_string().to_ascii_lowercase();
    let port = uri.host_with_port.port.map(|p| p.value());
    let host_ip = match &uri.host_with_port.host {
        Host::IpAddr(ip) => Some(*ip),
        Host::Domain(d) => d.0.parse().ok(),
    };
    let transport = uri.params.iter().find_map(|p| match p {
        Param::Transport(t) => Some(t.to_string().to_ascii_lowercase()),
        _ => None,
    });
    let key = format!(
        "{scheme}:{}@{host}:{}{}",
        uri.user().unwrap_or(""),
        port.unwrap_or(if scheme == "sips" { 5061 } else { 5060 }),
        transport
            .map(|t| format!(";transport={t}"))
            .unwrap_or_default()
    );
    let mut entry = ContactEntry {
        uri: uri.to_string(),
        key,
        host_ip,
        port,
        expires: None,
        q: None,
        instance: None,
        reg_id: None,
    };
    for p in &c.params {
        match p {
            Param::Expires(e) => {
                entry.expires = Some(parse_seconds(e.value()).ok_or("malformed expires parameter")?)
            }
            Param::Q(q) => {
                let v: f32 = q
                    .value()
                    .trim()
                    .parse()
                    .map_err(|_| "malformed q parameter")?;
                if !(0.0..=1.0).contains(&v) {
                    return Err("q must be between 0 and 1");
                }
                entry.q = Some(v);
            }
            Param::Other(name, Some(value))
                if name.value().eq_ignore_ascii_case("+sip.instance") =>
            {
                let v = value.value().trim().trim_matches('"');
                if v.is_empty() || v.len() > 256 || v.contains(['"', '\\']) {
                    return Err("malformed +sip.instance");
                }
                entry.instance = Some(v.to_string());
            }
            Param::Other(name, Some(value)) if name.value().eq_ignore_ascii_case("reg-id") => {
                entry.reg_id = Some(
                    value
                        .value()
                        .trim()
                        .parse()
                        .map_err(|_| "malformed reg-id")?,
                );
            }
            _ => {}
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(extra: &str) -> Request {
        let raw = format!(
            "REGISTER sip:acme.omnivox SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n\
             From: <sip:alice@acme.omnivox>;tag=1\r\n\
             To: <sip:alice@acme.omnivox>\r\n\
             Call-ID: reg-1\r\n\
             CSeq: 7 REGISTER\r\n\
             User-Agent: Test Phone\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        );
        Request::try_from(raw.as_str()).unwrap()
    }

    fn src() -> SocketAddr {
        "203.0.113.9:40000".parse().unwrap()
    }

    #[test]
    fn contacts_and_parameters() {
        let r = register(
            "Contact: <sip:alice@192.168.1.2:5062;transport=tcp>;expires=120;q=0.5;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1, \
             <sip:alice@203.0.113.9>\r\nExpires: 300\r\n",
        );
        let p = parse_register(&r, src(), SipTransport::Tcp).unwrap();
        assert_eq!(p.expires_header, Some(300));
        assert_eq!((p.call_id.as_str(), p.cseq), ("reg-1", 7));
        assert_eq!(p.user_agent.as_deref(), Some("Test Phone"));
        let ContactSpec::List(list) = p.contacts else {
            panic!("not a list")
        };
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].key, "sip:alice@192.168.1.2:5062;transport=tcp");
        assert_eq!(list[0].expires, Some(120));
        assert_eq!(list[0].q, Some(0.5));
        assert_eq!(
            list[0].instance.as_deref(),
            Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        );
        assert_eq!(list[0].reg_id, Some(1));
        assert_eq!(list[1].key, "sip:alice@203.0.113.9:5060");
        assert_eq!(list[1].host_ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn query_and_wildcard() {
        let p = parse_register(&register(""), src(), SipTransport::Udp).unwrap();
        assert_eq!(p.contacts, ContactSpec::Query);
        let p = parse_register(
            &register("Contact: *\r\nExpires: 0\r\n"),
            src(),
            SipTransport::Udp,
        )
        .unwrap();
        assert_eq!(p.contacts, ContactSpec::Wildcard);
        let mixed = register("Contact: *\r\nContact: <sip:a@1.2.3.4>\r\n");
        assert!(parse_register(&mixed, src(), SipTransport::Udp).is_err());
    }

    #[test]
    fn malformed_values() {
        for extra in [
            "Expires: soon\r\n",
            "Expires: -1\r\n",
            "Contact: <sip:a@1.2.3.4>;expires=x\r\n",
            "Contact: <sip:a@1.2.3.4>;q=2\r\n",
            "Contact: <mailto:a@b>\r\n",
            "Contact: <sip:a@1.2.3.4\r\n",
        ] {
            assert!(
                parse_register(&register(extra), src(), SipTransport::Udp).is_err(),
                "{extra}"
            );
        }
        let huge = register("Expires: 99999999999999\r\n");
        assert_eq!(
            parse_register(&huge, src(), SipTransport::Udp)
                .unwrap()
                .expires_header,
            Some(u32::MAX)
        );
    }

    #[test]
    fn realms() {
        assert_eq!(
            realm_of(&Host::Domain("ACME.omnivox".into())).as_deref(),
            Some("acme.omnivox")
        );
        assert_eq!(
            realm_of(&Host::IpAddr("127.0.0.1".parse().unwrap())).as_deref(),
            Some("127.0.0.1")
        );
        for bad in ["a\"b", "x y", "", "ex\\ample"] {
            assert_eq!(realm_of(&Host::Domain(bad.into())), None, "{bad}");
        }
    }

    #[test]
    fn require_is_reported() {
        assert_eq!(required_extensions(&register("")), None);
        assert_eq!(
            required_extensions(&register("Require: path, gruu\r\n")).as_deref(),
            Some("path, gruu")
        );
    }
}
