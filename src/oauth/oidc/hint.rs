//! `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout §2): an ID
//! token this server issued, naming the user the client expects. Expired
//! ones are accepted (the spec allows it: it is a hint, not a credential).

use serde_json::Value;

use super::id_token::ID_TOKEN_TYPE;
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::service::OAuth;

/// What a genuine hint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    /// The browser session it was issued in, when it names one.
    pub sid: Option<String>,
    pub audience: Vec<String>,
    pub azp: Option<String>,
}

impl IdTokenHint {
    /// Signed by one of this server's published keys, an ID token (not an
    /// access or logout token), from this issuer; `None` otherwise.
    pub fn read(oauth: &OAuth, hint: &str) -> Option<Self> {
        let (typ, claims) = oauth.keys.verify_jwt::<Value>(hint, oauth.now().timestamp()).ok()?;
        if typ.as_deref() != Some(ID_TOKEN_TYPE) || claims["iss"].as_str() != Some(oauth.settings.issuer.as_str()) {
            return None;
        }
        // `aud` is a string or an array of strings (RFC 7519 §4.1.3).
        let audience = match &claims["aud"] {
            Value::String(aud) => vec![aud.clone()],
            Value::Array(auds) => auds.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            _ => return None,
        };
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        Some(Self { sub: text("sub")?, sid: text("sid"), audience, azp: text("azp") })
    }

    /// The client it was issued to: its one audience, or `azp` among several
    /// (OIDC Core §2).
    pub fn client_id(&self) -> Option<&str> {
        match (&self.azp, self.audience.as_slice()) {
            (Some(azp), audience) if audience.contains(azp) => Some(azp),
            (None, [one]) => Some(one),
            _ => None,
        }
    }
}

/// The `sub` of a hint issued to `client`. Anything else is `invalid_request`.
pub fn hinted_subject(oauth: &OAuth, client: &Client, hint: &str) -> Result<String, OAuthError> {
    let refused = || OAuthError::invalid_request("id_token_hint is not an ID token this server issued to this client");
    match IdTokenHint::read(oauth, hint) {
        Some(h) if h.audience.contains(&client.client_id) => Ok(h.sub),
        _ => Err(refused()),
    }
}
