//! Flow costs per call, printed as JSON. Baselines measured in the same run: a plain
//! `serde_json::Value` parse of the same flow (against the typed, strict parse) and one
//! HMAC signature (against a whole simulated call, which signs one webhook).

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use omnivox_flows::{CallContext, Flow, Script, simulate, validate, webhook};

const FLOW: &str = include_str!("../tests/fixtures/main.json");

/// Median ns per iteration over several rounds.
fn measure(iters: u32, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flow = Arc::new(Flow::from_json(FLOW)?);
    let prompts: BTreeSet<String> = [
        "closed",
        "notice",
        "main-menu",
        "invalid",
        "enter-account",
        "leave-message",
        "rate-us",
        "goodbye",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let now = Utc
        .with_ymd_and_hms(2026, 3, 10, 15, 0, 0)
        .single()
        .ok_or("bad time")?;
    let mut ctx = CallContext::new("call-1", "main", "+12125550100", "+18005550199", now);
    ctx.secrets.insert("crm".into(), b"secret".to_vec());
    ctx.variables.insert("brand".into(), "Omnivox".into());
    let script: Script = serde_json::from_value(serde_json::json!({
        "inputs": [{"digits": "2"}, {"digits": "12345#"}, {"recording": {"seconds": 3}}, {"digits": "4"}],
        "webhooks": {"lookup": [{"reply": {"body": {"variables": {"tier": "silver"}}}}]}
    }))?;
    let body = r#"{"call_id":"call-1","caller":"+12125550100","variables":{"brand":"Omnivox"}}"#;

    let parse_value = measure(2_000, || {
        black_box(serde_json::from_str::<serde_json::Value>(black_box(FLOW)).ok());
    });
    let parse_flow = measure(2_000, || {
        black_box(Flow::from_json(black_box(FLOW)).ok());
    });
    let validate_ns = measure(2_000, || {
        black_box(validate(black_box(&flow), &prompts));
    });
    let sign_ns = measure(20_000, || {
        black_box(webhook::sign(b"secret", 1_700_000_000, black_box(body)).ok());
    });
    let simulate_ns = measure(2_000, || {
        black_box(simulate(Arc::clone(&flow), ctx.clone(), black_box(&script)));
    });
    println!(
        "{}",
        serde_json::json!({
            "bench": "flows",
            "nodes": flow.nodes.len(),
            "baseline_parse_value_ns": parse_value.round(),
            "parse_flow_ns": parse_flow.round(),
            "parse_flow_vs_value": (parse_flow / parse_value * 100.0).round() / 100.0,
            "validate_ns": validate_ns.round(),
            "baseline_hmac_sign_ns": sign_ns.round(),
            "simulate_call_ns": simulate_ns.round(),
            "simulate_vs_sign": (simulate_ns / sign_ns * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
