//! GET /metrics in the Prometheus text format: on a listener of its own
//! (`metrics.bind`) or on the main one behind a bearer token
//! (`metrics.bearer_token`); nowhere when neither is set (README "Metrics").

use std::net::TcpListener;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use super::AppState;
use crate::config::Config;
use crate::metrics::Observed;
use crate::tokens::opaque;
use crate::tokens::signing::ALGORITHMS;

/// The exposition format's content type (text format 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` among the main listener's routes, when it is served there.
pub fn route_on_main_listener(cfg: &mut web::ServiceConfig, config: &Config) {
    if config.metrics.on_main_listener() {
        cfg.route("/metrics", get_or_head().to(scrape));
    }
}

/// GET, and HEAD as GET without the body (RFC 9110 §9.3.2; actix-web
/// leaves the body out of a HEAD answer and keeps its headers).
fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Starts the metrics listener when `metrics.bind` is set: `/metrics` and
/// nothing else, one worker, outside the main listener's middleware (its
/// scrapes are not counted as requests). It runs as long as the process.
pub fn serve_if_configured(state: &web::Data<AppState>) -> std::io::Result<()> {
    let Some(addr) = state.config.metrics.bind_addr() else { return Ok(()) };
    let listener = TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr} for metrics: {e}")))?;
    let bound = listener.local_addr()?;
    state.metrics.set_listening_on(bound);
    let state = state.clone();
    let https = state.config.is_https();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(super::middleware::security_headers(https))
            .route("/metrics", get_or_head().to(scrape))
            .default_service(web::to(super::middleware::not_found))
    })
    .workers(1)
    // The main server handles the signals; this one answers until the
    // process ends, scrapes during a graceful shutdown included.
    .disable_signals()
    .listen(listener)?
    .run();
    actix_web::rt::spawn(server);
    tracing::info!(addr = %bound, "metrics listening");
    Ok(())
}

pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.config.metrics.bearer_token
        && !bearer_matches(&req, expected)
    {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    // Read when scraped (two indexed counts); a database that does not
    // answer leaves the family out rather than failing the scrape.
    let email_outbox = state.store.run(crate::store::email_outbox::counts).await.ok();
    let body = state.metrics.render(&observe(&state, email_outbox));
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `Authorization: Bearer <expected>` (the scheme case-insensitive, RFC
/// 7235 §2.1). Digests are compared, in constant time, so neither the
/// token's characters nor its length show in the time taken.
fn bearer_matches(req: &HttpRequest, expected: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("bearer")
        && opaque::constant_time_eq(&opaque::digest(token.trim()), &opaque::digest(expected))
}

/// What is read rather than counted: the pool, the caches, the keys, the
/// email outbox.
fn observe(state: &AppState, email_outbox: Option<crate::store::email_outbox::OutboxCounts>) -> Observed {
    let mut caches = Vec::new();
    if let Some(stats) = state.api_keys.cache_stats() {
        caches.push(("api_keys", stats));
    }
    if let Some(stats) = state.oauth.clients.cache_stats() {
        caches.push(("clients", stats));
    }
    if let Some(liveness) = &state.oauth.liveness {
        caches.extend(liveness.cache_stats());
    }
    let now = state.clock.now();
    let signing_key_ages = ALGORITHMS
        .into_iter()
        .filter_map(|a| {
            state.oauth.keys.current_created_at(a).map(|at| (a, (now - at).num_milliseconds() as f64 / 1000.0))
        })
        .collect();
    Observed { pool: state.store.pool_state(), caches, signing_key_ages, email_outbox }
}
