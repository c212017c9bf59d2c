//! Who the client is: the TCP peer, or, when the peer is a trusted reverse
//! proxy (`http.trusted_proxies`), the address the proxies report in
//! `X-Forwarded-For`.
//!
//! Each proxy appends the address it received the request from, so the list
//! is read from the right: the first entry that is not itself a trusted proxy
//! is the client. Entries further left were written by the client and are
//! never believed. An entry that is not an address (`unknown`, garbage)
//! stops the walk at the last address that was vouched for.
//!
//! The result goes into the request's extensions as [`ClientAddr`], which
//! per-address rate limits, sign-in lockouts, sessions and the audit log read
//! (`auth::principal::client_ip`).

use crate::config::ProxyNet;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};

/// The client's address as resolved for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The most `X-Forwarded-For` entries followed from the right: more proxy
/// hops than this is a misconfiguration, not a deployment.
const MAX_HOPS: usize = 16;

pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let client = client_address(peer, req.headers(), &state.config.http.trusted_proxies);
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

/// The client behind `peer`, given the proxies trusted to say so.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ProxyNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    // All header lines in order, as one list (a proxy may add a line
    // instead of extending the last one). A value that is not text reads
    // as one empty entry, which stops the walk there.
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.to_str().unwrap_or("").split(',').map(str::trim));
    }
    let mut client = peer;
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(ip) = parse_entry(entry) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, or either with a port (`203.0.113.7:4711`,
/// `[2001:db8::1]:4711`), as proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let h = headers(&["198.51.100.9"]);
        assert_eq!(client_address(ip("192.0.2.1"), &h, &[]), ip("192.0.2.1"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("192.0.2.1"), &h, &trusted),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_entries_are_ignored() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        assert_eq!(
            client_address(peer, &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        // The client wrote the first entry itself; the proxy appended the
        // address it really came from.
        assert_eq!(
            client_address(peer, &headers(&["198.51.100.9, 203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        // Two proxies (10.1.2.3 in front of the local one), over two lines.
        assert_eq!(
            client_address(
                peer,
                &headers(&["1.1.1.1, 203.0.113.7", "10.1.2.3"]),
                &trusted
            ),
            ip("203.0.113.7")
        );
        // Only proxies: the farthest one is all there is to go on.
        assert_eq!(
            client_address(peer, &headers(&["10.9.9.9, 10.1.2.3"]), &trusted),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn garbage_stops_at_the_last_address_vouched_for() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        for bad in ["unknown", "", "not-an-ip", "203.0.113.7/24", "_hidden"] {
            let h = headers(&[&format!("198.51.100.9, {bad}, 10.1.2.3")]);
            assert_eq!(client_address(peer, &h, &trusted), ip("10.1.2.3"), "{bad}");
        }
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.9, \xff").unwrap(),
        );
        assert_eq!(client_address(peer, &h, &trusted), peer);
        // Past the hop limit the walk ends on the last trusted hop.
        let many = vec!["10.0.0.1"; MAX_HOPS + 4].join(", ");
        let h = headers(&[&format!("203.0.113.7, {many}")]);
        assert_eq!(client_address(peer, &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let trusted = nets(&["127.0.0.1", "::1"]);
        let peer = ip("127.0.0.1");
        for (entry, want) in [
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
        ] {
            assert_eq!(
                client_address(peer, &headers(&[entry]), &trusted),
                ip(want),
                "{entry}"
            );
        }
        // A dual-stack listener sees IPv4 peers as mapped IPv6.
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("::1"), &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
    }
}
