//! The pages behind emailed links and forms that send email: "Forgot your
//! password?" (`/forgot-password`), the verification link
//! (`/verify-email?token=…`) and "resend" from the dashboard banner.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other};
use crate::accounts::AccountsError;
use crate::accounts::email_verification::Resent;
use crate::http::errors::PageError;
use crate::http::session::{MaybeSession, SignedIn, form_token, safe_return_to, verify_form_token};
use crate::http::{AppState, client_ip};

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    csrf_token: String,
    email: String,
    sent: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage {
    csrf_token: String,
    token: String,
    usable: bool,
    done: bool,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct SentQuery {
    sent: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    return_to: Option<String>,
}

pub async fn forgot_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<SentQuery>,
) -> Result<HttpResponse, PageError> {
    let token = form_token(&req, &state.config, session.session.as_ref());
    let page =
        ForgotPage { csrf_token: token.token.clone(), email: String::new(), sent: query.sent.is_some(), error: None };
    render(StatusCode::OK, &page, Some(token))
}

/// Answers every well-formed address alike: 303 to the same "check your
/// inbox" page, after the same work (`Accounts::request_password_reset`).
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, session.session.as_ref(), &form.csrf_token)?;
    let again = |status: StatusCode, error: String| {
        let token = form_token(&req, &state.config, session.session.as_ref());
        let page =
            ForgotPage { csrf_token: token.token.clone(), email: form.email.clone(), sent: false, error: Some(error) };
        render(status, &page, Some(token))
    };
    let ip = client_ip(&req, &state);
    match state.accounts.request_password_reset(&form.email, &ip).await {
        Ok(()) => Ok(see_other("/forgot-password?sent=1").finish()),
        Err(AccountsError::Validation(message)) => again(StatusCode::BAD_REQUEST, message),
        Err(e @ (AccountsError::Throttled { .. } | AccountsError::Busy { .. })) => {
            let e = PageError::from(e);
            let mut res = again(e.status_code(), e.to_string())?;
            if let Some(secs) = e.retry_after_secs() {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, secs.into());
            }
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// The link shows a button rather than verifying at once: mail scanners
/// that open links would otherwise use it up.
pub async fn verify_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let usable = state.accounts.email_verification_usable(&query.token).await?;
    let form = form_token(&req, &state.config, session.session.as_ref());
    let page = VerifyPage {
        csrf_token: form.token.clone(),
        token: if usable { query.token.clone() } else { String::new() },
        usable,
        done: false,
    };
    render(if usable { StatusCode::OK } else { StatusCode::BAD_REQUEST }, &page, Some(form))
}

pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, session.session.as_ref(), &form.csrf_token)?;
    let verified = state.accounts.verify_email(&form.token).await?;
    if let Some(user_id) = &verified {
        let origin = crate::audit::Origin {
            actor: format!("user:{user_id}"),
            request_id: None,
            ip: Some(client_ip(&req, &state)),
        };
        state.accounts.audit_user_event(user_id, "user.email_verified", &origin, serde_json::json!({})).await?;
    }
    let csrf = form_token(&req, &state.config, session.session.as_ref());
    let done = verified.is_some();
    let page = VerifyPage { csrf_token: csrf.token.clone(), token: String::new(), usable: done, done };
    render(if done { StatusCode::OK } else { StatusCode::BAD_REQUEST }, &page, Some(csrf))
}

/// "Resend" in the dashboard banner: back to the page it was on, saying
/// what happened.
pub async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    form: web::Form<ResendForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    let outcome = state.accounts.resend_verification(&session.user).await?;
    let back = safe_return_to(form.return_to.as_deref()).unwrap_or_else(|| "/dashboard".into());
    let back = back.split('?').next().unwrap_or("/dashboard").to_owned();
    let notice = match outcome {
        Resent::Sent => "sent",
        Resent::TooSoon => "wait",
        Resent::AlreadyVerified => "verified",
    };
    Ok(see_other(&format!("{back}?verification={notice}")).finish())
}
