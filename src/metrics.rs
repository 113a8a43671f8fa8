//! Prometheus metrics (README "Metrics"), rendered in the text exposition
//! format by `http::metrics`. Each `AppState` owns its recorder, never the
//! process-wide one, so two apps in one process (the tests, a library user)
//! never mix their counts.
//!
//! Kept cheap for the hot paths: every handle is resolved once (a counter
//! is then one atomic add), HTTP series are found in a small map keyed by
//! route pattern, method and status, and with metrics off (the default)
//! nothing is recorded at all. What is cheaper to read than to count (the
//! pool, the caches, the signing keys) is read when scraped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::Method;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::cache::CacheStats;
use crate::config::MetricsConfig;
use crate::oauth::ErrorCode;
use crate::oauth::clients::{ClientType, GrantType};
use crate::store::PoolState;
use crate::store::email_outbox::OutboxCounts;
use crate::tokens::signing::SigningAlgorithm;

pub const BUILD_INFO: &str = "portcullis_build_info";
pub const HTTP_REQUESTS: &str = "portcullis_http_requests_total";
pub const HTTP_DURATION: &str = "portcullis_http_request_duration_seconds";
pub const TOKENS_ISSUED: &str = "portcullis_tokens_issued_total";
pub const TOKEN_ERRORS: &str = "portcullis_token_errors_total";
pub const API_KEY_VERIFICATIONS: &str = "portcullis_api_key_verifications_total";
pub const SIGN_INS: &str = "portcullis_sign_ins_total";
pub const CACHE_HITS: &str = "portcullis_cache_hits_total";
pub const CACHE_MISSES: &str = "portcullis_cache_misses_total";
pub const CACHE_INVALIDATIONS: &str = "portcullis_cache_invalidations_total";
pub const CACHE_ENTRIES: &str = "portcullis_cache_entries";
pub const POOL_CONNECTIONS: &str = "portcullis_db_pool_connections";
pub const POOL_MAX: &str = "portcullis_db_pool_max_connections";
pub const POOL_WAIT: &str = "portcullis_db_pool_wait_seconds";
pub const SIGNING_KEY_AGE: &str = "portcullis_signing_key_age_seconds";
pub const EMAIL_OUTBOX: &str = "portcullis_email_outbox_messages";

/// The `route` of a request that matched no route: never its path, which
/// could be anything (a route pattern always starts with `/`).
pub const UNMATCHED: &str = "unmatched";

/// Seconds. Hello paths answer in tens of microseconds, a sign-in in a
/// few hundred milliseconds, a stalled database in seconds.
const HTTP_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
const POOL_WAIT_BUCKETS: [f64; 10] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// What each family means, for its `# HELP` line.
const HELP: [(&str, &str); 16] = [
    (BUILD_INFO, "Always 1; the version is a label."),
    (HTTP_REQUESTS, "HTTP requests answered, by route pattern, method and status."),
    (HTTP_DURATION, "Time to answer an HTTP request, by route pattern and method."),
    (TOKENS_ISSUED, "Tokens issued at /oauth/token, by grant and client type."),
    (TOKEN_ERRORS, "Error answers of /oauth/token, by RFC 6749 error code."),
    (API_KEY_VERIFICATIONS, "API-key verifications, by outcome."),
    (SIGN_INS, "Password sign-ins, by outcome (throttled: refused unchecked)."),
    (CACHE_HITS, "Verification-cache lookups answered from memory."),
    (CACHE_MISSES, "Verification-cache lookups that read the database."),
    (CACHE_INVALIDATIONS, "Cache entries dropped because what they hold changed."),
    (CACHE_ENTRIES, "Entries held in each verification cache."),
    (POOL_CONNECTIONS, "Database connections open, in use or idle."),
    (POOL_MAX, "Database connections the pool may open."),
    (POOL_WAIT, "Time from asking for a database connection to holding one."),
    (SIGNING_KEY_AGE, "Seconds since the signing key in use was created, by algorithm."),
    (EMAIL_OUTBOX, "Emails in the outbox: waiting to be sent, or failed (given up, kept 30 days)."),
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// A closed set of label values (an outcome, an error code), one counter
/// each, so that counting is an index and an atomic add.
pub trait Outcome: Copy + PartialEq + 'static {
    const ALL: &'static [Self];
    fn labels(self) -> Vec<Label>;
}

