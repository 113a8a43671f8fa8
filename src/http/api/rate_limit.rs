//! Per-credential rate limits (GCRA), with a burst, and per-IP limits for
//! requests that do not authenticate.
//!
//! Without Redis each instance limits on its own (`governor`, in memory):
//! N instances allow up to N times the rate. With `api.rate_limit_redis_url`
//! every instance takes the same decision in Redis, atomically, in one Lua
//! script over the key's theoretical arrival time, by Redis's clock, so the
//! instances' clocks do not matter. While Redis does not answer within
//! `api.rate_limit_redis_timeout_ms`, `open` falls back to the instance's
//! own limiter and `closed` answers 503; once it has failed a few times in a
//! row, it is asked again every `RETRY_DOWN_REDIS_EVERY`, and the decisions
//! in between do not wait.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{ApiConfig, RedisFailure};

type Limiter = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// What the response headers say about the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full burst is available again.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed(RateInfo),
    Limited {
        info: RateInfo,
        retry_after_secs: u64,
    },
    /// The shared store did not answer and the configuration fails closed.
    Unavailable,
}

pub struct RateLimits {
    default_per_minute: u32,
    burst: u32,
    unauthenticated_per_minute: u32,
    /// One limiter per distinct per-minute quota (keys may override it).
    limiters: RwLock<HashMap<u32, Arc<Limiter>>>,
    by_ip: Limiter,
    shared: Option<Shared>,
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
            shared: None,
        }
    }

    /// The limits of `api`, shared through Redis when it names one. Nothing
    /// connects yet: a Redis that is down at start-up is a failure like any
    /// other, not a reason to refuse to start.
    pub fn from_config(api: &ApiConfig) -> Result<Self, redis::RedisError> {
        let mut limits = Self::new(api.rate_limit_per_minute, api.rate_limit_burst, api.unauthenticated_per_minute);
        if let Some(url) = &api.rate_limit_redis_url {
            limits.shared = Some(Shared {
                client: redis::Client::open(url.as_str())?,
                connection: tokio::sync::OnceCell::new(),
                script: redis::Script::new(GCRA_SCRIPT),
                timeout: Duration::from_millis(api.rate_limit_redis_timeout_ms),
                failure: api.rate_limit_redis_failure,
                prefix: api.rate_limit_redis_prefix.clone(),
                down: AtomicBool::new(false),
                epoch: Instant::now(),
                failed_at_us: AtomicU64::new(0),
                failures_in_a_row: AtomicU32::new(0),
            });
        }
        Ok(limits)
    }

    fn burst_for(&self, per_minute: u32) -> u32 {
        if per_minute == self.default_per_minute { self.burst } else { per_minute }
    }

    fn limiter(&self, per_minute: u32) -> Arc<Limiter> {
        if let Some(l) = self.limiters.read().unwrap_or_else(|p| p.into_inner()).get(&per_minute) {
            return l.clone();
        }
        let burst = self.burst_for(per_minute);
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
    pub async fn check_credential(&self, credential: &str, override_per_minute: Option<u32>) -> Decision {
        let per_minute = override_per_minute.unwrap_or(self.default_per_minute);
        let burst = self.burst_for(per_minute);
        if let Some(shared) = &self.shared {
            match shared.decide(&format!("{per_minute}-{burst}"), credential, per_minute, burst).await {
                Some(decision) => return decision,
                None if shared.failure == RedisFailure::Closed => return Decision::Unavailable,
                None => {}
            }
        }
        decide(&self.limiter(per_minute), credential, per_minute)
    }

    /// Counts one unauthenticated request from an IP.
    pub async fn check_ip(&self, ip: &str) -> Decision {
        let per_minute = self.unauthenticated_per_minute;
        if let Some(shared) = &self.shared {
            match shared.decide("ip", ip, per_minute, per_minute).await {
                Some(decision) => return decision,
                None if shared.failure == RedisFailure::Closed => return Decision::Unavailable,
                None => {}
            }
        }
        decide(&self.by_ip, ip, per_minute)
    }

    /// Drops state of keys that are back to full burst (memory bound).
    pub fn forget_idle(&self) {
        self.by_ip.retain_recent();
        for l in self.limiters.read().unwrap_or_else(|p| p.into_inner()).values() {
            l.retain_recent();
        }
    }

    /// For /readyz: None without Redis; else whether it answers PING in time.
    pub async fn redis_answers(&self) -> Option<bool> {
        let shared = self.shared.as_ref()?;
        Some(shared.ping().await)
    }

    /// Whether requests are refused while Redis does not answer.
    pub fn fails_closed(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.failure == RedisFailure::Closed)
    }
}

