//! HTTP: actix handlers, extractors and middleware. Handlers parse, call one
//! domain function and render.

pub mod api;
pub mod client_ip;
pub mod errors;
mod health;
pub mod metrics;
pub mod middleware;
mod oauth;
mod pages;
pub mod session;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::OAuth;
use crate::store::Store;
use crate::tokens::master_key::MasterKey;

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub accounts: Accounts,
    pub oauth: OAuth,
    pub api_keys: crate::apikeys::ApiKeys,
    pub rate_limits: api::rate_limit::RateLimits,
    pub clock: Arc<dyn Clock>,
    pub master_key: MasterKey,
    /// The change log every cache follows.
    pub changes: Arc<crate::changes::Changes>,
    /// This app's own metrics (never the process-wide recorder).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Sends what the email outbox holds (see `crate::email`).
    pub mail: Arc<crate::email::Sender>,
}

/// The client's IP: the peer address, or, behind the operator's
/// `trusted_proxies`, the client they report (see `client_ip::resolve`).
pub fn client_ip(req: &actix_web::HttpRequest, state: &AppState) -> String {
    let c = &state.config;
    let peer = req.peer_addr().map(|a| a.ip());
    client_ip::resolve(peer, req.headers(), &c.trusted_proxies, c.forwarded_header)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

const APP_CSS: &str = include_str!("../../static/app.css");
/// The copy buttons of pages that show a secret once (CSP: script-src 'self').
const COPY_JS: &str = include_str!("../../static/copy.js");

/// A file of static/, compiled in.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn copy_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", COPY_JS)
}

/// All routes, with the form extractor's limits and error pages.
pub fn routes(cfg: &mut web::ServiceConfig, config: &Config) {
    // The request middleware enforces `max_body_bytes` for every body; the
    // extractors get the same limit so none of their defaults is ever larger.
    cfg.app_data(web::FormConfig::default().limit(config.max_body_bytes).error_handler(errors::form_error))
        .app_data(web::PayloadConfig::default().limit(config.max_body_bytes))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            errors::PageError::BadRequest(format!("The query string could not be read: {e}.")).into()
        }))
        // Routes are tried in order: the busiest first, the OAuth endpoints
        // and the /v1 scope (no path here overlaps another's).
        .configure(oauth::routes)
        .configure(|c| api::routes(c, config.max_body_bytes))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .configure(|c| metrics::route_on_main_listener(c, config))
        .route("/static/app.css", web::get().to(app_css))
        .route("/static/copy.js", web::get().to(copy_js))
        .route("/", web::get().to(pages::dashboard::home))
        .route("/dashboard", web::get().to(pages::dashboard::dashboard))
        .route("/dashboard/orgs/{org}", web::get().to(pages::dashboard::overview))
        .route("/dashboard/orgs/{org}/members", web::get().to(pages::people::list))
        .route("/dashboard/orgs/{org}/members/{id}/role", web::post().to(pages::people::change_role))
        .service(
            web::resource("/dashboard/orgs/{org}/members/{id}/remove")
                .get(pages::people::confirm_remove)
                .post(pages::people::remove),
        )
        .route("/dashboard/orgs/{org}/invitations", web::post().to(pages::people::invite))
        .service(
            web::resource("/dashboard/orgs/{org}/invitations/{id}/revoke")
                .get(pages::people::confirm_revoke)
                .post(pages::people::revoke),
        )
        .route("/dashboard/orgs/{org}/audit", web::get().to(pages::audit::list))
        .route("/dashboard/orgs/{org}/signing-keys", web::get().to(pages::signing_keys::list))
        .service(web::resource("/dashboard/orgs/{org}/keys").get(pages::keys::list).post(pages::keys::create))
        .service(
            web::resource("/dashboard/orgs/{org}/keys/{id}/{action}").get(pages::keys::confirm).post(pages::keys::act),
        )
        .configure(pages::apps::routes)
        .route("/signup", web::get().to(pages::auth::signup_page))
        .route("/signup", web::post().to(pages::auth::signup))
        .route("/login", web::get().to(pages::auth::login_page))
        .route("/login", web::post().to(pages::auth::login))
        .route("/logout", web::get().to(pages::auth::logout_page))
        .route("/logout", web::post().to(pages::auth::logout))
        .route("/account", web::get().to(pages::account::account_page))
        .route("/account/sign-out-everywhere", web::post().to(pages::account::sign_out_everywhere))
        .route("/account/delete", web::post().to(pages::account::delete_account))
        .route("/account/apps", web::get().to(pages::authorized_apps::list))
        .route("/account/apps/{client_id}/revoke", web::post().to(pages::authorized_apps::revoke))
        .route("/account/password", web::get().to(pages::account::password_page))
        .route("/account/password", web::post().to(pages::account::change_password))
        .route("/reset-password", web::get().to(pages::reset::reset_page))
        .route("/reset-password", web::post().to(pages::reset::reset))
        .route("/invitations/{token}", web::get().to(pages::invitations::show))
        .route("/invitations/{token}", web::post().to(pages::invitations::accept))
        .route("/forgot-password", web::get().to(pages::email::forgot_page))
        .route("/forgot-password", web::post().to(pages::email::forgot))
        .route("/verify-email", web::get().to(pages::email::verify_page))
        .route("/verify-email", web::post().to(pages::email::verify))
        .route("/account/verify-email/resend", web::post().to(pages::email::resend))
        .default_service(web::to(middleware::not_found));
}
