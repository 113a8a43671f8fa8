//! RFC 6749 §4.4. The hot path: the client comes from memory, the secret
//! check is one SHA-256, the token is signed in memory. No database write,
//! no slow hash, no refresh token.

use crate::oauth::clients::{Client, GrantType, SecretDigest};
use crate::oauth::error::OAuthError;
use crate::oauth::scopes;
use crate::oauth::service::{OAuth, TokenResponse, new_jti};

/// `secret`: the one the client authenticated with; the token names it
/// and ends with it.
pub fn grant(
    oauth: &OAuth,
    client: &Client,
    secret: Option<&SecretDigest>,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() || !client.allows(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client("This client may not use the client_credentials grant."));
    }
    let granted = oauth.scopes.grant(scope, &client.scopes)?;
    // OIDC Core §3.1.2.1: `openid` signs a user in; a machine has none.
    if granted.contains(scopes::OPENID) {
        return Err(OAuthError::invalid_scope("openid is for signing users in, not for client credentials."));
    }
    let issued = oauth.sign_access_token_under(
        client,
        &client.client_id,
        &granted,
        new_jti(oauth.now()),
        Some(&client.organization_id),
        secret,
    )?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        scope: scopes::join(&granted),
        id_token: None,
    })
}
