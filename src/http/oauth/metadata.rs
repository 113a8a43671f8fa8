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
/// be alive. Cached briefly by clients; rotation publishes a key before it
/// signs, so a cached set never misses a signing key.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let body = state.oauth.keys.jwks(state.clock.now(), state.oauth.settings.retired_key_retention);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .json(body)
}