/// One counter per `O`, resolved once. The default counts nothing: domain
/// objects built without metrics (the CLI's, or with metrics off).
pub struct Counters<O> {
    counters: Arc<[Counter]>,
    _of: PhantomData<O>,
}

impl<O> Clone for Counters<O> {
    fn clone(&self) -> Self {
        Self { counters: self.counters.clone(), _of: PhantomData }
    }
}

impl<O> Default for Counters<O> {
    fn default() -> Self {
        Self { counters: Arc::from([]), _of: PhantomData }
    }
}

impl<O: Outcome> Counters<O> {
    /// Registered on `recorder`, or counting nothing without one.
    fn register(recorder: Option<&PrometheusRecorder>, name: &'static str) -> Self {
        let Some(recorder) = recorder else { return Self::default() };
        let counters = O::ALL.iter().map(|o| recorder.register_counter(&Key::from_parts(name, o.labels()), &METADATA));
        Self { counters: counters.collect(), _of: PhantomData }
    }

    pub fn count(&self, outcome: O) {
        if let Some(c) = O::ALL.iter().position(|o| *o == outcome).and_then(|i| self.counters.get(i)) {
            c.increment(1);
        }
    }
}

fn label(key: &'static str, value: &'static str) -> Vec<Label> {
    vec![Label::from_static_parts(key, value)]
}

/// How an API-key verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVerification {
    Valid,
    /// Malformed, a wrong checksum, or no such key.
    Invalid,
    Revoked,
    Expired,
    /// The database failed.
    Error,
}

impl Outcome for KeyVerification {
    const ALL: &'static [Self] = &[Self::Valid, Self::Invalid, Self::Revoked, Self::Expired, Self::Error];
    fn labels(self) -> Vec<Label> {
        let outcome = match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Error => "error",
        };
        label("outcome", outcome)
    }
}

/// How a password sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Success,
    /// Unknown email or wrong password (one outcome, as in the answer).
    InvalidCredentials,
    /// Too many failures for the account or the IP: nothing was checked.
    Throttled,
    /// Every password-hashing slot stayed busy: nothing was checked.
    Busy,
    /// The database failed.
    Error,
}

impl Outcome for SignIn {
    const ALL: &'static [Self] = &[Self::Success, Self::InvalidCredentials, Self::Throttled, Self::Busy, Self::Error];
    fn labels(self) -> Vec<Label> {
        let outcome = match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
            Self::Error => "error",
        };
        label("outcome", outcome)
    }
}

/// Tokens issued at the token endpoint: by grant and by kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued(pub GrantType, pub ClientType);

impl Outcome for Issued {
    const ALL: &'static [Self] = &{
        use ClientType::{Confidential, Public};
        use GrantType::{AuthorizationCode, ClientCredentials, RefreshToken};
        [
            Issued(AuthorizationCode, Confidential),
            Issued(AuthorizationCode, Public),
            Issued(ClientCredentials, Confidential),
            Issued(ClientCredentials, Public),
            Issued(RefreshToken, Confidential),
            Issued(RefreshToken, Public),
        ]
    };
    fn labels(self) -> Vec<Label> {
        vec![
            Label::from_static_parts("grant_type", self.0.as_str()),
            Label::from_static_parts("client_type", self.1.as_str()),
        ]
    }
}

impl Outcome for ErrorCode {
    const ALL: &'static [Self] = &[
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::UnsupportedResponseType,
        Self::UnsupportedTokenType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::ServerError,
        Self::TemporarilyUnavailable,
    ];
    fn labels(self) -> Vec<Label> {
        label("error", self.as_str())
    }
}

