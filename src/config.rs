//! One typed configuration: defaults < TOML file (`--config`) < environment.
//!
//! Environment variables are `PORTCULLIS_<FIELD>` (nested fields with `__`,
//! e.g. `PORTCULLIS_LOGIN_THROTTLE__PER_ACCOUNT=10`); `DATABASE_URL` is also
//! read, below `PORTCULLIS_DATABASE_URL`. Unknown keys are refused, in the
//! file and in the environment alike, so a typo never passes silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// Public URL of this server; `iss` of every token. https in production.
    pub issuer: String,
    /// `sqlite://path` (default, created on first start) or `postgres://…`.
    pub database_url: String,
    /// Where the SQLite file and a generated development master key live.
    pub data_dir: PathBuf,
    /// Connections in the database pool.
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    pub pool_timeout_secs: u64,
    /// SQLite: how long a writer waits for another's write to finish before
    /// its request is answered 503 "try again" (milliseconds).
    pub sqlite_busy_timeout_ms: u32,
    /// Base64 of 32 random bytes; encrypts signing keys at rest. Required
    /// when the issuer is https; generated into `data_dir` otherwise.
    pub master_key: Option<String>,
    /// `pretty` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `portcullis=debug,info`.
    pub log_level: String,
    /// HTTP worker threads; default one per core.
    pub workers: Option<usize>,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request's whole body (408 beyond), so
    /// a body sent a byte at a time cannot hold a connection for long.
    pub request_body_timeout_secs: u64,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish
    /// before the server stops anyway (seconds; 0: at once).
    pub shutdown_timeout_secs: u64,
    /// Lifetime of a dashboard session, in seconds.
    pub session_ttl_secs: i64,
    /// How often each instance reads the change log to drop stale cached
    /// clients (milliseconds).
    pub change_poll_interval_ms: u64,
    /// Proxies of yours (CIDRs or single addresses) whose forwarding header
    /// is believed; see `http::client_ip`. Empty: the peer address is the
    /// client.
    pub trusted_proxies: TrustedProxies,
    /// The header those proxies append the client to: `x-forwarded-for` or
    /// `forwarded` (RFC 7239). Only that one is read, so a client cannot
    /// forge the other.
    pub forwarded_header: ForwardedHeader,
    /// Serve HTTPS directly, without a proxy in front (see `crate::tls`). Absent:
    /// plain HTTP, for a proxy that terminates TLS.
    pub tls: Option<TlsConfig>,
    pub login_throttle: LoginThrottle,
    pub password_hash: PasswordHashConfig,
    pub oauth: OAuthConfig,
    pub oidc: OidcConfig,
    pub api: ApiConfig,
    pub cache: CacheConfig,
    pub metrics: MetricsConfig,
    /// Where email goes: `smtp://[user:password@]host[:port]` (add
    /// `?tls=required` for STARTTLS) or `smtps://…` (TLS from the start).
    /// None: messages are written to `data_dir/outbox/` as `.eml` files.
    pub smtp_url: Option<String>,
    /// The sender of every message, e.g. `Acme <no-reply@acme.example>`;
    /// default `portcullis <no-reply@ISSUER-HOST>`.
    pub email_from: Option<String>,
}

/// Prometheus metrics at `/metrics` (README "Metrics"). Off unless one of
/// these is set: on the main listener they would reach whoever reaches the
/// server, a reverse proxy in front of a loopback bind included.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A listener of its own that serves `/metrics` and nothing else (e.g.
    /// `127.0.0.1:9464`); the main listener then serves no metrics.
    pub bind: Option<String>,
    /// `Authorization: Bearer <token>` required for `/metrics` (16 to 256
    /// visible ASCII characters). Alone, it serves them on the main
    /// listener; with `bind`, it guards that listener too.
    pub bearer_token: Option<String>,
}

impl MetricsConfig {
    /// Metrics are served (and recorded) somewhere.
    pub fn enabled(&self) -> bool {
        self.bind.is_some() || self.bearer_token.is_some()
    }

    /// `/metrics` is a route of the main listener: a token is set and no
    /// listener of its own.
    pub fn on_main_listener(&self) -> bool {
        self.bind.is_none() && self.bearer_token.is_some()
    }

    /// The metrics listener's address; `validate` has checked it parses.
    pub fn bind_addr(&self) -> Option<SocketAddr> {
        self.bind.as_deref().and_then(|b| b.parse().ok())
    }

