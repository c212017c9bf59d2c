//! Digest authentication of requests against the [`crate::Directory`].

use crate::digest::{self, DigestAlgorithm, ResponseInput};
use crate::directory::{DynDirectory, SipAccount};
use crate::error::SipError;
use crate::guard::{AuthGate, Guard};
use crate::nonce::{NonceSigner, NonceState};
use crate::stats::Counters;
use rsipstack::sip::{Host, Uri};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// A request to authenticate.
pub(crate) struct AuthRequest<'a> {
    pub method: &'a str,
    pub request_uri: &'a Uri,
    /// The realm: the tenant's SIP domain, lower case.
    pub realm: &'a str,
    /// User part of the identity the request claims (the To user of a
    /// REGISTER), which the digest user name must equal; `None` when the
    /// digest user name is the identity (an INVITE).
    pub user: Option<&'a str>,
    /// Values of every `Authorization` header.
    pub authorizations: Vec<&'a str>,
    pub source: IpAddr,
    /// Our own listening addresses (a digest `uri` may name the server).
    pub local: &'a [SocketAddr],
}

/// The verdict.
#[derive(Debug)]
pub(crate) enum AuthOutcome {
    Authenticated(Box<SipAccount>),
    /// Answer 401 with fresh challenges.
    Challenge {
        stale: bool,
    },
    /// Answer 403.
    Forbidden,
    /// Answer 400 with this reason.
    BadRequest(&'static str),
    /// Answer 503: the directory could not answer.
    Unavailable,
    /// Answer 503 with this Retry-After: too many recent failures.
    Throttled(u32),
}

/// Checks digest credentials; issues challenges.
pub(crate) struct Authenticator {
    signer: NonceSigner,
    algorithms: Vec<DigestAlgorithm>,
    require_qop: bool,
    directory: Arc<dyn DynDirectory>,
}

impl Authenticator {
    pub(crate) fn new(
        signer: NonceSigner,
        algorithms: Vec<DigestAlgorithm>,
        require_qop: bool,
        directory: Arc<dyn DynDirectory>,
    ) -> Self {
        Self {
            signer,
            algorithms,
            require_qop,
            directory,
        }
    }

    /// `WWW-Authenticate` values, one per configured algorithm, sharing one
    /// nonce.
    pub(crate) fn challenges(
        &self,
        realm: &str,
        source: IpAddr,
        stale: bool,
        unix_now: u64,
    ) -> Result<Vec<String>, SipError> {
        let nonce = self.signer.issue(realm, source, unix_now)?;
        Ok(self
            .algorithms
            .iter()
            .map(|&alg| digest::challenge(alg, realm, &nonce, stale))
            .collect())
    }

    /// Authenticates `req`. Failures are recorded with the guard.
    pub(crate) async fn authenticate(
        &self,
        req: &AuthRequest<'_>,
        guard: &Guard,
        now: Instant,
        unix_now: u64,
    ) -> AuthOutcome {
        let mut malformed = false;
        let mut creds = None;
        for value in &req.authorizations {
            match digest::parse_authorization(value) {
                Ok(c) if c.realm.eq_ignore_ascii_case(req.realm) => {
                    creds = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(digest::DigestParseError::NotDigest) => {}
                Err(_) => malformed = true,
            }
        }
        let Some(creds) = creds else {
            return if malformed {
                AuthOutcome::BadRequest("malformed Authorization")
            } else {
                AuthOutcome::Challenge { stale: false }
            };
        };
        if let AuthGate::Throttled(secs) = guard.auth_gate(req.source, now) {
            return AuthOutcome::Throttled(secs);
        }
        let Some((alg, sess)) = creds
            .algorithm()
            .filter(|(a, _)| self.algorithms.contains(a))
        else {
            return AuthOutcome::Challenge { stale: false };
        };
        if creds.userhash {
            return AuthOutcome::BadRequest("userhash is not supported");
        }
        let qop = match creds.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                if creds.nc.is_none() || creds.cnonce.is_none() {
                    return AuthOutcome::BadRequest("qop=auth needs nc and cnonce");
                }
                Some("auth")
            }
            Some(_) => return AuthOutcome::BadRequest("unsupported qop"),
            None if self.require_qop || sess => {
                tracing::debug!(source = %req.source, "digest response without qop refused");
                return AuthOutcome::Forbidden;
            }
            None => None,
        };
        if !uri_acceptable(&creds.uri, req.request_uri, req.local) {
            return AuthOutcome::BadRequest("digest uri does not match the Request-URI");
        }
        let nonce_state = self
            .signer
            .check(&creds.nonce, req.realm, req.source, unix_now);
        if nonce_state == NonceState::Invalid {
            return AuthOutcome::Challenge { stale: false };
        }
        if req.user.is_some_and(|u| creds.username != u) {
            tracing::info!(source = %req.source, user = ?req.user, "digest username differs from the address of record");
            guard.auth_failed(req.source, now);
            return AuthOutcome::Forbidden;
        }
        let account = match self.directory.lookup_dyn(req.realm, &creds.username).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                tracing::info!(source = %req.source, realm = %req.realm, user = %creds.username, "SIP authentication for an unknown account");
                guard.auth_failed(req.source, now);
                return AuthOutcome::Forbidden;
            }
            Err(e) => {
                Counters::inc(&guard.counters.directory_errors);
                tracing::error!(error = %e, "SIP directory lookup failed");
                return AuthOutcome::Unavailable;
            }
        };
        let expected = digest::expected_response(
            account.ha1(alg),
            &ResponseInput {
                algorithm: alg,
                sess,
                nonce: &creds.nonce,
                cnonce: creds.cnonce.as_deref(),
                nc: creds.nc.as_deref(),
                qop,
                method: req.method,
                uri: &creds.uri,
            },
        );
        let given = creds.response.to_ascii_lowercase();
        let matches =
            given.len() == alg.hex_len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
        if !matches {
            tracing::info!(source = %req.source, realm = %req.realm, user = %creds.username, "SIP authentication failed");
            guard.auth_failed(req.source, now);
            return AuthOutcome::Forbidden;
        }
        if nonce_state == NonceState::Stale {
            return AuthOutcome::Challenge { stale: true };
        }
        Counters::inc(&guard.counters.auth_successes);
        AuthOutcome::Authenticated(Box::new(account))
    }
}