/// What is read when scraped rather than counted as it happens.
pub struct Observed {
    pub pool: PoolState,
    pub caches: Vec<(&'static str, CacheStats)>,
    /// Seconds since each algorithm's signing key was created.
    pub signing_key_ages: Vec<(SigningAlgorithm, f64)>,
    /// The email outbox, when the database answered.
    pub email_outbox: Option<OutboxCounts>,
}

/// An app's metrics: its own recorder and every handle resolved from it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    enabled: bool,
    http: RwLock<HashMap<HttpSeries, (Counter, Histogram)>>,
    pub tokens_issued: Counters<Issued>,
    pub token_errors: Counters<ErrorCode>,
    pub api_keys: Counters<KeyVerification>,
    pub sign_ins: Counters<SignIn>,
    pool_wait: Histogram,
    /// Where the separate metrics listener listens, once bound.
    listening: OnceLock<SocketAddr>,
}

/// One HTTP series: route pattern (or `UNMATCHED`), method, status.
type HttpSeries = (Cow<'static, str>, &'static str, u16);

impl Metrics {
    /// The recorder for `config`. With metrics off, the handles given to the
    /// domain count nothing and requests are not observed.
    pub fn new(config: &MetricsConfig) -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &HTTP_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(POOL_WAIT.into()), &POOL_WAIT_BUCKETS)?
            .build_recorder();
        let enabled = config.enabled();
        let live = enabled.then_some(&recorder);
        let this = Self {
            tokens_issued: Counters::register(live, TOKENS_ISSUED),
            token_errors: Counters::register(live, TOKEN_ERRORS),
            api_keys: Counters::register(live, API_KEY_VERIFICATIONS),
            sign_ins: Counters::register(live, SIGN_INS),
            pool_wait: live
                .map_or_else(Histogram::noop, |r| r.register_histogram(&Key::from_name(POOL_WAIT), &METADATA)),
            http: RwLock::new(HashMap::new()),
            listening: OnceLock::new(),
            recorder,
            enabled,
        };
        this.describe();
        let version = Key::from_parts(BUILD_INFO, label("version", env!("CARGO_PKG_VERSION")));
        this.recorder.register_gauge(&version, &METADATA).set(1.0);
        Ok(this)
    }

    /// Every family's `# HELP` line. The exporter writes the same text for
    /// each kind, so describing all as counters is enough.
    fn describe(&self) {
        for (name, help) in HELP {
            self.recorder.describe_counter(name.into(), None, SharedString::const_str(help));
        }
    }

    /// Whether anything is recorded (and served).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// For the store: how long each database call waited for its connection.
    pub fn pool_wait(&self) -> Histogram {
        self.pool_wait.clone()
    }

    /// A request answered. After routing, the route pattern is read from
    /// where the router left it (no second match); a new series is made
    /// once, under the write lock, and found under the read lock after.
    pub fn observe_request(&self, req: &HttpRequest, status: u16, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let route = req.match_pattern().map_or(Cow::Borrowed(UNMATCHED), Cow::Owned);
        let series = (route, method_label(req.method()), status);
        let seconds = elapsed.as_secs_f64();
        if let Some((count, time)) = self.http.read().unwrap_or_else(PoisonError::into_inner).get(&series) {
            count.increment(1);
            time.record(seconds);
            return;
        }
        let mut http = self.http.write().unwrap_or_else(PoisonError::into_inner);
        let (count, time) = http.entry(series).or_insert_with_key(|(route, method, status)| {
            let route = Label::new("route", route.clone().into_owned());
            let method = Label::from_static_parts("method", method);
            let count = Key::from_parts(
                HTTP_REQUESTS,
                vec![route.clone(), method.clone(), Label::new("status", status.to_string())],
            );
            let time = Key::from_parts(HTTP_DURATION, vec![route, method]);
            (self.recorder.register_counter(&count, &METADATA), self.recorder.register_histogram(&time, &METADATA))
        });
        count.increment(1);
        time.record(seconds);
    }

    /// Folds the histograms' samples into their buckets, so that memory
    /// stays flat between scrapes (the housekeeping calls it).
    pub fn upkeep(&self) {
        if self.enabled {
            self.recorder.handle().run_upkeep();
        }
    }

    /// The exposition text, with what is read at scrape time set first.
    pub fn render(&self, observed: &Observed) -> String {
        let gauge = |name: &'static str, labels: Vec<Label>| -> Gauge {
            self.recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
        };
        let counter = |name: &'static str, labels: Vec<Label>| -> Counter {
            self.recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let pool = &observed.pool;
        gauge(POOL_CONNECTIONS, label("state", "in_use")).set(f64::from(pool.connections - pool.idle));
        gauge(POOL_CONNECTIONS, label("state", "idle")).set(f64::from(pool.idle));
        gauge(POOL_MAX, Vec::new()).set(f64::from(pool.max));
        for (cache, stats) in &observed.caches {
            counter(CACHE_HITS, label("cache", cache)).absolute(stats.hits);
            counter(CACHE_MISSES, label("cache", cache)).absolute(stats.misses);
            counter(CACHE_INVALIDATIONS, label("cache", cache)).absolute(stats.invalidations);
            gauge(CACHE_ENTRIES, label("cache", cache)).set(stats.entries as f64);
        }
        for (algorithm, age) in &observed.signing_key_ages {
            gauge(SIGNING_KEY_AGE, label("algorithm", algorithm.as_str())).set(*age);
        }
        if let Some(outbox) = observed.email_outbox {
            gauge(EMAIL_OUTBOX, label("state", "waiting")).set(outbox.waiting as f64);
            gauge(EMAIL_OUTBOX, label("state", "failed")).set(outbox.failed as f64);
        }
        self.recorder.handle().render()
    }

    /// The separate metrics listener's address, once bound (`metrics.bind`).
    pub fn listening_on(&self) -> Option<SocketAddr> {
        self.listening.get().copied()
    }

    pub fn set_listening_on(&self, addr: SocketAddr) {
        let _ = self.listening.set(addr);
    }
}