    fn validate(&self, main_bind: &str) -> Result<(), String> {
        if let Some(bind) = &self.bind {
            let Ok(addr) = bind.parse::<SocketAddr>() else {
                return Err(format!("metrics.bind: {bind:?} is not an address such as 127.0.0.1:9464"));
            };
            if addr.port() != 0 && main_bind.parse::<SocketAddr>().is_ok_and(|main| main == addr) {
                return Err(format!("metrics.bind: {bind} is the main listener's address (bind)"));
            }
        }
        if let Some(token) = &self.bearer_token
            && (!(16..=256).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err("metrics.bearer_token must be 16 to 256 visible ASCII characters".into());
        }
        Ok(())
    }
}

/// The certificate portcullis serves when it terminates TLS itself. Both
/// files are PEM and are read again on SIGHUP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain: the server's certificate first, then the
    /// intermediates (a `fullchain.pem`).
    pub cert_file: PathBuf,
    /// Its private key: PKCS#8, RSA (PKCS#1) or EC (SEC1).
    pub key_file: PathBuf,
}

/// Verification from memory (API keys, OAuth clients). An entry is dropped
/// on every instance when the change log says it changed: within
/// milliseconds on PostgreSQL (LISTEN/NOTIFY), within
/// `change_poll_interval_ms` on SQLite shared by several processes, at
/// once on the instance that made the change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Read the database on every verification instead (each request then
    /// costs a query; a change is seen by the next request everywhere).
    pub strict: bool,
    /// An entry is read again after this many seconds whatever happened.
    pub max_age_secs: u64,
    /// Most entries per cache.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { strict: false, max_age_secs: 300, max_entries: 10_000 }
    }
}

/// OpenID Connect (see the README's "OpenID Connect for relying parties").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// How long an ID token is valid (`exp - iat`), 60 s to a day. An RP
    /// checks it once, at sign-in; it is not an access credential.
    pub id_token_ttl_secs: i64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self { id_token_ttl_secs: 3600 }
    }
}

/// Password hashing (argon2id): the cost of each hash, and the bound on how
/// many run at once. Memory for hashing is at most `max_concurrent` ×
/// `memory_kib`, whatever the load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordHashConfig {
    /// Memory per hash, KiB (OWASP: 19456, i.e. 19 MiB).
    pub memory_kib: u32,
    /// Passes over that memory (OWASP: 2).
    pub iterations: u32,
    /// argon2 lanes (OWASP: 1). Computed one after another here: more lanes
    /// cost the same time, not less.
    pub parallelism: u32,
    /// Hashes computed at once; default one per core.
    pub max_concurrent: Option<usize>,
    /// Sign-ins that may wait for a free slot; beyond that, 503 at once.
    pub max_queued: usize,
    /// The longest a sign-in waits for a slot before a 503 (milliseconds).
    pub queue_timeout_ms: u64,
}

impl Default for PasswordHashConfig {
    fn default() -> Self {
        // OWASP Password Storage Cheat Sheet: argon2id m=19456 KiB, t=2, p=1.
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: None,
            max_queued: 1024,
            queue_timeout_ms: 5000,
        }
    }
}

impl PasswordHashConfig {
    /// `max_concurrent`, or one per core.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    fn validate(&self) -> Result<(), String> {
        // argon2 needs 8 KiB per lane; above 4 GiB per hash is surely a typo.
        let min_memory = 8 * self.parallelism.max(1);
        if !(min_memory..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return Err(format!(
                "password_hash.memory_kib: {} is out of range: between {min_memory} (8 per lane) and 4194304 (4 GiB)",
                self.memory_kib
            ));
        }
        if !(1..=100).contains(&self.iterations) {
            return Err(format!("password_hash.iterations: {} is out of range: between 1 and 100", self.iterations));
        }
        if !(1..=64).contains(&self.parallelism) {
            return Err(format!("password_hash.parallelism: {} is out of range: between 1 and 64", self.parallelism));
        }
        if self.max_concurrent.is_some_and(|n| !(1..=1024).contains(&n)) {
            return Err("password_hash.max_concurrent must be between 1 and 1024".into());
        }
        if self.max_queued > 1_000_000 {
            return Err("password_hash.max_queued must be at most 1000000".into());
        }
        if self.queue_timeout_ms > 60_000 {
            return Err("password_hash.queue_timeout_ms must be at most 60000 (a minute)".into());
        }
        Ok(())
    }
}

