//! The /v1 error envelope:
//! `{"success":false,"error":{"code","message","details","request_id"}}`,
//! mapped to status and `WWW-Authenticate` in one place.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::accounts::AccountsError;
use crate::apikeys::KeyError;
use crate::apps::AppsError;
use crate::authority::Denied;
use crate::key_management::{Refused, Why};
use crate::oauth::clients::ClientError;
use crate::oauth::{ErrorCode, OAuthError};
use crate::problem::Problem;
use crate::store::StoreError;
use crate::telemetry::current_request_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    MissingApiKey,
    InvalidApiKey,
    InvalidCredentials,
    ExpiredApiKey,
    RevokedApiKey,
    InsufficientScope,
    /// The acting person has not verified their email address (403).
    EmailNotVerified,
    RateLimited,
    ValidationError,
    /// A request body over `max_body_bytes` (413).
    PayloadTooLarge,
    /// A request body not received within `request_body_timeout_secs` (408).
    RequestTimeout,
    NotFound,
    /// A /v1 path asked with a method it does not take (405, `Allow`).
    MethodNotAllowed,
    ServiceUnavailable,
    InternalError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingApiKey => "MISSING_API_KEY",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::ExpiredApiKey => "EXPIRED_API_KEY",
            Self::RevokedApiKey => "REVOKED_API_KEY",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::RateLimited => "RATE_LIMITED",
            Self::ValidationError => "VALIDATION_ERROR",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::InvalidCredentials
            | Self::ExpiredApiKey
            | Self::RevokedApiKey => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::ValidationError => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: Value,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: json!({}), retry_after_secs: None }
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::ValidationError, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("No such {what}."))
    }
    /// 503 with `Retry-After`: the database was down or too busy.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(Code::ServiceUnavailable, message);
        e.retry_after_secs = Some(crate::http::errors::TRY_AGAIN_SECS);
        e
    }
    pub fn insufficient_scope(needed: &str) -> Self {
        Self::new(Code::InsufficientScope, format!("This credential lacks the {needed} scope."))
            .details(json!({ "required_scope": needed }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let body = json!({
            "success": false,
            "error": {
                "code": self.code.as_str(),
                "message": self.message,
                "details": self.details,
                "request_id": current_request_id().unwrap_or_default(),
            }
        });
        let mut res = HttpResponse::build(self.code.status());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        // RFC 6750 §3: a challenge on every 401; error codes only when a
        // credential was sent.
        let challenge = match self.code {
            Code::MissingApiKey | Code::InvalidCredentials => Some("Bearer realm=\"portcullis\"".to_owned()),
            Code::InvalidApiKey | Code::ExpiredApiKey | Code::RevokedApiKey => Some(format!(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{}\"",
                self.message.replace('"', "'")
            )),
            Code::InsufficientScope => Some(format!(
                "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"{}\"",
                self.details["required_scope"].as_str().unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.insert_header((header::WWW_AUTHENTICATE, c));
        }
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        res.json(body)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::new(Code::NotFound, "Not found."),
            transient if transient.is_transient() => {
                tracing::warn!(cause = %transient, "database unavailable or busy");
                Self::unavailable("The service is temporarily unavailable; try again.")
            }
            other => {
                tracing::error!(cause = %other, "storage error");
                Self::new(Code::InternalError, "Internal Server Error")
            }
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Validation(p) => p.into(),
            KeyError::NotFound => Self::not_found("API key"),
            KeyError::MakerEnded => Self::new(
                Code::RevokedApiKey,
                "The API key or management app making this key was revoked, deleted or has expired.",
            ),
            KeyError::CreatorLeft => Self::new(
                Code::InsufficientScope,
                "The member this credential acts for is no longer in the organization.",
            ),
            KeyError::Store(s) => s.into(),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Validation(p) => p.into(),
            ClientError::NotFound(_) => Self::not_found("app"),
            ClientError::MakerEnded => Self::new(
                Code::RevokedApiKey,
                "The API key or management app registering this app was revoked, deleted or has expired.",
            ),
            ClientError::Store(s) => s.into(),
        }
    }
}

impl From<AppsError> for ApiError {
    fn from(e: AppsError) -> Self {
        match e {
            AppsError::NotFound => Self::not_found("app"),
            AppsError::NotYours => Self::insufficient_scope("admin").details(
                json!({ "required_scope": "admin", "reason": "only the app's creator or an ADMIN may change it" }),
            ),
            AppsError::Denied(d) => d.into(),
            AppsError::Invalid(p) => p.into(),
            AppsError::Client(c) => c.into(),
        }
    }
}

/// `/v1` words a problem with the domain's message (`Problem`'s `Display`):
/// what its clients have always read.
impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::validation(p.to_string())
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Validation(m) => Self::validation(m),
            AccountsError::Powerless(reason) => {
                Self::insufficient_scope("admin").details(json!({ "required_scope": "admin", "reason": reason }))
            }
            AccountsError::Store(s) => s.into(),
            AccountsError::Busy { retry_after_secs } => {
                let mut e = Self::new(
                    Code::ServiceUnavailable,
                    "Too many sign-ins are being checked right now. Try again shortly.",
                )
                .details(json!({ "retry_after_seconds": retry_after_secs }));
                e.retry_after_secs = Some(retry_after_secs);
                e
            }
            AccountsError::EmailNotVerified => Self::new(Code::EmailNotVerified, e.to_string()),
            AccountsError::TooManyInvitations { retry_after_secs } => {
                let mut e = Self::new(Code::RateLimited, e.to_string())
                    .details(json!({ "retry_after_seconds": retry_after_secs }));
                e.retry_after_secs = Some(retry_after_secs.max(1) as u64);
                e
            }
            other => Self::validation(other.to_string()),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e.code {
            ErrorCode::InvalidGrant => Self::new(Code::InvalidCredentials, e.description),
            ErrorCode::InvalidRequest | ErrorCode::InvalidScope => Self::validation(e.description),
            ErrorCode::TemporarilyUnavailable => Self::unavailable(e.description),
            _ => Self::new(Code::InternalError, "Internal Server Error"),
        }
    }
}

impl From<crate::people::PeopleError> for ApiError {
    fn from(e: crate::people::PeopleError) -> Self {
        use crate::people::PeopleError;
        match e {
            PeopleError::MissingScope(broad) => Self::insufficient_scope(broad),
            PeopleError::Denied(d) => d.into(),
            PeopleError::NotFound(what) => Self::not_found(what),
            PeopleError::Accounts(e) => e.into(),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            // The reason is the message: "lacks admin" alone would not say why.
            Denied::Scope { scope, reason } => Self::new(Code::InsufficientScope, reason.clone())
                .details(json!({ "required_scope": scope, "reason": reason })),
            Denied::Invalid(message) => Self::validation(message),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r.why {
            Why::Scope(broad) => Self::insufficient_scope(broad),
            Why::NotTheirs => Self::insufficient_scope("admin").details(
                json!({ "required_scope": "admin", "reason": "only the key's creator or an ADMIN may change it" }),
            ),
            Why::Denied(d) => d.into(),
            Why::Key(e) => e.into(),
        }
    }
}
