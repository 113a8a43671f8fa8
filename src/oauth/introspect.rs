//! Token introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Value, json};

use super::clients::Client;
use super::error::{ErrorCode, OAuthError};
use super::service::OAuth;
use super::subject::subject;
use crate::store::grants::{self, RefreshTokenRow};
use crate::tokens::opaque;
use crate::tokens::signing::AccessTokenClaims;

fn inactive() -> Value {
    json!({ "active": false })
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// A client may look at its own tokens; a resource server at those of its
/// own organization's apps, but never at a dashboard session's.
async fn may_see(oauth: &OAuth, caller: &Client, token_client_id: &str) -> Result<bool, OAuthError> {
    // Dashboard sessions are for the management API alone: nobody's business here.
    if token_client_id == super::clients::DASHBOARD_CLIENT_ID {
        return Ok(false);
    }
    if caller.client_id == token_client_id {
        return Ok(true);
    }
    if !caller.resource_server {
        return Ok(false);
    }
    let issued_to = oauth.clients.get(token_client_id).await?;
    Ok(issued_to.is_some_and(|c| c.organization_id == caller.organization_id))
}

async fn access_token(oauth: &OAuth, token: &str) -> Result<Option<AccessTokenClaims>, OAuthError> {
    if !looks_like_jwt(token) {
        return Ok(None);
    }
    Ok(oauth.live_access_token(token, None).await?.map(|live| live.claims))
}

async fn refresh_token(oauth: &OAuth, token: &str) -> Result<Option<RefreshTokenRow>, OAuthError> {
    if token.len() > 256 || looks_like_jwt(token) {
        return Ok(None);
    }
    let digest = opaque::digest(token);
    Ok(oauth.store.run(move |conn| grants::find_refresh_token(conn, &digest)).await?)
}

pub async fn introspect(oauth: &OAuth, caller: &Client, token: &str) -> Result<Value, OAuthError> {
    if let Some(c) = access_token(oauth, token).await? {
        if !may_see(oauth, caller, &c.client_id).await? {
            return Ok(inactive());
        }
        let mut body = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "exp": c.exp,
            "iat": c.iat,
            "nbf": c.nbf,
            "iss": c.iss,
            "aud": c.aud,
            "jti": c.jti,
        });
        if let Some(org) = c.org_id {
            body["org_id"] = json!(org);
        }
        return Ok(body);
    }
    if let Some(r) = refresh_token(oauth, token).await? {
        let now = oauth.now();
        let live = r.revoked_at.is_none()
            && r.rotated_at.is_none()
            && r.expires_at.and_utc() > now
            && r.family_expires_at.and_utc() > now;
        if !live || !may_see(oauth, caller, &r.client_id).await? {
            return Ok(inactive());
        }
        let mut body = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": r.scope,
            "client_id": r.client_id,
            "exp": r.expires_at.and_utc().timestamp(),
            "iat": r.created_at.and_utc().timestamp(),
            "iss": oauth.settings.issuer,
        });
        // The subject as the token's app knows the user (pairwise or not),
        // as in its access tokens.
        if let Some(user) = r.user_id {
            let Some(client) = oauth.clients.get(&r.client_id).await?.filter(|c| !c.maker_disabled()) else {
                return Ok(inactive());
            };
            body["sub"] = json!(subject(&client, &user, &oauth.pairwise));
        }
        return Ok(body);
    }
    Ok(inactive())
}

/// RFC 7009 §2.1: a refresh token revokes its family; an access token is
/// denied until it expires; unknown tokens are fine (200). A token of
/// another client is refused.
pub async fn revoke(oauth: &OAuth, caller: &Client, token: &str) -> Result<(), OAuthError> {
    let not_yours = || OAuthError::new(ErrorCode::UnauthorizedClient, "The token was not issued to this client.");
    if let Some(c) = access_token(oauth, token).await? {
        if c.client_id != caller.client_id {
            return Err(not_yours());
        }
        let until = chrono::DateTime::from_timestamp(c.exp, 0).unwrap_or_else(|| oauth.now()).naive_utc();
        oauth.store.run(move |conn| grants::revoke_access_token(conn, &c.jti, until)).await?;
        return Ok(());
    }
    if let Some(r) = refresh_token(oauth, token).await? {
        if r.client_id != caller.client_id {
            return Err(not_yours());
        }
        let now = oauth.now().naive_utc();
        let deny_until = oauth.deny_until(caller);
        oauth.store.run(move |conn| OAuth::revoke_family_blocking(conn, &r.family_id, now, deny_until)).await?;
    }
    Ok(())
}
