use super::*;
use crate::config::GuardConfig;
use crate::directory::{Directory, DirectoryError, MemoryDirectory};
use omnivox_domain::{TenantId, UserId};

const SRC: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 4));
const T0: u64 = 1_700_000_000;

struct Fixture {
    auth: Authenticator,
    guard: Guard,
    uri: Uri,
}

fn fixture_with(dir: Arc<dyn DynDirectory>, guard_cfg: GuardConfig) -> Fixture {
    let signer = NonceSigner::new(Some(b"test-key-0123456789"), 300).unwrap();
    Fixture {
        auth: Authenticator::new(
            signer,
            vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            true,
            dir,
        ),
        guard: Guard::new(&guard_cfg, Arc::default()),
        uri: Uri::try_from("sip:acme.omnivox").unwrap(),
    }
}

fn fixture() -> Fixture {
    let d = MemoryDirectory::new();
    d.insert(SipAccount::with_password(
        TenantId::new(),
        UserId::new(),
        "alice",
        "acme.omnivox",
        "s3cret",
    ));
    fixture_with(Arc::new(d), GuardConfig::default())
}

/// What sipp sends: the digest uri names the server's address.
fn answer_with_uri(user: &str, password: &str, nonce: &str, uri: &str) -> String {
    let alg = DigestAlgorithm::Md5;
    let h = crate::digest::ha1(alg, user, "acme.omnivox", password);
    let resp = digest::expected_response(
        &h,
        &ResponseInput {
            algorithm: alg,
            sess: false,
            nonce,
            cnonce: Some("c"),
            nc: Some("00000001"),
            qop: Some("auth"),
            method: "REGISTER",
            uri,
        },
    );
    format!(
        "Digest username=\"{user}\",realm=\"acme.omnivox\",cnonce=\"c\",nc=00000001,\
         qop=auth,uri=\"{uri}\",nonce=\"{nonce}\",response=\"{resp}\",algorithm=MD5"
    )
}

/// What a phone sends back for `challenge_nonce`.
fn answer(alg: DigestAlgorithm, user: &str, password: &str, nonce: &str) -> String {
    let h = crate::digest::ha1(alg, user, "acme.omnivox", password);
    let resp = digest::expected_response(
        &h,
        &ResponseInput {
            algorithm: alg,
            sess: false,
            nonce,
            cnonce: Some("c0ffee"),
            nc: Some("00000001"),
            qop: Some("auth"),
            method: "REGISTER",
            uri: "sip:acme.omnivox",
        },
    );
    format!(
        "Digest username=\"{user}\", realm=\"acme.omnivox\", nonce=\"{nonce}\", \
         uri=\"sip:acme.omnivox\", response=\"{resp}\", algorithm={}, qop=auth, \
         nc=00000001, cnonce=\"c0ffee\"",
        alg.name()
    )
}

impl Fixture {
    fn nonce_at(&self, unix: u64) -> String {
        let c = self
            .auth
            .challenges("acme.omnivox", SRC, false, unix)
            .unwrap();
        let start = c[0].find("nonce=\"").unwrap() + 7;
        c[0][start..start + 43].to_string()
    }

    async fn run(&self, headers: Vec<&str>, user: &str, unix: u64) -> AuthOutcome {
        let req = AuthRequest {
            method: "REGISTER",
            request_uri: &self.uri,
            realm: "acme.omnivox",
            user: Some(user),
            authorizations: headers,
            source: SRC,
            local: &[SocketAddr::from(([127, 0, 0, 1], 5060))],
        };
        self.auth
            .authenticate(&req, &self.guard, Instant::now(), unix)
            .await
    }
}

#[tokio::test]
async fn challenges_offer_every_algorithm_with_one_nonce() {
    let f = fixture();
    let c = f.auth.challenges("acme.omnivox", SRC, true, T0).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
    assert!(
        c.iter()
            .all(|h| h.contains("stale=true") && h.contains("qop=\"auth\""))
    );
    let nonce = |h: &str| h.split("nonce=\"").nth(1).map(|s| s[..43].to_string());
    assert_eq!(nonce(&c[0]), nonce(&c[1]));
    assert!(matches!(
        f.run(vec![], "alice", T0).await,
        AuthOutcome::Challenge { stale: false }
    ));
}

#[tokio::test]
async fn md5_and_sha256_both_authenticate() {
    let f = fixture();
    for alg in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
        let n = f.nonce_at(T0);
        let h = answer(alg, "alice", "s3cret", &n);
        match f.run(vec![&h], "alice", T0 + 1).await {
            AuthOutcome::Authenticated(a) => assert_eq!(a.user, "alice"),
            other => panic!("{alg}: {other:?}"),
        }
    }
    assert_eq!(f.guard.counters.snapshot().auth_successes, 2);
}

#[tokio::test]
async fn wrong_password_is_forbidden_and_counted() {
    let f = fixture();
    let n = f.nonce_at(T0);
    let h = answer(DigestAlgorithm::Md5, "alice", "wrong", &n);
    assert!(matches!(
        f.run(vec![&h], "alice", T0).await,
        AuthOutcome::Forbidden
    ));
    assert_eq!(f.guard.counters.snapshot().auth_failures, 1);
}

