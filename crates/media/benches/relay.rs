//! Relay benchmark: N concurrent G.711 calls (two legs each, 50 packets/s
//! per direction, 20 ms PCMU) through a `MediaEngine` on its own
//! single-threaded runtime, against a plain UDP forwarder on the same
//! thread model as the baseline. Prints one JSON document.
//!
//! `cargo bench -p omnivox-media --bench relay`; `BENCH_CALLS=100,500`
//! and `BENCH_SECS=8` override the call counts and the measured seconds.

use std::time::Duration;

use std::sync::Arc;

use omnivox_media::loadgen::{ForwarderTarget, Generator, RelayTarget, RunResult, rss_bytes};
use omnivox_media::record::{LocalStore, Recorder, RecorderConfig, RecordingKey, RecordingStore};
use omnivox_media::relay::{MediaConfig, RecordSink};
use omnivox_media::{Channel, Frame};

/// The recording engineer's `Recorder` behind the relay's sink trait.
struct RecorderSink(Recorder);

impl RecordSink for RecorderSink {
    fn push(&mut self, ch: Channel, frame: &Frame) {
        let _ = self.0.push(ch, frame);
    }
}

/// Recording runs only up to this many calls (disk: 32 kB/s per call).
const MAX_RECORDED_CALLS: usize = 500;

const WARMUP: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_millis(300);

struct Row {
    target: &'static str,
    calls: usize,
    run: RunResult,
    cpu: Duration,
    loaded: Duration,
    rss_delta: Option<i64>,
}

impl Row {
    fn json(&self) -> String {
        let loss = if self.run.sent == 0 {
            100.0
        } else {
            100.0 * (self.run.sent.saturating_sub(self.run.received)) as f64 / self.run.sent as f64
        };
        let cpu_share = self.cpu.as_secs_f64() / self.loaded.as_secs_f64();
        let per_call_us =
            self.cpu.as_secs_f64() * 1e6 / self.loaded.as_secs_f64() / self.calls as f64;
        let calls_per_core = if cpu_share > 0.0 {
            self.calls as f64 / cpu_share
        } else {
            0.0
        };
        let mem = match self.rss_delta {
            Some(d) => format!("{:.0}", d as f64 / self.calls as f64),
            None => "null".into(),
        };
        format!(
            "{{\"target\":\"{}\",\"calls\":{},\"packets_sent\":{},\"packets_received\":{},\"misrouted\":{},\"stale_ignored\":{},\"loss_percent\":{:.4},\"latency_p50_us\":{},\"latency_p99_us\":{},\"latency_max_us\":{},\"cpu_core_share\":{:.4},\"cpu_us_per_call_per_s\":{:.2},\"calls_per_core\":{:.0},\"rss_bytes_per_call\":{}}}",
            self.target,
            self.calls,
            self.run.sent,
            self.run.received,
            self.run.misrouted,
            self.run.stale,
            loss,
            self.run.p50_us,
            self.run.p99_us,
            self.run.max_us,
            cpu_share,
            per_call_us,
            calls_per_core,
            mem
        )
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls = env_list("BENCH_CALLS", &[100, 500, 1000, 2000]);
    let secs = env_list("BENCH_SECS", &[8])[0] as u64;
    let measure = Duration::from_secs(secs);
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for &n in &calls {
        let generator = Generator::new(n.min(32))?;
        let endpoints = generator.endpoints(n)?;

        // Baseline first; it also warms the generator's allocations so the
        // relay's RSS delta below is the relay's.
        let (fwd, targets) = control.block_on(ForwarderTarget::start(&endpoints))?;
        let c0 = control.block_on(fwd.runtime.cpu_time()).unwrap_or_default();
        let run = generator.run(&targets, WARMUP, measure, DRAIN)?;
        let c1 = control.block_on(fwd.runtime.cpu_time()).unwrap_or_default();
        drop(fwd);
        rows.push(Row {
            target: "udp_forwarder",
            calls: n,
            run,
            cpu: c1.saturating_sub(c0),
            loaded: WARMUP + measure,
            rss_delta: None,
        });

        let config = MediaConfig {
            ip: "127.0.0.1".parse()?,
            port_min: 40_000,
            port_max: 59_999,
            rtp_timeout: Some(Duration::from_secs(30)),
            ..MediaConfig::default()
        };
        let rss0 = rss_bytes();
        let (relay, targets) =
            control.block_on(RelayTarget::start(config.clone(), &endpoints, None))?;
        let c0 = control
            .block_on(relay.runtime.cpu_time())
            .unwrap_or_default();
        let run = generator.run(&targets, WARMUP, measure, DRAIN)?;
        let c1 = control
            .block_on(relay.runtime.cpu_time())
            .unwrap_or_default();
        let rss1 = rss_bytes();
        drop(relay);
        let row = Row {
            target: "relay",
            calls: n,
            run,
            cpu: c1.saturating_sub(c0),
            loaded: WARMUP + measure,
            rss_delta: rss0.zip(rss1).map(|(a, b)| b as i64 - a as i64),
        };
        eprintln!("{}", row.json());
        rows.push(row);

        if n <= MAX_RECORDED_CALLS {
            let dir = tempfile::tempdir()?;
            let store: Arc<dyn RecordingStore> = Arc::new(LocalStore::new(dir.path())?);
            let mut make = |i: usize| -> Box<dyn RecordSink> {
                let key = RecordingKey::new("bench", format!("call-{i}"));
                match key.and_then(|k| Recorder::start(store.clone(), k, RecorderConfig::default()))
                {
                    Ok(r) => Box::new(RecorderSink(r)),
                    Err(e) => panic!("recorder: {e}"),
                }
            };
            let (relay, targets) =
                control.block_on(RelayTarget::start(config, &endpoints, Some(&mut make)))?;
            let c0 = control
                .block_on(relay.runtime.cpu_time())
                .unwrap_or_default();
            let run = generator.run(&targets, WARMUP, measure, DRAIN)?;
            let c1 = control
                .block_on(relay.runtime.cpu_time())
                .unwrap_or_default();
            drop(relay);
            let row = Row {
                target: "relay_recording",
                calls: n,
                run,
                cpu: c1.saturating_sub(c0),
                loaded: WARMUP + measure,
                rss_delta: None,
            };
            eprintln!("{}", row.json());
            rows.push(row);
        }
    }
    let body: Vec<String> = rows.iter().map(Row::json).collect();
    println!(
        "{{\"bench\":\"relay\",\"measure_s\":{},\"warmup_s\":{},\"goals\":{{\"calls_per_core\":2000,\"loss_percent\":0,\"latency_p99_us\":1000,\"rss_bytes_per_call\":51200}},\"results\":[{}]}}",
        secs,
        WARMUP.as_secs(),
        body.join(",")
    );
    Ok(())
}
