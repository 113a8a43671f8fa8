//! Errors of the HTML pages, mapped to status and page in one place.
//!
//! A 500 says only "Internal Server Error"; its cause goes to the log with
//! the request id (the span of the request carries it).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::accounts::AccountsError;
use crate::apikeys::KeyError;
use crate::authority::Denied;
use crate::key_management::{Refused, Why};
use crate::store::StoreError;

/// `Retry-After` of a 503 "try again" (database down or busy), everywhere.
pub const TRY_AGAIN_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("The form expired or was not sent by this site. Reload the page and try again.")]
    Csrf,
    /// A signed-in person asking for what their role does not allow (a
    /// control the page did not offer, sent anyway: a forged form).
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("Too many failed sign-in attempts. Try again in {} minute(s).", (.retry_after_secs + 59) / 60)]
    TooManyRequests { retry_after_secs: i64 },
    #[error("The request body is larger than this server accepts.")]
    PayloadTooLarge,
    #[error("The request body did not arrive in time.")]
    RequestTimeout,
    #[error("Forms must be sent as application/x-www-form-urlencoded.")]
    UnsupportedMediaType,
    #[error("The service is temporarily unavailable. Try again shortly.")]
    Unavailable(String),
    /// Every password-hashing slot busy (see `accounts::passwords`).
    #[error("Many people are signing in right now. Please try again in a few seconds.")]
    Busy { retry_after_secs: u64 },
    #[error("Internal Server Error")]
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "database unavailable or busy"),
            _ => {}
        }
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
        if let Some(secs) = self.retry_after_secs() {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        // The template only fails if a field's Display fails, which ours do not.
        res.body(page.render().unwrap_or_else(|_| self.to_string()))
    }
}

impl PageError {
    /// The `Retry-After` this error's answer carries, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some((*retry_after_secs).max(0) as u64),
            Self::Busy { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable(_) => Some(TRY_AGAIN_SECS),
            _ => None,
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            transient if transient.is_transient() => Self::Unavailable(transient.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<AccountsError> for PageError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Validation(m) => Self::BadRequest(m),
            AccountsError::EmailTaken => Self::Conflict(e.to_string()),
            AccountsError::Powerless(m) => Self::Forbidden(m),
            AccountsError::InvalidCredentials => Self::BadRequest("Invalid email or password.".into()),
            AccountsError::Throttled { retry_after_secs } => Self::TooManyRequests { retry_after_secs },
            AccountsError::EmailNotVerified => Self::Forbidden(e.to_string()),
            // The members page answers it with its own message (`pages::people`).
            AccountsError::TooManyInvitations { retry_after_secs } => Self::TooManyRequests { retry_after_secs },
            AccountsError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            AccountsError::Store(s) => s.into(),
        }
    }
}

impl From<KeyError> for PageError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Validation(p) => Self::BadRequest(p.to_string()),
            KeyError::NotFound => Self::NotFound,
            KeyError::MakerEnded | KeyError::CreatorLeft => Self::Forbidden(e.to_string()),
            KeyError::Store(s) => s.into(),
        }
    }
}

impl From<Refused> for PageError {
    fn from(r: Refused) -> Self {
        match r.why {
            Why::Scope(_) => Self::Forbidden("Your role in this organization does not allow this.".into()),
            Why::NotTheirs => Self::Forbidden("Only the key's creator or an ADMIN may change it.".into()),
            Why::Denied(Denied::Scope { reason, .. }) => Self::Forbidden(reason),
            Why::Denied(Denied::Invalid(m)) => Self::BadRequest(m),
            Why::Key(e) => e.into(),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(format!("template: {e}"))
    }
}

/// Form body errors (actix's extractor) as pages: 415 for the wrong
/// content type, 413 beyond the size limit, 400 with the reason otherwise.
pub fn form_error(err: actix_web::error::UrlencodedError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError as E;
    let page = match err {
        E::ContentType => PageError::UnsupportedMediaType,
        E::Overflow { .. } => PageError::PayloadTooLarge,
        E::Parse(e) => PageError::BadRequest(format!("The form could not be read: {e}.")),
        other => PageError::BadRequest(format!("The form could not be read: {other}")),
    };
    page.into()
}
