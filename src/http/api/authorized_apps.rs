//! /v1/authorized-apps: the third-party apps the signed-in user consented
//! to, and the withdrawal of a consent. These act for a user, not for an
//! organization: only the user's own dashboard session may call them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::auth::Principal;
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope, ListEnvelope};
use super::{Page, ok, page};
use crate::http::AppState;
use crate::oauth::authorized_apps::AuthorizedApp;

fn app_json(a: &AuthorizedApp) -> Value {
    json!({
        "id": a.client_id,
        "object": "authorized_app",
        "client_id": a.client_id,
        "name": a.name,
        "organization": { "id": a.organization_id, "name": a.organization_name },
        "homepage_url": a.homepage_url,
        "logo_url": a.logo_url,
        "scopes": a.scopes,
        "granted_at": time(Some(a.granted_at)),
    })
}

#[utoipa::path(
    get,
    path = "/v1/authorized-apps",
    operation_id = "list_authorized_apps",
    tag = "authorized-apps",
    summary = "List the apps the signed-in user authorized (dashboard session only)",
    description = "The third-party apps the user consented to on the consent page, newest consent first, \
                   with the scopes granted. Acts for the user, not the organization: API keys and app tokens \
                   get 403 INSUFFICIENT_SCOPE.",
    params(Page),
    responses(
        (status = 200, description = "A page of authorized apps (`id` is the app's client_id)", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    let user_id = p.require_signed_in_user()?;
    let limit = q.limit()?;
    let apps = state
        .oauth
        .authorized_apps(user_id, q.starting_after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::validation("unknown cursor"))?;
    Ok(page(apps.iter().map(app_json).collect(), limit))
}

#[utoipa::path(
    delete,
    path = "/v1/authorized-apps/{client_id}",
    operation_id = "revoke_authorized_app",
    tag = "authorized-apps",
    summary = "Withdraw the signed-in user's consent to an app (dashboard session only)",
    description = "Deletes the consent and ends, on every instance, every token the app holds for the user: \
                   its refresh tokens, and its access tokens with or without a refresh token. The app's next \
                   authorization request shows the consent page again.",
    params(("client_id" = String, Path, description = "The app's client_id")),
    responses(
        (status = 200, description = "The consent was withdrawn", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND: the user has no consent for this app", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.require_signed_in_user()?;
    let now = state.clock.now();
    state
        .oauth
        .withdraw_consent(user_id, &client_id, now, &p.origin(&req))
        .await?
        .ok_or_else(|| ApiError::not_found("authorized app"))?;
    Ok(ok(StatusCode::OK, json!({ "id": *client_id, "object": "authorized_app", "revoked": true })))
}
