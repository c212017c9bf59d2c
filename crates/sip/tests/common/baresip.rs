//! baresip (Debian `baresip-core`) as a real softphone in tests: headless,
//! on loopback, registering through Omnivox with digest and answering calls
//! by itself, with its control interface (`ctrl_tcp`) to hang up or ask for
//! call status.
//!
//! Shared by the SIP crate's tests (declared from `tests/common/mod.rs`)
//! and the API's end-to-end tests, which include this very file with
//! `#[path = "../../sip/tests/common/baresip.rs"] mod baresip;`. So it
//! stands alone: std, tokio, tempfile and `omnivox_sip` only, and the config
//! template is embedded from beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use omnivox_sip::DigestAlgorithm;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The config template (`tests/baresip/config` of the SIP crate).
const CONFIG_TEMPLATE: &str = include_str!("../baresip/config");

pub fn baresip_installed() -> bool {
    std::process::Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Skips the calling test (returns true) when baresip is missing.
pub fn skip_without_baresip() -> bool {
    if baresip_installed() {
        return false;
    }
    // Under the project's test script (which installs the peers and sets
    // this) a missing peer fails.
    assert!(
        std::env::var_os("OMNIVOX_REQUIRE_SIP_PEERS").is_none(),
        "baresip is required (OMNIVOX_REQUIRE_SIP_PEERS is set) but not installed"
    );
    eprintln!(
        "SKIPPED: baresip is not installed (Debian package baresip-core; scripts/test.sh installs it)"
    );
    true
}

/// The installed baresip's version, from the banner of `baresip -h`.
pub fn baresip_version() -> (u32, u32, u32) {
    let out = std::process::Command::new("baresip")
        .arg("-h")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run baresip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('v').filter(|v| v.contains('.')))
        .unwrap_or_else(|| panic!("no version in `baresip -h`:\n{text}"));
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Whether the installed baresip answers SHA-256 digest challenges: its
/// libre (`re`) learnt SHA-256 in 3.11 (baresip/re#1103, 2024). Before that,
/// libre answers MD5 only and gives up on the whole challenge ("Function not
/// implemented") when any WWW-Authenticate names another algorithm.
pub fn baresip_supports_sha256() -> bool {
    baresip_version() >= (3, 11, 0)
}

/// The digest algorithms a server must offer for the installed baresip to
/// register: SHA-256 first when it knows SHA-256, MD5 alone when it does
/// not (see [`baresip_supports_sha256`]).
pub fn baresip_digest_algorithms() -> Vec<DigestAlgorithm> {
    if baresip_supports_sha256() {
        vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    } else {
        vec![DigestAlgorithm::Md5]
    }
}

/// Where baresip's modules are: `OMNIVOX_BARESIP_MODULES`, or the first of
/// the usual install locations that has `g711.so`.
fn baresip_module_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("OMNIVOX_BARESIP_MODULES") {
        return PathBuf::from(dir);
    }
    let mut candidates = vec![
        PathBuf::from("/usr/lib/baresip/modules"),
        PathBuf::from("/usr/local/lib/baresip/modules"),
        PathBuf::from("/usr/lib64/baresip/modules"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("baresip/modules"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("g711.so").exists())
        .expect("baresip modules not found (set OMNIVOX_BARESIP_MODULES)")
}

/// A port on 127.0.0.1 that was free a moment ago for both UDP and TCP
/// (baresip listens for SIP on both, and its control port is TCP).
fn free_local_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A headless baresip (no audio device, loopback only) with one account,
/// registered through Omnivox and answering incoming calls by itself. Its
/// output goes to a log file in its config directory; the process is killed
/// when this is dropped.
pub struct Baresip {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    /// SIP port it listens on (UDP, 127.0.0.1).
    pub port: u16,
    /// Its `ctrl_tcp` control port (127.0.0.1).
    pub ctrl_port: u16,
}

impl Baresip {
    /// Starts baresip as `user@domain` (password `password`), registering
    /// through `server` over UDP (600 s), with `answermode=auto`.
    pub async fn start(user: &str, domain: &str, password: &str, server: SocketAddr) -> Self {
        // Its accounts file ends a parameter at a space or `;`.
        assert!(
            !password.contains(|c: char| c.is_whitespace() || c == ';' || c == '>'),
            "baresip cannot take a password with spaces, `;` or `>`"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_local_port();
        let ctrl_port = loop {
            let p = free_local_port();
            if p != port {
                break p;
            }
        };
        let config = CONFIG_TEMPLATE
            .replace("@SIP_LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@CTRL_LISTEN@", &format!("127.0.0.1:{ctrl_port}"))
            .replace(
                "@MODULE_PATH@",
                baresip_module_path()
                    .to_str()
                    .expect("module path is UTF-8"),
            );
        std::fs::write(dir.path().join("config"), config).unwrap();
        // baresip 1.0 account syntax: `;outbound="sip:host:port"` sends
        // everything through Omnivox (a loose Route), `;answermode=auto`
        // answers incoming calls at once.
        let account = format!(
            "<sip:{user}@{domain}>;auth_pass={password};outbound=\"sip:{server}\";\
             answermode=auto;regint=600\n"
        );
        std::fs::write(dir.path().join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let mut cmd = tokio::process::Command::new("baresip");
        cmd.arg("-f")
            .arg(dir.path())
            // SIP trace: every message baresip sends and receives is logged.
            .arg("-s")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd.spawn().expect("cannot run baresip");
        Self {
            child,
            dir,
            port,
            ctrl_port,
        }
    }

    /// Everything baresip printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log after
    /// `secs`.
    pub async fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("baresip exited ({status}) before {needle:?}:\n{log}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "baresip did not log {needle:?} within {secs} s:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs one of baresip's commands (the names `/help` lists, without
    /// the slash: `hangup`, `listcalls`, ...) through its control interface,
    /// and returns the command's output. Panics when baresip refuses the
    /// command or does not answer within 10 s. (1.0's `callstat` output
    /// stops before the stream statistics over this interface: see
    /// [`Self::audio_status`] for those.)
    pub async fn command(&self, command: &str) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.ctrl_port));
        let owned = command.to_owned();
        let answer = tokio::task::spawn_blocking(move || ctrl_command(addr, &owned))
            .await
            .unwrap();
        answer
            .unwrap_or_else(|e| panic!("baresip control: {e}\n--- baresip log ---\n{}", self.log()))
    }

    /// The call status lines baresip's `menu` prints while a call is up
    /// (`[0:00:07] audio=64383/63957 (bit/s)`), in order: the call's age
    /// and the audio bitrates it measures, sent and received (baresip
    /// refreshes the rates every few seconds; they read 0 before the first
    /// refresh).
    pub fn audio_status(&self) -> Vec<AudioStatus> {
        parse_audio_status(&self.log())
    }

    /// The agent puts the phone down: baresip hangs up its call (a BYE
    /// once it is answered).
    pub async fn hangup(&self) {
        self.command("hangup").await;
    }

    /// Kills baresip and returns its log.
    pub async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        self.log()
    }
}

/// One call status line of baresip's `menu` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioStatus {
    /// How long the call has been up.
    pub age: Duration,
    /// Audio bitrate sent to the peer, bit/s.
    pub tx_bps: u32,
    /// Audio bitrate received from the peer, bit/s.
    pub rx_bps: u32,
}

