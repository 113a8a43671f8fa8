//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use retires the
//! token and issues the next of its family. Each use is decided in one
//! transaction that holds the token's row, so a second use sees what the
//! first one did: soon after the rotation, while the token that replaced
//! it is unused, it is a lost race (refused, nothing revoked); any other
//! reuse revokes the whole family.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::oauth::clients::{Client, GrantType};
use crate::oauth::error::OAuthError;
use crate::oauth::oidc::id_token;
use crate::oauth::scopes::{self, OFFLINE_ACCESS, OPENID, ScopeSet};
use crate::oauth::service::{OAuth, TokenResponse, new_jti};
use crate::store;
use crate::store::grants::{self, RefreshTokenRow};
use crate::tokens::opaque;

/// What a use of a refresh token comes to, decided on the locked row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Rotate,
    Revoked,
    Expired,
    /// A concurrent use of the same token rotated it a moment ago and its
    /// successor is still unused: a retry or a race, not a theft.
    RaceLost,
    /// Reuse after the grace, or after the successor was used: the token
    /// leaked, so the family is revoked.
    Replayed,
}

/// Pure: the decision on a row, given the token that replaced it (if any).
fn judge(row: &RefreshTokenRow, successor: Option<&RefreshTokenRow>, now: DateTime<Utc>, grace: Duration) -> Verdict {
    if row.revoked_at.is_some() {
        return Verdict::Revoked;
    }
    if let Some(rotated_at) = row.rotated_at {
        let successor_unused = successor.is_some_and(|s| s.rotated_at.is_none() && s.revoked_at.is_none());
        // A clock behind the rotation (another instance) counts as within.
        let within_grace = now.naive_utc() - rotated_at < grace;
        return if successor_unused && within_grace { Verdict::RaceLost } else { Verdict::Replayed };
    }
    if row.expires_at.and_utc() <= now || row.family_expires_at.and_utc() <= now {
        return Verdict::Expired;
    }
    Verdict::Rotate
}

/// §6: a narrower scope may be asked for, never a wider one.
fn narrowed(original: &ScopeSet, asked: Option<ScopeSet>) -> Result<ScopeSet, OAuthError> {
    let Some(asked) = asked else { return Ok(original.clone()) };
    if let Some(extra) = asked.iter().find(|x| !original.contains(*x)) {
        return Err(OAuthError::invalid_scope(format!("scope {extra:?} was not granted to this refresh token")));
    }
    Ok(asked)
}

/// The token that replaces `parent`: same family, user, organization and
/// scope (§6: the family keeps its scope whatever one access token narrows
/// to), pointing back at its parent so a later reuse can be judged.
fn successor_of(
    parent: &RefreshTokenRow,
    scope: &ScopeSet,
    id: String,
    token_digest: String,
    access_jti: &str,
    now: NaiveDateTime,
    idle: Duration,
) -> RefreshTokenRow {
    RefreshTokenRow {
        id,
        token_digest,
        family_id: parent.family_id.clone(),
        client_id: parent.client_id.clone(),
        user_id: parent.user_id.clone(),
        scope: scopes::join(scope),
        created_at: now,
        expires_at: (now + idle).min(parent.family_expires_at),
        family_expires_at: parent.family_expires_at,
        rotated_at: None,
        revoked_at: None,
        access_jti: Some(access_jti.to_owned()),
        organization_id: parent.organization_id.clone(),
        parent_id: Some(parent.id.clone()),
        session_id: parent.session_id.clone(),
        auth_time: parent.auth_time,
    }
}

