//! Middleware for every response: request id, access log, one body limit.

use std::time::{Duration, Instant};

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
    // Looked up only for a span that is recorded: matching the route table
    // again costs a request about as much as routing it.
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = tracing::field::Empty);
    if !span.is_disabled() {
        let route = req.match_pattern().unwrap_or_else(|| "(no route)".to_owned());
        span.record("route", tracing::field::display(&route));
    }
    let started = Instant::now();

    let (limit, deadline) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| (s.config.max_body_bytes, Duration::from_secs(s.config.request_body_timeout_secs)))
        .unwrap_or((usize::MAX, Duration::MAX));
    let inner_span = span.clone();
    let mut res = crate::telemetry::CURRENT_REQUEST_ID
        .scope(id.clone(), async move {
            let refused = match read_body(&mut req, limit, deadline).await? {
                Body::Read => {
                    return Ok::<_, Error>(next.call(req).instrument(inner_span).await?.map_into_left_body());
                }
                Body::TooLarge => too_large(req.path(), limit),
                Body::TooSlow => too_slow(req.path()),
            };
            let (http_req, _) = req.into_parts();
            Ok(ServiceResponse::new(http_req, refused).map_into_right_body())
        })
        .await?;

    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        state.metrics.observe_request(res.request(), status, elapsed);
    }
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "served"));
    Ok(res)
}

enum Body {
    /// Read whole, within the limit and the deadline, and handed on.
    Read,
    TooLarge,
    TooSlow,
}

/// One body limit and one deadline for every extractor, declared or
/// chunked: a declared `Content-Length` over the limit is refused unread;
/// any other body is read here, up to the limit and within `deadline`, and
/// handed on, so no extractor's own default can let a larger one through
/// and a body sent a byte at a time holds its connection for `deadline` at
/// most (headers have actix's own `client_request_timeout`).
async fn read_body(req: &mut ServiceRequest, limit: usize, deadline: Duration) -> Result<Body, Error> {
    if let Some(declared) = req.headers().get(header::CONTENT_LENGTH) {
        // A malformed Content-Length never gets here: the HTTP parser refuses it.
        let declared = declared.to_str().ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::MAX);
        if declared > limit as u64 {
            return Ok(Body::TooLarge);
        }
    }
    let payload = req.extract::<web::Payload>().await?;
    match tokio::time::timeout(deadline, payload.to_bytes_limited(limit)).await {
        Ok(Ok(body)) => {
            req.set_payload(actix_web::dev::Payload::from(body?));
            Ok(Body::Read)
        }
        Ok(Err(_)) => Ok(Body::TooLarge),
        Err(_) => Ok(Body::TooSlow),
    }
}

/// 408 in the shape of the surface asked, like `too_large`; the connection
/// is closed, its body unread.
fn too_slow(path: &str) -> HttpResponse {
    let message = "The request body did not arrive in time.";
    let mut res = if path == "/v1" || path.starts_with("/v1/") {
        super::api::error::ApiError::new(super::api::error::Code::RequestTimeout, message).error_response()
    } else if matches!(path, "/oauth/token" | "/oauth/introspect" | "/oauth/revoke") {
        super::oauth::no_store_json(
            actix_web::http::StatusCode::REQUEST_TIMEOUT,
            &serde_json::json!({ "error": "invalid_request", "error_description": message }),
        )
    } else {
        PageError::RequestTimeout.error_response()
    };
    res.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    res
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
