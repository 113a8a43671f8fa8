//! OAuth endpoints: authorize, token, introspect, revoke, userinfo, JWKS,
//! metadata.
//! Errors are RFC 6749 §5.2 JSON with `Cache-Control: no-store`, except at
//! /authorize, which shows a page or redirects.

mod authorize;
mod logout;
mod metadata;
mod token;
mod userinfo;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::json;

use crate::oauth::clients::ClientCredentials;
use crate::oauth::{ErrorCode, OAuthError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(authorize::authorize))
        .route("/oauth/authorize", web::post().to(authorize::decide))
        .route("/oauth/token", web::post().to(token::token))
        .route("/oauth/introspect", web::post().to(token::introspect))
        .route("/oauth/revoke", web::post().to(token::revoke))
        .route("/oauth/userinfo", web::get().to(userinfo::get))
        .route("/oauth/userinfo", web::post().to(userinfo::post))
        .route("/oauth/userinfo", web::method(actix_web::http::Method::OPTIONS).to(userinfo::preflight))
        .route("/oauth/logout", web::get().to(logout::logout_get))
        .route("/oauth/logout", web::post().to(logout::logout_post))
        .route("/.well-known/oauth-authorization-server", web::get().to(metadata::metadata))
        .route("/.well-known/openid-configuration", web::get().to(metadata::metadata))
        .route("/.well-known/jwks.json", web::get().to(metadata::jwks));
}

/// A JSON answer that must never be cached (RFC 6749 §5.1).
pub fn no_store_json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// RFC 6749 §5.2: 401 for client authentication failures (with
/// `WWW-Authenticate` when the client used the header), 400 otherwise.
pub fn error_response(err: &OAuthError, used_basic: bool) -> HttpResponse {
    let status = match err.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = no_store_json(status, &json!({ "error": err.code.as_str(), "error_description": err.description }));
    if err.code == ErrorCode::InvalidClient && used_basic {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"portcullis\""));
    }
    if err.code == ErrorCode::TemporarilyUnavailable {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(crate::http::errors::TRY_AGAIN_SECS));
    }
    res
}

/// The raw body of a token, introspection or revocation request. A body
/// that cannot be read (too large, a broken or oversized `Content-Encoding`)
/// is answered in RFC 6749 §5.2 shape like every other error here, not
/// with actix's plain text: 413 when too large, else 400.
pub struct FormBody(pub web::Bytes);

impl actix_web::FromRequest for FormBody {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let read = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            read.await.map(FormBody).map_err(|e| {
                let status = e.as_response_error().status_code();
                let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    (status, "The request body is too large.")
                } else {
                    (StatusCode::BAD_REQUEST, "The request body could not be read.")
                };
                let body = json!({ "error": ErrorCode::InvalidRequest.as_str(), "error_description": message });
                actix_web::error::InternalError::from_response(e, no_store_json(status, &body)).into()
            })
        })
    }
}

/// The parameters of an `application/x-www-form-urlencoded` body, in order.
/// A wrong content type or a repeated parameter is `invalid_request`
/// (RFC 6749 §3.2).
pub fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("The body must be application/x-www-form-urlencoded."));
    }
    unique_params(body)
}

/// Form-encoded parameters (a body or a query string), each at most once.
pub fn unique_params(encoded: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(encoded).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.as_str()) {
            return Err(OAuthError::invalid_request(format!("The parameter {k} is repeated.")));
        }
    }
    Ok(pairs)
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// How the client authenticated (RFC 6749 §2.3.1): the Basic header with
/// form-encoded id and secret, or client_id/client_secret in the body, or a
/// client_id alone (public clients). Using two methods at once is refused.
pub fn client_credentials(req: &HttpRequest, params: &[(String, String)]) -> Result<ClientCredentials, OAuthError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let basic = header.and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")));
    let body_id = param(params, "client_id");
    let body_secret = param(params, "client_secret");
    if let Some(encoded) = basic {
        let failed = || OAuthError::invalid_client("Malformed Basic credentials.");
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| failed())?;
        let decoded = String::from_utf8(decoded).map_err(|_| failed())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(failed)?;
        let unescape = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (unescape(id), unescape(secret));
        if body_secret.is_some() || body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request("Use one client authentication method, not two."));
        }
        return Ok(ClientCredentials::Basic { client_id: id, secret });
    }
    let client_id = body_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("Client authentication is required."))?
        .to_owned();
    Ok(match body_secret {
        Some(secret) => ClientCredentials::Post { client_id, secret: secret.to_owned() },
        None => ClientCredentials::None { client_id },
    })
}
