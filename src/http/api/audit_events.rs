//! GET /v1/audit-events: the organization's log, newest first.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::auth::Principal;
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, ErrorEnvelope, ListEnvelope};
use super::{Page, page};
use crate::http::AppState;

/// Paging, and the filters of the log; every one optional.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The id of the last event of the previous page.
    #[param(min_length = 1)]
    starting_after: Option<String>,
    /// Only events of this kind, e.g. `member.removed`.
    action: Option<String>,
    /// Only events of this actor, as recorded: `user:{id}`, `api_key:{id}`, `client:{id}`, `cli`.
    actor: Option<String>,
    /// Only events on or after this day (`YYYY-MM-DD`, UTC).
    #[param(schema_with = super::schemas::day_filter)]
    from: Option<String>,
    /// Only events on or before this day (`YYYY-MM-DD`, UTC), not before `from`.
    #[param(schema_with = super::schemas::day_filter)]
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit-events",
    operation_id = "list_audit_events",
    tag = "audit",
    summary = "The organization's audit log, newest first, optionally filtered by kind, actor and days",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    p.require("admin", Some("audit:read"))?;
    let limit = Page { limit: q.limit, starting_after: None }.limit()?;
    let filter =
        crate::audit::parse_filter(q.action.as_deref(), q.actor.as_deref(), q.from.as_deref(), q.to.as_deref())
            .map_err(|bad| ApiError::validation(bad.message).details(json!({ "field": bad.field })))?;
    let after = q.starting_after.as_deref();
    let events = crate::audit::list_filtered(&state.store, &p.organization_id, &filter, after, limit + 1)
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
