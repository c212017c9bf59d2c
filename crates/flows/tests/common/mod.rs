//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use omnivox_flows::{CallContext, Flow};

pub const MAIN: &str = include_str!("../fixtures/main.json");
pub const SECRET: &[u8] = b"crm-signing-secret";

pub fn main_flow() -> Arc<Flow> {
    Arc::new(Flow::from_json(MAIN).unwrap())
}

pub fn prompts() -> BTreeSet<String> {
    [
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
    .collect()
}

/// Tuesday 10 March 2026, 15:00 UTC = 11:00 EDT: open.
pub fn open_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap()
}

pub fn ctx_at(now: DateTime<Utc>) -> CallContext {
    let mut ctx = CallContext::new("call-1", "main", "+12125550100", "+18005550199", now);
    ctx.variables.insert("brand".into(), "Omnivox".into());
    ctx.secrets.insert("crm".into(), SECRET.to_vec());
    ctx.caller_country = Some("US".into());
    ctx
}

/// Parses a small flow written inline in a test.
pub fn flow(json: serde_json::Value) -> Arc<Flow> {
    Arc::new(serde_json::from_value(json).unwrap())
}
