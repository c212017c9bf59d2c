//! Rate limits per source address (before authentication) and per user or
//! API key (after it), answered with 429 and `Retry-After`.

use crate::auth::Principal;
use crate::auth::principal::client_ip;
use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

pub struct Limiters {
    ip: Option<Keyed<IpAddr>>,
    principal: Option<Keyed<String>>,
    clock: DefaultClock,
}

fn quota(per_sec: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst.max(per_sec))?;
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limiters {
    pub fn new(cfg: &RateLimitConfig) -> Self {
        let on = |q: Option<Quota>| q.filter(|_| cfg.enabled);
        Self {
            ip: on(quota(cfg.per_ip_per_sec, cfg.per_ip_burst)).map(RateLimiter::keyed),
            principal: on(quota(cfg.per_principal_per_sec, cfg.per_principal_burst))
                .map(RateLimiter::keyed),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &Option<Keyed<K>>,
        key: &K,
    ) -> Result<(), ApiError> {
        let Some(l) = limiter else { return Ok(()) };
        l.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Drop state of keys that have been quiet (run periodically).
    pub fn shrink(&self) {
        if let Some(l) = &self.ip {
            l.retain_recent();
        }
        if let Some(l) = &self.principal {
            l.retain_recent();
        }
    }
}

pub async fn per_ip(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    if let Some(ip) = client_ip(&parts) {
        state.limiters.check(&state.limiters.ip, &ip)?;
    }
    Ok(next.run(Request::from_parts(parts, body)).await)
}

pub async fn per_principal(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(p) = req.extensions().get::<Principal>() {
        state.limiters.check(&state.limiters.principal, &p.key())?;
    }
    Ok(next.run(req).await)
}
