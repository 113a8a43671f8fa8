//! /v1/apps: the organization's OAuth clients. Secrets are shown once.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::body::{Body, OptionalBody, integer};
use super::error::ApiError;
use super::keys::time;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope, ListEnvelope};
use super::{Page, ok, page, schemas};
use crate::apps;
use crate::http::AppState;
use crate::oauth::clients::{Client, ClientChanges, ClientType, GrantType, NewClient, OidcRegistration, SubjectType};
use crate::tokens::signing::SigningAlgorithm;

pub fn app_json(c: &Client) -> Value {
    json!({
        "id": c.client_id,
        "object": "app",
        "client_id": c.client_id,
        "name": c.name,
        "type": c.client_type.to_string(),
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes.iter().collect::<Vec<_>>(),
        "homepage_url": c.homepage_url,
        "logo_url": c.logo_url,
        "access_token_ttl": c.access_token_ttl_secs,
        "refresh_token_ttl": c.refresh_token_ttl_secs,
        "always_issue_refresh_token": c.always_issue_refresh_token,
        "resource_server": c.resource_server,
        "management": c.management,
        "require_pkce": c.require_pkce,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "subject_type": c.subject_type.as_str(),
        "sector_identifier": c.sector_identifier,
        "id_token_signed_response_alg": c.id_token_alg.as_str(),
        "created_by": c.created_by,
        "created_at": time(Some(c.created_at)),
        "made_by_key": c.made_by_key,
        "made_by_app": c.made_by_app,
        "ends_at": time(c.ends_at),
    })
}

fn grants(list: Vec<String>) -> Result<BTreeSet<GrantType>, ApiError> {
    list.iter().map(|g| g.parse::<GrantType>().map_err(ApiError::validation)).collect()
}

fn subject_type(s: &str) -> Result<SubjectType, ApiError> {
    s.parse().map_err(ApiError::validation)
}

fn id_token_alg(s: &str) -> Result<SigningAlgorithm, ApiError> {
    s.parse().map_err(|_| {
        ApiError::validation(format!("id_token_signed_response_alg {s:?} is not supported: use RS256, ES256 or EdDSA"))
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    #[schema(schema_with = schemas::name)]
    name: String,
    /// `confidential` (the default: it has a secret) or `public`.
    #[serde(default)]
    #[schema(schema_with = schemas::optional_client_type)]
    r#type: Option<String>,
    /// Matched exactly: https, or http on a loopback address, no fragment;
    /// required by `authorization_code`.
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// A public app cannot use `client_credentials`.
    #[schema(schema_with = schemas::grant_types)]
    grant_types: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schemas::app_scopes)]
    scopes: Vec<String>,
    #[serde(default)]
    homepage_url: Option<String>,
    #[serde(default)]
    logo_url: Option<String>,
    /// Seconds, at most 86400 (a day); default from the configuration.
    #[serde(default, deserialize_with = "integer")]
    #[schema(minimum = 1, maximum = 86400)]
    access_token_ttl: Option<i64>,
    /// Idle lifetime in seconds, at most `oauth.refresh_token_absolute_ttl_secs`.
    #[serde(default, deserialize_with = "integer")]
    #[schema(minimum = 1)]
    refresh_token_ttl: Option<i64>,
    #[serde(default)]
    always_issue_refresh_token: bool,
    #[serde(default)]
    resource_server: bool,
    /// Its client-credentials tokens may call /v1, acting for its creator
    /// (ADMIN or OWNER only).
    #[serde(default)]
    management: bool,
    /// PKCE (S256) on the code flow; `false` exempts a legacy confidential
    /// app (refused for public apps). Default `true`.
    #[serde(default)]
    require_pkce: Option<bool>,
    /// Where /oauth/logout may send the browser after signing out
    /// (RP-Initiated Logout 1.0), matched exactly; the redirect-URI rules apply.
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// Where a logout token is POSTed when a user's session ends
    /// (Back-Channel Logout 1.0): https (http only for loopback), no fragment.
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    /// `public` (default: `sub` is the user's id) or `pairwise` (a `sub` per
    /// sector identifier, unlinkable across sectors; OIDC Core §8).
    #[serde(default)]
    #[schema(schema_with = schemas::optional_subject_type)]
    subject_type: Option<String>,
    /// For a pairwise app: the host its subjects are computed for, one of
    /// its redirect URIs' hosts. Required when they span several hosts;
    /// else their one host.
    #[serde(default)]
    sector_identifier: Option<String>,
    /// The ID-token signing algorithm: RS256 (default), ES256 or EdDSA.
    #[serde(default)]
    #[schema(schema_with = schemas::optional_id_token_alg)]
    id_token_signed_response_alg: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default)]
    #[schema(schema_with = schemas::optional_name)]
    name: Option<String>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = schemas::optional_grant_types)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = schemas::optional_app_scopes)]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    homepage_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    logo_url: Option<Option<String>>,
    #[serde(default)]
    resource_server: Option<bool>,
    #[serde(default)]
    management: Option<bool>,
    /// `false` exempts a legacy confidential app from PKCE.
    #[serde(default)]
    require_pkce: Option<bool>,
    #[serde(default)]
    post_logout_redirect_uris: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    backchannel_logout_uri: Option<Option<String>>,
    /// Fixed at registration (a change would give the app other subjects
    /// for its users): only the current value is accepted.
    #[serde(default)]
    #[schema(schema_with = schemas::optional_subject_type)]
    subject_type: Option<String>,
    /// Fixed at registration, like `subject_type`.
    #[serde(default, deserialize_with = "present")]
    sector_identifier: Option<Option<String>>,
    #[serde(default)]
    #[schema(schema_with = schemas::optional_id_token_alg)]
    id_token_signed_response_alg: Option<String>,
}

