//! Who is calling /v1: an API key (Bearer, Basic user name, or X-API-Key),
//! or a portcullis OAuth access token (Bearer). The extractor answers with
//! the seed-compatible errors and counts the request against the limits.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::error::{ApiError, Code};
use super::rate_limit::{Decision, RateInfo};
use crate::accounts::Role;
use crate::apikeys::{ApiKey, VerifyFailure, format, policy};
use crate::http::{AppState, client_ip};
use crate::oauth::scopes::{self, ScopeSet};
use crate::store::{self, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    OAuthAccessToken,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::OAuthAccessToken => "oauth_access_token",
        }
    }
}

/// An authenticated caller of /v1.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: CredentialKind,
    /// Key id, or the access token's jti.
    pub credential_id: String,
    pub organization_id: String,
    pub organization_name: String,
    /// The user it acts for: the key's creator, or the token's subject.
    pub user_id: Option<String>,
    pub role: Option<Role>,
    /// What it may do now (a key's scopes ∩ its creator's role).
    pub scopes: ScopeSet,
    pub key: Option<ApiKey>,
    pub expires_at: Option<DateTime<Utc>>,
    pub client_id: Option<String>,
    /// The access token's id (OAuth credentials), for revoking it.
    pub jti: Option<String>,
}

impl Principal {
    /// Who did it, for the audit log.
    pub fn actor(&self) -> String {
        match (self.kind, &self.user_id) {
            (CredentialKind::ApiKey, _) => format!("api_key:{}", self.credential_id),
            (CredentialKind::OAuthAccessToken, Some(user)) => format!("user:{user}"),
            (CredentialKind::OAuthAccessToken, None) => self.credential_id.clone(),
        }
    }

    /// The audit origin of a request made with this credential.
    pub fn origin(&self, req: &HttpRequest) -> crate::audit::Origin {
        let state = req.app_data::<web::Data<AppState>>();
        crate::audit::Origin { actor: self.actor(), request_id: None, ip: state.map(|s| client_ip(req, s)) }
    }

    /// Requires `broad` (e.g. `write`) or the resource scope (`keys:write`).
    pub fn require(&self, broad: &str, resource: Option<&str>) -> Result<(), ApiError> {
        if policy::satisfies(&self.scopes, broad, resource) { Ok(()) } else { Err(ApiError::insufficient_scope(broad)) }
    }

    /// ADMIN and OWNER manage everything; a DEVELOPER only what it created;
    /// a machine of the organization (client credentials) as its scopes say.
    pub fn may_manage(&self, created_by: Option<&str>) -> bool {
        match (self.role, self.user_id.as_deref()) {
            (Some(Role::Owner | Role::Admin), _) => true,
            (Some(Role::Developer), Some(me)) => created_by == Some(me),
            (None, None) => self.kind == CredentialKind::OAuthAccessToken,
            _ => false,
        }
    }
}

/// The credential as sent, and where.
fn presented(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            return Some(rest.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            // The key as the user name; the password is ignored.
            let decoded = STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok())?;
            let user = decoded.split(':').next().unwrap_or_default().to_owned();
            return (!user.is_empty()).then_some(user);
        }
        return None;
    }
    req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn limited(info: RateInfo, retry_after_secs: u64) -> ApiError {
    let mut e = ApiError::new(Code::RateLimited, "Too many requests. Retry after the time in Retry-After.")
        .details(json!({ "limit_per_minute": info.limit, "retry_after_seconds": retry_after_secs }));
    e.retry_after_secs = Some(retry_after_secs);
    e
}

/// Counts the request; stores the numbers for the response headers.
fn count(req: &HttpRequest, decision: Decision) -> Result<(), ApiError> {
    match decision {
        Decision::Allowed(info) => {
            req.extensions_mut().insert(info);
            Ok(())
        }
        Decision::Limited { info, retry_after_secs } => {
            req.extensions_mut().insert(info);
            Err(limited(info, retry_after_secs))
        }
    }
}

/// Counts a request to a public /v1 endpoint against the client's IP.
pub fn count_anonymous(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    count(req, state.rate_limits.check_ip(&client_ip(req, state)))
}

async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    let Some(credential) = presented(req) else {
        count(req, state.rate_limits.check_ip(&client_ip(req, state)))?;
        return Err(
            ApiError::new(Code::MissingApiKey, "API key is required.").details(json!({ "header": "Authorization" }))
        );
    };
    let principal = if format::parse(state.api_keys.words(), &credential).is_some() {
        from_api_key(state, req, &credential).await
    } else if credential.bytes().filter(|b| *b == b'.').count() == 2 {
        from_access_token(state, &credential).await
    } else {
        Err(ApiError::new(Code::InvalidApiKey, "The provided API key is invalid."))
    };
    match principal {
        Ok(p) => {
            let limit = p.key.as_ref().and_then(|k| k.rate_limit_per_minute);
            count(req, state.rate_limits.check_credential(&p.credential_id, limit))?;
            Ok(p)
        }
        Err(e) => {
            // Failed authentication counts against the client's IP.
            count(req, state.rate_limits.check_ip(&client_ip(req, state)))?;
            Err(e)
        }
    }
}

