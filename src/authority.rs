//! Authority: who a credential acts for, and with what (invariant 10 of
//! DESIGN.md). Every credential of the /v1 management API resolves here, in
//! one function, to a [`Principal`]: (organization, acting member, scopes).
//! Its power is its own scopes ∩ what the acting member's *current* role
//! allows, looked up on every request, so a removed or demoted member takes
//! the power of their keys and apps along at once.
//!
//! - An API key acts for the member who created it.
//! - A dashboard token (`/v1/auth/login`) acts for the signed-in user, in
//!   the organization chosen at sign-in (carried in the token, checked
//!   against the memberships on every request).
//! - A management app's client-credentials token acts for the member who
//!   created the app. Only an ADMIN or OWNER enables management on an app.
//! - Tokens that apps got through the consent page are for the
//!   organization's own APIs (their audience), never for /v1.
//!
//! Nothing created through a credential may exceed its power: see
//! [`Principal::may_grant`] and the checks of each creating operation.

use chrono::{DateTime, Utc};

use crate::accounts::Role;
use crate::apikeys::{ApiKey, ApiKeys, KeyKind, MadeThrough, VerifyFailure, format, policy};
use crate::oauth::OAuth;
use crate::oauth::clients::DASHBOARD_CLIENT_ID;
use crate::oauth::scopes::{self, ScopeSet};
use crate::store::{self, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    /// A token of `/v1/auth/login`: a person at the dashboard or a script
    /// signed in as them.
    DashboardSession,
    /// A client-credentials token of an app enabled for management.
    ManagementApp,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::DashboardSession => "dashboard_session",
            Self::ManagementApp => "management_app",
        }
    }
}

/// An authenticated caller of /v1 and what it may do now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: CredentialKind,
    /// Key id, `user:{id}` for a dashboard session, `client:{id}` for an app.
    pub credential_id: String,
    pub organization_id: String,
    pub organization_name: String,
    /// The acting member: the key's or app's creator, or the signed-in user.
    pub user_id: Option<String>,
    /// The acting member's current role; `None` when they are no member.
    pub role: Option<Role>,
    /// The acting member's email when the credential brought it along (an
    /// API key's creator, from the same lookup); otherwise ask `Accounts`.
    pub user_email: Option<String>,
    /// What it may do now: its scopes ∩ the acting member's role.
    pub scopes: ScopeSet,
    pub key: Option<ApiKey>,
    pub expires_at: Option<DateTime<Utc>>,
    pub client_id: Option<String>,
    /// The access token's id (token credentials), to revoke it.
    pub jti: Option<String>,
    /// A management app's token: the client secret it was issued under.
    pub secret_id: Option<String>,
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, unknown, expired token, or not meant for this API.
    Invalid(&'static str),
    ExpiredKey {
        key_id: String,
        organization_id: String,
        at: DateTime<Utc>,
    },
    RevokedKey {
        key_id: String,
        organization_id: String,
        at: DateTime<Utc>,
    },
    RevokedToken,
}

/// Why a creating or managing operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The credential lacks `scope` (403).
    Scope { scope: String, reason: String },
    /// The request itself is wrong (400).
    Invalid(String),
}

impl Denied {
    fn scope(scope: &str, reason: impl Into<String>) -> Self {
        Self::Scope { scope: scope.to_owned(), reason: reason.into() }
    }
}

/// Scopes about the protocol, not about resources.
const PROTOCOL_SCOPES: [&str; 4] = [scopes::OFFLINE_ACCESS, "openid", "profile", "email"];

impl Principal {
    /// True when it may use what an endpoint needs: `broad` (e.g. `write`)
    /// or the resource scope (`keys:write`).
    pub fn allows(&self, broad: &str, resource: Option<&str>) -> bool {
        policy::satisfies(&self.scopes, broad, resource)
    }

    /// Who did it, for the audit log.
    pub fn actor(&self) -> String {
        match (self.kind, &self.user_id) {
            (CredentialKind::ApiKey, _) => format!("api_key:{}", self.credential_id),
            (CredentialKind::DashboardSession, Some(user)) => format!("user:{user}"),
            _ => self.credential_id.clone(),
        }
    }