/// The /v1 API: key prefixes and rate limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests per minute per credential (a key may override it).
    pub rate_limit_per_minute: u32,
    /// Requests a credential may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Requests per minute per client IP that do not authenticate.
    pub unauthenticated_per_minute: u32,
    /// The word secret keys start with (`sk` gives `sk_live_…`).
    pub secret_key_prefix: String,
    /// The word restricted keys start with.
    pub restricted_key_prefix: String,
    /// Introspection answers `active: false` for test keys (production).
    pub refuse_test_keys: bool,
    /// The highest per-key rate limit an ADMIN or OWNER may set.
    pub max_rate_limit_per_minute: u32,
    /// Redis that every instance counts in (`redis://127.0.0.1:6379`), so
    /// N instances allow the rate once, not N times. None: each instance
    /// counts on its own.
    pub rate_limit_redis_url: Option<String>,
    /// What a request gets while Redis does not answer in time: `open`
    /// counts it on this instance alone, `closed` answers 503.
    pub rate_limit_redis_failure: RedisFailure,
    /// How long one Redis decision (or /readyz's PING) may take before it
    /// counts as a failure.
    pub rate_limit_redis_timeout_ms: u64,
    /// The first word of the Redis keys (`{prefix}:rl:…`), so deployments
    /// (or tests) can share one Redis.
    pub rate_limit_redis_prefix: String,
}

/// The answer while the shared rate-limit store is down or slow.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Allow, counting on this instance alone (its own in-memory limit).
    #[default]
    Open,
    /// Refuse with 503 SERVICE_UNAVAILABLE and `Retry-After`.
    Closed,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 600,
            rate_limit_burst: 100,
            unauthenticated_per_minute: 60,
            secret_key_prefix: "sk".into(),
            restricted_key_prefix: "rk".into(),
            refuse_test_keys: false,
            max_rate_limit_per_minute: 60_000,
            rate_limit_redis_url: None,
            rate_limit_redis_failure: RedisFailure::Open,
            rate_limit_redis_timeout_ms: 50,
            rate_limit_redis_prefix: "portcullis".into(),
        }
    }
}

/// The longest an authorization code may live (DESIGN invariant 2).
pub const MAX_AUTHORIZATION_CODE_TTL_SECS: i64 = 60;

/// The OAuth server's lifetimes, algorithm, audience and scopes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Access-token lifetime, unless the client sets its own.
    pub access_token_ttl_secs: i64,
    /// A refresh token unused this long expires (idle lifetime).
    pub refresh_token_ttl_secs: i64,
    /// A refresh-token family ends this long after the first grant (absolute).
    pub refresh_token_absolute_ttl_secs: i64,
    /// Authorization-code lifetime, 1 to 60 seconds.
    pub authorization_code_ttl_secs: i64,
    /// A second use of a refresh token this soon after its rotation, while
    /// the token that replaced it is still unused, is a lost race: refused,
    /// and nothing is revoked. Any other reuse revokes the family. 0..=60.
    pub refresh_reuse_grace_secs: i64,
    /// ES256 (default), RS256 or EdDSA.
    pub signing_algorithm: String,
    /// `aud` of access tokens; empty means the issuer.
    pub audience: Vec<String>,
    /// Accept PKCE `plain` (RFC 7636 allows it; RFC 9700 advises against).
    pub allow_plain_pkce: bool,
    /// Scopes beyond the built-in ones, e.g. `{ name = "invoices:read", description = "Read invoices" }`.
    pub scopes: Vec<crate::oauth::scopes::ScopeDefinition>,
    /// Rotate each signing key (every algorithm) this many days after it
    /// started signing; 0: only by `portcullis keys rotate`.
    pub key_rotation_days: u32,
    /// `Cache-Control: max-age` of the JWKS, in seconds. A new key is
    /// published at least this long (plus `change_poll_interval_ms`) before
    /// it signs, and a retired one stays published this much longer than
    /// its tokens live.
    pub jwks_max_age_secs: u32,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 86400,
            refresh_token_absolute_ttl_secs: 90 * 86400,
            authorization_code_ttl_secs: 60,
            refresh_reuse_grace_secs: 5,
            signing_algorithm: "ES256".into(),
            audience: Vec::new(),
            allow_plain_pkce: false,
            scopes: Vec::new(),
            key_rotation_days: 0,
            jwks_max_age_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Failed sign-ins (and sign-ups, sign-up notices and invitations of any
/// outcome) allowed within `window_secs` before answering 429.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LoginThrottle {
    pub per_account: u32,
    pub per_ip: u32,
    /// Sign-up attempts per client IP, whatever their outcome.
    pub signup_per_ip: u32,
    /// "Someone tried to sign up with your address" emails per address.
    pub signup_notices_per_address: u32,
    /// Invitations one person sends (pages and /v1 alike).
    pub invitations_per_inviter: u32,
    /// Invitations sent in one organization, by all its members together.
    pub invitations_per_organization: u32,
    /// Invitations emailed to one address, from every organization
    /// together; beyond it they are made but not emailed.
    pub invitations_per_recipient: u32,
    pub window_secs: i64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_ip: 20,
            signup_per_ip: 10,
            signup_notices_per_address: 1,
            invitations_per_inviter: 20,
            invitations_per_organization: 50,
            invitations_per_recipient: 5,
            window_secs: 900,
        }
    }
}

