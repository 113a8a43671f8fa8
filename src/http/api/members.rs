//! /v1/members: who belongs to the organization, with which role.

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
    #[schema(schema_with = schemas::role)]
    role: String,
}

#[utoipa::path(
    get,
    path = "/v1/members",
    operation_id = "list_members",
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
    operation_id = "change_member_role",
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
    body: Body<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    p.acting(&req, &state).change_role(&id, &body.role).await?;
    let member = state.accounts.member(&p.organization_id, &id).await?.ok_or_else(|| ApiError::not_found("member"))?;
    Ok(ok(StatusCode::OK, member_json(&member)))
}

#[utoipa::path(
    delete,
    path = "/v1/members/{id}",
    operation_id = "remove_member",
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
    p.acting(&req, &state).remove_member(&id).await?;
    Ok(ok(StatusCode::OK, json!({ "id": id.as_str(), "removed": true })))
}
