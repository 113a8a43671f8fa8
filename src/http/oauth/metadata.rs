//! RFC 8414 metadata and the JWK Set (RFC 7517).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.config.issuer();
    let mut pkce = vec!["S256"];
    if state.config.oauth.allow_plain_pkce {
        pkce.push("plain");
    }
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let scopes: Vec<&str> = state.oauth.scopes.all().iter().map(|s| s.name.as_str()).collect();
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": pkce,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [state.oauth.keys.algorithm().to_string()],
        "prompt_values_supported": ["none", "consent"],
    });
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(body)
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
