//! Outbound HTTP from live calls: a flow's webhook node and voicemail
//! notifications share one client that never follows redirects (a signed
//! request goes where its node says, nowhere else).
//!
//! A tenant writes these URLs, so they must not reach Omnivox's own
//! network: unless `inbound.private_webhooks` is set, a URL whose host is
//! (or resolves only to) a loopback, private, link-local (cloud metadata),
//! shared or otherwise non-public address is refused before anything is
//! sent. The check is in the client's resolver, at connection time, so a
//! name that changes its answer after it was saved is checked again.
//!
//! A webhook node's request comes from the interpreter already signed
//! with the tenant's secret (`omnivox_flows::webhook`); it is sent as is,
//! with the node's timeout covering the whole exchange, and the answer
//! goes back to the interpreter: the status and body, a timeout, or a
//! transport failure. An answer larger than [`MAX_REPLY_BYTES`] is a
//! failure, never read into memory whole.

use omnivox_flows::{Input, WebhookFailure, WebhookRequest, WebhookResponse};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The most of a webhook's answer that is read.
const MAX_REPLY_BYTES: usize = 64 * 1024;

type Client = Result<reqwest::Client, String>;

/// The client for public addresses only, and the one that may also reach
/// private ones (`inbound.private_webhooks`).
static PUBLIC: LazyLock<Client> = LazyLock::new(|| build_client(false));
static ANY: LazyLock<Client> = LazyLock::new(|| build_client(true));

fn build_client(private: bool) -> Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Resolver { private }))
        .build()
        .map_err(|e| e.to_string())
}

/// The client for a request to `url`, or why it may not be sent: the
/// URL's host is an address the policy refuses (names are checked when
/// they resolve).
pub(super) fn client_for(url: &str, private: bool) -> Result<&'static reqwest::Client, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let literal = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok());
    if let Some(ip) = literal
        && !private
        && !is_public(ip)
    {
        return Err(format!("{ip} is not a public address"));
    }
    let client = if private { &*ANY } else { &*PUBLIC };
    client.as_ref().map_err(Clone::clone)
}

/// Resolves names for the clients, keeping only the addresses the policy
/// allows; a name left with none fails to resolve.
struct Resolver {
    private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let private = self.private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address (not loopback, private,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast,
/// broadcast or unspecified; an IPv4-mapped IPv6 address as its IPv4).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Sends a webhook node's request; with `wait` the answer is the input,
/// without it the request goes on its own and the input is `Sent`.
/// `private`: private addresses may be reached (`inbound.private_webhooks`).
pub(super) async fn send(request: &WebhookRequest, wait: bool, private: bool) -> Input {
    let builder = match build(request, private) {
        Ok(b) => b,
        Err(why) => return Input::WebhookFailed(WebhookFailure::Transport(why)),
    };
    if !wait {
        let url = request.url.clone();
        tokio::spawn(async move {
            if let Err(e) = builder.send().await {
                tracing::info!(host = host_of(&url), error = %describe(e),
                    "fire-and-forget webhook failed");
            }
        });
        return Input::Sent;
    }
    match exchange(builder).await {
        Ok(reply) => Input::WebhookResponse(reply),
        Err(failure) => {
            tracing::info!(host = host_of(&request.url), ?failure, "webhook failed");
            Input::WebhookFailed(failure)
        }
    }
}

fn build(request: &WebhookRequest, private: bool) -> Result<reqwest::RequestBuilder, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
    let mut builder = client_for(&request.url, private)?
        .request(method, &request.url)
        .timeout(Duration::from_millis(u64::from(request.timeout_ms)))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    Ok(builder)
}

async fn exchange(builder: reqwest::RequestBuilder) -> Result<WebhookResponse, WebhookFailure> {
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            WebhookFailure::Timeout
        } else {
            WebhookFailure::Transport(describe(e))
        }
    };
    let mut response = builder.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(WebhookFailure::Transport(format!(
                "the answer is over {MAX_REPLY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(WebhookResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The error and its causes ("error sending request: ... has no public
/// address"), without the URL (its path or query may carry tokens).
pub(super) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The host of `url`, for logs (a URL's path or query may carry tokens).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// An HTTP endpoint on 127.0.0.1 answering 200 to anything: its port
    /// and how many connections it accepted.
    async fn endpoint() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        });
        (port, seen)
    }

    fn post(url: String) -> WebhookRequest {
        WebhookRequest {
            url,
            method: "POST".into(),
            headers: Vec::new(),
            body: "{}".into(),
            timeout_ms: 5_000,
        }
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_unless_allowed() {
        let (port, seen) = endpoint().await;
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            match send(&post(url.clone()), true, false).await {
                Input::WebhookFailed(WebhookFailure::Transport(why)) => {
                    assert!(why.contains("public address"), "{url}: {why}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(
            seen.load(Ordering::SeqCst),
            0,
            "nothing reached the endpoint"
        );
        // Allowed (inbound.private_webhooks), the same request goes through.
        let url = format!("http://localhost:{port}/hook");
        match send(&post(url), true, true).await {
            Input::WebhookResponse(r) => assert_eq!((r.status, r.body.as_str()), (200, "ok")),
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
