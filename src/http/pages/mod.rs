//! Server-rendered pages (askama). Usable without JavaScript.

pub mod account;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod authorized_apps;
pub mod dashboard;
pub mod email;
pub mod invitations;
pub mod keys;
pub mod org;
pub mod people;
pub mod reset;
pub mod signing_keys;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::errors::PageError;
use super::session::FormToken;

/// Renders a page with a status; sets the anonymous CSRF cookie when the
/// form token came with one.
pub fn render(status: StatusCode, page: &impl Template, token: Option<FormToken>) -> Result<HttpResponse, PageError> {
    let body = page.render()?;
    let mut res = HttpResponseBuilder::new(status);
    res.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
    // Pages show per-user data and carry CSRF tokens: never cache them.
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = token.and_then(|t| t.set_cookie) {
        res.cookie(cookie);
    }
    Ok(res.body(body))
}

pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, location.to_owned()));
    res
}

/// A time as the pages show it: to the minute, in UTC.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The audit origin of a change a signed-in person makes on a page.
pub fn user_origin(req: &actix_web::HttpRequest, state: &super::AppState, user_id: &str) -> crate::audit::Origin {
    crate::audit::Origin { actor: format!("user:{user_id}"), request_id: None, ip: Some(super::client_ip(req, state)) }
}

/// A scope as the consent and authorized-apps pages show it.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

/// Each scope with its description (the name when it has none).
pub fn scope_lines<'a>(state: &super::AppState, scopes: impl IntoIterator<Item = &'a String>) -> Vec<ScopeLine> {
    scopes
        .into_iter()
        .map(|s| ScopeLine { name: s.clone(), description: state.oauth.scopes.describe(s).unwrap_or(s).to_owned() })
        .collect()
}

/// The host of an app's homepage, to name the link.
pub fn homepage_host(homepage_url: Option<&str>) -> Option<String> {
    homepage_url.and_then(|u| url::Url::parse(u).ok()).and_then(|u| u.host_str().map(str::to_owned))
}

/// An app's logo as pages show it: an image from anywhere but https is not.
pub fn shown_logo(logo_url: Option<&str>) -> Option<String> {
    logo_url.filter(|u| u.starts_with("https://")).map(str::to_owned)
}