/// Every `[h:mm:ss] audio=<tx>/<rx> (bit/s)` in `log`.
fn parse_audio_status(log: &str) -> Vec<AudioStatus> {
    let mut out = Vec::new();
    for (i, _) in log.match_indices(" audio=") {
        let Some(open) = log[..i].rfind('[') else {
            continue;
        };
        let age: Vec<u64> = log[open + 1..i]
            .trim_end_matches(']')
            .split(':')
            .filter_map(|p| p.parse().ok())
            .collect();
        let rest = &log[i + " audio=".len()..];
        let Some((rates, _)) = rest.split_once(" (bit/s)") else {
            continue;
        };
        let (Some((tx, rx)), [h, m, s]) = (rates.split_once('/'), age.as_slice()) else {
            continue;
        };
        if let (Ok(tx_bps), Ok(rx_bps)) = (tx.parse(), rx.parse()) {
            out.push(AudioStatus {
                age: Duration::from_secs(h * 3600 + m * 60 + s),
                tx_bps,
                rx_bps,
            });
        }
    }
    out
}

/// One `ctrl_tcp` exchange: the command as a netstring of JSON
/// (`{"command": ..., "token": ...}`), then netstrings back until the one
/// that answers it (events may come first). Connection attempts are retried
/// for a while: baresip opens the port while it starts.
fn ctrl_command(addr: SocketAddr, command: &str) -> Result<String, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(format!("cannot connect to {addr}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let token = "omnivox-test";
    let json = format!(
        "{{\"command\":\"{}\",\"token\":\"{token}\"}}",
        command.replace('\\', "\\\\").replace('"', "\\\"")
    );
    stream
        .write_all(format!("{}:{json},", json.len()).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some((message, rest)) = netstring(&received) {
            let message = String::from_utf8_lossy(message).into_owned();
            received = rest.to_vec();
            if message.contains("\"response\":true")
                && message.contains(&format!("\"token\":\"{token}\""))
            {
                let data = json_string(&message, "data").unwrap_or_default();
                return if message.contains("\"ok\":true") {
                    Ok(data)
                } else {
                    Err(format!("baresip refused {command:?}: {data}"))
                };
            }
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "no answer to {command:?} within 10 s (got {:?})",
                String::from_utf8_lossy(&received)
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "baresip closed the control connection on {command:?}"
                ));
            }
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The first complete netstring (`<len>:<bytes>,`) of `buf` and what follows
/// it.
fn netstring(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = buf.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&buf[..colon]).ok()?.parse().ok()?;
    let end = colon + 1 + len;
    (buf.len() > end && buf[end] == b',').then(|| (&buf[colon + 1..end], &buf[end + 1..]))
}

/// The string value of `"key"` in a flat JSON object, unescaped.
fn json_string(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .unwrap_or('?'),
                    );
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}
