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
use crate::authority::{self, Refusal};
use crate::http::{AppState, client_ip};

pub use crate::authority::{CredentialKind, Principal};

/// The HTTP side of a principal: errors in the envelope, audit origins.
impl Principal {
    /// Requires `broad` (e.g. `write`) or the resource scope (`keys:write`).
    pub fn require(&self, broad: &str, resource: Option<&str>) -> Result<(), ApiError> {
        if self.allows(broad, resource) { Ok(()) } else { Err(ApiError::insufficient_scope(broad)) }
    }

    /// The signed-in user of a dashboard session, for what acts for a user
    /// alone; any other credential gets 403 INSUFFICIENT_SCOPE.
    pub fn require_signed_in_user(&self) -> Result<&str, ApiError> {
        self.signed_in_user().ok_or_else(|| {
            ApiError::new(
                Code::InsufficientScope,
                "Only the user's own dashboard session (POST /v1/auth/login) may do this; \
                 API keys and app tokens act for an organization, not for a user.",
            )
            .details(json!({ "required_credential": CredentialKind::DashboardSession.as_str() }))
        })
    }

    /// This credential acting on the organization's people (members,
    /// invitations), for this request.
    pub fn acting<'a>(&'a self, req: &HttpRequest, state: &'a AppState) -> crate::people::Acting<'a> {
        crate::people::Acting {
            accounts: &state.accounts,
            store: &state.store,
            principal: self,
            origin: self.origin(req),
            now: state.clock.now(),
        }
    }

    /// The audit origin of a request made with this credential.
    pub fn origin(&self, req: &HttpRequest) -> crate::audit::Origin {
        let state = req.app_data::<web::Data<AppState>>();
        crate::audit::Origin { actor: self.actor(), request_id: None, ip: state.map(|s| client_ip(req, s)) }
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
        Decision::Unavailable => Err(ApiError::unavailable("Rate limits cannot be checked right now.")),
    }
}

/// Counts a request to a public /v1 endpoint against the client's IP.
pub async fn count_anonymous(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    count(req, state.rate_limits.check_ip(&client_ip(req, state)).await)
}

async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    let Some(credential) = presented(req) else {
        count(req, state.rate_limits.check_ip(&client_ip(req, state)).await)?;
        return Err(
            ApiError::new(Code::MissingApiKey, "API key is required.").details(json!({ "header": "Authorization" }))
        );
    };
    let for_change = !req.method().is_safe();
    match authority::resolve(&state.api_keys, &state.oauth, &state.store, &credential, for_change).await? {
        Ok(p) => {
            let limit = p.key.as_ref().and_then(|k| k.rate_limit_per_minute);
            count(req, state.rate_limits.check_credential(&p.credential_id, limit).await)?;
            Ok(p)
        }
        Err(refusal) => {
            // Failed authentication counts against the client's IP.
            count(req, state.rate_limits.check_ip(&client_ip(req, state)).await)?;
            Err(refused(state, req, refusal).await)
        }
    }
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn refused(state: &AppState, req: &HttpRequest, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Invalid(message) => ApiError::new(Code::InvalidApiKey, message),
        Refusal::RevokedToken => ApiError::new(Code::RevokedApiKey, "The access token has been revoked."),
        Refusal::ExpiredKey { key_id, organization_id, at: when } => {
            used_dead_key(state, req, &organization_id, &key_id, "api_key.used_expired").await;
            ApiError::new(Code::ExpiredApiKey, "The API key has expired.")
                .details(json!({ "key_id": key_id, "expired_at": at(when) }))
        }
        Refusal::RevokedKey { key_id, organization_id, at: when } => {
            used_dead_key(state, req, &organization_id, &key_id, "api_key.used_revoked").await;
            ApiError::new(Code::RevokedApiKey, "The API key has been revoked.")
                .details(json!({ "key_id": key_id, "revoked_at": at(when) }))
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
