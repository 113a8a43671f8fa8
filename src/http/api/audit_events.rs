//! GET /v1/audit-events: the organization's log, newest first.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::auth::Principal;
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, ErrorEnvelope, ListEnvelope};
use super::{Page, page};
use crate::http::AppState;

#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = "audit",
    summary = "The organization's audit log, newest first",
    params(Page),
    responses(
        (status = 200, description = "A page of events", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("audit:read"))?;
    let limit = q.limit()?;
    let events = crate::audit::list(&state.store, &p.organization_id, q.starting_after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::validation("unknown cursor"))?;
    let items = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "object": "audit_event",
                "action": e.action,
                "actor": e.actor,
                "target": e.target,
                "details": e.details,
                "request_id": e.request_id,
                "ip": e.ip,
                "created_at": time(Some(e.created_at)),
            })
        })
        .collect();
    Ok(page(items, limit))
}
