//! Spawn the real Omnivox server for a test: its own database (a temp SQLite
//! file, or a fresh PostgreSQL schema when `OMNIVOX_TEST_BACKEND=postgres`
//! and `OMNIVOX_TEST_PG` is set), HTTP and metrics on port 0, and a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod pcap;

use omnivox_api::config::{Config, Secret};
use omnivox_api::{Application, BuildOptions};
use omnivox_store::DbConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery staple 7";

/// Which database the suite runs against.
pub fn backend_is_postgres() -> bool {
    std::env::var("OMNIVOX_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// A fresh, empty database for one test. The returned guard keeps a SQLite
/// temp dir alive.
pub fn test_database() -> (DbConfig, Option<tempfile::TempDir>) {
    if backend_is_postgres() {
        let url = std::env::var("OMNIVOX_TEST_PG")
            .expect("OMNIVOX_TEST_BACKEND=postgres needs OMNIVOX_TEST_PG");
        let schema = format!("ovx_t_{}", uuid::Uuid::new_v4().simple());
        (
            DbConfig {
                url,
                max_connections: 4,
                schema: Some(schema),
            },
            None,
        )
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/omnivox.db", dir.path().display());
        (
            DbConfig {
                url,
                max_connections: 4,
                schema: None,
            },
            Some(dir),
        )
    }
}

/// The configuration tests start from: port 0, cheap argon2, generous limits.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.http.bind = "127.0.0.1:0".parse().unwrap();
    c.metrics.bind = "127.0.0.1:0".parse().unwrap();
    c.http.shutdown_grace_secs = 2;
    c.auth.argon2_memory_kib = 256;
    c.auth.argon2_iterations = 1;
    c.auth.token_secret = Some(Secret::new(format!(
        "test-signing-key-{}",
        uuid::Uuid::new_v4()
    )));
    c.rate_limit.per_ip_per_sec = 10_000;
    c.rate_limit.per_ip_burst = 10_000;
    c.rate_limit.per_principal_per_sec = 10_000;
    c.rate_limit.per_principal_burst = 10_000;
    c.sip.server.bind = "127.0.0.1:0".parse().unwrap();
    // The tests' webhook and notification receivers listen on 127.0.0.1.
    c.inbound.private_webhooks = true;
    // sipp answers only the first challenge and speaks MD5.
    c.sip.server.auth.algorithms = vec![
        omnivox_sip::DigestAlgorithm::Md5,
        omnivox_sip::DigestAlgorithm::Sha256,
    ];
    c
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub sip_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub base: String,
    pub client: reqwest::Client,
    pub setup_token: Option<String>,
    pub config: Config,
    /// How far the dialer's clock is moved (kept across restarts).
    clock_offset: chrono::TimeDelta,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
    _data: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_opts(tweak, BuildOptions::default()).await
}

/// An app whose dialer clock reads `at` now (and runs on from there), so
/// campaign tests meet calling windows at a chosen local time.
pub async fn spawn_app_at(at: chrono::DateTime<chrono::Utc>) -> TestApp {
    let opts = BuildOptions {
        clock_offset: at - chrono::Utc::now(),
        ..BuildOptions::default()
    };
    spawn_app_opts(|_| {}, opts).await
}

async fn spawn_app_opts(tweak: impl FnOnce(&mut Config), opts: BuildOptions) -> TestApp {
    let (db, dir) = test_database();
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.database = db;
    config.storage.data_dir = data.path().to_owned();
    tweak(&mut config);
    let clock_offset = opts.clock_offset;
    let app = Application::build(config.clone(), opts)
        .await
        .expect("build the application");
    let addr = app.http_addr();
    let sip_addr = app.sip_udp_addr();
    let metrics_addr = app.metrics_addr();
    let setup_token = app.setup_token().map(str::to_owned);
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        sip_addr,
        metrics_addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        setup_token,
        config,
        clock_offset,
        shutdown,
        server: Some(server),
        _dir: dir,
        _data: data,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The stable error code, if this is an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// What the server's dialer clock reads now.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Send a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Finish first-run setup; returns the new tenant's id.
    pub async fn setup(&self, email: &str, tenant_name: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(json!({
                    "setup_token": self.setup_token.as_deref().expect("fresh database has a setup token"),
                    "email": email,
                    "display_name": "Owner",
                    "password": PASSWORD,
                    "tenant_name": tenant_name,
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["tenant"]["id"].as_str().unwrap().to_owned()
    }

    /// Sign in; returns the whole token response.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": email, "password": password })),
        )
        .await
    }

    /// Sign in and return the access token, asserting success.
    pub async fn token(&self, email: &str) -> String {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Set up the installation and return (tenant id, owner token).
    pub async fn owner(&self) -> (String, String) {
        let tenant = self.setup("owner@example.com", "Acme Calls").await;
        (tenant, self.token("owner@example.com").await)
    }

    /// Two tenants: "Acme Calls" (from [`Self::owner`]) and "Bravo
    /// Collections", made by a platform super-admin (who exists only through
    /// the CLI; the same code path is used). Returns (tenant A, owner A,
    /// tenant B, owner B).
    pub async fn two_tenants(&self) -> (String, String, String, String) {
        let (a, owner_a) = self.owner().await;
        let admin = omnivox_api::admin::Admin::connect(&self.config)
            .await
            .expect("admin connection");
        admin
            .create_user("root@example.com", "Root", PASSWORD, None, true)
            .await
            .expect("super-admin");
        let root = self.token("root@example.com").await;
        let b = self
            .post(
                "/api/v1/tenants",
                &root,
                serde_json::json!({ "name": "Bravo Collections", "time_zone": "America/Chicago" }),
            )
            .await;
        assert_eq!(b.status, reqwest::StatusCode::CREATED, "{b:?}");
        let b = b.body["id"].as_str().expect("tenant id").to_owned();
        let owner_b = self.member(&b, &root, "owner-b@example.com", "owner").await;
        (a, owner_a, b, owner_b)
    }

    /// Add a member with `role` to `tenant` (as `admin_token`); returns their token.
    pub async fn member(&self, tenant: &str, admin_token: &str, email: &str, role: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/tenants/{tenant}/members"),
                admin_token,
                json!({ "email": email, "role": role, "display_name": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        self.token(email).await
    }

    /// Stop the server and start a new one on the same database and data
    /// directory (a restart, as after a deploy or a crash).
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// Stops the app and starts it again on the same database and data
    /// dir, with `tweak` applied to the configuration first.
    pub async fn restart_with(self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        self.try_restart_with(tweak)
            .await
            .expect("rebuild the application")
    }

    /// Stop the server and build it again on the same database and data
    /// directory with a changed config; a start that fails is returned.
    pub async fn try_restart_with(
        mut self,
        tweak: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestApp> {
        self.shutdown.cancel();
        if let Some(s) = self.server.take() {
            s.await.unwrap().unwrap();
        }
        let mut config = self.config.clone();
        tweak(&mut config);
        config.http.bind = "127.0.0.1:0".parse().unwrap();
        let opts = BuildOptions {
            clock_offset: self.clock_offset,
            ..BuildOptions::default()
        };
        let app = Application::build(config.clone(), opts).await?;
        let addr = app.http_addr();
        let sip_addr = app.sip_udp_addr();
        let metrics_addr = app.metrics_addr();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        Ok(TestApp {
            addr,
            sip_addr,
            metrics_addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            setup_token: None,
            config,
            clock_offset: self.clock_offset,
            shutdown,
            server: Some(server),
            _dir: self._dir.take(),
            _data: std::mem::replace(&mut self._data, tempfile::tempdir().unwrap()),
        })
    }

    /// Stop the server and wait for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(s) = self.server.take() {
            s.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// Whether sipp (Debian `sip-tester`) can run. With
/// `OMNIVOX_REQUIRE_SIP_PEERS` set (the test script sets it after installing
/// sipp) a missing sipp is a failure; otherwise the caller skips.
pub fn sipp_available() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || std::env::var_os("OMNIVOX_REQUIRE_SIP_PEERS").is_none(),
        "sipp is required (OMNIVOX_REQUIRE_SIP_PEERS is set) but not installed"
    );
    if !found {
        eprintln!("SKIPPED: sipp is not installed (Debian package sip-tester)");
    }
    found
}

/// sipp answering `calls` calls on 127.0.0.1:`port` with the SIP tests'
/// `uas_loop.xml` (answers, then takes re-INVITEs and INFO until BYE),
/// working in `work` (its error traces go there).
pub fn sipp_uas_loop(port: u16, calls: u32, work: &std::path::Path) -> tokio::process::Child {
    sipp_uas_command("uas_loop.xml", port, calls, "30s", work)
        .spawn()
        .expect("sipp starts")
}

/// sipp running the SIP tests' scenario `name` (a file under
/// `crates/sip/tests/sipp/`) as a UAS for `calls` calls on 127.0.0.1:`port`,
/// logging (`-trace_logs`) into `work`. Every message goes to
/// `<scenario>_<pid>_messages.log` there (`-trace_msg`).
pub fn sipp_uas(
    name: &str,
    port: u16,
    calls: u32,
    work: &std::path::Path,
) -> tokio::process::Child {
    sipp_uas_command(name, port, calls, "300s", work)
        .args(["-trace_logs", "-trace_msg"])
        .spawn()
        .expect("sipp starts")
}

/// sipp placing one call of the SIP tests' scenario `name` to `target`
/// from 127.0.0.1:`port`, dialling `service` as `caller` (the scenario's
/// `[caller]`), working (and logging) in `work`. Wait for it with
/// `wait_with_output`.
pub fn sipp_uac(
    name: &str,
    target: SocketAddr,
    port: u16,
    service: &str,
    caller: &str,
    work: &std::path::Path,
) -> tokio::process::Child {
    let scenario = format!("{}/../sip/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"));
    tokio::process::Command::new("sipp")
        .arg(target.to_string())
        .args([
            "-sf", &scenario, "-m", "1", "-timeout", "90s", "-s", service,
        ])
        .args(["-key", "caller", caller])
        .args([
            "-nostdin",
            "-trace_err",
            "-trace_msg",
            "-i",
            "127.0.0.1",
            "-t",
            "u1",
        ])
        .args(["-p", &port.to_string()])
        .current_dir(work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// The sipp command line both UAS launchers share: scenario `name`, at most
/// `calls` calls, ending after `timeout`, error traces in `work`.
fn sipp_uas_command(
    name: &str,
    port: u16,
    calls: u32,
    timeout: &str,
    work: &std::path::Path,
) -> tokio::process::Command {
    let scenario = format!("{}/../sip/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"));
    pcap::write_captures(work).expect("sipp's captures written");
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.args([
        "-sf",
        &scenario,
        "-m",
        &calls.to_string(),
        "-timeout",
        timeout,
    ])
    .args(["-nostdin", "-trace_err", "-i", "127.0.0.1", "-t", "u1"])
    .args(["-p", &port.to_string()])
    .current_dir(work)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    cmd
}

/// One REGISTER of a sipp phone (the SIP tests' `register.xml`) for `user`
/// at `domain` against `target`, from 127.0.0.1:`local_port` when given
/// (a phone that will then answer there); returns sipp's exit code.
pub async fn sipp_register(
    target: SocketAddr,
    domain: &str,
    user: &str,
    password: &str,
    local_port: Option<u16>,
) -> i32 {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sip/tests/sipp/register.xml"
    );
    let work = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.arg(target.to_string())
        .args(["-sf", scenario, "-m", "1", "-timeout", "10s", "-nostdin"])
        .args(["-i", "127.0.0.1", "-t", "u1"])
        .args([
            "-key", "domain", domain, "-key", "user", user, "-key", "expires", "600",
        ])
        .args(["-au", user, "-ap", password]);
    if let Some(p) = local_port {
        cmd.args(["-p", &p.to_string()]);
    }
    let out = cmd
        .current_dir(work.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), out)
        .await
        .expect("sipp register finishes")
        .expect("sipp runs");
    out.status.code().unwrap_or(-1)
}

/// A UDP port on 127.0.0.1 that was free a moment ago (for a peer that must
/// listen on a known port).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// A 16-bit PCM WAV of a `freq` Hz sine, `seconds` long.
pub fn sine_wav(rate: u32, channels: u16, freq: f64, seconds: f64) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds) as u32;
    let data_len = frames * u32::from(channels) * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&channels.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    w.extend_from_slice(&(channels * 2).to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let s = (8000.0
            * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(rate)).sin())
            as i16;
        for _ in 0..channels {
            w.extend_from_slice(&s.to_le_bytes());
        }
    }
    w
}