/// The digest `uri` must name the same resource as the Request-URI (RFC
/// 7616 §3.4.6, RFC 3261 §22.4): same scheme, user, host and port
/// (parameters may differ, phones format them freely). A `uri` naming this
/// server's own address is accepted too: phones configured with the
/// registrar's address, and sipp, put that there while the Request-URI names
/// the domain. The uri is covered by the response hash either way.
fn uri_acceptable(digest_uri: &str, request_uri: &Uri, local: &[SocketAddr]) -> bool {
    let Ok(u) = Uri::try_from(digest_uri) else {
        return false;
    };
    let port = |u: &Uri| u.host_with_port.port.map(|p| p.value());
    let same = u.scheme == request_uri.scheme
        && u.user() == request_uri.user()
        && u.host_with_port
            .host
            .to_string()
            .eq_ignore_ascii_case(&request_uri.host_with_port.host.to_string())
        && port(&u) == port(request_uri);
    let ip = match &u.host_with_port.host {
        Host::IpAddr(ip) => Some(*ip),
        Host::Domain(d) => d.0.parse().ok(),
    };
    let ours = ip.is_some_and(|ip| {
        let p = port(&u).unwrap_or(5060);
        local
            .iter()
            .any(|a| a.port() == p && (a.ip() == ip || a.ip().is_unspecified()))
    });
    same || ours
}

/// Who asks for credentials: the registrar (401, `WWW-Authenticate`,
/// `Authorization`) or the call layer acting as a proxy would (407,
/// `Proxy-Authenticate`, `Proxy-Authorization`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Challenger {
    Registrar,
    Proxy,
}

/// Authenticates `req` from `source` in `realm` (the digest user name must
/// be `user` when given) and turns every other outcome into the response
/// to send: a challenge, 403, 400, or 503 with Retry-After.
pub(crate) async fn check(
    shared: &crate::router::Shared,
    req: &rsipstack::sip::Request,
    challenger: Challenger,
    realm: &str,
    user: Option<&str>,
    source: SocketAddr,
) -> Result<Box<SipAccount>, crate::router::ReplySpec> {
    use crate::router::ReplySpec;
    use rsipstack::sip::{Header, ProxyAuthenticate, RetryAfter, StatusCode, WwwAuthenticate};
    let now = Instant::now();
    let unix = crate::nonce::unix_now();
    let authorizations = req
        .headers
        .iter()
        .filter_map(|h| match (challenger, h) {
            (Challenger::Registrar, Header::Authorization(a)) => Some(a.value()),
            (Challenger::Proxy, Header::ProxyAuthorization(a)) => Some(a.value()),
            _ => None,
        })
        .collect();
    let method = req.method.to_string();
    let auth_req = AuthRequest {
        method: &method,
        request_uri: &req.uri,
        realm,
        user,
        authorizations,
        source: source.ip(),
        local: &shared.local_addrs,
    };
    match shared
        .auth
        .authenticate(&auth_req, &shared.guard, now, unix)
        .await
    {
        AuthOutcome::Authenticated(account) => Ok(account),
        AuthOutcome::Challenge { stale } => {
            match shared.auth.challenges(realm, source.ip(), stale, unix) {
                Ok(challenges) => {
                    Counters::inc(&shared.guard.counters.auth_challenges);
                    let code = match challenger {
                        Challenger::Registrar => StatusCode::Unauthorized,
                        Challenger::Proxy => StatusCode::ProxyAuthenticationRequired,
                    };
                    let mut spec = ReplySpec::new(code);
                    for c in challenges {
                        spec = spec.with(match challenger {
                            Challenger::Registrar => {
                                Header::WwwAuthenticate(WwwAuthenticate::new(c))
                            }
                            Challenger::Proxy => {
                                Header::ProxyAuthenticate(ProxyAuthenticate::new(c))
                            }
                        });
                    }
                    Err(spec)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot issue a SIP nonce");
                    Err(ReplySpec::new(StatusCode::ServerInternalError))
                }
            }
        }
        AuthOutcome::Forbidden => Err(ReplySpec::new(StatusCode::Forbidden)),
        AuthOutcome::BadRequest(why) => Err(ReplySpec::bad_request(why)),
        AuthOutcome::Unavailable => Err(ReplySpec::new(StatusCode::ServiceUnavailable)
            .with(Header::RetryAfter(RetryAfter::new("5")))),
        AuthOutcome::Throttled(secs) => Err(ReplySpec::new(StatusCode::ServiceUnavailable)
            .with(Header::RetryAfter(RetryAfter::new(secs.to_string())))),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
