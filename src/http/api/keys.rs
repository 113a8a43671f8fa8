//! /v1/api-keys: create (shown once), list (masked), read, update, revoke, roll.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::body::{Body, OptionalBody, integer};
use super::error::ApiError;
use super::openapi::{CredentialErrors, DataEnvelope, ErrorEnvelope, ListEnvelope};
use super::{Page, ok, page, schemas};
use crate::apikeys::{ApiKey, Environment};
use crate::http::AppState;
use crate::key_management::{KeyManagement, KeyRequest, Rolled};
use crate::oauth::scopes;

/// The keys of the credential's organization, as /v1 and the dashboard
/// manage them (`key_management`).
impl AppState {
    pub fn key_management(&self) -> KeyManagement<'_> {
        KeyManagement { keys: &self.api_keys, store: &self.store, limits: &self.config.api, now: self.clock.now() }
    }
}

pub fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// A key as lists and reads show it: never the secret, only its prefix and
/// last four characters.
pub fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "object": "api_key",
        "name": k.name,
        "type": k.kind.as_str(),
        "environment": k.environment.as_str(),
        "livemode": k.environment == Environment::Live,
        "prefix": k.prefix,
        "last_four": k.last_four,
        "masked": format!("{}…{}", k.prefix, k.last_four),
        "scopes": k.scopes.iter().collect::<Vec<_>>(),
        "rate_limit_per_minute": k.rate_limit_per_minute,
        "created_by": k.created_by,
        "created_at": time(Some(k.created_at)),
        "expires_at": time(k.expires_at),
        "last_used_at": time(k.last_used_at),
        "revoked_at": time(k.revoked_at),
        "rolled_from": k.rolled_from,
        "made_by_key": k.made_by_key,
        "made_by_app": k.made_by_app,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(schema_with = schemas::name)]
    name: String,
    /// `secret` (the default) or `restricted` (resource scopes only, such as `apps:read`).
    #[serde(default)]
    #[schema(schema_with = schemas::optional_key_type)]
    r#type: Option<String>,
    /// `live` (the default) or `test`.
    #[serde(default)]
    #[schema(schema_with = schemas::optional_environment)]
    environment: Option<String>,
    /// Within the maker's own power (its scopes and its member's role).
    #[schema(schema_with = schemas::key_scopes)]
    scopes: Vec<String>,
    /// In the future, and not after the maker's own expiry.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    /// At most `api.max_rate_limit_per_minute`, and at most the maker's own;
    /// above `api.rate_limit_per_minute` for an ADMIN or OWNER only.
    #[serde(default, deserialize_with = "integer")]
    #[schema(minimum = 1)]
    rate_limit_per_minute: Option<u32>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    #[serde(default)]
    #[schema(schema_with = schemas::optional_name)]
    name: Option<String>,
    /// Only narrower: each one the key holds already.
    #[serde(default)]
    #[schema(schema_with = schemas::optional_key_scopes)]
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollKey {
    /// Seconds the old key keeps working (default 24 h; 0 allowed).
    #[serde(default, deserialize_with = "integer")]
    #[schema(minimum = 0, maximum = 2592000)]
    expires_in: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "list_api_keys",
    tag = "api-keys",
    summary = "List API keys, masked (prefix and last four)",
    params(Page),
    responses(
        (status = 200, description = "A page of keys", body = ListEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal, q: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("keys:read"))?;
    let limit = q.limit()?;
    let keys = state.api_keys.list(&p.organization_id, q.starting_after.as_deref(), limit + 1).await?;
    Ok(page(keys.iter().map(key_json).collect(), limit))
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "create_api_key",
    tag = "api-keys",
    summary = "Create an API key; the key is in the answer, once",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with `key` shown this once", body = DataEnvelope, links(
            ("GetKey" = (operation_id = "get_api_key", parameters(("id" = "$response.body#/data/id")))),
            ("UpdateKey" = (operation_id = "update_api_key", parameters(("id" = "$response.body#/data/id")))),
            ("RollKey" = (operation_id = "roll_api_key", parameters(("id" = "$response.body#/data/id")))),
            ("RevokeKey" = (operation_id = "revoke_api_key", parameters(("id" = "$response.body#/data/id")))),
        )),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: Body<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = KeyRequest {
        name: body.name,
        kind: body.r#type,
        environment: body.environment,
        scopes: body.scopes,
        expires_at: body.expires_at,
        rate_limit_per_minute: body.rate_limit_per_minute,
    };
    let (key, plaintext) = state.key_management().create(&p, &p.origin(&req), request).await?;
    let mut data = key_json(&key);
    // The only time the key is shown.
    data["key"] = json!(plaintext);
    Ok(ok(StatusCode::CREATED, data))
}