/// A field that is present (a value, or `null` to clear it), as opposed to
/// absent (left as it is).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// Seconds the previous secret keeps working (default 0); not for
    /// another member's app.
    #[serde(default, deserialize_with = "integer")]
    #[schema(minimum = 0, maximum = 2592000)]
    grace_period: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/apps",
    operation_id = "list_apps",
    tag = "apps",
    summary = "List OAuth apps",
    params(Page),
    responses(
        (status = 200, description = "A page of apps", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("apps:read"))?;
    let limit = q.limit()?;
    let apps = state
        .oauth
        .clients
        .list_page(&p.organization_id, q.starting_after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| ApiError::validation("unknown cursor"))?;
    Ok(page(apps.iter().map(app_json).collect(), limit))
}

#[utoipa::path(
    get,
    path = "/v1/apps/{id}",
    operation_id = "get_app",
    tag = "apps",
    summary = "Read an app",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "The app", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("apps:read"))?;
    Ok(ok(StatusCode::OK, app_json(&*apps::app_of(&state.oauth, &p, &id).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/apps",
    operation_id = "create_app",
    tag = "apps",
    summary = "Register an OAuth app; a confidential app's secret is shown once",
    request_body = CreateApp,
    responses(
        (status = 201, description = "The app, with client_secret this once", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: Body<CreateApp>,
) -> Result<HttpResponse, ApiError> {
    p.require("write", Some("apps:write"))?;
    let b = body.into_inner();
    let client_type =
        b.r#type.as_deref().unwrap_or("confidential").parse::<ClientType>().map_err(ApiError::validation)?;
    let new = NewClient {
        organization_id: p.organization_id.clone(),
        name: b.name,
        client_type,
        redirect_uris: b.redirect_uris,
        grant_types: grants(b.grant_types)?,
        scopes: b.scopes,
        homepage_url: b.homepage_url,
        logo_url: b.logo_url,
        access_token_ttl_secs: b.access_token_ttl,
        refresh_token_ttl_secs: b.refresh_token_ttl,
        always_issue_refresh_token: b.always_issue_refresh_token,
        resource_server: b.resource_server,
        management: b.management,
        require_pkce: b.require_pkce.unwrap_or(true),
        created_by: p.user_id.clone(),
        oidc: OidcRegistration {
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            backchannel_logout_uri: b.backchannel_logout_uri,
            subject_type: b.subject_type.as_deref().map(subject_type).transpose()?.unwrap_or_default(),
            sector_identifier: b.sector_identifier,
            id_token_alg: b
                .id_token_signed_response_alg
                .as_deref()
                .map(id_token_alg)
                .transpose()?
                .unwrap_or(SigningAlgorithm::RS256),
        },
    };
    let (app, secret) = apps::register(&state.oauth, &p, &p.origin(&req), new).await?;
    let mut data = app_json(&app);
    // The only time the secret is shown.
    data["client_secret"] = json!(secret);
    Ok(ok(StatusCode::CREATED, data))
}

#[utoipa::path(
    patch,
    path = "/v1/apps/{id}",
    operation_id = "update_app",
    tag = "apps",
    summary = "Change an app",
    params(("id" = String, Path, description = "The object's id")),
    request_body = UpdateApp,
    responses(
        (status = 200, description = "The app", body = DataEnvelope),
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
    body: Body<UpdateApp>,
) -> Result<HttpResponse, ApiError> {
    p.require("write", Some("apps:write"))?;
    let b = body.into_inner();
    let changes = ClientChanges {
        name: b.name,
        redirect_uris: b.redirect_uris,
        grant_types: b.grant_types.map(grants).transpose()?,
        scopes: b.scopes,
        homepage_url: b.homepage_url,
        logo_url: b.logo_url,
        management: b.management,
        resource_server: b.resource_server,
        require_pkce: b.require_pkce,
        acting_for: None,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        backchannel_logout_uri: b.backchannel_logout_uri,
        subject_type: b.subject_type.as_deref().map(subject_type).transpose()?,
        sector_identifier: b.sector_identifier,
        id_token_alg: b.id_token_signed_response_alg.as_deref().map(id_token_alg).transpose()?,
    };
    let (app, secret) = apps::update(&state.oauth, &p, &p.origin(&req), &id, changes).await?;
    let mut body = app_json(&app);
    // Turned into a management app, it got a secret of its own, shown once, here.
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    Ok(ok(StatusCode::OK, body))
}

#[utoipa::path(
    delete,
    path = "/v1/apps/{id}",
    operation_id = "delete_app",
    tag = "apps",
    summary = "Delete an app with its secrets and refresh tokens",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "Deleted", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.require("delete", Some("apps:delete"))?;
    let app = apps::delete(&state.oauth, &p, &p.origin(&req), &id).await?;
    Ok(ok(StatusCode::OK, json!({ "id": app.client_id, "deleted": true })))
}

#[utoipa::path(
    post,
    path = "/v1/apps/{id}/rotate-secret",
    operation_id = "rotate_app_secret",
    tag = "apps",
    summary = "A new client secret, shown once; the old one lives for grace_period seconds",
    params(("id" = String, Path, description = "The object's id")),
    request_body = Option<Rotate>,
    responses(
        (status = 200, description = "The new secret", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: OptionalBody<Rotate>,
) -> Result<HttpResponse, ApiError> {
    p.require("write", Some("apps:write"))?;
    let grace = body.0.and_then(|b| b.grace_period).unwrap_or(0);
    let secret = apps::rotate_secret(&state.oauth, &p, &p.origin(&req), &id, grace).await?;
    Ok(ok(StatusCode::OK, json!({ "id": id.as_str(), "client_secret": secret, "previous_secret_valid_for": grace })))
}
