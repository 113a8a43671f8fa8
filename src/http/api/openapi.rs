//! The OpenAPI 3.1 document of /v1, generated from the handlers'
//! annotations (utoipa) and served at /v1/openapi.json.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

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
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(ApiDoc::openapi()))
}
