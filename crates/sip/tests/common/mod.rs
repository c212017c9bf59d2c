//! Shared helpers: a server on 127.0.0.1 port 0 with two tenants that both
//! have an agent `alice`, a sipp runner, a raw SIP client, and baresip as
//! a softphone (`baresip.rs`, which the API's tests share).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use omnivox_domain::{TenantId, UserId};
use omnivox_sip::calls::memory::{MemoryCallDirectory, MemoryRecorder};
use omnivox_sip::{
    CallHooks, CallerIdMode, DigestAlgorithm, MemoryDirectory, NumberFormat, RegistrationEvent,
    SipAccount, SipConfig, SipServer, SipTransport, Trunk, TrunkSource,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub mod baresip;
pub mod phone;

// Used by tests/baresip.rs only; the other test crates include this module too.
#[allow(unused_imports)]
pub use baresip::*;

/// The A-law speech sample the sip-tester package ships.
pub const PCAPS: &str = "/usr/share/sip-tester/g711a.pcap";

/// A carrier trunk at 127.0.0.1:`carrier_port`, accepting calls from
/// `source`.
pub fn carrier_trunk(tenant: TenantId, carrier_port: u16, source: &str) -> Trunk {
    Trunk {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        name: "carrier".into(),
        host: "127.0.0.1".into(),
        port: carrier_port,
        transport: SipTransport::Udp,
        username: None,
        password: None,
        from_user: Some("acct100".into()),
        from_domain: Some("carrier.example".into()),
        caller_id: CallerIdMode::Both,
        number_format: NumberFormat::E164Plus,
        tech_prefix: String::new(),
        max_channels: 200,
        max_cps: 1000,
        priority: 1,
        allowed_sources: vec![TrunkSource::parse(source).unwrap()],
        inbound: None,
    }
}

/// Whether to skip a test that needs sipp and its G.711 pcaps (a failure
/// instead with OMNIVOX_REQUIRE_SIP_PEERS set).
pub fn skip_without_pcaps() -> bool {
    if skip_without_sipp() {
        return true;
    }
    if !std::path::Path::new(PCAPS).exists() {
        assert!(
            std::env::var_os("OMNIVOX_REQUIRE_SIP_PEERS").is_none(),
            "{PCAPS} is required (sip-tester)"
        );
        eprintln!("SKIPPED: {PCAPS} missing");
        return true;
    }
    false
}

pub const ACME: &str = "acme.omnivox";
pub const GLOBEX: &str = "globex.omnivox";
pub const ACME_PW: &str = "acme-alice-pw";
pub const GLOBEX_PW: &str = "globex-alice-pw";

pub struct TestServer {
    pub server: SipServer,
    pub shutdown: CancellationToken,
    pub acme: TenantId,
    pub globex: TenantId,
    pub directory: Arc<MemoryDirectory>,
    /// Agent ids of acme's alice and bob, and globex's alice.
    pub acme_alice: UserId,
    pub acme_bob: UserId,
    pub globex_alice: UserId,
    /// DIDs, agents' SIP names and blocked prefixes of the call layer.
    pub calls_dir: Arc<MemoryCallDirectory>,
    /// Call records.
    pub records: Arc<MemoryRecorder>,
}

impl TestServer {
    pub fn udp(&self) -> SocketAddr {
        self.server.udp_addr().unwrap()
    }
    pub fn tcp(&self) -> SocketAddr {
        self.server.tcp_addr().unwrap()
    }
}

/// Defaults for tests: loopback, port 0, MD5 offered first so that sipp 3.6
/// (MD5-only, reads the first challenge) can authenticate.
pub fn config() -> SipConfig {
    let mut c = SipConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..SipConfig::default()
    };
    c.auth.algorithms = vec![DigestAlgorithm::Md5, DigestAlgorithm::Sha256];
    c
}

pub async fn start(cfg: SipConfig) -> TestServer {
    start_with_recordings(cfg, None).await
}

/// Like [`start`], recording calls into `recordings`.
pub async fn start_with_recordings(
    cfg: SipConfig,
    recordings: Option<Arc<dyn omnivox_media::record::RecordingStore>>,
) -> TestServer {
    // RUST_LOG=omnivox_sip=debug shows the server's side of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let directory = Arc::new(MemoryDirectory::new());
    let (acme, globex) = (TenantId::new(), TenantId::new());
    let (acme_alice, acme_bob, globex_alice) = (UserId::new(), UserId::new(), UserId::new());
    directory.insert(SipAccount::with_password(
        acme, acme_alice, "alice", ACME, ACME_PW,
    ));
    directory.insert(SipAccount::with_password(
        globex,
        globex_alice,
        "alice",
        GLOBEX,
        GLOBEX_PW,
    ));
    directory.insert(SipAccount::with_password(
        acme, acme_bob, "bob", ACME, "bob-pw",
    ));
    let calls_dir = Arc::new(MemoryCallDirectory::new());
    calls_dir.add_agent(acme, acme_alice, "alice");
    calls_dir.add_agent(acme, acme_bob, "bob");
    calls_dir.add_agent(globex, globex_alice, "alice");
    let records = Arc::new(MemoryRecorder::new());
    let hooks = CallHooks {
        directory: calls_dir.clone(),
        recorder: records.clone(),
        // Messages go to the same store: their keys never collide.
        messages: recordings.clone(),
        recordings,
    };
    let shutdown = CancellationToken::new();
    let server = SipServer::bind_with(cfg, directory.clone(), hooks, shutdown.clone())
        .await
        .expect("bind SIP server");
    TestServer {
        server,
        shutdown,
        acme,
        globex,
        directory,
        acme_alice,
        acme_bob,
        globex_alice,
        calls_dir,
        records,
    }
}

