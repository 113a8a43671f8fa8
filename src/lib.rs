//! portcullis: an OAuth 2.0 / OpenID Connect authorization server and
//! API-key platform. `build` turns a `Config` into a running app; `main`
//! and every integration test use it.

pub mod accounts;
pub mod apikeys;
pub mod apps;
pub mod audit;
pub mod authority;
pub mod cache;
pub mod changes;
pub mod clock;
pub mod config;
pub mod email;
pub mod form_submissions;
pub mod http;
pub mod key_management;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod people;
pub mod problem;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::accounts::Accounts;
use crate::accounts::passwords::PasswordHashing;
use crate::apikeys::{ApiKeys, KeyWords};
use crate::changes::Changes;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::AppState;
use crate::http::api::rate_limit::RateLimits;
use crate::oauth::OAuth;
use crate::oauth::backchannel::{BackChannel, DeliveryPolicy};
use crate::oauth::clients::Clients;
use crate::oauth::scopes::ScopeRegistry;
use crate::oauth::service::Settings;
use crate::oauth::subject::PairwiseKey;
use crate::store::{DatabaseUrl, Store};
use crate::tokens::master_key::{KeySource, MasterKey};
use crate::tokens::signing::{Housekeeping, RotationPolicy, SigningAlgorithm, SigningError, SigningKeys};

/// Opens the database named by the configuration and applies migrations.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = DatabaseUrl::parse(&config.database_url)?;
    let pool = store::PoolSettings {
        size: config.pool_size,
        timeout: Duration::from_secs(config.pool_timeout_secs),
        sqlite_busy_timeout: Duration::from_millis(config.sqlite_busy_timeout_ms.into()),
    };
    let store = Store::open(url, &pool)?;
    let applied = store.migrate()?;
    if applied > 0 {
        tracing::info!(applied, database = %store.url().redacted(), "applied migrations");
    }
    Ok(store)
}

/// Everything the server needs, ready to serve: database open and
/// migrated, master key loaded.
pub fn build_state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<web::Data<AppState>> {
    config.validate()?;
    let (master_key, source) = MasterKey::resolve(config.master_key.as_deref(), config.is_https(), &config.data_dir)?;
    match source {
        KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated a development master key; set PORTCULLIS_MASTER_KEY in production"
        ),
        KeySource::File(path) => tracing::warn!(
            path = %path.display(),
            "using the development master key from the data directory; set PORTCULLIS_MASTER_KEY in production"
        ),
        KeySource::Configured => {}
    }
    let metrics = Arc::new(crate::metrics::Metrics::new(&config.metrics)?);
    let store = open_store(&config)?;
    if metrics.enabled() {
        store.record_pool_waits(metrics.pool_wait());
    }
    let changes = Changes::new(store.clone())?;
    let oauth = build_oauth(&config, &store, &master_key, clock.clone(), &changes)?;
    let passwords = PasswordHashing::new(&config.password_hash)?;
    let throttle = config.login_throttle.clone();
    let backchannel = BackChannel::new(
        store.clone(),
        clock.clone(),
        oauth.keys.clone(),
        oauth.pairwise.clone(),
        oauth.sid.clone(),
        oauth.settings.issuer.clone(),
        DeliveryPolicy::default(),
    )?;
    let outbox = email::Outbox::new(&config.issuer, master_key.clone());
    let mail = Arc::new(email::Sender::from_config(&config, store.clone(), clock.clone(), &outbox)?);
    let accounts = Accounts::new(store.clone(), clock.clone(), throttle, passwords, config.session_ttl_secs)
        // A revoked user's tokens are denied for as long as a retired key
        // verifies: the longest lifetime of a token, with its margin.
        .with_token_lifetime(oauth.keys.retired_retention())
        .on_session_end(Arc::new(move |ended| backchannel.notify(ended)))
        .with_changes(changes.clone())
        .with_metrics(metrics.sign_ins.clone())
        .with_outbox(outbox.clone());
    let words =
        KeyWords { secret: config.api.secret_key_prefix.clone(), restricted: config.api.restricted_key_prefix.clone() };
    let api_keys = ApiKeys::new(store.clone(), clock.clone(), oauth.scopes.clone(), words)
        .with_cache(&config.cache, &changes)
        .with_metrics(metrics.api_keys.clone());
    let rate_limits = RateLimits::from_config(&config.api)?;
    Ok(web::Data::new(AppState {
        config,
        store,
        accounts,
        oauth,
        api_keys,
        rate_limits,
        clock,
        master_key,
        changes,
        metrics,
        mail,
    }))
}

