//! The UserInfo endpoint's logic (OIDC Core §5.3): a bearer access token
//! that is alive, for this server's APIs, issued for a user, and granted
//! `openid`, answers with the user's `sub` and the claims its scopes
//! release. Errors are RFC 6750 §3.1's.

use serde_json::{Map, Value, json};

use super::{UserFacts, scope_claims, subject};
use crate::oauth::scopes::{self, OPENID};
use crate::oauth::service::OAuth;
use crate::store::{self, StoreError};

/// RFC 6750 §3.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// Malformed request (two ways of sending the token, a token in the query).
    InvalidRequest(String),
    /// Expired, revoked, malformed, or not for this endpoint.
    InvalidToken(String),
    /// The token lacks `openid`.
    InsufficientScope,
    /// Storage failed; `transient` says whether trying again may help.
    Unavailable { transient: bool },
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> Self {
        let transient = e.is_transient();
        if transient {
            tracing::warn!(cause = %e, "database unavailable or busy");
        } else {
            tracing::error!(cause = %e, "storage error");
        }
        Self::Unavailable { transient }
    }
}

fn invalid_token(description: &str) -> BearerError {
    BearerError::InvalidToken(description.to_owned())
}

/// The claims about the token's user that its scopes release, `sub` first.
pub async fn userinfo(oauth: &OAuth, token: &str) -> Result<Map<String, Value>, BearerError> {
    // The audience of the tokens apps get through the code flow (the
    // organization's APIs, `oauth.audience`): a token for the /v1
    // management API is refused.
    let audience = oauth.settings.audience.first().map(String::as_str);
    let live = oauth
        .live_access_token(token, audience)
        .await?
        .ok_or_else(|| invalid_token("The access token is invalid, expired or revoked."))?;
    let claims = live.claims;
    // A machine's token (client credentials) has no user behind it.
    let Some(user_id) = live.user_id else {
        return Err(invalid_token("The access token was not issued for a user."));
    };
    let scope = scopes::parse(&claims.scope).unwrap_or_default();
    if !scope.contains(OPENID) {
        return Err(BearerError::InsufficientScope);
    }
    let client = oauth
        .clients
        .get(&claims.client_id)
        .await?
        .ok_or_else(|| invalid_token("The access token's application no longer exists."))?;
    let user = oauth
        .store
        .run(move |conn| store::users::find_user(conn, &user_id))
        .await?
        .ok_or_else(|| invalid_token("The access token's user no longer exists."))?;
    let mut out = Map::new();
    out.insert("sub".into(), json!(subject(oauth, &client, &user.id)));
    scope_claims(&UserFacts::from(user), &scope, &mut out);
    Ok(out)
}