/// Next registration event, or panic after `secs`.
pub async fn next_event(
    rx: &mut broadcast::Receiver<RegistrationEvent>,
    secs: u64,
) -> RegistrationEvent {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("no registration event in time")
        .expect("event channel closed")
}

/// Polls `cond` every 10 ms until it holds, or panics after `secs`.
pub async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- sipp --

pub fn sipp_installed() -> bool {
    std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Skips the calling test (returns true) when sipp is missing.
pub fn skip_without_sipp() -> bool {
    if sipp_installed() {
        return false;
    }
    // The project's test script installs sipp and sets this: there a missing
    // peer is a failure, not a skip.
    assert!(
        std::env::var_os("OMNIVOX_REQUIRE_SIP_PEERS").is_none(),
        "sipp is required (OMNIVOX_REQUIRE_SIP_PEERS is set) but not installed"
    );
    eprintln!(
        "SKIPPED: sipp is not installed (Debian package sip-tester; scripts/test.sh installs it)"
    );
    true
}

pub struct SippRun {
    pub code: i32,
    pub output: String,
}

/// Runs one sipp call of `scenario` (a file in tests/sipp/) against
/// `target`. `transport` is sipp's `-t` value (`u1` or `t1`).
pub async fn sipp(
    scenario: &str,
    target: SocketAddr,
    transport: &str,
    keys: &[(&str, &str)],
    auth: Option<(&str, &str)>,
    extra: &[&str],
) -> SippRun {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
    let work = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(dir.join(scenario))
        .args(["-m", "1", "-timeout", "10s", "-trace_err", "-nostdin"])
        .args(["-i", "127.0.0.1", "-t", transport]);
    for (k, v) in keys {
        cmd.args(["-key", k, v]);
    }
    if let Some((user, pass)) = auth {
        cmd.args(["-au", user, "-ap", pass]);
    }
    cmd.args(extra)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("sipp did not finish")
        .expect("cannot run sipp");
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(work.path()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            output.push_str(&format!("\n--- {} ---\n", entry.path().display()));
            output.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    SippRun {
        code: out.status.code().unwrap_or(-1),
        output,
    }
}

/// Registers `user` of `domain` with its contact on 127.0.0.1:`port`.
pub async fn register_phone(t: &TestServer, user: &str, domain: &str, pw: &str, port: u16) {
    let keys = [("domain", domain), ("user", user), ("expires", "600")];
    let p = port.to_string();
    let run = sipp(
        "register.xml",
        t.udp(),
        "u1",
        &keys,
        Some((user, pw)),
        &["-p", &p],
    )
    .await;
    assert_sipp_ok(&run, "phone registration");
}

/// Asserts that sipp's call succeeded (exit code 0).
pub fn assert_sipp_ok(run: &SippRun, what: &str) {
    assert_eq!(
        run.code, 0,
        "sipp {what} failed (exit {}):\n{}",
        run.code, run.output
    );
}

// ---------------------------------------------------------- raw client --

/// A UDP SIP client on 127.0.0.1.
pub struct RawClient {
    pub socket: UdpSocket,
    pub server: SocketAddr,
}

impl RawClient {
    pub async fn new(server: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.unwrap();
    }

    /// The next datagram within `ms`, as text.
    pub async fn recv(&self, ms: u64) -> Option<String> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(Duration::from_millis(ms), self.socket.recv_from(&mut buf)).await
        {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }

    pub async fn request(&self, msg: &str) -> String {
        self.send(msg.as_bytes()).await;
        self.recv(3000).await.expect("no response within 3 s")
    }
}

/// A request from `port` with the usual headers; `extra` lines end in CRLF.
pub fn request(
    method: &str,
    uri: &str,
    from_user: &str,
    domain: &str,
    port: u16,
    cseq: u32,
    extra: &str,
) -> String {
    let branch = format!("z9hG4bK-{}", omnivox_sip_test_token());
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n\
         From: <sip:{from_user}@{domain}>;tag=t{port}\r\n\
         To: <sip:{from_user}@{domain}>\r\n\
         Call-ID: call-{port}@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn omnivox_sip_test_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Value of the first header `name` in a response.
pub fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// All values of header `name`.
pub fn headers<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    resp.split("\r\n")
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

pub fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

// ------------------------------------------------------------- digest --

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn h(alg: DigestAlgorithm, data: &str) -> String {
    match alg {
        DigestAlgorithm::Md5 => hex(<md5::Md5 as md5::Digest>::digest(data.as_bytes()).as_slice()),
        DigestAlgorithm::Sha256 => hex(&<sha2::Sha256 as sha2::Digest>::digest(data.as_bytes())),
    }
}

/// The `WWW-Authenticate` value for `alg` in a 401.
pub fn challenge_for(resp: &str, alg: DigestAlgorithm) -> Option<String> {
    headers(resp, "WWW-Authenticate")
        .into_iter()
        .find(|c| c.contains(&format!("algorithm={}", alg.name())))
        .map(str::to_string)
}

/// A quoted parameter of a challenge.
pub fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_string())
}

/// An `Authorization` value answering `challenge` like a phone would.
pub fn authorization(
    alg: DigestAlgorithm,
    challenge: &str,
    user: &str,
    password: &str,
    uri: &str,
) -> String {
    let realm = param(challenge, "realm").unwrap();
    let nonce = param(challenge, "nonce").unwrap();
    let ha1 = omnivox_sip::ha1(alg, user, &realm, password);
    let ha2 = h(alg, &format!("REGISTER:{uri}"));
    let response = h(alg, &format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
        alg.name()
    )
}

impl RawClient {
    /// REGISTER `user@domain` with `extra` headers, answering the challenge
    /// with `alg`; returns the final response. Call-ID is per client, CSeq
    /// starts at `cseq` (two are used).
    pub async fn register(
        &self,
        user: &str,
        domain: &str,
        password: &str,
        alg: DigestAlgorithm,
        cseq: u32,
        extra: &str,
    ) -> String {
        let uri = format!("sip:{domain}");
        let first = request("REGISTER", &uri, user, domain, self.port(), cseq, extra);
        let resp = self.request(&first).await;
        assert_eq!(status(&resp), 401, "expected a challenge:\n{resp}");
        let challenge = challenge_for(&resp, alg).expect("no challenge for the algorithm");
        let auth = authorization(alg, &challenge, user, password, &uri);
        let second = request(
            "REGISTER",
            &uri,
            user,
            domain,
            self.port(),
            cseq + 1,
            &format!("{extra}Authorization: {auth}\r\n"),
        );
        self.request(&second).await
    }
}

// ------------------------------------------------------- sipp as a UAS --

/// A free UDP port on 127.0.0.1 (for a sipp that must listen on a known
/// port).
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// A sipp running a server-side scenario in the background.
pub struct SippServer {
    child: tokio::process::Child,
    work: tempfile::TempDir,
    pub port: u16,
}

impl SippServer {
    /// Starts `scenario` (a file in tests/sipp/, or an absolute path) on
    /// 127.0.0.1:`port` for `calls` calls.
    pub async fn start(scenario: &str, port: u16, keys: &[(&str, &str)], calls: u32) -> Self {
        Self::start_with(scenario, port, keys, calls, &[]).await
    }

    /// [`Self::start`] with more sipp arguments (`-mp` for its media port).
    pub async fn start_with(
        scenario: &str,
        port: u16,
        keys: &[(&str, &str)],
        calls: u32,
        extra: &[&str],
    ) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
        let work = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.arg("-sf")
            .arg(dir.join(scenario))
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                "30s",
                "-trace_err",
                "-trace_logs",
                "-nostdin",
            ])
            .args(["-i", "127.0.0.1", "-t", "u1", "-p", &port.to_string()]);
        for (k, v) in keys {
            cmd.args(["-key", k, v]);
        }
        cmd.args(extra);
        cmd.current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("cannot run sipp");
        // Let it bind before anyone sends to it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self { child, work, port }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for sipp to finish its calls.
    pub async fn finish(self) -> SippRun {
        let Self { child, work, .. } = self;
        let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
            .await
            .expect("sipp server did not finish")
            .expect("sipp server failed");
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        for entry in std::fs::read_dir(work.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                output.push_str(&format!("\n--- {} ---\n", entry.path().display()));
                output.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        SippRun {
            code: out.status.code().unwrap_or(-1),
            output,
        }
    }
}

/// Writes `scenario` with each `(from, to)` replaced into a temp file and
/// returns its path (for placeholders sipp cannot fill: response codes).
pub fn scenario_with(scenario: &str, subst: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
    let mut text = std::fs::read_to_string(dir.join(scenario)).unwrap();
    for (from, to) in subst {
        text = text.replace(from, to);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(scenario);
    std::fs::write(&path, text).unwrap();
    (tmp, path)
}

/// A stereo WAV's left and right channels (its header's sizes checked).
pub fn channels(wav: &[u8]) -> (Vec<i16>, Vec<i16>) {
    use omnivox_media::record::HEADER_LEN;
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_len, wav.len() - HEADER_LEN as usize, "header sizes");
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for s in wav[HEADER_LEN as usize..].chunks_exact(4) {
        l.push(i16::from_le_bytes([s[0], s[1]]));
        r.push(i16::from_le_bytes([s[2], s[3]]));
    }
    (l, r)
}