/// Why a use was refused, as decided inside the transaction.
enum Refused {
    Unknown,
    Verdict(Verdict),
    Scope(OAuthError),
}

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
    let asked = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(oauth.scopes.parse_known(s)?),
    };
    let digest = opaque::digest(token);
    let now = oauth.now();
    let jti = new_jti(now);
    let next = opaque::random_secret();
    let (next_id, next_digest, access_jti) = (uuid::Uuid::new_v4().to_string(), opaque::digest(&next), jti.clone());
    let idle = oauth.refresh_idle_ttl(client);
    let grace = oauth.settings.refresh_reuse_grace;
    let deny_until = oauth.deny_until(client);
    let client_id = client.client_id.clone();
    let allowed = client.scopes.clone();
    let outcome = oauth
        .store
        .run(move |conn| {
            grants::use_refresh_token(conn, &digest, |c, row| {
                let Some(row) = row.filter(|r| r.client_id == client_id) else { return Ok(Err(Refused::Unknown)) };
                let successor = match row.rotated_at {
                    Some(_) => grants::find_successor(c, &row.id)?,
                    None => None,
                };
                match judge(&row, successor.as_ref(), now, grace) {
                    Verdict::Rotate => {}
                    Verdict::Replayed => {
                        OAuth::revoke_family_blocking(c, &row.family_id, now.naive_utc(), deny_until)?;
                        return Ok(Err(Refused::Verdict(Verdict::Replayed)));
                    }
                    other => return Ok(Err(Refused::Verdict(other))),
                }
                // Back-Channel Logout §2.7: a family without offline_access
                // lives as long as the session it was signed in through. One
                // whose session has expired, and no poll has ended yet, ends
                // here as that poll would end it.
                if let Some(session_id) = &row.session_id
                    && !scopes::parse(&row.scope).is_ok_and(|s| s.contains(OFFLINE_ACCESS))
                    && !store::sessions::is_live(c, session_id, now.naive_utc())?
                {
                    OAuth::revoke_family_blocking(c, &row.family_id, now.naive_utc(), deny_until)?;
                    return Ok(Err(Refused::Verdict(Verdict::Revoked)));
                }
                // The family keeps no scope its app has since lost.
                let original: ScopeSet = match scopes::parse(&row.scope) {
                    Ok(s) => s.intersection(&allowed).cloned().collect(),
                    Err(e) => return Ok(Err(Refused::Scope(e))),
                };
                let granted = match narrowed(&original, asked.clone()) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(Refused::Scope(e))),
                };
                // The row is locked and live: this UPDATE cannot lose.
                if !grants::rotate_refresh_token(c, &row.id, now.naive_utc())? {
                    return Ok(Err(Refused::Verdict(Verdict::RaceLost)));
                }
                let next_row = successor_of(
                    &row,
                    &original,
                    next_id.clone(),
                    next_digest.clone(),
                    &access_jti,
                    now.naive_utc(),
                    idle,
                );
                grants::insert_refresh_token(c, &next_row)?;
                Ok(Ok((row, granted)))
            })
        })
        .await?;
    let (row, granted) = match outcome {
        Ok(won) => won,
        Err(Refused::Unknown) => return Err(OAuthError::invalid_grant("The refresh token is invalid.")),
        Err(Refused::Scope(e)) => return Err(e),
        Err(Refused::Verdict(v)) => {
            return Err(match v {
                Verdict::Revoked => OAuthError::invalid_grant("The refresh token was revoked."),
                Verdict::Expired => OAuthError::invalid_grant("The refresh token has expired."),
                Verdict::RaceLost => OAuthError::invalid_grant("The refresh token was already used."),
                Verdict::Replayed | Verdict::Rotate => {
                    tracing::warn!(client_id = %client.client_id, "refresh token reused; revoked its family");
                    OAuthError::invalid_grant("The refresh token was already used; its whole family is revoked.")
                }
            });
        }
    };
    let subject = match row.user_id.as_deref() {
        Some(user_id) => oauth.user_subject(client, user_id).await?,
        None => client.client_id.clone(),
    };
    // A dashboard family names the organization it was opened for; an
    // app's, the app's organization (as at the code grant).
    let organization = row.organization_id.as_deref().unwrap_or(&client.organization_id);
    let issued = oauth.sign_access_token(client, &subject, &granted, jti, Some(organization))?;
    // OIDC Core §12.2: a new ID token for the same sign-in (same sub and
    // auth_time; the sid while that session lasts), without a nonce.
    let id_token = match (row.user_id.as_deref(), row.auth_time) {
        (Some(user_id), Some(auth_time)) if granted.contains(OPENID) => Some(
            id_token::issue(
                oauth,
                id_token::Subject {
                    client,
                    user_id,
                    scope: &granted,
                    nonce: None,
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
        refresh_token: Some(next),
        scope: scopes::join(&granted),
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + Duration::seconds(secs)
    }

    fn row(id: &str) -> RefreshTokenRow {
        RefreshTokenRow {
            id: id.into(),
            token_digest: format!("digest-{id}"),
            family_id: "family".into(),
            client_id: "client".into(),
            user_id: Some("user".into()),
            scope: "read".into(),
            created_at: at(0).naive_utc(),
            expires_at: at(3600).naive_utc(),
            family_expires_at: at(7200).naive_utc(),
            rotated_at: None,
            revoked_at: None,
            access_jti: None,
            organization_id: Some("org".into()),
            parent_id: None,
            session_id: Some("session".into()),
            auth_time: Some(at(-60).naive_utc()),
        }
    }

    fn rotated(id: &str, secs: i64) -> RefreshTokenRow {
        RefreshTokenRow { rotated_at: Some(at(secs).naive_utc()), ..row(id) }
    }

    const GRACE: Duration = Duration::seconds(5);

    #[test]
    fn a_live_token_rotates_and_a_dead_one_is_refused_without_revoking() {
        assert_eq!(judge(&row("a"), None, at(10), GRACE), Verdict::Rotate);
        assert_eq!(judge(&row("a"), None, at(3600), GRACE), Verdict::Expired);
        let revoked = RefreshTokenRow { revoked_at: Some(at(1).naive_utc()), ..rotated("a", 1) };
        assert_eq!(judge(&revoked, None, at(2), GRACE), Verdict::Revoked);
    }

    #[test]
    fn reuse_within_the_grace_while_the_successor_is_unused_is_a_lost_race() {
        let successor = row("b");
        assert_eq!(judge(&rotated("a", 10), Some(&successor), at(10), GRACE), Verdict::RaceLost);
        assert_eq!(judge(&rotated("a", 10), Some(&successor), at(14), GRACE), Verdict::RaceLost);
    }

    #[test]
    fn reuse_after_the_grace_or_after_the_successor_was_used_is_a_replay() {
        let unused = row("b");
        assert_eq!(judge(&rotated("a", 10), Some(&unused), at(15), GRACE), Verdict::Replayed);
        assert_eq!(judge(&rotated("a", 10), Some(&rotated("b", 11)), at(11), GRACE), Verdict::Replayed);
        // No successor on record (rotated before successors were linked).
        assert_eq!(judge(&rotated("a", 10), None, at(10), GRACE), Verdict::Replayed);
        // A grace of 0 makes every reuse a replay.
        assert_eq!(judge(&rotated("a", 10), Some(&unused), at(10), Duration::zero()), Verdict::Replayed);
    }

    #[test]
    fn the_successor_continues_the_family_and_points_at_its_parent() {
        let parent = row("a");
        let scope = scopes::parse("read").unwrap();
        let next =
            successor_of(&parent, &scope, "b".into(), "d".into(), "jti", at(100).naive_utc(), Duration::hours(2));
        assert_eq!(next.parent_id.as_deref(), Some("a"));
        assert_eq!(next.organization_id.as_deref(), Some("org"));
        assert_eq!((next.family_id.as_str(), next.user_id.as_deref()), ("family", Some("user")));
        assert_eq!(next.expires_at, parent.family_expires_at, "never beyond the family's end");
        assert_eq!(next.access_jti.as_deref(), Some("jti"));
        assert_eq!(
            (next.session_id, next.auth_time),
            (parent.session_id, parent.auth_time),
            "the ID token's sid, auth_time"
        );
    }
}
