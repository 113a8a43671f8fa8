//! Per-credential rate limits (GCRA, from `governor`), with a burst, and
//! per-IP limits for requests that do not authenticate. Each instance
//! limits on its own: N instances allow up to N times the rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};

type Limiter = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// What the response headers say about the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full burst is available again.
    pub reset_secs: u64,
}

pub enum Decision {
    Allowed(RateInfo),
    Limited { info: RateInfo, retry_after_secs: u64 },
}

pub struct RateLimits {
    default_per_minute: u32,
    burst: u32,
    unauthenticated_per_minute: u32,
    /// One limiter per distinct per-minute quota (keys may override it).
    limiters: RwLock<HashMap<u32, Arc<Limiter>>>,
    by_ip: Limiter,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    Quota::per_minute(nonzero(per_minute)).allow_burst(nonzero(burst))
}

impl RateLimits {
    pub fn new(default_per_minute: u32, burst: u32, unauthenticated_per_minute: u32) -> Self {
        Self {
            default_per_minute,
            burst,
            unauthenticated_per_minute,
            limiters: RwLock::new(HashMap::new()),
            by_ip: governor::RateLimiter::keyed(quota(unauthenticated_per_minute, unauthenticated_per_minute))
                .with_middleware::<StateInformationMiddleware>(),
        }
    }

    fn limiter(&self, per_minute: u32) -> Arc<Limiter> {
        if let Some(l) = self.limiters.read().unwrap_or_else(|p| p.into_inner()).get(&per_minute) {
            return l.clone();
        }
        let burst = if per_minute == self.default_per_minute { self.burst } else { per_minute };
        let mut all = self.limiters.write().unwrap_or_else(|p| p.into_inner());
        all.entry(per_minute)
            .or_insert_with(|| {
                Arc::new(
                    governor::RateLimiter::keyed(quota(per_minute, burst))
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    /// Counts one request of a credential (`override_per_minute` from the key).
    pub fn check_credential(&self, credential: &str, override_per_minute: Option<u32>) -> Decision {
        let per_minute = override_per_minute.unwrap_or(self.default_per_minute);
        let limiter = self.limiter(per_minute);
        decide(&limiter, credential, per_minute)
    }

    /// Counts one unauthenticated request from an IP.
    pub fn check_ip(&self, ip: &str) -> Decision {
        decide(&self.by_ip, ip, self.unauthenticated_per_minute)
    }

    /// Drops state of keys that are back to full burst (memory bound).
    pub fn forget_idle(&self) {
        self.by_ip.retain_recent();
        for l in self.limiters.read().unwrap_or_else(|p| p.into_inner()).values() {
            l.retain_recent();
        }
    }
}

fn decide(limiter: &Limiter, key: &str, per_minute: u32) -> Decision {
    let interval = 60.0 / f64::from(per_minute.max(1));
    let key = key.to_owned();
    match limiter.check_key(&key) {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            let used = snapshot.quota().burst_size().get().saturating_sub(remaining);
            Decision::Allowed(RateInfo {
                limit: per_minute,
                remaining,
                reset_secs: (f64::from(used) * interval).ceil() as u64,
            })
        }
        Err(not_until) => {
            let wait: Duration = not_until.wait_time_from(limiter.clock().now());
            let burst = not_until.quota().burst_size().get();
            Decision::Limited {
                info: RateInfo {
                    limit: per_minute,
                    remaining: 0,
                    reset_secs: (f64::from(burst) * interval).ceil() as u64,
                },
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        }
    }
}
