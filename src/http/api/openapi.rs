//! The OpenAPI 3.1 document of /v1, generated from the handlers'
//! annotations (utoipa) and served at /v1/openapi.json.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::config::Config;

/// `{"success": true, "data": …}`
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DataEnvelope {
    /// Always true.
    success: bool,
    /// The object or result.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// A page: `{"success": true, "data": […], "has_more": …, "next_cursor": …}`.
/// Pass `next_cursor` as `starting_after` for the next page.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListEnvelope {
    success: bool,
    #[schema(value_type = Vec<Object>)]
    data: Vec<serde_json::Value>,
    has_more: bool,
    next_cursor: Option<String>,
}

/// The error envelope of every /v1 error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    /// Always false.
    success: bool,
    error: ErrorBody,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// MISSING_API_KEY, INVALID_API_KEY, EXPIRED_API_KEY, REVOKED_API_KEY, INVALID_CREDENTIALS,
    /// INSUFFICIENT_SCOPE, EMAIL_NOT_VERIFIED, RATE_LIMITED, VALIDATION_ERROR, PAYLOAD_TOO_LARGE, NOT_FOUND,
    /// SERVICE_UNAVAILABLE, INTERNAL_ERROR.
    code: String,
    message: String,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    /// Also in the X-Request-Id header; quote it to support.
    request_id: String,
}

/// The errors of every authenticated endpoint.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum CredentialErrors {
    /// MISSING_API_KEY, INVALID_API_KEY, EXPIRED_API_KEY or REVOKED_API_KEY, with `WWW-Authenticate: Bearer`.
    #[response(status = 401)]
    Unauthorized(ErrorEnvelope),
    /// INSUFFICIENT_SCOPE: the credential's scopes (within its creator's role) do not cover the call.
    #[response(status = 403)]
    Forbidden(ErrorEnvelope),
    /// RATE_LIMITED, with `Retry-After`.
    #[response(status = 429)]
    RateLimited(ErrorEnvelope),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (sk_live_…, sk_test_…, rk_…; also accepted as the Basic user name or in X-API-Key), \
                         a portcullis OAuth access token, or a token from /v1/auth/login.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "portcullis management API", description = "API keys, OAuth apps, members and the audit log of an organization; the apps a signed-in user authorized."),
    paths(
        super::keys::validate,
        super::session::login,
        super::session::refresh,
        super::session::logout,
        super::session::me,
        super::keys::list,
        super::keys::create,
        super::keys::get,
        super::keys::update,
        super::keys::revoke,
        super::keys::roll,
        super::apps::list,
        super::apps::create,
        super::apps::get,
        super::apps::update,
        super::apps::delete,
        super::apps::rotate_secret,
        super::members::list,
        super::members::update,
        super::members::remove,
        super::invitations::create,
        super::invitations::list,
        super::invitations::revoke,
        super::audit_events::list,
        super::authorized_apps::list,
        super::authorized_apps::revoke,
    ),
    components(schemas(DataEnvelope, ListEnvelope, ErrorEnvelope, ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub async fn document(
    req: actix_web::HttpRequest,
    state: actix_web::web::Data<crate::http::AppState>,
) -> Result<HttpResponse, super::error::ApiError> {
    super::auth::count_anonymous(&req, &state).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(document_for(&state.config)))
}

/// The document as this server's configuration makes it: the operator's
/// own scopes join the scope enums, and the configured maxima bound the
/// fields they bound (the annotations know only the built-in values).
pub fn document_for(config: &Config) -> Value {
    // A document of plain maps and strings: serializing it cannot fail.
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let extra: Vec<Value> = config.oauth.scopes.iter().map(|s| json!(s.name)).collect();
    for scopes in [
        "/CreateKey/properties/scopes/items/enum",
        "/UpdateKey/properties/scopes/oneOf/0/items/enum",
        "/CreateApp/properties/scopes/items/enum",
        "/UpdateApp/properties/scopes/oneOf/0/items/enum",
    ] {
        if let Some(Value::Array(list)) = doc.pointer_mut(&format!("/components/schemas{scopes}")) {
            list.extend(extra.iter().cloned());
        }
    }
    let maxima = [
        ("/CreateKey/properties/rate_limit_per_minute", json!(config.api.max_rate_limit_per_minute)),
        // As `oauth::clients` bounds it: the family's end, within an i32.
        (
            "/CreateApp/properties/refresh_token_ttl",
            json!(config.oauth.refresh_token_absolute_ttl_secs.min(i64::from(i32::MAX))),
        ),
    ];
    for (field, max) in maxima {
        if let Some(Value::Object(schema)) = doc.pointer_mut(&format!("/components/schemas{field}")) {
            schema.insert("maximum".into(), max);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::scopes::ScopeDefinition;

    #[test]
    fn the_configuration_sets_the_scopes_and_maxima_of_the_document() {
        let mut config = Config::default();
        config.oauth.scopes = vec![ScopeDefinition { name: "orders:read".into(), description: "Orders".into() }];
        config.api.max_rate_limit_per_minute = 1234;
        config.oauth.refresh_token_absolute_ttl_secs = 86_400;
        let doc = document_for(&config);
        let schemas = &doc["components"]["schemas"];
        let has = |list: &Value, scope: &str| list.as_array().is_some_and(|l| l.iter().any(|s| s == scope));
        assert!(has(&schemas["CreateKey"]["properties"]["scopes"]["items"]["enum"], "orders:read"));
        assert!(has(&schemas["UpdateKey"]["properties"]["scopes"]["oneOf"][0]["items"]["enum"], "orders:read"));
        assert!(has(&schemas["CreateApp"]["properties"]["scopes"]["items"]["enum"], "orders:read"));
        assert!(has(&schemas["UpdateApp"]["properties"]["scopes"]["oneOf"][0]["items"]["enum"], "orders:read"));
        assert!(has(&schemas["CreateApp"]["properties"]["scopes"]["items"]["enum"], "openid"));
        assert_eq!(schemas["CreateKey"]["properties"]["rate_limit_per_minute"]["maximum"], 1234);
        assert_eq!(schemas["CreateApp"]["properties"]["refresh_token_ttl"]["maximum"], 86_400);
    }
}
