//! Dashboard sessions for API clients: /v1/auth/login (email + password →
//! a short-lived access token and a rotating refresh token), refresh,
//! logout, me. The tokens are the OAuth server's own, issued to the
//! built-in dashboard client, and act within the user's role.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::{CredentialKind, Principal, count_anonymous};
use super::body::{Body, OptionalBody};
use super::error::{ApiError, Code};
use super::keys::time;
use super::ok;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope};
use crate::accounts::{AccountsError, Membership};
use crate::http::{AppState, client_ip};
use crate::oauth::clients::DASHBOARD_CLIENT_ID;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
    /// The organization the session acts for; required when the user
    /// belongs to several.
    #[serde(default)]
    organization_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    #[schema(min_length = 1)]
    refresh_token: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Logout {
    #[serde(default)]
    refresh_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    summary = "Email and password for a 15-minute access token and a rotating refresh token",
    request_body = Login,
    responses(
        (status = 200, description = "Tokens", body = DataEnvelope),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE, with Retry-After: every password-hashing slot is busy", body = ErrorEnvelope)
    )
)]
pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: Body<Login>) -> Result<HttpResponse, ApiError> {
    count_anonymous(&req, &state).await?;
    let ip = client_ip(&req, &state);
    let user = match state.accounts.authenticate(&body.email, &body.password, &ip).await {
        Ok(u) => u,
        Err(AccountsError::InvalidCredentials) => {
            return Err(ApiError::new(Code::InvalidCredentials, "Invalid email or password."));
        }
        Err(AccountsError::Throttled { retry_after_secs }) => {
            let mut e = ApiError::new(Code::RateLimited, "Too many failed sign-in attempts.")
                .details(json!({ "retry_after_seconds": retry_after_secs }));
            e.retry_after_secs = Some(retry_after_secs.max(1) as u64);
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    };
    let memberships = state.accounts.memberships(&user.id).await?;
    let organization = choose_organization(&memberships, body.organization_id.as_deref())?;
    let session = state.oauth.start_dashboard_session(&user.id, &organization.id).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "access_token": session.access_token,
            "token_type": "Bearer",
            "expires_in": session.expires_in,
            "refresh_token": session.refresh_token,
            "user": { "id": user.id, "email": user.email },
            "organization": { "id": organization.id, "name": organization.name, "role": organization.role },
        }),
    ))
}

/// The organization a session acts for: the one asked for, if the user is
/// a member; else the only one. Never guessed among several.
fn choose_organization(memberships: &[Membership], asked: Option<&str>) -> Result<ChosenOrganization, ApiError> {
    let chosen = match asked {
        Some(id) => memberships.iter().find(|m| m.organization.id == id).ok_or_else(|| {
            ApiError::validation("You are not a member of that organization.").details(json!({ "organization_id": id }))
        })?,
        None => match memberships {
            [only] => only,
            [] => return Err(ApiError::validation("You are not a member of any organization.")),
            several => {
                let choices: Vec<_> = several
                    .iter()
                    .map(|m| json!({ "id": m.organization.id, "name": m.organization.name, "role": m.role.as_str() }))
                    .collect();
                return Err(ApiError::validation(
                    "You belong to several organizations: send organization_id to choose one.",
                )
                .details(json!({ "organizations": choices })));
            }
        },
    };
    Ok(ChosenOrganization {
        id: chosen.organization.id.clone(),
        name: chosen.organization.name.clone(),
        role: chosen.role.as_str(),
    })
}

struct ChosenOrganization {
    id: String,
    name: String,
    role: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refresh_session",
    tag = "auth",
    summary = "Rotate a refresh token",
    request_body = Refresh,
    responses(
        (status = 200, description = "New tokens", body = DataEnvelope),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED, with Retry-After: too many requests from this IP", body = ErrorEnvelope)
    )
)]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Body<Refresh>,
) -> Result<HttpResponse, ApiError> {
    count_anonymous(&req, &state).await?;
    let tokens = state.oauth.refresh_dashboard_session(&body.refresh_token).await?;
    Ok(ok(StatusCode::OK, serde_json::to_value(tokens).unwrap_or_default()))
}

/// Ends the session: the access token used here is denied until it
/// expires, and the refresh token (if sent) revokes its family.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    summary = "End a dashboard session",
    request_body = Option<Logout>,
    responses(
        (status = 200, description = "Logged out", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn logout(
    state: web::Data<AppState>,
    p: Principal,
    body: OptionalBody<Logout>,
) -> Result<HttpResponse, ApiError> {
    if p.client_id.as_deref() != Some(DASHBOARD_CLIENT_ID) {
        return Err(ApiError::validation("logout ends dashboard sessions; revoke API keys and OAuth tokens instead"));
    }
    let refresh = body.0.and_then(|b| b.refresh_token);
    let expires_at = p.expires_at.unwrap_or_else(|| state.clock.now());
    state
        .oauth
        .end_dashboard_session(p.user_id.clone(), p.jti.clone().unwrap_or_default(), expires_at, refresh)
        .await?;
    Ok(ok(StatusCode::OK, json!({ "logged_out": true })))
}

/// The user behind the credential, with every organization and role.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    operation_id = "me",
    tag = "auth",
    summary = "The user behind the credential",
    responses(
        (status = 200, description = "The user and organizations", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn me(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    let Some(user_id) = p.user_id.clone() else {
        return Err(ApiError::not_found("user: this credential acts for a machine, not a person"));
    };
    let user = state.accounts.user(&user_id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    let memberships = state.accounts.memberships(&user_id).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "id": user.id,
            "email": user.email,
            "created_at": time(Some(user.created_at)),
            "credential": p.kind.as_str(),
            "acting_for": { "organization": { "id": p.organization_id, "name": p.organization_name }, "role": p.role.map(|r| r.as_str()) },
            "organizations": memberships.iter().map(|m| json!({ "id": m.organization.id, "name": m.organization.name, "role": m.role.as_str() })).collect::<Vec<_>>(),
            "api_key": p.key.as_ref().filter(|_| p.kind == CredentialKind::ApiKey).map(|k| k.id.clone()),
        }),
    ))
}