    /// The person signed in at the dashboard (`/v1/auth/login`), if this
    /// credential is their session: what acts for a user rather than for an
    /// organization (their own authorized apps) takes nothing else. An API
    /// key or a management app acts for the organization, even though it
    /// was made by a person, and must not reach that person's own grants.
    pub fn signed_in_user(&self) -> Option<&str> {
        match self.kind {
            CredentialKind::DashboardSession => self.user_id.as_deref(),
            CredentialKind::ApiKey | CredentialKind::ManagementApp => None,
        }
    }

    /// ADMIN and OWNER manage everything of the organization; a DEVELOPER
    /// what it created; nobody else anything.
    pub fn may_manage(&self, created_by: Option<&str>) -> bool {
        match (self.role, self.user_id.as_deref()) {
            (Some(Role::Owner | Role::Admin), _) => true,
            (Some(Role::Developer), Some(me)) => created_by == Some(me),
            _ => false,
        }
    }

    /// An ADMIN or OWNER acting with the `admin` scope.
    pub fn is_administrator(&self) -> bool {
        matches!(self.role, Some(Role::Owner | Role::Admin)) && self.scopes.contains("admin")
    }

    /// True when this credential holds `scope`: by name or as part of a
    /// broad scope; a person at the dashboard also holds the organization's
    /// own API scopes their role allows (keys and machines hold only what
    /// they were given).
    pub fn holds(&self, scope: &str) -> bool {
        policy::covers(&self.scopes, scope)
            || (self.kind == CredentialKind::DashboardSession
                && self.role.is_some_and(|r| policy::role_allows(r, scope)))
    }

