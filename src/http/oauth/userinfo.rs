//! GET and POST /oauth/userinfo (OIDC Core §5.3), a bearer-token endpoint
//! (RFC 6750). The token comes in the `Authorization` header, or, for POST,
//! as the form field `access_token` (§2.2). The query (§2.3) is refused:
//! URLs end up in logs and browser history. Open to browser-based relying
//! parties from any origin (CORS): it takes no cookies, only the token.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde_json::json;

use super::{FormBody, form_params, param};
use crate::http::AppState;
use crate::oauth::oidc::userinfo::{self, BearerError};

const REALM: &str = "portcullis";

/// CORS for every answer, errors included, so a browser RP can read them.
fn cors(res: &mut HttpResponseBuilder) {
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"));
}

/// The preflight of a cross-origin call (Fetch standard, CORS protocol).
pub async fn preflight() -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    cors(&mut res);
    res.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// Escapes a value for a quoted-string of `WWW-Authenticate` (RFC 7235).
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// RFC 6750 §3: the status, `WWW-Authenticate` and JSON body of an error.
fn error(e: &BearerError) -> HttpResponse {
    let (status, code, description) = match e {
        BearerError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.as_str()),
        BearerError::InvalidToken(d) => (StatusCode::UNAUTHORIZED, "invalid_token", d.as_str()),
        BearerError::InsufficientScope => {
            (StatusCode::FORBIDDEN, "insufficient_scope", "The access token was not granted the openid scope.")
        }
        BearerError::Unavailable { transient: true } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is temporarily unavailable; try again.",
        ),
        BearerError::Unavailable { transient: false } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server could not complete the request.")
        }
    };
    let mut res = HttpResponse::build(status);
    cors(&mut res);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if status.is_client_error() {
        let mut challenge =
            format!(r#"Bearer realm="{REALM}", error="{code}", error_description="{}""#, quoted(description));
        if matches!(e, BearerError::InsufficientScope) {
            challenge.push_str(r#", scope="openid""#);
        }
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.insert_header((header::WWW_AUTHENTICATE, v));
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, crate::http::errors::TRY_AGAIN_SECS));
    }
    res.json(json!({ "error": code, "error_description": description }))
}

/// RFC 6750 §3.1: a request with no token at all gets a bare challenge.
fn no_token() -> HttpResponse {
    let mut res = HttpResponse::Unauthorized();
    cors(&mut res);
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::WWW_AUTHENTICATE, format!(r#"Bearer realm="{REALM}""#)))
        .finish()
}

/// The token of the `Authorization: Bearer` header (the scheme is
/// case-insensitive, RFC 7235 §2.1). Another scheme is no bearer token at
/// all; a Bearer header without a token is malformed.
fn header_token(req: &HttpRequest) -> Result<Option<String>, BearerError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let malformed = || BearerError::InvalidRequest("The Authorization header is not a Bearer token.".into());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.to_owned()))
}

fn in_query(req: &HttpRequest) -> bool {
    url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == "access_token")
}

async fn answer(state: &AppState, token: Result<Option<String>, BearerError>) -> HttpResponse {
    let token = match token {
        Ok(Some(t)) => t,
        Ok(None) => return no_token(),
        Err(e) => return error(&e),
    };
    match userinfo::userinfo(&state.oauth, &token).await {
        Ok(claims) => {
            let mut res = HttpResponse::Ok();
            cors(&mut res);
            res.insert_header((header::CACHE_CONTROL, "no-store")).json(claims)
        }
        Err(e) => error(&e),
    }
}

fn query_refused() -> BearerError {
    BearerError::InvalidRequest("Send the access token in the Authorization header, not in the URL.".into())
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = if in_query(&req) { Err(query_refused()) } else { header_token(&req) };
    answer(&state, token).await
}

pub async fn post(req: HttpRequest, state: web::Data<AppState>, FormBody(body): FormBody) -> HttpResponse {
    let token = (|| {
        if in_query(&req) {
            return Err(query_refused());
        }
        let from_header = header_token(&req)?;
        // A body is read only when it is a form; RFC 6750 §2.2.
        let is_form = req.headers().contains_key(header::CONTENT_TYPE) && !body.is_empty();
        let from_body = if is_form {
            let params = form_params(&req, &body).map_err(|e| BearerError::InvalidRequest(e.description))?;
            param(&params, "access_token").map(str::to_owned)
        } else {
            None
        };
        // RFC 6750 §2: one method per request.
        match (from_header, from_body) {
            (Some(_), Some(_)) => Err(BearerError::InvalidRequest("Send the access token one way, not two.".into())),
            (h, b) => Ok(h.or(b).filter(|t| !t.is_empty())),
        }
    })();
    answer(&state, token).await
}
