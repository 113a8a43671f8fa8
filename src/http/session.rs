//! Session cookies and CSRF tokens for the pages.
//!
//! Signed-in forms carry the session's CSRF token (stored with the session
//! row). Forms shown before sign-in carry a token that must equal a random
//! HttpOnly cookie (double submit). Both are compared in constant time.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::errors::PageError;
use crate::accounts::CurrentSession;
use crate::config::Config;
use crate::tokens::opaque;

/// `__Host-` cookies are bound to this exact origin, but browsers accept
/// them only over https.
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.is_https() { "__Host-portcullis_session" } else { "portcullis_session" }
}

pub fn csrf_cookie_name(config: &Config) -> &'static str {
    if config.is_https() { "__Host-portcullis_csrf" } else { "portcullis_csrf" }
}

fn base_cookie(config: &Config, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(config.is_https()).finish()
}

pub fn session_cookie(config: &Config, token: String) -> Cookie<'static> {
    let mut c = base_cookie(config, session_cookie_name(config), token);
    c.set_max_age(CookieDuration::seconds(config.session_ttl_secs));
    c
}

pub fn expired_session_cookie(config: &Config) -> Cookie<'static> {
    let mut c = base_cookie(config, session_cookie_name(config), String::new());
    c.make_removal();
    c
}

/// The browser's session, if it has a live one.
pub struct MaybeSession {
    pub session: Option<CurrentSession>,
    /// The cookie value, for logout and rotation.
    pub token: Option<String>,
}

impl FromRequest for MaybeSession {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = state
            .as_ref()
            .and_then(|s| req.cookie(session_cookie_name(&s.config)))
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 128);
        Box::pin(async move {
            let (Some(state), Some(token)) = (state, token) else {
                return Ok(Self { session: None, token: None });
            };
            let session = state.accounts.session(&token).await?;
            Ok(Self { session, token: Some(token) })
        })
    }
}

/// A page that needs a signed-in user; others are sent to the login page,
/// which brings them back here.
pub struct SignedIn(pub CurrentSession);

impl FromRequest for SignedIn {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let maybe = MaybeSession::from_request(req, payload);
        let back = match req.uri().path_and_query() {
            Some(pq) => pq.as_str().to_owned(),
            None => req.path().to_owned(),
        };
        Box::pin(async move {
            match maybe.await?.session {
                Some(s) => Ok(Self(s)),
                None => {
                    let target = format!("/login?return_to={}", urlencode(&back));
                    Err(actix_web::error::InternalError::from_response(
                        "sign-in required",
                        actix_web::HttpResponse::SeeOther()
                            .insert_header((actix_web::http::header::LOCATION, target))
                            .finish(),
                    )
                    .into())
                }
            }
        })
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The token a form should carry, and the cookie to set when the browser
/// has none yet (anonymous forms only).
pub struct FormToken {
    pub token: String,
    pub set_cookie: Option<Cookie<'static>>,
}

pub fn form_token(req: &HttpRequest, config: &Config, session: Option<&CurrentSession>) -> FormToken {
    if let Some(s) = session {
        return FormToken { token: s.csrf_token.clone(), set_cookie: None };
    }
    match req.cookie(csrf_cookie_name(config)).map(|c| c.value().to_owned()).filter(|v| v.len() >= 32) {
        Some(token) => FormToken { token, set_cookie: None },
        None => {
            let token = opaque::random_secret();
            let cookie = base_cookie(config, csrf_cookie_name(config), token.clone());
            FormToken { token, set_cookie: Some(cookie) }
        }
    }
}

/// Checks the token a form sent against the session's, or the cookie's.
pub fn verify_form_token(
    req: &HttpRequest,
    config: &Config,
    session: Option<&CurrentSession>,
    submitted: &str,
) -> Result<(), PageError> {
    let expected = match session {
        Some(s) => Some(s.csrf_token.clone()),
        None => req.cookie(csrf_cookie_name(config)).map(|c| c.value().to_owned()),
    };
    match expected {
        Some(e) if !submitted.is_empty() && opaque::constant_time_eq(&e, submitted) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// A `return_to` is followed only when it is a path on this server: it
/// starts with one `/`, and has no backslash or control character (which
/// browsers may read as `//`, another host).
pub fn safe_return_to(raw: Option<&str>) -> Option<String> {
    let r = raw?.trim();
    let local = r.starts_with('/')
        && !r.starts_with("//")
        && r.len() <= 2048
        && !r.chars().any(|c| c == '\\' || c.is_control());
    local.then(|| r.to_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_accepts_only_local_paths() {
        assert_eq!(safe_return_to(Some("/dashboard?x=1")).as_deref(), Some("/dashboard?x=1"));
        assert!(safe_return_to(Some("/oauth/authorize?redirect_uri=https://a.io")).is_some());
        for bad in
            ["https://evil.io", "//evil.io", "/\\evil.io", "\\\\evil.io", "/\tx", "evil", "", "javascript:alert(1)"]
        {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_return_to(None), None);
    }
}