#[tokio::test]
async fn stale_nonce_gets_stale_challenge_only_with_the_right_password() {
    let f = fixture();
    let n = f.nonce_at(T0);
    let good = answer(DigestAlgorithm::Md5, "alice", "s3cret", &n);
    assert!(matches!(
        f.run(vec![&good], "alice", T0 + 301).await,
        AuthOutcome::Challenge { stale: true }
    ));
    let bad = answer(DigestAlgorithm::Md5, "alice", "nope", &n);
    assert!(matches!(
        f.run(vec![&bad], "alice", T0 + 301).await,
        AuthOutcome::Forbidden
    ));
}

#[tokio::test]
async fn forged_nonce_is_rechallenged_without_counting() {
    let f = fixture();
    let h = answer(DigestAlgorithm::Md5, "alice", "s3cret", &"A".repeat(43));
    assert!(matches!(
        f.run(vec![&h], "alice", T0).await,
        AuthOutcome::Challenge { stale: false }
    ));
    assert_eq!(f.guard.counters.snapshot().auth_failures, 0);
}

#[tokio::test]
async fn identity_rules() {
    let f = fixture();
    let n = f.nonce_at(T0);
    // Authenticating as alice to register bob's address of record.
    let h = answer(DigestAlgorithm::Md5, "alice", "s3cret", &n);
    assert!(matches!(
        f.run(vec![&h], "bob", T0).await,
        AuthOutcome::Forbidden
    ));
    // Unknown user.
    let h = answer(DigestAlgorithm::Md5, "mallory", "x", &n);
    assert!(matches!(
        f.run(vec![&h], "mallory", T0).await,
        AuthOutcome::Forbidden
    ));
    // Credentials for another realm are ignored: challenge.
    let other = h.replace("realm=\"acme.omnivox\"", "realm=\"globex.omnivox\"");
    assert!(matches!(
        f.run(vec![&other], "alice", T0).await,
        AuthOutcome::Challenge { .. }
    ));
}

#[tokio::test]
async fn protocol_errors() {
    let f = fixture();
    let n = f.nonce_at(T0);
    let h = answer(DigestAlgorithm::Md5, "alice", "s3cret", &n);
    let bad_uri = h.replace("uri=\"sip:acme.omnivox\"", "uri=\"sip:globex.omnivox\"");
    assert!(matches!(
        f.run(vec![&bad_uri], "alice", T0).await,
        AuthOutcome::BadRequest(_)
    ));
    // A uri naming the server itself is fine (the response covers it).
    let ours = answer_with_uri("alice", "s3cret", &n, "sip:127.0.0.1:5060");
    assert!(matches!(
        f.run(vec![&ours], "alice", T0).await,
        AuthOutcome::Authenticated(_)
    ));
    let other_port = answer_with_uri("alice", "s3cret", &n, "sip:127.0.0.1:5070");
    assert!(matches!(
        f.run(vec![&other_port], "alice", T0).await,
        AuthOutcome::BadRequest(_)
    ));
    let no_qop = h.replace(", qop=auth", "");
    assert!(matches!(
        f.run(vec![&no_qop], "alice", T0).await,
        AuthOutcome::Forbidden
    ));
    let int = h.replace("qop=auth", "qop=auth-int");
    assert!(matches!(
        f.run(vec![&int], "alice", T0).await,
        AuthOutcome::BadRequest(_)
    ));
    let alg = h.replace("algorithm=MD5", "algorithm=SHA-512-256");
    assert!(matches!(
        f.run(vec![&alg], "alice", T0).await,
        AuthOutcome::Challenge { .. }
    ));
    let broken = "Digest username=\"alice, realm=";
    assert!(matches!(
        f.run(vec![broken], "alice", T0).await,
        AuthOutcome::BadRequest(_)
    ));
}

struct DownDirectory;

impl Directory for DownDirectory {
    async fn lookup(&self, _: &str, _: &str) -> Result<Option<SipAccount>, DirectoryError> {
        Err(DirectoryError("database is down".into()))
    }
}

#[tokio::test]
async fn directory_outage_is_unavailable_not_a_failure() {
    let f = fixture_with(Arc::new(DownDirectory), GuardConfig::default());
    let n = f.nonce_at(T0);
    let h = answer(DigestAlgorithm::Md5, "alice", "s3cret", &n);
    assert!(matches!(
        f.run(vec![&h], "alice", T0).await,
        AuthOutcome::Unavailable
    ));
    let s = f.guard.counters.snapshot();
    assert_eq!((s.auth_failures, s.directory_errors), (0, 1));
}

#[tokio::test]
async fn repeated_failures_throttle() {
    let d = MemoryDirectory::new();
    d.insert(SipAccount::with_password(
        TenantId::new(),
        UserId::new(),
        "alice",
        "acme.omnivox",
        "pw",
    ));
    let cfg = GuardConfig {
        throttle_after_failures: 2,
        throttle_delay_secs: 30,
        ban_after_failures: 5,
        ..GuardConfig::default()
    };
    let f = fixture_with(Arc::new(d), cfg);
    let n = f.nonce_at(T0);
    let bad = answer(DigestAlgorithm::Md5, "alice", "guess", &n);
    assert!(matches!(
        f.run(vec![&bad], "alice", T0).await,
        AuthOutcome::Forbidden
    ));
    assert!(matches!(
        f.run(vec![&bad], "alice", T0).await,
        AuthOutcome::Forbidden
    ));
    // Even the right password is not looked at while throttled.
    let good = answer(DigestAlgorithm::Md5, "alice", "pw", &n);
    assert!(matches!(f.run(vec![&good], "alice", T0).await, AuthOutcome::Throttled(s) if s > 0));
    assert_eq!(f.guard.counters.snapshot().auth_throttled, 1);
}
