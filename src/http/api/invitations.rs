//! /v1/invitations: single-use links to join the organization.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::body::Body;
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope, ListEnvelope};
use super::{Page, ok, page, schemas};
use crate::accounts::invitations::Invitation;
use crate::http::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[schema(schema_with = schemas::email)]
    email: String,
    /// Up to the inviter's own role; only an OWNER invites an OWNER.
    #[schema(schema_with = schemas::role)]
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
    operation_id = "create_invitation",
    tag = "members",
    summary = "Invite someone by email; the single-use link is in the answer, once",
    request_body = Invite,
    responses(
        (status = 201, description = "The invitation, with `url` shown this once and `emailed`: false when the address has received `login_throttle.invitations_per_recipient` invitations within the window (the sender passes the link on)", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY, INVALID_API_KEY, EXPIRED_API_KEY or REVOKED_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "INSUFFICIENT_SCOPE, or EMAIL_NOT_VERIFIED: the acting person has not confirmed their email address", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED, with Retry-After: the credential's rate limit, or too many invitations from this person or organization within the window (`login_throttle.invitations_per_*`)", body = ErrorEnvelope)
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: Body<Invite>,
) -> Result<HttpResponse, ApiError> {
    let (invitation, token) = p.acting(&req, &state).invite(&body.email, &body.role).await?;
    let mut data = invitation_json(&invitation);
    data["url"] = json!(crate::people::invitation_url(state.config.issuer(), &token));
    // Not when the address has received its share of invitations lately:
    // the sender passes the link on.
    data["emailed"] = json!(invitation.emailed.unwrap_or(false));
    Ok(ok(StatusCode::CREATED, data))
}

#[utoipa::path(
    get,
    path = "/v1/invitations",
    operation_id = "list_invitations",
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
    operation_id = "revoke_invitation",
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
    p.acting(&req, &state).revoke_invitation(&id).await?;
    Ok(ok(StatusCode::OK, json!({ "id": id.as_str(), "revoked": true })))
}
