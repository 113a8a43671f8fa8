//! The OAuth server's shared parts: settings, and the issuing of access
//! and refresh tokens that every grant uses.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Serialize;

use super::clients::{Client, Clients, SecretDigest, SubjectType};
use super::error::OAuthError;
use super::oidc::reauth::ReauthKey;
use super::scopes::{self, ScopeRegistry, ScopeSet};
use super::subject::{is_pairwise, subject};
use crate::clock::Clock;
use crate::config::Config;
use crate::store::grants::RefreshTokenRow;
use crate::store::{self, Store, StoreError};
use crate::tokens::opaque;
use crate::tokens::signing::{AccessTokenClaims, SigningKeys};

#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub audience: Vec<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_token_absolute_ttl: Duration,
    pub authorization_code_ttl: Duration,
    pub allow_plain_pkce: bool,
    /// The `aud` of tokens for the /v1 management API (`{issuer}/v1`):
    /// dashboard sessions and management apps only.
    pub management_audience: String,
    /// How long after a refresh token's rotation a second use of it is taken
    /// for a lost race rather than a replay (RFC 9700 §4.14.2).
    pub refresh_reuse_grace: Duration,
    /// How long an ID token is valid (its `exp`).
    pub id_token_ttl: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let o = &config.oauth;
        Self {
            issuer: config.issuer().to_owned(),
            audience: config.audience(),
            access_token_ttl: Duration::seconds(o.access_token_ttl_secs),
            refresh_token_ttl: Duration::seconds(o.refresh_token_ttl_secs),
            refresh_token_absolute_ttl: Duration::seconds(o.refresh_token_absolute_ttl_secs),
            authorization_code_ttl: Duration::seconds(o.authorization_code_ttl_secs),
            allow_plain_pkce: o.allow_plain_pkce,
            management_audience: config.management_audience(),
            refresh_reuse_grace: Duration::seconds(o.refresh_reuse_grace_secs),
            id_token_ttl: Duration::seconds(config.oidc.id_token_ttl_secs),
        }
    }
}

/// The token endpoint's successful answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// OIDC Core §3.1.3.3: when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// An access token just signed.
pub struct IssuedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
    pub expires_at: DateTime<Utc>,
}

pub struct OAuth {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub clients: Clients,
    pub scopes: Arc<ScopeRegistry>,
    pub keys: Arc<SigningKeys>,
    pub settings: Settings,
    /// Keys the `sub` of pairwise clients (`subject::subject`).
    pub pairwise: Arc<super::subject::PairwiseKey>,
    /// Keys the per-app `sid` of ID and logout tokens (`oidc::sid`).
    pub sid: Arc<super::oidc::sid::SidKey>,
    /// Signs the tickets that recognise a sign-in made for a request.
    pub reauth: ReauthKey,
    /// What `live_access_token` read, kept (none in strict mode).
    pub liveness: Option<Arc<super::liveness::Liveness>>,
}

/// An access token `live_access_token` found good.
#[derive(Debug, Clone)]
pub struct LiveAccessToken {
    pub claims: AccessTokenClaims,
    /// The user behind it, whatever its `sub` shows the app (the user's id,
    /// or a pairwise subject); `None` for a machine's token.
    pub user_id: Option<String>,
}

/// A token id that also tells when the token was made: a UUIDv7 of `now`,
/// the server's clock, to the millisecond (`iat` has whole seconds only).
/// A revocation of all of a user's tokens, or of an app's own, is compared
/// with it, so a token made a moment before one dies and a token made a
/// moment after lives, even within one second.
pub fn new_jti(now: DateTime<Utc>) -> String {
    let (secs, nanos) = (u64::try_from(now.timestamp()).unwrap_or(0), now.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)).to_string()
}

/// When a token was made: from its UUIDv7 `jti` to the millisecond, or, for
/// a token from before ids told the time, the start of its `iat` second.
pub fn issued_instant(jti: &str, iat: i64) -> Option<NaiveDateTime> {
    let from_jti = uuid::Uuid::parse_str(jti).ok().and_then(|id| id.get_timestamp()).and_then(|t| {
        let (secs, nanos) = t.to_unix();
        DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos - nanos % 1_000_000)
    });
    from_jti.or_else(|| DateTime::from_timestamp(iat, 0)).map(|t| t.naive_utc())
}

impl OAuth {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn access_ttl(&self, client: &Client) -> Duration {
        client.access_token_ttl_secs.map_or(self.settings.access_token_ttl, Duration::seconds)
    }

    /// The audience of a token (RFC 9068 §3): the management API for the
    /// dashboard's sessions and a management app's own tokens; the
    /// organization's APIs for everything else, so that a token an app got
    /// through the consent page can never act on /v1.
    fn audience_for(&self, client: &Client, subject: &str) -> Vec<String> {
        let dashboard = client.client_id == super::clients::DASHBOARD_CLIENT_ID;
        if dashboard || (client.management && subject == client.client_id) {
            vec![self.settings.management_audience.clone()]
        } else {
            self.settings.audience.clone()
        }
    }

