//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use retires the
//! token and issues the next of its family; reuse of a retired token
//! revokes the family. Of two concurrent uses, one conditional UPDATE
//! decides the single winner.

use crate::oauth::clients::{Client, GrantType};
use crate::oauth::error::OAuthError;
use crate::oauth::scopes;
use crate::oauth::service::{OAuth, TokenResponse, new_jti};
use crate::store::grants;
use crate::tokens::opaque;

pub async fn grant(
    oauth: &OAuth,
    client: &Client,
    refresh_token: Option<&str>,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let token = refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    if !client.allows(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client("This client may not use the refresh_token grant."));
    }
    let digest = opaque::digest(token);
    let row = oauth
        .store
        .run(move |conn| grants::find_refresh_token(conn, &digest))
        .await?
        .filter(|r| r.client_id == client.client_id)
        .ok_or_else(|| OAuthError::invalid_grant("The refresh token is invalid."))?;
    let now = oauth.now();
    if row.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("The refresh token was revoked."));
    }
    if row.rotated_at.is_some() {
        let family = row.family_id.clone();
        let deny_until = oauth.deny_until(client);
        oauth.store.run(move |conn| OAuth::revoke_family_blocking(conn, &family, now.naive_utc(), deny_until)).await?;
        tracing::warn!(client_id = %client.client_id, "refresh token reused; revoked its family");
        return Err(OAuthError::invalid_grant("The refresh token was already used; its whole family is revoked."));
    }
    if row.expires_at.and_utc() <= now || row.family_expires_at.and_utc() <= now {
        return Err(OAuthError::invalid_grant("The refresh token has expired."));
    }
    let original = scopes::parse(&row.scope)?;
    // §6: a narrower scope may be asked for, never a wider one.
    let granted = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => original.clone(),
        Some(s) => {
            let asked = oauth.scopes.parse_known(s)?;
            if let Some(extra) = asked.iter().find(|x| !original.contains(*x)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {extra:?} was not granted to this refresh token"
                )));
            }
            asked
        }
    };
    let jti = new_jti();
    // The next token keeps the family's scope (§6), whatever this access token narrows to.
    let (next, mut next_row) = oauth.new_refresh_token(
        client,
        row.user_id.as_deref(),
        &original,
        Some((&row.family_id, row.family_expires_at)),
        &jti,
    );
    // A dashboard session keeps acting for the organization chosen at sign-in.
    next_row.organization_id = row.organization_id.clone();
    let id = row.id.clone();
    let won = oauth
        .store
        .run(move |conn| {
            diesel::Connection::transaction(conn, |c| {
                if !grants::rotate_refresh_token(c, &id, now.naive_utc())? {
                    return Ok(false);
                }
                grants::insert_refresh_token(c, &next_row)?;
                Ok(true)
            })
        })
        .await?;
    if !won {
        // A concurrent request with the same token won; this one loses
        // without punishing the family (a retry is not an attack).
        return Err(OAuthError::invalid_grant("The refresh token was already used."));
    }
    let subject = row.user_id.as_deref().unwrap_or(&client.client_id);
    let issued = oauth.sign_access_token(client, subject, &granted, jti, row.organization_id.as_deref())?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: Some(next),
        scope: scopes::join(&granted),
    })
}