/// Methods beyond the standard ones are one label: a client cannot make
/// series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> Metrics {
        Metrics::new(&MetricsConfig { bearer_token: Some("t".repeat(16)), bind: None }).unwrap()
    }

    fn observed() -> Observed {
        Observed {
            pool: PoolState { connections: 3, idle: 2, max: 10 },
            caches: Vec::new(),
            signing_key_ages: Vec::new(),
            email_outbox: Some(OutboxCounts { waiting: 4, failed: 2 }),
        }
    }

    #[test]
    fn every_outcome_has_its_own_counter() {
        let m = on();
        m.sign_ins.count(SignIn::Throttled);
        m.sign_ins.count(SignIn::Throttled);
        m.token_errors.count(ErrorCode::TemporarilyUnavailable);
        m.tokens_issued.count(Issued(GrantType::RefreshToken, ClientType::Public));
        let text = m.render(&observed());
        assert!(text.contains("portcullis_sign_ins_total{outcome=\"throttled\"} 2\n"), "{text}");
        assert!(text.contains("portcullis_sign_ins_total{outcome=\"success\"} 0\n"), "{text}");
        assert!(text.contains("portcullis_token_errors_total{error=\"temporarily_unavailable\"} 1\n"), "{text}");
        assert!(
            text.contains("portcullis_tokens_issued_total{grant_type=\"refresh_token\",client_type=\"public\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("portcullis_db_pool_connections{state=\"in_use\"} 1\n"), "{text}");
        assert!(text.contains("portcullis_build_info{version=\""), "{text}");
        assert!(text.contains("portcullis_email_outbox_messages{state=\"failed\"} 2\n"), "{text}");
    }

    #[test]
    fn metrics_off_count_nothing() {
        let m = Metrics::new(&MetricsConfig::default()).unwrap();
        m.sign_ins.count(SignIn::Success);
        assert!(!m.render(&observed()).contains(SIGN_INS));
        assert!(!m.enabled());
    }

    #[test]
    fn two_apps_never_share_counts() {
        let (a, b) = (on(), on());
        a.api_keys.count(KeyVerification::Valid);
        assert!(a.render(&observed()).contains("portcullis_api_key_verifications_total{outcome=\"valid\"} 1\n"));
        assert!(b.render(&observed()).contains("portcullis_api_key_verifications_total{outcome=\"valid\"} 0\n"));
    }

    #[test]
    fn unknown_methods_are_one_label() {
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
