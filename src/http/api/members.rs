//! /v1/members: who belongs to the organization, with which role.

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
use crate::accounts::members::Member;
use crate::http::AppState;

fn member_json(m: &Member) -> Value {
    json!({
        "id": m.user.id,
        "object": "member",
        "email": m.user.email,
        "role": m.role.as_str(),
        "joined_at": time(Some(m.joined_at)),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    role: String,
}

#[utoipa::path(
    get,
    path = "/v1/members",
    tag = "members",
    summary = "List members and roles",
    params(Page),
    responses(
        (status = 200, description = "A page of members", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("members:read"))?;
    let limit = q.limit()?;
    let members = state
        .accounts
        .members(&p.organization_id, q.starting_after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::validation("unknown cursor"))?;
    Ok(page(members.iter().map(member_json).collect(), limit))
}

#[utoipa::path(
    patch,
    path = "/v1/members/{id}",
    tag = "members",
    summary = "Change a member's role (the last OWNER stays)",
    params(("id" = String, Path, description = "The object's id")),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "The member", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Json<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("members:write"))?;
    let role: Role = body.role.parse().map_err(ApiError::validation)?;
    let actor = p.may_assign_role(role)?;
    let old = state
        .accounts
        .change_role(&p.organization_id, &id, role, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    let details = json!({ "from": old.as_str(), "to": role.as_str() });
    crate::audit::record(
        &state.store,
        state.clock.now(),
        &p.organization_id,
        "member.role_changed",
        &p.origin(&req),
        Some(&id),
        details,
    )
    .await;
    let member = state.accounts.member(&p.organization_id, &id).await?.ok_or_else(|| ApiError::not_found("member"))?;
    Ok(ok(StatusCode::OK, member_json(&member)))
}

#[utoipa::path(
    delete,
    path = "/v1/members/{id}",
    tag = "members",
    summary = "Remove a member (the last OWNER stays)",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "Removed", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("members:write"))?;
    // Removing needs the same standing as assigning the lowest role.
    let actor = p.may_assign_role(Role::Viewer)?;
    let old = state
        .accounts
        .remove_member(&p.organization_id, &id, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    crate::audit::record(
        &state.store,
        state.clock.now(),
        &p.organization_id,
        "member.removed",
        &p.origin(&req),
        Some(&id),
        json!({ "role": old.as_str() }),
    )
    .await;
    Ok(ok(StatusCode::OK, json!({ "id": id.as_str(), "removed": true })))
}
