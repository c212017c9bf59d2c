//! Running the real `omnivox` binary in tests: config, start (optionally
//! under a faked wall clock), readiness, sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const OWNER: &str = "owner@example.com";
pub const PASSWORD: &str = "correct horse battery staple 42";

pub fn write_config(dir: &Path, http: u16, sip: u16) -> std::path::PathBuf {
    let path = dir.join("omnivox.toml");
    let db = dir.join("omnivox.db");
    let cfg = format!(
        r#"
[http]
bind = "127.0.0.1:{http}"
[metrics]
enabled = false
[database]
url = "sqlite://{db}"
[storage]
data_dir = "{data}"
[sip.server]
bind = "127.0.0.1:{sip}"
[sip.server.calls]
trunk_check_secs = 0
# sipp answers only the first challenge and speaks MD5.
[sip.server.auth]
algorithms = ["MD5", "SHA-256"]
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
[log]
format = "json"
level = "warn"
[bootstrap]
owner_email = "{OWNER}"
tenant_name = "Acme Calls"
"#,
        db = db.display(),
        data = dir.join("data").display(),
    );
    std::fs::write(&path, cfg).unwrap();
    path
}

pub fn start(config: &Path) -> Child {
    start_at(config, None)
}

/// libfaketime, from Debian's `faketime` package.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Start the server; with `at` (`2026-06-02 19:00:00`, UTC) its wall clock
/// starts there and runs on, through libfaketime preloaded into the
/// server itself (so the child is the server and a kill reaches it;
/// monotonic time stays real, so timers behave).
pub fn start_at(config: &Path, at: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnivox"));
    if let Some(at) = at {
        cmd.env("LD_PRELOAD", LIBFAKETIME)
            .env("FAKETIME", format!("@{at}"))
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("TZ", "UTC");
    }
    cmd.args(["--config", config.to_str().unwrap(), "serve"])
        .env("OMNIVOX__BOOTSTRAP__OWNER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs in; returns the token and the owner's tenant id.
pub async fn sign_in(client: &reqwest::Client, base: &str) -> (String, String) {
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": OWNER, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["access_token"].as_str().expect("token").to_owned();
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = me["memberships"][0]["tenant_id"]
        .as_str()
        .expect("tenant")
        .to_owned();
    (token, tenant)
}

pub async fn get(client: &reqwest::Client, url: String, token: &str) -> (StatusCode, Value) {
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Whether libfaketime is installed. With `OMNIVOX_REQUIRE_SIP_PEERS` set
/// (the test script installs it with the SIP peers) a missing one is a
/// failure.
pub fn faketime_available() -> bool {
    let found = Path::new(LIBFAKETIME).exists();
    assert!(
        found || std::env::var_os("OMNIVOX_REQUIRE_SIP_PEERS").is_none(),
        "libfaketime is required (OMNIVOX_REQUIRE_SIP_PEERS is set) but not installed"
    );
    if !found {
        eprintln!("SKIPPED: libfaketime is not installed (Debian package faketime)");
    }
    found
}