#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    operation_id = "get_api_key",
    tag = "api-keys",
    summary = "Read an API key (masked)",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "The key", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    p.require("read", Some("keys:read"))?;
    let key = state.api_keys.get(&p.organization_id, &id).await?;
    Ok(ok(StatusCode::OK, key_json(&key)))
}

#[utoipa::path(
    patch,
    path = "/v1/api-keys/{id}",
    operation_id = "update_api_key",
    tag = "api-keys",
    summary = "Rename a key or narrow its scopes",
    params(("id" = String, Path, description = "The object's id")),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The key", body = DataEnvelope),
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
    body: Body<UpdateKey>,
) -> Result<HttpResponse, ApiError> {
    let key =
        state.key_management().update(&p, &p.origin(&req), &id, body.name.as_deref(), body.scopes.as_deref()).await?;
    Ok(ok(StatusCode::OK, key_json(&key)))
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revoke_api_key",
    tag = "api-keys",
    summary = "Revoke a key, at once and for good",
    params(("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "The revoked key", body = DataEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = state.key_management().revoke(&p, &p.origin(&req), &id).await?;
    Ok(ok(StatusCode::OK, key_json(&key)))
}

#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/roll",
    operation_id = "roll_api_key",
    tag = "api-keys",
    summary = "Roll a key: a new key, the old one kept for `expires_in` seconds (default 86400)",
    params(("id" = String, Path, description = "The object's id")),
    request_body = Option<RollKey>,
    responses(
        (status = 201, description = "new_key (shown once) and old_key", body = DataEnvelope),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND (also for objects of other organizations)", body = ErrorEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn roll(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: OptionalBody<RollKey>,
) -> Result<HttpResponse, ApiError> {
    let overlap = body.0.and_then(|b| b.expires_in);
    let Rolled { new, plaintext, old } = state.key_management().roll(&p, &p.origin(&req), &id, overlap).await?;
    let mut data = key_json(&new);
    data["key"] = json!(plaintext);
    Ok(ok(StatusCode::CREATED, json!({ "new_key": data, "old_key": key_json(&old) })))
}

/// GET /v1/auth/validate: who and what this credential is.
#[utoipa::path(
    get,
    path = "/v1/auth/validate",
    operation_id = "validate_credential",
    tag = "auth",
    summary = "Who and what the credential is",
    responses(
        (status = 200, description = "Credential, user, organization, role", body = DataEnvelope),
        CredentialErrors
    ),
    security(("bearer" = []))
)]
pub async fn validate(p: Principal, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = match (&p.user_id, &p.user_email) {
        (Some(id), Some(email)) => Some(json!({ "id": id, "email": email })),
        (Some(id), None) => state.accounts.user(id).await?.map(|u| json!({ "id": u.id, "email": u.email })),
        (None, _) => None,
    };
    let data = json!({
        "valid": true,
        "credential": {
            "type": p.kind.as_str(),
            "id": p.credential_id,
            "environment": p.key.as_ref().map(|k| k.environment.as_str()),
            "livemode": p.key.as_ref().map(|k| k.environment == Environment::Live),
            "scopes": scopes::join(&p.scopes).split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "expires_at": time(p.expires_at),
            "client_id": p.client_id,
        },
        "user": user,
        "organization": { "id": p.organization_id, "name": p.organization_name },
        "role": p.role.map(|r| r.as_str()),
    });
    Ok(ok(StatusCode::OK, data))
}
