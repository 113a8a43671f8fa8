//! Middleware for every response: request id, access log, one body limit.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use rand::Rng;
use rand::distributions::Alphanumeric;
use tracing::Instrument;

use super::AppState;
use super::errors::PageError;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A request id from upstream is kept when it is 1–128 characters of
/// `[A-Za-z0-9._-]`; anything else could smuggle text into logs.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn new_request_id() -> String {
    let suffix: String = rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("req_{suffix}")
}

pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| well_formed(s))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    // The route pattern, never the path: paths carry secrets
    // (`/invitations/{token}`), and a path that matches no route may be a
    // mistyped one that does. Query strings are never logged either.
    let route = req.match_pattern().unwrap_or_else(|| "(no route)".to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route);
    let started = Instant::now();

    let limit = req.app_data::<web::Data<AppState>>().map(|s| s.config.max_body_bytes).unwrap_or(usize::MAX);
    let inner_span = span.clone();
    let mut res = crate::telemetry::CURRENT_REQUEST_ID
        .scope(id.clone(), async move {
            match within_body_limit(&mut req, limit).await? {
                true => Ok::<_, Error>(next.call(req).instrument(inner_span).await?.map_into_left_body()),
                false => {
                    let res = too_large(req.path(), limit);
                    let (http_req, _) = req.into_parts();
                    Ok(ServiceResponse::new(http_req, res).map_into_right_body())
                }
            }
        })
        .await?;

    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "served"));
    Ok(res)
}

/// One body limit for every extractor, declared or chunked: a declared
/// `Content-Length` over the limit is refused unread; a body without one
/// (chunked, HTTP/2) is read here up to the limit and handed on, so no
/// extractor's own default can let a larger one through.
async fn within_body_limit(req: &mut ServiceRequest, limit: usize) -> Result<bool, Error> {
    if let Some(declared) = req.headers().get(header::CONTENT_LENGTH) {
        // A malformed Content-Length never gets here: the HTTP parser refuses it.
        let declared = declared.to_str().ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::MAX);
        return Ok(declared <= limit as u64);
    }
    let payload = req.extract::<web::Payload>().await?;
    match payload.to_bytes_limited(limit).await {
        Ok(body) => {
            req.set_payload(actix_web::dev::Payload::from(body?));
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// 413 in the shape of the surface asked: the /v1 envelope, RFC 6749 JSON
/// at the OAuth endpoints that take bodies, an error page elsewhere.
fn too_large(path: &str, limit: usize) -> HttpResponse {
    let message = format!("The request body is larger than {limit} bytes.");
    if path == "/v1" || path.starts_with("/v1/") {
        return super::api::error::ApiError::new(super::api::error::Code::PayloadTooLarge, message).error_response();
    }
    if matches!(path, "/oauth/token" | "/oauth/introspect" | "/oauth/revoke") {
        return super::oauth::no_store_json(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({ "error": "invalid_request", "error_description": message }),
        );
    }
    PageError::PayloadTooLarge.error_response()
}

/// Security headers on every response that does not set its own.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((HeaderName::from_static("cross-origin-opener-policy"), "same-origin"));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"))
    } else {
        headers
    }
}

/// Fallback for unknown paths: a 404 page.
pub async fn not_found() -> HttpResponse {
    PageError::NotFound.error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(well_formed("req_abc-123.X"));
        assert!(!well_formed(""));
        assert!(!well_formed("a b"));
        assert!(!well_formed("x\r\nSet-Cookie: a=b"));
        assert!(!well_formed(&"a".repeat(129)));
        let id = new_request_id();
        assert!(id.starts_with("req_") && id.len() == 28 && well_formed(&id));
    }
}