    /// Ok when every scope of `requested` is within this credential's
    /// power. Protocol scopes (`offline_access`, OpenID's) grant no power
    /// over resources and pass.
    pub fn may_grant<'a>(&self, requested: impl IntoIterator<Item = &'a String>) -> Result<(), Denied> {
        for scope in requested {
            if !PROTOCOL_SCOPES.contains(&scope.as_str()) && !self.holds(scope) {
                return Err(Denied::scope(
                    scope,
                    format!("This credential cannot grant {scope:?}: it does not hold it."),
                ));
            }
        }
        Ok(())
    }

    /// What this credential's creations are made through (a key, or a
    /// management app's token): they end with it.
    pub fn made_through(&self) -> MadeThrough {
        MadeThrough {
            key: self.key.as_ref().map(|k| k.id.clone()),
            app: if self.is_machine() { self.client_id.clone() } else { None },
            secret: if self.is_machine() { self.secret_id.clone() } else { None },
        }
    }

    /// A management app's token: a machine, with no person behind it.
    pub fn is_machine(&self) -> bool {
        self.kind == CredentialKind::ManagementApp
    }

    /// How messages name this credential as the maker of a key.
    fn maker(&self) -> &'static str {
        match self.kind {
            CredentialKind::ApiKey => "A key",
            CredentialKind::ManagementApp => "A management app's token",
            CredentialKind::DashboardSession => "A dashboard session",
        }
    }

    /// A new key's kind and scopes within this credential's power:
    /// a machine makes no key that manages members (the key would act for
    /// a person, so it would do what the machine may not); restricted keys
    /// mint only restricted keys with a subset of their scopes; every
    /// other credential only scopes it holds.
    pub fn may_create_key(&self, kind: KeyKind, requested: &[String]) -> Result<(), Denied> {
        if self.is_machine()
            && let Some(scope) = requested.iter().find(|s| policy::MEMBER_SCOPES.contains(&s.as_str()))
        {
            return Err(Denied::scope(
                scope,
                format!(
                    "A management app cannot grant {scope:?}: machines never manage members or invitations, nor make keys that do."
                ),
            ));
        }
        if let Some(key) = &self.key
            && key.kind == KeyKind::Restricted
        {
            if kind != KeyKind::Restricted {
                return Err(Denied::scope("write", "A restricted key can only create restricted keys."));
            }
            if let Some(extra) = requested.iter().find(|s| !self.scopes.contains(s.as_str())) {
                return Err(Denied::scope(
                    extra,
                    format!("A restricted key cannot grant {extra:?}: it does not hold it."),
                ));
            }
            return Ok(());
        }
        self.may_grant(requested)
    }

    /// A key made by a key or by a machine lives no longer and runs no
    /// faster than its maker (a machine: than its token, at the default
    /// rate `default_rate`): unset, it inherits the maker's expiry and rate
    /// limit; set beyond them, it is refused. A person at the dashboard
    /// makes keys that outlive the session.
    pub fn bound_new_key(
        &self,
        expires_at: Option<DateTime<Utc>>,
        rate_limit: Option<u32>,
        default_rate: u32,
    ) -> Result<(Option<DateTime<Utc>>, Option<u32>), Denied> {
        if self.kind == CredentialKind::DashboardSession {
            return Ok((expires_at, rate_limit));
        }
        let own_rate = self.key.as_ref().and_then(|k| k.rate_limit_per_minute);
        let expires_at = match (expires_at, self.expires_at) {
            (Some(wanted), Some(limit)) if wanted > limit => {
                return Err(Denied::scope("write", format!("{} cannot make a key that outlives it.", self.maker())));
            }
            (wanted, limit) => wanted.or(limit),
        };
        if rate_limit.is_some_and(|wanted| wanted > own_rate.unwrap_or(default_rate)) {
            return Err(Denied::scope(
                "write",
                format!("{} cannot make a key with a higher rate limit than its own.", self.maker()),
            ));
        }
        Ok((expires_at, rate_limit.or(own_rate)))
    }

    /// Rolling hands out a new secret with the old key's power, its expiry
    /// and rate limit: only to a credential that could create that key
    /// itself.
    pub fn may_roll_key(&self, old: &ApiKey, default_rate: u32, max_rate: u32) -> Result<(), Denied> {
        let scopes: Vec<String> = old.scopes.iter().cloned().collect();
        self.may_create_key(old.kind, &scopes)?;
        self.may_set_rate_limit(old.rate_limit_per_minute, default_rate, max_rate)?;
        let same = (old.expires_at, old.rate_limit_per_minute);
        if self.bound_new_key(same.0, same.1, default_rate).ok() != Some(same) {
            return Err(Denied::scope(
                "write",
                format!("{} cannot roll a key that would outlive it or run faster than it.", self.maker()),
            ));
        }
        Ok(())
    }

    /// An app is bounded by whoever registers or changes it: its scopes
    /// within this credential's power; resource servers (which see every
    /// token) and management apps (which act on /v1) are made, or unmade,
    /// only by an administrator, and never by a machine: an app's secret
    /// does not expire, so such an app would outlive the machine that made
    /// it (the same reason its keys expire with its token).
    pub fn may_make_app(&self, scopes: &[String], resource_server: bool, management: bool) -> Result<(), Denied> {
        self.may_grant(scopes)?;
        let what = if management { "management apps" } else { "resource servers" };
        if (resource_server || management) && self.is_machine() {
            return Err(Denied::scope("admin", format!("A management app makes no {what}: they would outlive it.")));
        }
        if (resource_server || management) && !self.is_administrator() {
            return Err(Denied::scope("admin", format!("Only an ADMIN or OWNER makes {what}.")));
        }
        Ok(())
    }

    /// A per-key rate limit: between 1 and `max`, and above the default
    /// only for an administrator (a key must not opt out of the limits).
    pub fn may_set_rate_limit(&self, wanted: Option<u32>, default: u32, max: u32) -> Result<(), Denied> {
        match wanted {
            None => Ok(()),
            Some(n) if n == 0 || n > max => {
                Err(Denied::Invalid(format!("rate_limit_per_minute must be between 1 and {max}.")))
            }
            Some(n) if n > default && !self.is_administrator() => Err(Denied::scope(
                "admin",
                format!("Only an ADMIN or OWNER may raise a key's rate limit above the default of {default}."),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Whether this credential may invite `role` or make someone `role`:
    /// a person's credential (never a machine app), with `admin` or
    /// `members:write`, up to its own role; only an OWNER makes an OWNER.
    pub fn may_assign_role(&self, role: Role) -> Result<Role, Denied> {
        if self.is_machine() {
            return Err(Denied::scope("admin", "Machines never manage members or invitations."));
        }
        let actor = self
            .role
            .ok_or_else(|| Denied::scope("admin", "This credential acts for no member of the organization."))?;
        if role > actor {
            return Err(Denied::scope(
                "admin",
                format!("{} cannot make {}.", with_article(actor, true), with_article(role, false)),
            ));
        }
        Ok(actor)
    }
}

fn with_article(role: Role, capital: bool) -> String {
    let article = match (role, capital) {
        (Role::Owner | Role::Admin, true) => "An",
        (Role::Owner | Role::Admin, false) => "an",
        (_, true) => "A",
        (_, false) => "a",
    };
    format!("{article} {role}")
}

/// What the store tells about the acting member of a credential.
struct Member {
    role: Option<Role>,
    organization_name: String,
}

fn role_of(role: Option<String>) -> Option<Role> {
    role.and_then(|r| r.parse::<Role>().ok())
}

async fn member(store: &Store, organization_id: &str, user_id: Option<&str>) -> Result<Option<Member>, StoreError> {
    let (org, user) = (organization_id.to_owned(), user_id.map(str::to_owned));
    store
        .run(move |conn| {
            let Some(o) = store::orgs::find_organization(conn, &org)? else { return Ok(None) };
            // A disabled user's dashboard tokens and management apps act
            // for nobody (`portcullis user disable`): resolved to nothing.
            if let Some(u) = &user
                && store::users::is_disabled(conn, u)?
            {
                return Ok(None);
            }
            let role = match user {
                Some(u) => store::orgs::find_membership(conn, &org, &u)?.map(|m| m.role),
                None => None,
            };
            Ok(Some(Member { role: role_of(role), organization_name: o.name }))
        })
        .await
}

/// The one resolution of a /v1 credential: an API key (by its format), or
/// an access token whose audience is the management API. `for_change`: the
/// request changes something, so the credential's state is read from the
/// database, not from memory (`ApiKeys::verify_fresh`,
/// `OAuth::live_access_token_fresh`).
pub async fn resolve(
    api_keys: &ApiKeys,
    oauth: &OAuth,
    store: &Store,
    credential: &str,
    for_change: bool,
) -> Result<Result<Principal, Refusal>, StoreError> {
    if format::parse(api_keys.words(), credential).is_some() {
        return from_api_key(api_keys, credential, for_change).await;
    }
    if credential.bytes().filter(|b| *b == b'.').count() == 2 {
        return from_access_token(oauth, store, credential, for_change).await;
    }
    Ok(Err(Refusal::Invalid("The provided API key is invalid.")))
}

async fn from_api_key(
    api_keys: &ApiKeys,
    credential: &str,
    fresh: bool,
) -> Result<Result<Principal, Refusal>, StoreError> {
    let verified = if fresh { api_keys.verify_fresh(credential).await? } else { api_keys.verify(credential).await? };
    Ok(match verified {
        Ok(v) => Ok(Principal {
            kind: CredentialKind::ApiKey,
            credential_id: v.key.id.clone(),
            organization_id: v.key.organization_id.clone(),
            organization_name: v.organization_name,
            user_id: v.key.created_by.clone(),
            user_email: v.creator_email,
            role: v.role,
            scopes: v.effective_scopes,
            expires_at: v.key.expires_at,
            key: Some(v.key),
            client_id: None,
            jti: None,
            secret_id: None,
        }),
        Err(VerifyFailure::Invalid) => Err(Refusal::Invalid("The provided API key is invalid.")),
        Err(VerifyFailure::Expired { key_id, organization_id, at }) => {
            Err(Refusal::ExpiredKey { key_id, organization_id, at })
        }
        Err(VerifyFailure::Revoked { key_id, organization_id, at }) => {
            Err(Refusal::RevokedKey { key_id, organization_id, at })
        }
    })
}

/// A person signed in to the pages (a session cookie), acting in one of
/// their organizations: the same principal as their `/v1/auth/login`
/// token (the dashboard client's scopes ∩ their current role), so a page
/// and the API decide alike. `None` when they are no member of it (or are
/// disabled, or the organization is gone).
pub async fn for_page_session(
    store: &Store,
    user_id: &str,
    organization_id: &str,
) -> Result<Option<Principal>, StoreError> {
    let Some(m) = member(store, organization_id, Some(user_id)).await? else { return Ok(None) };
    if m.role.is_none() {
        return Ok(None);
    }
    let granted = OAuth::dashboard_scopes();
    Ok(Some(Principal {
        kind: CredentialKind::DashboardSession,
        credential_id: format!("user:{user_id}"),
        organization_id: organization_id.to_owned(),
        organization_name: m.organization_name,
        user_id: Some(user_id.to_owned()),
        user_email: None,
        scopes: policy::effective(&granted, m.role),
        role: m.role,
        key: None,
        expires_at: None,
        client_id: None,
        jti: None,
        secret_id: None,
    }))
}

const NOT_FOR_MANAGEMENT: &str = "The provided access token is invalid, expired, or not for the management API.";

async fn from_access_token(
    oauth: &OAuth,
    store: &Store,
    token: &str,
    fresh: bool,
) -> Result<Result<Principal, Refusal>, StoreError> {
    let audience = oauth.settings.management_audience.clone();
    // Signature, times, issuer, audience, client, denylist: the same
    // liveness rules as introspection.
    let live = if fresh {
        oauth.live_access_token_fresh(token, Some(&audience)).await?
    } else {
        oauth.live_access_token(token, Some(&audience)).await?
    };
    let claims = match live {
        Some(live) => live.claims,
        None => {
            // Tell a revoked token from a bad one, as the envelope promises.
            let revoked = oauth.revoked_access_token(token, Some(&audience)).await?;
            return Ok(Err(if revoked { Refusal::RevokedToken } else { Refusal::Invalid(NOT_FOR_MANAGEMENT) }));
        }
    };
    let Some(organization_id) = claims.org_id.clone() else { return Ok(Err(Refusal::Invalid(NOT_FOR_MANAGEMENT))) };
    let token_scopes = scopes::parse(&claims.scope).unwrap_or_default();
    let expires_at = DateTime::from_timestamp(claims.exp, 0);
    let (kind, credential_id, acting) = if claims.client_id == DASHBOARD_CLIENT_ID {
        (CredentialKind::DashboardSession, format!("user:{}", claims.sub), Some(claims.sub.clone()))
    } else {
        // Belt and braces: the audience is only ever given to management
        // apps' own tokens, and such an app must still be one.
        let client = oauth.clients.get(&claims.client_id).await?;
        let Some(client) = client.filter(|c| c.management && claims.sub == c.client_id) else {
            return Ok(Err(Refusal::Invalid(NOT_FOR_MANAGEMENT)));
        };
        if client.organization_id != organization_id {
            return Ok(Err(Refusal::Invalid(NOT_FOR_MANAGEMENT)));
        }
        (CredentialKind::ManagementApp, format!("client:{}", client.client_id), client.created_by.clone())
    };
    let Some(m) = member(store, &organization_id, acting.as_deref()).await? else {
        return Ok(Err(Refusal::Invalid(NOT_FOR_MANAGEMENT)));
    };
    // A dashboard session ends with the membership it was opened for.
    if kind == CredentialKind::DashboardSession && m.role.is_none() {
        return Ok(Err(Refusal::Invalid(NOT_FOR_MANAGEMENT)));
    }
    Ok(Ok(Principal {
        kind,
        credential_id,
        organization_id,
        organization_name: m.organization_name,
        user_id: acting,
        user_email: None,
        scopes: policy::effective(&token_scopes, m.role),
        role: m.role,
        key: None,
        expires_at,
        client_id: Some(claims.client_id),
        jti: Some(claims.jti),
        secret_id: claims.secret_id,
    }))
}
