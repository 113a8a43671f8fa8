//! /v1/invitations: single-use links to join the organization.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope, ListEnvelope};
use super::{Page, ok, page};
use crate::accounts::Role;
use crate::accounts::invitations::Invitation;
use crate::http::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    email: String,
    /// OWNER, ADMIN, DEVELOPER or VIEWER.
    role: String,
}

fn invitation_json(i: &Invitation) -> Value {
    json!({
        "id": i.id,
        "object": "invitation",
        "email": i.email,
        "role": i.role.as_str(),
        "invited_by": i.invited_by,
        "created_at": time(Some(i.created_at)),
        "expires_at": time(Some(i.expires_at)),
    })
}

#[utoipa::path(
    post,
    path = "/v1/invitations",
    tag = "members",
    summary = "Invite someone by email; the single-use link is in the answer, once",
    request_body = Invite,
    responses(
        (status = 201, description = "The invitation, with `url` shown this once", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<Invite>,
) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("members:write"))?;
    let role: Role = body.role.parse().map_err(ApiError::validation)?;
    let actor = p.may_assign_role(role)?;
    let (invitation, token) = state
        .accounts
        .invite_through(
            &p.organization_id,
            &body.email,
            role,
            p.user_id.clone(),
            Some(actor),
            p.key.as_ref().map(|k| k.id.clone()),
        )
        .await?;
    let details = json!({ "email": invitation.email, "role": role.as_str() });
    crate::audit::record(
        &state.store,
        state.clock.now(),
        &p.organization_id,
        "member.invited",
        &p.origin(&req),
        Some(&invitation.id),
        details,
    )
    .await;
    let mut data = invitation_json(&invitation);
    data["url"] = json!(format!("{}/invitations/{token}", state.config.issuer()));
    Ok(ok(StatusCode::CREATED, data))
}

#[utoipa::path(
    get,
    path = "/v1/invitations",
    tag = "members",
    summary = "Pending invitations, newest first",
    params(Page),
    responses(
        (status = 200, description = "A page of invitations", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("members:read"))?;
    let limit = q.limit()?;
    let items = state
        .accounts
        .pending_invitations(&p.organization_id, q.starting_after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::validation("unknown cursor"))?;
    Ok(page(items.iter().map(invitation_json).collect(), limit))
}

#[utoipa::path(
    delete,
    path = "/v1/invitations/{id}",
    tag = "members",
    summary = "Revoke a pending invitation",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "Revoked", body = DataEnvelope),
        (status = 401, description = "MISSING_API_KEY, INVALID_API_KEY, EXPIRED_API_KEY or REVOKED_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "INSUFFICIENT_SCOPE", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorEnvelope)
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("members:write"))?;
    p.may_assign_role(Role::Viewer)?;
    if !state.accounts.revoke_invitation(&p.organization_id, &id).await? {
        return Err(ApiError::not_found("pending invitation"));
    }
    crate::audit::record(
        &state.store,
        state.clock.now(),
        &p.organization_id,
        "member.invitation_revoked",
        &p.origin(&req),
        Some(&id),
        json!({}),
    )
    .await;
    Ok(ok(StatusCode::OK, json!({ "id": id.as_str(), "revoked": true })))
}