/// The numbers of a GCRA outcome as the headers state them, whichever
/// limiter took the decision. `wait` is until the next request would pass.
fn outcome(per_minute: u32, burst: u32, allowed: bool, remaining: u32, wait: Duration) -> Decision {
    let interval = 60.0 / f64::from(per_minute.max(1));
    if allowed {
        let used = burst.saturating_sub(remaining);
        Decision::Allowed(RateInfo {
            limit: per_minute,
            remaining,
            reset_secs: (f64::from(used) * interval).ceil() as u64,
        })
    } else {
        Decision::Limited {
            info: RateInfo { limit: per_minute, remaining: 0, reset_secs: (f64::from(burst) * interval).ceil() as u64 },
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }
}

fn decide(limiter: &Limiter, key: &str, per_minute: u32) -> Decision {
    let key = key.to_owned();
    match limiter.check_key(&key) {
        Ok(snapshot) => {
            let burst = snapshot.quota().burst_size().get();
            outcome(per_minute, burst, true, snapshot.remaining_burst_capacity(), Duration::ZERO)
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.clock().now());
            outcome(per_minute, not_until.quota().burst_size().get(), false, 0, wait)
        }
    }
}

/// GCRA as `governor` takes it, in microseconds of Redis's own clock.
/// KEYS[1]: the key's theoretical arrival time (TAT). ARGV[1]: the emission
/// interval t; ARGV[2]: tau = t × (burst − 1). Returns {allowed, remaining,
/// wait}. Numbers are written with %.0f: Lua 5.1 prints a number with 14
/// digits, too few for microseconds since 1970.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local earliest = tat - tau
if now < earliest then
  return {0, 0, earliest - now}
end
local new_tat = math.max(tat, now) + t
-- Once the TAT is past, a missing key means the same: let it expire then.
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, math.floor(math.min(now + tau + t - new_tat, tau + t) / t), 0}
";

/// The Redis every instance counts in.
struct Shared {
    client: redis::Client,
    /// Made on first use, inside the runtime; it reconnects on its own.
    connection: tokio::sync::OnceCell<ConnectionManager>,
    script: redis::Script,
    timeout: Duration,
    failure: RedisFailure,
    prefix: String,
    /// Whether the last call failed: logs the change, not every request.
    down: AtomicBool,
    /// When the last call failed (microseconds since `epoch`): while down,
    /// decisions do not wait for Redis until `RETRY_DOWN_REDIS_EVERY` after
    /// it, and a call begun before it cannot say Redis is back.
    epoch: Instant,
    failed_at_us: AtomicU64,
    /// Failures since the last answer: one slow answer on a busy machine
    /// does not make the decisions stop asking (in `closed`, that would be
    /// half a second of 503s); `FAILURES_BEFORE_RESTING` in a row do.
    failures_in_a_row: AtomicU32,
}

/// See `Shared::failures_in_a_row`.
const FAILURES_BEFORE_RESTING: u32 = 3;

/// While Redis does not answer, it is asked again at most this often; the
/// decisions in between do not wait for it. Without this, every request
/// of an outage waited up to the timeout (and the reconnection's backoff)
/// before falling back: throughput fell 25-fold (`tests/it/redis_outage.rs`).
const RETRY_DOWN_REDIS_EVERY: Duration = Duration::from_millis(500);