/// A list of networks, written as CIDRs (`10.0.0.0/8`) or single addresses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;
    fn try_from(items: Vec<String>) -> Result<Self, String> {
        items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("trusted_proxies: {s:?} is not a CIDR such as 10.0.0.0/8 or an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(p: TrustedProxies) -> Self {
        p.0.iter().map(ToString::to_string).collect()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    XForwardedFor,
    Forwarded,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://data/portcullis.db".into(),
            data_dir: PathBuf::from("data"),
            pool_size: 10,
            pool_timeout_secs: 5,
            sqlite_busy_timeout_ms: 5000,
            master_key: None,
            log_format: LogFormat::Pretty,
            log_level: "info".into(),
            workers: None,
            max_body_bytes: 64 * 1024,
            request_body_timeout_secs: 10,
            shutdown_timeout_secs: 10,
            session_ttl_secs: 12 * 3600,
            change_poll_interval_ms: 1000,
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            tls: None,
            login_throttle: LoginThrottle::default(),
            password_hash: PasswordHashConfig::default(),
            oauth: OAuthConfig::default(),
            oidc: OidcConfig::default(),
            api: ApiConfig::default(),
            cache: CacheConfig::default(),
            metrics: MetricsConfig::default(),
            smtp_url: None,
            email_from: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then the file (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config: Config = Self::figment(file)?.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// What `load` extracts: the defaults, overlaid by `sources`.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        Ok(Figment::from(Serialized::defaults(Config::default())).merge(Self::sources(file)?))
    }

    /// What the operator set, without the defaults: the file (if given),
    /// then the process environment.
    pub fn sources(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment
            .merge(Env::raw().only(&["database_url"]))
            // PORTCULLIS_CONFIG names the file (read by the CLI), not a field.
            .merge(Env::prefixed("PORTCULLIS_").ignore(&["config"]).split("__")))
    }

    /// Checks what serde cannot: addresses, URLs, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.bind.parse::<SocketAddr>().is_err() {
            return invalid(format!("bind: {:?} is not an address such as 127.0.0.1:8080", self.bind));
        }
        match url::Url::parse(&self.issuer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.fragment().is_none() => {}
            _ => return invalid(format!("issuer: {:?} must be an http(s) URL without query or fragment", self.issuer)),
        }
        if let Some(tls) = &self.tls {
            // Clients reach a TLS listener at https://: an http:// issuer
            // would put the wrong URL in every token and discovery document,
            // and leave cookies without `Secure`.
            if !self.is_https() {
                return invalid(format!(
                    "tls: the issuer must be the https:// URL clients use when portcullis serves TLS itself \
                     (issuer is {:?})",
                    self.issuer
                ));
            }
            if tls.cert_file.as_os_str().is_empty() || tls.key_file.as_os_str().is_empty() {
                return invalid("tls: cert_file and key_file must both name a file".into());
            }
        }
        if self.pool_size == 0 {
            return invalid("pool_size must be at least 1".into());
        }
        if self.request_body_timeout_secs == 0 {
            return invalid("request_body_timeout_secs must be at least 1".into());
        }
        if self.shutdown_timeout_secs > 3600 {
            return invalid(format!(
                "shutdown_timeout_secs: {} is out of range: 0 to 3600 (an hour)",
                self.shutdown_timeout_secs
            ));
        }
        self.metrics.validate(&self.bind).map_err(ConfigError::Invalid)?;
        crate::email::check_config(self.smtp_url.as_deref(), self.email_from.as_deref())
            .map_err(ConfigError::Invalid)?;
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes must be at least 1024".into());
        }
        if !(10..=3_600_000).contains(&self.change_poll_interval_ms) {
            return invalid("change_poll_interval_ms must be between 10 and 3600000".into());
        }
        if !(1..=86_400).contains(&self.cache.max_age_secs) || !(100..=10_000_000).contains(&self.cache.max_entries) {
            return invalid(
                "cache: max_age_secs must be between 1 and 86400, max_entries between 100 and 10000000".into(),
            );
        }
        if self.session_ttl_secs < 60 {
            return invalid("session_ttl_secs must be at least 60".into());
        }
        let t = &self.login_throttle;
        let limits = [t.per_account, t.per_ip, t.signup_per_ip, t.signup_notices_per_address];
        let invitations = [t.invitations_per_inviter, t.invitations_per_organization, t.invitations_per_recipient];
        if limits.into_iter().chain(invitations).any(|l| l == 0) || t.window_secs < 1 {
            return invalid("login_throttle: every limit and window_secs must be positive".into());
        }
        self.password_hash.validate().map_err(ConfigError::Invalid)?;
        let o = &self.oauth;
        if o.access_token_ttl_secs < 1 || o.refresh_token_ttl_secs < 1 || o.refresh_token_absolute_ttl_secs < 1 {
            return invalid("oauth: token lifetimes must be positive".into());
        }
        // A code is a bearer credential in a URL: short-lived (RFC 6749
        // §4.1.2 recommends at most 10 minutes; DESIGN invariant 2 says 60 s).
        if !(1..=MAX_AUTHORIZATION_CODE_TTL_SECS).contains(&o.authorization_code_ttl_secs) {
            return invalid(format!(
                "oauth.authorization_code_ttl_secs: {} is out of range: \
                 an authorization code lives between 1 and {MAX_AUTHORIZATION_CODE_TTL_SECS} seconds",
                o.authorization_code_ttl_secs
            ));
        }
        if o.key_rotation_days > 3650 {
            return invalid(format!(
                "oauth.key_rotation_days: {} is out of range: 0 (off) to 3650 (ten years)",
                o.key_rotation_days
            ));
        }
        if o.jwks_max_age_secs > 86_400 {
            return invalid(format!(
                "oauth.jwks_max_age_secs: {} is out of range: 0 to 86400 (a day)",
                o.jwks_max_age_secs
            ));
        }
        // Longer than a minute is no longer a race but a window for a thief.
        if !(0..=60).contains(&o.refresh_reuse_grace_secs) {
            return invalid("oauth.refresh_reuse_grace_secs must be between 0 and 60".into());
        }
        if !["ES256", "RS256", "EdDSA"].contains(&o.signing_algorithm.as_str()) {
            return invalid(format!("oauth.signing_algorithm: {:?} is not ES256, RS256 or EdDSA", o.signing_algorithm));
        }
        if !(60..=86_400).contains(&self.oidc.id_token_ttl_secs) {
            return invalid(format!(
                "oidc.id_token_ttl_secs: {} is out of range: between 60 and 86400 (a day)",
                self.oidc.id_token_ttl_secs
            ));
        }
        let a = &self.api;
        if a.rate_limit_per_minute == 0 || a.rate_limit_burst == 0 || a.unauthenticated_per_minute == 0 {
            return invalid("api: rate limits must be positive".into());
        }
        for word in [&a.secret_key_prefix, &a.restricted_key_prefix] {
            if word.is_empty() || word.len() > 8 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
                return invalid(format!("api: key prefix {word:?} must be 1-8 lower-case letters"));
            }
        }
        if a.max_rate_limit_per_minute < a.rate_limit_per_minute || a.max_rate_limit_per_minute > 10_000_000 {
            return invalid("api.max_rate_limit_per_minute must be between rate_limit_per_minute and 10000000".into());
        }
        if self.audience().iter().any(|a| a.trim_end_matches('/') == self.management_audience()) {
            return invalid(format!(
                "oauth.audience must not contain {:?}: that audience is the management API's own",
                self.management_audience()
            ));
        }
        if a.secret_key_prefix == a.restricted_key_prefix {
            return invalid("api: secret and restricted key prefixes must differ".into());
        }
        if let Some(url) = &a.rate_limit_redis_url {
            // Plain TCP only: the crate is built without TLS.
            if !url.starts_with("redis://") || redis::Client::open(url.as_str()).is_err() {
                return invalid("api.rate_limit_redis_url must be a redis:// URL (host, port, optional /db)".into());
            }
        }
        if !(1..=5_000).contains(&a.rate_limit_redis_timeout_ms) {
            return invalid(format!(
                "api.rate_limit_redis_timeout_ms: {} is out of range: between 1 and 5000",
                a.rate_limit_redis_timeout_ms
            ));
        }
        let prefix = &a.rate_limit_redis_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid("api.rate_limit_redis_prefix must be 1-64 visible ASCII characters".into());
        }
        crate::oauth::scopes::ScopeRegistry::new(&o.scopes)
            .map_err(|e| ConfigError::Invalid(format!("oauth.scopes: {e}")))?;
        Ok(())
    }

    /// `aud` of access tokens.
    pub fn audience(&self) -> Vec<String> {
        if self.oauth.audience.is_empty() { vec![self.issuer().to_owned()] } else { self.oauth.audience.clone() }
    }

    /// `aud` of the tokens the /v1 management API accepts.
    pub fn management_audience(&self) -> String {
        format!("{}/v1", self.issuer())
    }

    pub fn bind_addr(&self) -> SocketAddr {
        // validate() has checked that it parses; the fallback is never taken.
        self.bind.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// True when the issuer is served over TLS: cookies get `Secure`, and a
    /// master key must be given.
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn refresh_reuse_grace_is_a_few_seconds_at_most_a_minute() {
        assert_eq!(Config::default().oauth.refresh_reuse_grace_secs, 5);
        for (secs, ok) in [(-1, false), (0, true), (60, true), (61, false)] {
            let mut c = Config::default();
            c.oauth.refresh_reuse_grace_secs = secs;
            match c.validate() {
                Ok(()) => assert!(ok, "{secs} accepted"),
                Err(e) => {
                    assert!(!ok, "{secs} refused");
                    assert_eq!(
                        e.to_string(),
                        "invalid configuration: oauth.refresh_reuse_grace_secs must be between 0 and 60"
                    );
                }
            }
        }
    }

    #[test]
    fn id_token_lifetime_is_a_minute_to_a_day() {
        assert_eq!(Config::default().oidc.id_token_ttl_secs, 3600);
        for (secs, ok) in [(59, false), (60, true), (86_400, true), (86_401, false)] {
            let mut c = Config::default();
            c.oidc.id_token_ttl_secs = secs;
            match c.validate() {
                Ok(()) => assert!(ok, "{secs} accepted"),
                Err(e) => {
                    assert!(!ok, "{secs} refused");
                    let expected = format!(
                        "invalid configuration: oidc.id_token_ttl_secs: {secs} is out of range: between 60 and 86400 (a day)"
                    );
                    assert_eq!(e.to_string(), expected);
                }
            }
        }
    }

    #[test]
    fn file_then_env_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file("p.toml", "pool_size = 3\nissuer = \"http://a.example\"\n[login_throttle]\nper_ip = 7\n")?;
            jail.set_env("PORTCULLIS_POOL_SIZE", "4");
            jail.set_env("PORTCULLIS_LOGIN_THROTTLE__PER_ACCOUNT", "9");
            jail.set_env("DATABASE_URL", "postgres://u@h/d");
            let c = Config::load(Some(Path::new("p.toml"))).unwrap();
            assert_eq!(c.pool_size, 4);
            assert_eq!(c.issuer, "http://a.example");
            assert_eq!(c.login_throttle.per_ip, 7);
            assert_eq!(c.login_throttle.per_account, 9);
            assert_eq!(c.database_url, "postgres://u@h/d");
            jail.set_env("PORTCULLIS_DATABASE_URL", "sqlite://x.db");
            assert_eq!(Config::load(None).unwrap().database_url, "sqlite://x.db");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused_in_file_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file("p.toml", "pool_sise = 3\n")?;
            let err = Config::load(Some(Path::new("p.toml"))).unwrap_err().to_string();
            assert!(err.contains("pool_sise"), "{err}");
            jail.create_file("q.toml", "")?;
            jail.set_env("PORTCULLIS_ISSUR", "http://x");
            let err = Config::load(Some(Path::new("q.toml"))).unwrap_err().to_string();
            assert!(err.contains("issur"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_and_bad_values_are_clear_errors() {
        Jail::expect_with(|jail| {
            let err = Config::load(Some(Path::new("nope.toml"))).unwrap_err();
            assert!(matches!(err, ConfigError::MissingFile(_)));
            jail.set_env("PORTCULLIS_BIND", "localhost");
            assert!(Config::load(None).unwrap_err().to_string().contains("bind"));
            jail.set_env("PORTCULLIS_BIND", "127.0.0.1:1");
            jail.set_env("PORTCULLIS_ISSUER", "ftp://x");
            assert!(Config::load(None).unwrap_err().to_string().contains("issuer"));
            jail.set_env("PORTCULLIS_ISSUER", "http://x");
            for ttl in ["600", "61", "0"] {
                jail.set_env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", ttl);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains("authorization_code_ttl_secs") && err.contains("between 1 and 60"), "{err}");
            }
            jail.set_env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", "60");
            assert_eq!(Config::load(None).unwrap().oauth.authorization_code_ttl_secs, 60);
            jail.set_env("PORTCULLIS_LOG_FORMAT", "xml");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("xml") && err.to_lowercase().contains("log_format"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn password_hash_cost_and_bound_come_from_file_and_env_and_are_checked() {
        Jail::expect_with(|jail| {
            let d = Config::default().password_hash;
            assert_eq!((d.memory_kib, d.iterations, d.parallelism), (19456, 2, 1));
            assert!(d.max_concurrent() >= 1);
            jail.create_file("p.toml", "[password_hash]\nmemory_kib = 65536\nmax_concurrent = 3\n")?;
            jail.set_env("PORTCULLIS_PASSWORD_HASH__ITERATIONS", "3");
            jail.set_env("PORTCULLIS_PASSWORD_HASH__QUEUE_TIMEOUT_MS", "250");
            let c = Config::load(Some(Path::new("p.toml"))).unwrap().password_hash;
            assert_eq!((c.memory_kib, c.iterations, c.max_concurrent(), c.queue_timeout_ms), (65536, 3, 3, 250));
            for (key, value, message) in [
                (
                    "MEMORY_KIB",
                    "4",
                    "password_hash.memory_kib: 4 is out of range: between 8 (8 per lane) and 4194304 (4 GiB)",
                ),
                ("ITERATIONS", "0", "password_hash.iterations: 0 is out of range: between 1 and 100"),
                ("PARALLELISM", "65", "password_hash.parallelism: 65 is out of range: between 1 and 64"),
                ("MAX_CONCURRENT", "0", "password_hash.max_concurrent must be between 1 and 1024"),
                ("QUEUE_TIMEOUT_MS", "60001", "password_hash.queue_timeout_ms must be at most 60000 (a minute)"),
            ] {
                jail.clear_env();
                jail.set_env(format!("PORTCULLIS_PASSWORD_HASH__{key}"), value);
                let err = Config::load(None).unwrap_err().to_string();
                assert_eq!(err, format!("invalid configuration: {message}"));
            }
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_addresses_and_the_old_key_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("p.toml", "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n")?;
            let c = Config::load(Some(Path::new("p.toml"))).unwrap();
            assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
            assert!(c.trusted_proxies.contains("192.0.2.7".parse().unwrap()));
            assert!(!c.trusted_proxies.contains("192.0.2.8".parse().unwrap()));
            assert!(c.trusted_proxies.contains("2001:db8::1".parse().unwrap()));
            assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);

            jail.set_env("PORTCULLIS_TRUSTED_PROXIES", "[\"172.16.0.0/12\"]");
            jail.set_env("PORTCULLIS_FORWARDED_HEADER", "forwarded");
            let c = Config::load(None).unwrap();
            assert!(c.trusted_proxies.contains("172.16.9.9".parse().unwrap()));
            assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);

            jail.set_env("PORTCULLIS_TRUSTED_PROXIES", "[\"10.0.0.0/33\"]");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("\"10.0.0.0/33\" is not a CIDR"), "{err}");

            jail.create_file("old.toml", "trust_forwarded_for = true\n")?;
            jail.clear_env();
            let err = Config::load(Some(Path::new("old.toml"))).unwrap_err().to_string();
            assert!(err.contains("trust_forwarded_for"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn metrics_and_shutdown_timeout_come_from_file_and_env_and_are_checked() {
        Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.shutdown_timeout_secs, 10);
            assert!(!c.metrics.enabled(), "metrics are off unless configured");

            jail.create_file("p.toml", "shutdown_timeout_secs = 30\n[metrics]\nbind = \"127.0.0.1:9464\"\n")?;
            jail.set_env("PORTCULLIS_METRICS__BEARER_TOKEN", "a-scrape-token-of-some-length");
            let c = Config::load(Some(Path::new("p.toml"))).unwrap();
            assert_eq!(c.shutdown_timeout_secs, 30);
            assert_eq!(c.metrics.bind_addr(), Some(SocketAddr::from(([127, 0, 0, 1], 9464))));
            assert_eq!(c.metrics.bearer_token.as_deref(), Some("a-scrape-token-of-some-length"));
            assert!(c.metrics.enabled() && !c.metrics.on_main_listener());

            jail.clear_env();
            jail.set_env("PORTCULLIS_METRICS__BEARER_TOKEN", "a-scrape-token-of-some-length");
            assert!(Config::load(None).unwrap().metrics.on_main_listener(), "a token alone: the main listener");

            for (key, value, message) in [
                (
                    "METRICS__BIND",
                    "localhost:9464",
                    "metrics.bind: \"localhost:9464\" is not an address such as 127.0.0.1:9464",
                ),
                (
                    "METRICS__BIND",
                    "127.0.0.1:8080",
                    "metrics.bind: 127.0.0.1:8080 is the main listener's address (bind)",
                ),
                (
                    "METRICS__BEARER_TOKEN",
                    "short-token",
                    "metrics.bearer_token must be 16 to 256 visible ASCII characters",
                ),
                (
                    "METRICS__BEARER_TOKEN",
                    "\"has a space in it, so no\"",
                    "metrics.bearer_token must be 16 to 256 visible ASCII characters",
                ),
                ("SHUTDOWN_TIMEOUT_SECS", "3601", "shutdown_timeout_secs: 3601 is out of range: 0 to 3600 (an hour)"),
            ] {
                jail.clear_env();
                jail.set_env(format!("PORTCULLIS_{key}"), value);
                let err = Config::load(None).unwrap_err().to_string();
                assert_eq!(err, format!("invalid configuration: {message}"));
            }
            jail.clear_env();
            jail.set_env("PORTCULLIS_METRICS__BINDING", "127.0.0.1:9464");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("binding"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn shared_rate_limits_come_from_the_environment_and_are_checked() {
        Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.api.rate_limit_redis_url, None);
            assert_eq!(c.api.rate_limit_redis_failure, RedisFailure::Open);

            jail.set_env("PORTCULLIS_API__RATE_LIMIT_REDIS_URL", "redis://127.0.0.1:6379/2");
            jail.set_env("PORTCULLIS_API__RATE_LIMIT_REDIS_FAILURE", "closed");
            jail.set_env("PORTCULLIS_API__RATE_LIMIT_REDIS_TIMEOUT_MS", "20");
            let c = Config::load(None).unwrap();
            assert_eq!(c.api.rate_limit_redis_url.as_deref(), Some("redis://127.0.0.1:6379/2"));
            assert_eq!(c.api.rate_limit_redis_failure, RedisFailure::Closed);
            assert_eq!(c.api.rate_limit_redis_timeout_ms, 20);

            jail.set_env("PORTCULLIS_API__RATE_LIMIT_REDIS_FAILURE", "ajar");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("ajar"), "{err}");
            jail.set_env("PORTCULLIS_API__RATE_LIMIT_REDIS_FAILURE", "open");

            for (key, value, says) in [
                ("URL", "http://127.0.0.1:6379", "api.rate_limit_redis_url"),
                ("TIMEOUT_MS", "0", "api.rate_limit_redis_timeout_ms"),
                ("TIMEOUT_MS", "60000", "api.rate_limit_redis_timeout_ms"),
                ("PREFIX", "a b", "api.rate_limit_redis_prefix"),
            ] {
                jail.set_env(format!("PORTCULLIS_API__RATE_LIMIT_REDIS_{key}"), value);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(says), "{key}={value}: {err}");
                jail.clear_env();
            }
            Ok(())
        });
    }
}
