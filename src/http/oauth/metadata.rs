//! The server's metadata (RFC 8414, OpenID Connect Discovery 1.0) and the
//! JWK Set (RFC 7517).

use actix_web::{HttpResponse, web};

use crate::http::AppState;
use crate::oauth::oidc::discovery;

/// Both well-known metadata URLs serve the same document.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(discovery::metadata(&state.oauth))
}

/// Published keys: next, current, and retired ones whose tokens may still
/// be alive. Cached for `oauth.jwks_max_age_secs`; rotation publishes a key
/// at least that long before it signs, so a cached set never misses a
/// signing key.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = &state.oauth.keys;
    let body = keys.jwks(state.clock.now(), keys.retired_retention());
    let max_age = state.config.oauth.jwks_max_age_secs;
    HttpResponse::Ok()
        .insert_header(("Cache-Control", format!("public, max-age={max_age}")))
        .content_type("application/jwk-set+json")
        .json(body)
}
