//! `id_token_hint` (OIDC Core §3.1.2.1): an ID token this server issued to
//! the requesting client, naming the user the client expects. Expired ones
//! are accepted (the spec allows it: it is a hint, not a credential).

use serde_json::Value;

use super::id_token::ID_TOKEN_TYPE;
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::service::OAuth;

/// The `sub` of a hint: signed by one of this server's published keys, an
/// ID token (not an access or logout token), from this issuer, for
/// `client`. Anything else is `invalid_request`.
pub fn hinted_subject(oauth: &OAuth, client: &Client, hint: &str) -> Result<String, OAuthError> {
    let refused = || OAuthError::invalid_request("id_token_hint is not an ID token this server issued to this client");
    let (typ, claims) = oauth.keys.verify_jwt::<Value>(hint, oauth.now().timestamp()).map_err(|_| refused())?;
    // `aud` is a string or an array of strings (RFC 7519 §4.1.3).
    let for_client = match &claims["aud"] {
        Value::String(aud) => *aud == client.client_id,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client.client_id.as_str())),
        _ => false,
    };
    let ours = claims["iss"].as_str() == Some(oauth.settings.issuer.as_str());
    match claims["sub"].as_str() {
        Some(sub) if typ.as_deref() == Some(ID_TOKEN_TYPE) && ours && for_client => Ok(sub.to_owned()),
        _ => Err(refused()),
    }
}
