//! The one metadata document, served at both
//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3) and
//! `/.well-known/oauth-authorization-server` (RFC 8414 §2), so the two
//! cannot disagree. RFC 8414 §2 takes its field names from Discovery, and
//! its registry holds Discovery's fields too.

use serde_json::{Value, json};

use super::CLAIMS_SUPPORTED;
use crate::oauth::service::OAuth;

/// The algorithms ID tokens are signed with: RS256 always (OIDC Core
/// §15.1), ES256 or EdDSA for a client that registers it.
pub const ID_TOKEN_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// OIDC Core §3.1.2.1: every `display` value is served the same
/// responsive page, usable from a phone's width up, so each is supported;
/// an unknown value is ignored, as an authorization request's `display`
/// is only a hint (`oauth::authorize::PARAMS`).
pub const DISPLAY_VALUES: [&str; 4] = ["page", "popup", "touch", "wap"];

pub fn metadata(oauth: &OAuth) -> Value {
    let issuer = oauth.settings.issuer.as_str();
    let endpoint = |path: &str| format!("{issuer}{path}");
    let mut pkce = vec!["S256"];
    if oauth.settings.allow_plain_pkce {
        pkce.push("plain");
    }
    let client_auth = ["client_secret_basic", "client_secret_post"];
    let scopes: Vec<&str> = oauth.scopes.all().iter().map(|s| s.name.as_str()).collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("/oauth/authorize"),
        "token_endpoint": endpoint("/oauth/token"),
        "userinfo_endpoint": endpoint("/oauth/userinfo"),
        "jwks_uri": endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": endpoint("/oauth/introspect"),
        "revocation_endpoint": endpoint("/oauth/revoke"),
        "end_session_endpoint": endpoint("/oauth/logout"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ID_TOKEN_ALGORITHMS,
        "access_token_signing_alg_values_supported": [oauth.keys.algorithm().to_string()],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "code_challenge_methods_supported": pkce,
        "claims_supported": CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": DISPLAY_VALUES,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "frontchannel_logout_session_supported": false,
    })
}
