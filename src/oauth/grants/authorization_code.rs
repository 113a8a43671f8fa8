//! RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6). A code works once: the use
//! that wins one conditional UPDATE gets tokens; a later use by the client
//! the code was issued to (redirect_uri and verifier checked) fails and
//! revokes what the first one issued (RFC 6749 §4.1.2, RFC 9700 §2.1.1).
//! Any other client gets `invalid_grant` and changes nothing.

use crate::oauth::clients::{Client, GrantType};
use crate::oauth::error::OAuthError;
use crate::oauth::oidc::id_token;
use crate::oauth::pkce;
use crate::oauth::scopes::{self, OFFLINE_ACCESS, OPENID};
use crate::oauth::service::{OAuth, TokenResponse, new_jti};
use crate::store::grants::{self, AuthorizationCodeRow};
use crate::tokens::opaque;

/// Revokes whatever the first use of a replayed code issued.
async fn revoke_issued(oauth: &OAuth, client: &Client, row: AuthorizationCodeRow) -> Result<(), OAuthError> {
    let now = oauth.now().naive_utc();
    let deny_until = oauth.deny_until(client);
    oauth
        .store
        .run(move |conn| {
            if let Some(jti) = &row.issued_jti {
                grants::revoke_access_token(conn, jti, deny_until)?;
            }
            if let Some(family) = &row.issued_family_id {
                OAuth::revoke_family_blocking(conn, family, now, deny_until)?;
            }
            Ok(())
        })
        .await?;
    tracing::warn!(client_id = %client.client_id, "authorization code replayed; revoked what it issued");
    Ok(())
}

fn replayed() -> OAuthError {
    OAuthError::invalid_grant("The authorization code was already used; the tokens it issued are revoked.")
}

/// RFC 7636 §4.6: the verifier must match the challenge stored with the
/// code. Without a stored challenge, no verifier may be sent (RFC 9700
/// §4.8.2, downgrade) and the client must be one exempted from PKCE: a code
/// issued before the client lost its exemption does not slip through.
fn check_pkce(client: &Client, row: &AuthorizationCodeRow, code_verifier: Option<&str>) -> Result<(), OAuthError> {
    match (&row.code_challenge, row.code_challenge_method.as_deref().and_then(pkce::method_from_str)) {
        (Some(challenge), Some(method)) => {
            let verifier = code_verifier.ok_or_else(|| OAuthError::invalid_grant("code_verifier is required."))?;
            if !pkce::verify(challenge, method, verifier) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge."));
            }
            Ok(())
        }
        // A challenge stored without a method we know: refuse, never skip.
        (Some(_), None) => Err(OAuthError::invalid_grant("The authorization code's PKCE method is not supported.")),
        (None, _) if code_verifier.is_some() => {
            Err(OAuthError::invalid_grant("code_verifier sent, but the authorization request had no code_challenge."))
        }
        (None, _) if client.require_pkce || client.is_public() => Err(OAuthError::invalid_grant(
            "The authorization request had no code_challenge; this client must use PKCE.",
        )),
        (None, _) => Ok(()),
    }
}

pub async fn grant(
    oauth: &OAuth,
    client: &Client,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let code = code.filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client("This client may not use the authorization_code grant."));
    }
    let digest = opaque::digest(code);
    let d = digest.clone();
    let row = oauth
        .store
        .run(move |conn| grants::find_code(conn, &d))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("The authorization code is invalid."))?;
    // The client is authenticated (the endpoint did it). Before anything
    // else, the code must be this client's (RFC 6749 §4.1.3): another
    // client holding a code, used or not, learns nothing and revokes
    // nothing, or any client could revoke another's tokens with a code it
    // saw (§10.5).
    if row.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("The authorization code was issued to another client."));
    }
    // §4.1.3: the same redirect_uri as the authorization request. An empty
    // stored value means the request omitted it (one registered URI).
    let redirect_ok = match (row.redirect_uri.as_str(), redirect_uri) {
        ("", None) => true,
        ("", Some(sent)) => client.redirect_uris.len() == 1 && client.redirect_uris[0] == sent,
        (stored, Some(sent)) => stored == sent,
        (_, None) => false,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request."));
    }
    check_pkce(client, &row, code_verifier)?;
    // Only now is this the client the code was issued to, proven by its
    // secret or, for a public client, by the PKCE verifier: a second use is
    // a replay, and what the first use issued is revoked (§4.1.2, §10.5).
    // Checked before expiry: a late replay is still one.
    if row.consumed_at.is_some() {
        revoke_issued(oauth, client, row).await?;
        return Err(replayed());
    }
    let now = oauth.now();
    if row.expires_at.and_utc() <= now {
        return Err(OAuthError::invalid_grant("The authorization code has expired."));
    }

    let scope = scopes::parse(&row.scope)?;
    let wants_refresh =
        client.allows(GrantType::RefreshToken) && (scope.contains(OFFLINE_ACCESS) || client.always_issue_refresh_token);
    let jti = new_jti(now);
    let refresh = wants_refresh.then(|| {
        let (token, mut family) = oauth.new_refresh_token(client, Some(&row.user_id), &scope, None, &jti);
        // The family remembers the sign-in, for the ID tokens of its refreshes.
        family.session_id = row.session_id.clone();
        family.auth_time = row.auth_time;
        (token, family)
    });
    let family = refresh.as_ref().map(|(_, r)| r.family_id.clone());

    // OIDC: an ID token comes with the tokens, and the browser session
    // that approved the code is recorded as signed in to this client.
    let openid = scope.contains(OPENID) && row.auth_time.is_some();
    let login = row.session_id.clone().filter(|_| openid).map(|s| (s, client.client_id.clone()));
    let (d, j, f, r) = (digest.clone(), jti.clone(), family, refresh.as_ref().map(|(_, r)| r.clone()));
    let won = oauth
        .store
        .run(move |conn| {
            let redemption = grants::Redemption {
                refresh: r.as_ref(),
                oidc_login: login.as_ref().map(|(s, c)| (s.as_str(), c.as_str())),
            };
            grants::redeem_code(conn, &d, now.naive_utc(), &j, f.as_deref(), &redemption)
        })
        .await?;
    if !won {
        // Another request used the code between our read and our update.
        let d = digest.clone();
        if let Some(row) = oauth.store.run(move |conn| grants::find_code(conn, &d)).await? {
            revoke_issued(oauth, client, row).await?;
        }
        return Err(replayed());
    }
    let subject = oauth.user_subject(client, &row.user_id).await?;
    // `org_id`: the organization of the app the user granted, so that a
    // resource server checking tokens itself tells its own apps' tokens
    // from another organization's (every user token has the same `aud`).
    let issued = oauth.sign_access_token(client, &subject, &scope, jti, Some(&client.organization_id))?;
    // OIDC Core §3.1.3.3: an authentication request's tokens come with an
    // ID token. Codes from before OpenID Connect have no auth_time, and no
    // openid scope either.
    let id_token = match row.auth_time {
        Some(auth_time) if openid => Some(
            id_token::issue(
                oauth,
                id_token::Subject {
                    client,
                    user_id: &row.user_id,
                    scope: &scope,
                    nonce: row.nonce.as_deref(),
                    auth_time: auth_time.and_utc(),
                    session_id: row.session_id.as_deref(),
                    access_token: &issued.token,
                },
            )
            .await?,
        ),
        _ => None,
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: refresh.map(|(t, _)| t),
        scope: scopes::join(&scope),
        id_token,
    })
}