async fn from_api_key(state: &AppState, req: &HttpRequest, credential: &str) -> Result<Principal, ApiError> {
    match state.api_keys.verify(credential).await? {
        Ok(v) => Ok(Principal {
            kind: CredentialKind::ApiKey,
            credential_id: v.key.id.clone(),
            organization_id: v.key.organization_id.clone(),
            organization_name: v.organization_name,
            user_id: v.key.created_by.clone(),
            role: v.role,
            scopes: v.effective_scopes,
            expires_at: v.key.expires_at,
            key: Some(v.key),
            client_id: None,
            jti: None,
        }),
        Err(VerifyFailure::Invalid) => Err(ApiError::new(Code::InvalidApiKey, "The provided API key is invalid.")),
        Err(VerifyFailure::Expired { key_id, organization_id, at }) => {
            used_dead_key(state, req, &organization_id, &key_id, "api_key.used_expired").await;
            Err(ApiError::new(Code::ExpiredApiKey, "The API key has expired.").details(
                json!({ "key_id": key_id, "expired_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
            ))
        }
        Err(VerifyFailure::Revoked { key_id, organization_id, at }) => {
            used_dead_key(state, req, &organization_id, &key_id, "api_key.used_revoked").await;
            Err(ApiError::new(Code::RevokedApiKey, "The API key has been revoked.").details(
                json!({ "key_id": key_id, "revoked_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
            ))
        }
    }
}

/// A revoked or expired key was tried: worth an audit event (a leaked key
/// being probed, or a deployment that missed a rotation).
async fn used_dead_key(state: &AppState, req: &HttpRequest, organization_id: &str, key_id: &str, action: &str) {
    let origin =
        crate::audit::Origin { actor: format!("api_key:{key_id}"), request_id: None, ip: Some(client_ip(req, state)) };
    crate::audit::record(&state.store, state.clock.now(), organization_id, action, &origin, Some(key_id), json!({}))
        .await;
}

/// A portcullis access token: signature, expiry, revocation; its scopes
/// apply (within the user's role when it acts for a user).
async fn from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::new(Code::InvalidApiKey, "The provided access token is invalid or expired.");
    let now = state.clock.now();
    let claims = state
        .oauth
        .keys
        .verify_access_token(token, state.config.issuer(), None, now.timestamp())
        .map_err(|_| invalid())?;
    let (jti, sub, org) = (claims.jti.clone(), claims.sub.clone(), claims.org_id.clone());
    let machine = claims.sub == claims.client_id;
    let (revoked, membership) = state
        .store
        .run(move |conn| {
            let revoked = store::grants::is_access_token_revoked(conn, &jti)?;
            let membership =
                if machine { None } else { store::orgs::memberships_of_user(conn, &sub)?.into_iter().next() };
            Ok::<_, StoreError>((revoked, membership))
        })
        .await?;
    if revoked {
        return Err(ApiError::new(Code::RevokedApiKey, "The access token has been revoked."));
    }
    let token_scopes = scopes::parse(&claims.scope).unwrap_or_default();
    let expires_at = DateTime::from_timestamp(claims.exp, 0);
    if machine {
        let org_id = org.ok_or_else(invalid)?;
        let client = state.oauth.clients.get(&claims.client_id).await?.ok_or_else(invalid)?;
        return Ok(Principal {
            kind: CredentialKind::OAuthAccessToken,
            credential_id: format!("client:{}", claims.client_id),
            organization_id: org_id,
            organization_name: client.organization_name.clone(),
            user_id: None,
            role: None,
            scopes: token_scopes,
            key: None,
            expires_at,
            client_id: Some(claims.client_id),
            jti: Some(claims.jti),
        });
    }
    // A deleted app's tokens die with it (the dashboard's client is built in).
    if claims.client_id != crate::oauth::clients::DASHBOARD_CLIENT_ID
        && state.oauth.clients.get(&claims.client_id).await?.is_none()
    {
        return Err(invalid());
    }
    let (m, o) = membership.ok_or_else(invalid)?;
    let role = m.role.parse::<Role>().ok();
    Ok(Principal {
        kind: CredentialKind::OAuthAccessToken,
        credential_id: format!("user:{}:{}", claims.sub, claims.client_id),
        organization_id: o.id,
        organization_name: o.name,
        user_id: Some(claims.sub),
        scopes: policy::effective(&token_scopes, role),
        role,
        key: None,
        expires_at,
        client_id: Some(claims.client_id),
        jti: Some(claims.jti),
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::new(Code::InternalError, "Internal Server Error"))?;
            authenticate(&req, &state).await
        })
    }
}
