//! `/reset-password?token=…`: the page behind a password-reset link that
//! an operator made (`portcullis user reset-password`). The link works
//! once and for 30 minutes; the form carries a CSRF token like every other.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::render;
use crate::accounts::AccountsError;
use crate::http::errors::PageError;
use crate::http::session::{MaybeSession, form_token, verify_form_token};
use crate::http::{AppState, client_ip};

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage {
    csrf_token: String,
    token: String,
    usable: bool,
    done: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Fields default to empty so a missing one is answered like an empty one.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

pub async fn reset_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let usable = state.accounts.password_reset_usable(&query.token).await?;
    let form = form_token(&req, &state.config, session.session.as_ref());
    let page = ResetPage {
        csrf_token: form.token.clone(),
        token: if usable { query.token.clone() } else { String::new() },
        usable,
        done: false,
        error: None,
    };
    let status = if usable { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    render(status, &page, Some(form))
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<TokenQuery>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, session.session.as_ref(), &form.csrf_token)?;
    // The link's token comes in the form, or in the query of the link.
    let token = if form.token.is_empty() { query.token.clone() } else { form.token.clone() };
    let page = |usable: bool, done: bool, error: Option<String>| {
        let csrf = form_token(&req, &state.config, session.session.as_ref());
        let token = if usable && !done { token.clone() } else { String::new() };
        (ResetPage { csrf_token: csrf.token.clone(), token, usable, done, error }, csrf)
    };
    match state.accounts.reset_password(&token, &form.new_password).await {
        Ok(Some(user_id)) => {
            let origin = crate::audit::Origin {
                actor: format!("user:{user_id}"),
                request_id: None,
                ip: Some(client_ip(&req, &state)),
            };
            let details = serde_json::json!({ "via": "reset_link" });
            state.accounts.audit_user_event(&user_id, "user.password_reset", &origin, details).await?;
            let (p, csrf) = page(true, true, None);
            render(StatusCode::OK, &p, Some(csrf))
        }
        Ok(None) => {
            let (p, csrf) = page(false, false, None);
            render(StatusCode::BAD_REQUEST, &p, Some(csrf))
        }
        Err(AccountsError::Validation(message)) => {
            // The rules of sign-up; the link stays usable.
            let usable = state.accounts.password_reset_usable(&token).await?;
            let (p, csrf) = page(usable, false, usable.then_some(message));
            render(StatusCode::BAD_REQUEST, &p, Some(csrf))
        }
        Err(e) => Err(e.into()),
    }
}