    /// True when `token` is genuine (signature, times, issuer, audience) but
    /// on the denylist: to tell "revoked" from "invalid" in answers.
    pub async fn revoked_access_token(&self, token: &str, audience: Option<&str>) -> Result<bool, StoreError> {
        let now = self.now().timestamp();
        let Ok(claims) = self.keys.verify_access_token(token, &self.settings.issuer, audience, now) else {
            return Ok(false);
        };
        self.store.run(move |conn| store::grants::is_access_token_revoked(conn, &claims.jti)).await
    }

    /// Signs an RFC 9068 access token. No I/O.
    pub fn sign_access_token(
        &self,
        client: &Client,
        subject: &str,
        scope: &ScopeSet,
        jti: String,
        organization_id: Option<&str>,
    ) -> Result<IssuedAccessToken, OAuthError> {
        self.sign_access_token_under(client, subject, scope, jti, organization_id, None)
    }

    /// `sign_access_token` for an app's own token issued under `secret`:
    /// it names the secret, and expires no later than it does.
    pub fn sign_access_token_under(
        &self,
        client: &Client,
        subject: &str,
        scope: &ScopeSet,
        jti: String,
        organization_id: Option<&str>,
        secret: Option<&SecretDigest>,
    ) -> Result<IssuedAccessToken, OAuthError> {
        let now = self.now();
        let mut ttl = self.access_ttl(client);
        if let Some(end) = secret.and_then(|s| s.expires_at) {
            // The secret is valid now (it authenticated), so this stays positive.
            ttl = ttl.min(end - now).max(Duration::seconds(1));
        }
        let expires_at = now + ttl;
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience_for(client, subject),
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: jti.clone(),
            client_id: client.client_id.clone(),
            scope: scopes::join(scope),
            org_id: organization_id.map(str::to_owned),
            secret_id: secret.map(|s| s.id.clone()),
        };
        let token = self.keys.sign_access_token(&claims).map_err(|e| {
            tracing::error!(cause = %e, "signing an access token failed");
            OAuthError::server_error()
        })?;
        Ok(IssuedAccessToken { token, jti, expires_in: ttl.num_seconds(), expires_at })
    }

    /// The one liveness check of an access token, for introspection and
    /// for every credential resolution: signature, `typ`, times, issuer,
    /// `audience` when given, a client that still exists, and no
    /// revocation. `None` when the token is not (or no longer) good.
    pub async fn live_access_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<LiveAccessToken>, StoreError> {
        self.live_access_token_from(token, audience, false).await
    }

    /// `live_access_token` from the database, past what is kept in memory:
    /// for requests that change something, so that a token revoked a moment
    /// ago on another instance changes nothing here before the news arrives.
    pub async fn live_access_token_fresh(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<LiveAccessToken>, StoreError> {
        self.live_access_token_from(token, audience, true).await
    }

    async fn live_access_token_from(
        &self,
        token: &str,
        audience: Option<&str>,
        fresh: bool,
    ) -> Result<Option<LiveAccessToken>, StoreError> {
        let now = self.now().timestamp();
        let Ok(claims) = self.keys.verify_access_token(token, &self.settings.issuer, audience, now) else {
            return Ok(None);
        };
        // A deleted client's tokens die with it (the dashboard's is built in).
        let organization_id = if claims.client_id == super::clients::DASHBOARD_CLIENT_ID {
            None
        } else {
            match self.clients.get(&claims.client_id).await? {
                // A machine's tokens from before its secret was rotated without
                // grace, before another member took it over, before its
                // management was turned on.
                Some(client) if claims.sub == claims.client_id && client.own_token_cut_off(claims.iat, &claims.jti) => {
                    return Ok(None);
                }
                // An app whose maker acts for no one (its creator disabled)
                // holds no live token meanwhile (attacker round 12, finding 4).
                Some(client) if client.maker_disabled() => return Ok(None),
                // Nor does it outlive the secret it was issued under.
                Some(client)
                    if claims.sub == claims.client_id
                        && claims.secret_id.as_deref().is_some_and(|id| !client.secret_live(id, self.now())) =>
                {
                    return Ok(None);
                }
                Some(client) => Some(client.organization_id.clone()),
                None => return Ok(None),
            }
        };
        // A machine's token has its own client_id as `sub` (RFC 9068 §2.2)
        // and no user behind it. A user's token also dies with a revocation
        // of all the user's tokens (password change, removal, demotion).
        let user = if claims.sub == claims.client_id {
            None
        } else {
            let Some(issued) = issued_instant(&claims.jti, claims.iat) else { return Ok(None) };
            Some((claims.sub.clone(), issued))
        };
        let jti = claims.jti.clone();
        // From memory when every fact is known (`liveness`).
        if let Some(cache) = self.liveness.as_ref().filter(|_| !fresh) {
            let known_user = match &user {
                None => Some(None),
                // A pairwise subject stands for a user of the app's organization only.
                Some((sub, iat)) if is_pairwise(sub) => match &organization_id {
                    None => return Ok(None),
                    Some(org) => cache.pairwise_user(org, sub).map(|u| Some((u, *iat))),
                },
                Some((sub, iat)) => Some(Some((sub.clone(), *iat))),
            };
            if let Some(u) = known_user
                && let Some(live) =
                    cache.is_live(&jti, &claims.client_id, u.as_ref().map(|(id, iat)| (id.as_str(), *iat)))
            {
                return Ok(live.then(|| LiveAccessToken { claims, user_id: u.map(|(id, _)| id) }));
            }
        }
        let since = self.liveness.as_ref().map(|c| c.since());
        let j = jti.clone();
        let client_id = claims.client_id.clone();
        let read = self
            .store
            .run(move |conn| {
                let (user, pairwise) = match user {
                    Some((sub, iat)) if is_pairwise(&sub) => {
                        let Some(org) = organization_id else { return Ok(None) };
                        match store::pairwise_subjects::user_of(conn, &sub, &org)? {
                            Some(user_id) => (Some((user_id.clone(), iat)), Some((org, sub, user_id))),
                            None => return Ok(None),
                        }
                    }
                    user => (user, None),
                };
                let denial =
                    store::grants::denial(conn, &j, user.as_ref().map(|(u, _)| (u.as_str(), client_id.as_str())))?;
                Ok(Some((user, pairwise, denial)))
            })
            .await?;
        let Some((user, pairwise, denial)) = read else { return Ok(None) };
        if let (Some(cache), Some(since)) = (&self.liveness, &since) {
            cache.remember(
                since,
                &jti,
                denial.denied,
                &claims.client_id,
                user.as_ref().map(|(u, _)| (u.as_str(), denial.user_since, denial.client_since)),
                pairwise.as_ref().map(|(o, s, u)| (o.as_str(), s.as_str(), u.as_str())),
            );
        }
        // A user's token also dies when it was issued before the user's
        // tokens were revoked as a whole, or before the user withdrew their
        // consent to its app.
        let issued_after = |since: Option<NaiveDateTime>, iat: &NaiveDateTime| since.is_none_or(|at| at <= *iat);
        let live = !denial.denied
            && user
                .as_ref()
                .is_none_or(|(_, iat)| issued_after(denial.user_since, iat) && issued_after(denial.client_since, iat));
        Ok(live.then(|| LiveAccessToken { claims, user_id: user.map(|(u, _)| u) }))
    }

    /// The `sub` that `client`'s tokens carry for `user_id`; for a pairwise
    /// client, first records the way back to the user (`live_access_token`).
    pub async fn user_subject(&self, client: &Client, user_id: &str) -> Result<String, StoreError> {
        let sub = subject(client, user_id, &self.pairwise);
        if client.subject_type == SubjectType::Pairwise {
            let (s, u, org, now) =
                (sub.clone(), user_id.to_owned(), client.organization_id.clone(), self.now().naive_utc());
            self.store.run(move |conn| store::pairwise_subjects::record(conn, &s, &u, &org, now)).await?;
        }
        Ok(sub)
    }

    /// How long a refresh token of `client` may lie unused (idle lifetime).
    pub fn refresh_idle_ttl(&self, client: &Client) -> Duration {
        client.refresh_token_ttl_secs.map_or(self.settings.refresh_token_ttl, Duration::seconds)
    }

    /// A new refresh token: the plaintext for the client, the row (digest
    /// only) for the database. `family` continues an existing family.
    pub fn new_refresh_token(
        &self,
        client: &Client,
        user_id: Option<&str>,
        scope: &ScopeSet,
        family: Option<(&str, NaiveDateTime)>,
        access_jti: &str,
    ) -> (String, RefreshTokenRow) {
        let now = self.now().naive_utc();
        let (family_id, family_expires_at) = match family {
            Some((id, until)) => (id.to_owned(), until),
            None => (uuid::Uuid::new_v4().to_string(), now + self.settings.refresh_token_absolute_ttl),
        };
        let idle = self.refresh_idle_ttl(client);
        let token = opaque::random_secret();
        let row = RefreshTokenRow {
            id: uuid::Uuid::new_v4().to_string(),
            token_digest: opaque::digest(&token),
            family_id,
            client_id: client.client_id.clone(),
            user_id: user_id.map(str::to_owned),
            scope: scopes::join(scope),
            created_at: now,
            expires_at: (now + idle).min(family_expires_at),
            family_expires_at,
            rotated_at: None,
            revoked_at: None,
            access_jti: Some(access_jti.to_owned()),
            organization_id: None,
            parent_id: None,
            session_id: None,
            auth_time: None,
        };
        (token, row)
    }

    /// The furthest an access token issued now to `client` can live.
    pub fn deny_until(&self, client: &Client) -> NaiveDateTime {
        (self.now() + self.access_ttl(client).max(self.settings.access_token_ttl)).naive_utc()
    }
}
