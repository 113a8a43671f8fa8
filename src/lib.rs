//! portcullis: an OAuth 2.0 / OpenID Connect authorization server and
//! API-key platform. `build` turns a `Config` into a running app; `main`
//! and every integration test use it.

pub mod accounts;
pub mod clock;
pub mod config;
pub mod http;
pub mod store;
pub mod telemetry;
pub mod tokens;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::AppState;
use crate::store::{DatabaseUrl, Store};
use crate::tokens::master_key::{KeySource, MasterKey};

/// Opens the database named by the configuration and applies migrations.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = DatabaseUrl::parse(&config.database_url)?;
    let store = Store::open(url, config.pool_size, Duration::from_secs(config.pool_timeout_secs))?;
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
    let store = open_store(&config)?;
    let accounts = Accounts::new(store.clone(), clock.clone(), config.login_throttle.clone(), config.session_ttl_secs);
    Ok(web::Data::new(AppState { config, store, accounts, clock, master_key }))
}

/// The HTTP server on an already-bound listener. It stops gracefully on
/// SIGTERM and Ctrl-C (in-flight requests get up to 10 s).
pub fn serve(state: web::Data<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = state.config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let https = state.config.is_https();
    let server = HttpServer::new(move || {
        let config = state.config.clone();
        App::new()
            .app_data(state.clone())
            .wrap(http::middleware::security_headers(https))
            .wrap(from_fn(http::middleware::request_context))
            .configure(|cfg| http::routes(cfg, &config))
    })
    .workers(workers.max(1))
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