impl Shared {
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let made = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(made.clone())
    }

    /// The shared decision, or None when Redis failed or was too slow.
    async fn decide(&self, quota: &str, key: &str, per_minute: u32, burst: u32) -> Option<Decision> {
        let t = 60_000_000 / u64::from(per_minute.max(1));
        let tau = t * u64::from(burst.max(1) - 1);
        if self.resting() {
            return None;
        }
        let began = self.now_us();
        let redis_key = format!("{}:rl:{quota}:{key}", self.prefix);
        let call = async {
            let mut con = self.connection().await?;
            self.script.key(&redis_key).arg(t).arg(tau).invoke_async::<(i64, i64, i64)>(&mut con).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, remaining, wait_us))) => {
                self.answered(began);
                let remaining = u32::try_from(remaining.max(0)).unwrap_or(u32::MAX);
                let wait = Duration::from_micros(u64::try_from(wait_us.max(0)).unwrap_or(0));
                Some(outcome(per_minute, burst, allowed == 1, remaining, wait))
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed(&format!("no answer within {} ms", self.timeout.as_millis()));
                None
            }
        }
    }

    async fn ping(&self) -> bool {
        let began = self.now_us();
        let call = async {
            let mut con = self.connection().await?;
            redis::cmd("PING").query_async::<String>(&mut con).await
        };
        let answered = matches!(tokio::time::timeout(self.timeout, call).await, Ok(Ok(_)));
        if answered {
            // Back: the decisions need not wait for the next try.
            self.answered(began);
        }
        answered
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Down, and not yet time to ask again.
    fn resting(&self) -> bool {
        let retry_us = u64::try_from(RETRY_DOWN_REDIS_EVERY.as_micros()).unwrap_or(u64::MAX);
        self.down.load(Ordering::Relaxed)
            && self.failures_in_a_row.load(Ordering::Relaxed) >= FAILURES_BEFORE_RESTING
            && self.now_us() < self.failed_at_us.load(Ordering::Relaxed).saturating_add(retry_us)
    }

    fn failed(&self, cause: &str) {
        self.failed_at_us.store(self.now_us(), Ordering::Relaxed);
        self.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            let then = match self.failure {
                RedisFailure::Open => "each instance counts on its own until it answers",
                RedisFailure::Closed => "/v1 answers 503 until it answers",
            };
            tracing::warn!(cause, prefix = %self.prefix, "Redis for shared rate limits failed: {then}");
        }
    }

    /// A call begun at `began` (`now_us`) was answered. One begun before
    /// the last failure says nothing of now: under load, answers read just
    /// before Redis died arrive after the first failure.
    fn answered(&self, began: u64) {
        if began <= self.failed_at_us.load(Ordering::Relaxed) {
            return;
        }
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::warn!(prefix = %self.prefix, "Redis for shared rate limits answers again: the limits are shared");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_say_the_same_whichever_limiter_decided() {
        // 60 a minute, burst 5: one request a second comes back.
        assert_eq!(
            outcome(60, 5, true, 3, Duration::ZERO),
            Decision::Allowed(RateInfo { limit: 60, remaining: 3, reset_secs: 2 })
        );
        assert_eq!(
            outcome(60, 5, false, 0, Duration::from_millis(200)),
            Decision::Limited { info: RateInfo { limit: 60, remaining: 0, reset_secs: 5 }, retry_after_secs: 1 }
        );
        let local = RateLimits::new(60, 5, 60);
        let limiter = local.limiter(60);
        let decisions: Vec<Decision> = (0..6).map(|_| decide(&limiter, "k", 60)).collect();
        assert_eq!(decisions[0], Decision::Allowed(RateInfo { limit: 60, remaining: 4, reset_secs: 1 }));
        assert_eq!(decisions[4], Decision::Allowed(RateInfo { limit: 60, remaining: 0, reset_secs: 5 }));
        assert!(matches!(decisions[5], Decision::Limited { retry_after_secs: 1, .. }));
    }
}
