//! Server-rendered pages (askama). Usable without JavaScript.

pub mod account;
pub mod auth;
pub mod dashboard;
pub mod email;
pub mod invitations;
pub mod org;
pub mod reset;

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