/// The OAuth server: scope registry, signing keys (created on first start,
/// shared through the database), client registry with its cache.
pub fn build_oauth(
    config: &Config,
    store: &Store,
    master_key: &MasterKey,
    clock: Arc<dyn Clock>,
    changes: &Arc<Changes>,
) -> anyhow::Result<OAuth> {
    let scopes = Arc::new(ScopeRegistry::new(&config.oauth.scopes).map_err(anyhow::Error::msg)?);
    let algorithm: SigningAlgorithm =
        config.oauth.signing_algorithm.parse().map_err(|e| anyhow::anyhow!("oauth.signing_algorithm: {e}"))?;
    let keys = Arc::new(SigningKeys::load_or_create(store, master_key, algorithm, clock.now())?);
    let settings = Settings::from_config(config);
    // Verification and the JWKS keep retired keys for the same window, the
    // housekeeping updates it as clients change.
    keys.set_retired_retention(RotationPolicy::from_config(config).retired_retention(store)?);
    let clients = Clients::new(store.clone(), clock.clone(), scopes.clone())
        .for_config(config)
        .with_cache(&config.cache, changes);
    let pairwise = Arc::new(PairwiseKey::derive(master_key));
    let sid = Arc::new(crate::oauth::oidc::sid::SidKey::derive(master_key));
    let reauth = crate::oauth::oidc::reauth::ReauthKey::derive(master_key);
    let liveness = crate::oauth::liveness::Liveness::new(&config.cache, changes);
    Ok(OAuth { store: store.clone(), clock, clients, scopes, keys, settings, pairwise, sid, reauth, liveness })
}

/// The HTTP server on an already-bound listener, HTTPS when `[tls]` is
/// configured (a certificate or key that cannot be used is an error here,
/// before anything starts), and the metrics listener when `metrics.bind` is
/// set. It stops gracefully on SIGTERM and Ctrl-C (in-flight requests get
/// up to `shutdown_timeout_secs`); SIGHUP reloads the certificate.
pub fn serve(state: web::Data<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let certificate =
        state.config.tls.as_ref().map(tls::ReloadableCert::load).transpose().map_err(std::io::Error::other)?;
    if let (Some(cert), Some(files)) = (&certificate, &state.config.tls) {
        tracing::info!(cert_file = %files.cert_file.display(), fingerprint = %cert.fingerprint(), "serving TLS");
    }
    tls::reload_on_hangup(certificate.clone())?;
    let workers = state.config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let https = state.config.is_https();
    let blocking = blocking_threads(&state.config, workers.max(1));
    let shutdown_timeout = state.config.shutdown_timeout_secs;
    state.changes.listen();
    spawn_change_poller(state.clone());
    state.mail.announce();
    state.mail.clone().spawn(EMAIL_POLL);
    http::metrics::serve_if_configured(&state)?;
    let server = HttpServer::new(move || {
        let config = state.config.clone();
        App::new()
            .app_data(state.clone())
            .wrap(http::middleware::security_headers(https))
            .wrap(from_fn(http::middleware::request_context))
            .configure(|cfg| http::routes(cfg, &config))
    })
    .workers(workers.max(1))
    .worker_max_blocking_threads(blocking)
    .shutdown_timeout(shutdown_timeout);
    let server = match certificate {
        Some(cert) => server.listen_rustls_0_23(listener, cert.server_config())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// How often the email sender looks for messages due (it is also woken
/// when one is queued here): retries, and messages other instances queued.
const EMAIL_POLL: Duration = Duration::from_secs(2);

/// Blocking threads per worker. Each blocking task waits for a database
/// connection or a password-hashing slot, both shared by every worker, so
/// a worker's share of the connections, the hashing slots and one spare is
/// all that can run: more threads would only hold memory (each keeps its
/// stack and its allocator arena). Tasks beyond them queue instead.
fn blocking_threads(config: &Config, workers: usize) -> usize {
    (config.pool_size as usize).div_ceil(workers) + config.password_hash.max_concurrent() + 1
}

/// Every `change_poll_interval_ms`: drops from the caches what other instances (or the CLI)
/// changed, as the change log in the database records.
fn spawn_change_poller(state: web::Data<AppState>) {
    let policy = Arc::new(RotationPolicy::from_config(&state.config));
    actix_web::rt::spawn(async move {
        // The first pass one period after start (start-up did its work), not
        // at once: a pass racing the first requests would flush their uses
        // mid-request for nothing.
        let period = Duration::from_millis(state.config.change_poll_interval_ms);
        let mut tick = actix_web::rt::time::interval_at(actix_web::rt::time::Instant::now() + period, period);
        loop {
            tick.tick().await;
            let (s, policy) = (state.clone(), policy.clone());
            let result = tokio::task::spawn_blocking(move || {
                // The log first: nothing else delays what another instance changed.
                if let Err(e) = s.changes.catch_up() {
                    tracing::warn!(cause = %e, "reading the change log failed; caches emptied");
                }
                if let Err(e) = signing_key_housekeeping(&s, &policy) {
                    tracing::warn!(cause = %e, "signing-key housekeeping failed");
                }
                s.changes.prune_now_and_then()?;
                s.accounts.end_expired_sessions()?;
                s.oauth.clients.delete_ended()?;
                s.api_keys.flush_uses()?;
                s.rate_limits.forget_idle();
                s.metrics.upkeep();
                #[cfg(all(target_os = "linux", target_env = "gnu"))]
                // SAFETY: malloc_trim only returns free memory to the OS.
                unsafe {
                    libc::malloc_trim(0);
                }
                Ok::<_, crate::store::StoreError>(())
            })
            .await;
            if let Ok(Err(e)) = result {
                tracing::debug!(cause = %e, "background housekeeping failed");
            }
        }
    });
}

/// The signing keys' part of the housekeeping (`SigningKeys::housekeeping`):
/// picks up a rotation made elsewhere, rotates on schedule, prunes.
pub fn signing_key_housekeeping(state: &AppState, policy: &RotationPolicy) -> Result<Housekeeping, SigningError> {
    state.oauth.keys.housekeeping(&state.store, &state.master_key, policy, state.clock.now())
}
